//! Alpaca's error envelope: `{"code": <8 digits>, "message": "..."}`, with
//! extra context fields where Alpaca adds them (ALPACA-API.md, "2.0 Common
//! rules", error body).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

/// `401 request is not authorized`.
pub const CODE_UNAUTHORIZED: u32 = 40_110_000;
/// `403` forbidden, e.g. insufficient buying power.
pub const CODE_FORBIDDEN: u32 = 40_310_000;
/// `404` not found.
pub const CODE_NOT_FOUND: u32 = 40_410_000;
/// `422` (and `400`) invalid input.
pub const CODE_INVALID: u32 = 40_010_001;
/// `400` malformed request body.
pub const CODE_BAD_BODY: u32 = 40_010_000;
/// `422` unprocessable: wash trade, not cancelable.
pub const CODE_UNPROCESSABLE: u32 = 42_210_000;
/// `429` too many requests.
pub const CODE_RATE_LIMIT: u32 = 42_910_000;
/// `5xx` server errors.
pub const CODE_INTERNAL: u32 = 50_010_000;

/// An error answered in Alpaca's shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Alpaca's 8-digit code.
    pub code: u32,
    /// Human-readable message.
    pub message: String,
    /// Extra fields next to code and message.
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// Adds a context field (e.g. `buying_power`).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// 401 `request is not authorized`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            CODE_UNAUTHORIZED,
            "request is not authorized",
        )
    }

    /// 403 with code 40310000.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, CODE_FORBIDDEN, message)
    }

    /// 404 with code 40410000.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, CODE_NOT_FOUND, message)
    }

    /// 422 with code 40010001 (invalid input).
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, CODE_INVALID, message)
    }

    /// 400 with code 40010001 (the data API's invalid parameter).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, CODE_INVALID, message)
    }

    /// 422 with code 42210000.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            CODE_UNPROCESSABLE,
            message,
        )
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut map = Map::new();
        map.insert("code".into(), json!(self.code));
        map.insert("message".into(), json!(self.message));
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body())
    }
}

/// Result of a handler or an engine call.
pub type ApiResult<T> = Result<T, ApiError>;
