//! The server's one error type for responses.
//!
//! Every failing response, including the framework's own (bad JSON, a body
//! too large, an unknown route, a wrong method, a rate limit), carries the
//! envelope `{"error": {"code", "message", "fields"}}` from
//! `trader_api_types::ErrorBody`. Causes of 5xx errors go to the log with
//! the request id (the tracing span), never to the client.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use trader_api_types::{ErrorBody, ErrorCode, ErrorDetail};
use trader_db::DbError;

/// An error a handler answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    Validation {
        message: String,
        fields: BTreeMap<String, String>,
    },
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("{message}")]
    Forbidden { code: ErrorCode, message: String },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String, BTreeMap<String, String>),
    #[error("method not allowed")]
    MethodNotAllowed(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// 429 with its own message: too many wrong passwords or codes.
    #[error("{message}")]
    Locked {
        message: &'static str,
        retry_after_secs: u64,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 400: the broker refused the account's keys (never our own 401).
    #[error("{0}")]
    BrokerKeysRejected(String),
    /// 422: the broker refused the order or request; its own message.
    #[error("{0}")]
    OrderRejected(String),
    /// 409: no active trading account.
    #[error("no active trading account")]
    NoActiveAccount,
    /// 409: the caller's client_order_id is taken; the body carries the order.
    #[error("client_order_id already used")]
    DuplicateOrder(Box<trader_api_types::broker::Order>),
    /// 502: the broker failed.
    #[error("the broker failed: {0}")]
    BrokerFailed(String),
    /// 503: the broker's rate limit.
    #[error("broker rate limited")]
    BrokerRateLimited { retry_after_secs: u64 },
    /// 504: the broker did not answer in time.
    #[error("broker timeout")]
    BrokerTimeout,
    /// 502/504 on an order submission: it may have been placed.
    #[error("order outcome unknown")]
    OrderUncertain {
        timeout: bool,
        client_order_id: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 naming one field.
    pub fn field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        Self::Validation {
            message: format!("{field}: {problem}"),
            fields: BTreeMap::from([(field.to_owned(), problem)]),
        }
    }

    /// A 403 with a specific code.
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }

    /// A 500 from any error; the cause is logged, not shown.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Validation { .. } => ErrorCode::ValidationFailed,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Forbidden { code, .. } => *code,
            Self::NotFound => ErrorCode::NotFound,
            Self::Conflict(..) => ErrorCode::Conflict,
            Self::RateLimited { .. } | Self::Locked { .. } => ErrorCode::RateLimited,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
            Self::BrokerKeysRejected(_) => ErrorCode::BrokerKeysRejected,
            Self::OrderRejected(_) => ErrorCode::OrderRejected,
            Self::NoActiveAccount => ErrorCode::NoActiveAccount,
            Self::DuplicateOrder(_) => ErrorCode::Conflict,
            Self::BrokerFailed(_) => ErrorCode::BrokerError,
            Self::BrokerRateLimited { .. } => ErrorCode::BrokerRateLimited,
            Self::BrokerTimeout => ErrorCode::BrokerTimeout,
            Self::OrderUncertain { timeout: true, .. } => ErrorCode::BrokerTimeout,
            Self::OrderUncertain { timeout: false, .. } => ErrorCode::BrokerError,
        }
    }

    /// The message a client may see (never an internal error's cause).
    pub fn public_message(&self) -> String {
        match self {
            Self::BadRequest(m) => m.clone(),
            Self::Validation { message, .. } => message.clone(),
            Self::Unauthenticated(m) => (*m).to_owned(),
            Self::InvalidCredentials => {
                "the username or password is wrong, or the account is temporarily locked".to_owned()
            }
            Self::Forbidden { message, .. } => message.clone(),
            Self::NotFound => "there is nothing here, or it is not yours".to_owned(),
            Self::Conflict(m, _) => m.clone(),
            Self::MethodNotAllowed(allow) => format!("this path answers only {allow}"),
            Self::PayloadTooLarge => "the request body is larger than 64 KiB".to_owned(),
            Self::UnsupportedMediaType => {
                "send the body as JSON with Content-Type: application/json".to_owned()
            }
            Self::RateLimited { retry_after_secs } => {
                format!("too many requests; try again in {retry_after_secs} s")
            }
            Self::Locked {
                message,
                retry_after_secs,
            } => format!("{message}; try again in {retry_after_secs} s"),
            Self::Unavailable(_) => {
                "a service the server depends on is unavailable; try again shortly".to_owned()
            }
            Self::Internal(_) => {
                "something went wrong on our side; the details are in the server's log".to_owned()
            }
            Self::BrokerKeysRejected(m) | Self::OrderRejected(m) => m.clone(),
            Self::NoActiveAccount => {
                "you have no active trading account: add one (POST /api/accounts) or pass ?account="
                    .to_owned()
            }
            Self::DuplicateOrder(order) => format!(
                "client_order_id {} is already used by order {}; the order is in `order`",
                order.client_order_id, order.id
            ),
            Self::BrokerFailed(_) => "the broker failed to answer; try again shortly".to_owned(),
            Self::BrokerRateLimited { retry_after_secs } => format!(
                "the broker's rate limit for this account is reached; try again in {retry_after_secs} s"
            ),
            Self::BrokerTimeout => {
                "the broker did not answer in time; try again shortly".to_owned()
            }
            Self::OrderUncertain {
                client_order_id, ..
            } => format!(
                "the broker did not confirm the order, and it may have been placed: look for client_order_id {client_order_id} in the order list before sending it again"
            ),
        }
    }

    /// The envelope this error answers with.
    pub fn body(&self) -> ErrorBody {
        let fields = match self {
            Self::Validation { fields, .. } | Self::Conflict(_, fields) => fields.clone(),
            Self::OrderUncertain {
                client_order_id, ..
            } => [("client_order_id".to_owned(), client_order_id.clone())].into(),
            _ => BTreeMap::new(),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.public_message(),
                fields,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated(_) | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::RateLimited { .. } | Self::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BrokerKeysRejected(_) => StatusCode::BAD_REQUEST,
            Self::OrderRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NoActiveAccount | Self::DuplicateOrder(_) => StatusCode::CONFLICT,
            Self::BrokerFailed(_) => StatusCode::BAD_GATEWAY,
            Self::BrokerRateLimited { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BrokerTimeout | Self::OrderUncertain { timeout: true, .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Self::OrderUncertain { timeout: false, .. } => StatusCode::BAD_GATEWAY,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed")
            }
            Self::Unavailable(cause) => tracing::warn!(error = %cause, "dependency unavailable"),
            Self::BrokerFailed(cause) => tracing::warn!(error = %cause, "broker call failed"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::RateLimited { retry_after_secs }
        | Self::Locked {
            retry_after_secs, ..
        }
        | Self::BrokerRateLimited { retry_after_secs } = self
        {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if matches!(self, Self::Unauthenticated(_) | Self::InvalidCredentials) {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"alpaca-trader\""),
            ));
        }
        if let Self::DuplicateOrder(order) = self {
            let mut body = serde_json::to_value(self.body()).unwrap_or_default();
            if let (Some(map), Ok(order)) = (body.as_object_mut(), serde_json::to_value(order)) {
                map.insert("order".to_owned(), order);
            }
            return response.json(body);
        }
        response.json(self.body())
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Pool(_) | DbError::Connect(_) => Self::Unavailable(e.to_string()),
            DbError::Conflict { .. } => {
                Self::Conflict("it already exists".to_owned(), BTreeMap::new())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::from(e).into()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

/// Runs blocking work (diesel, argon2) off the async workers.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(f).await?
}
