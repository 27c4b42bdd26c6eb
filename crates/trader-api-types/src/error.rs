//! The one error body every failing API response carries:
//! `{"error": {"code": "snake_case_code", "message": "...", "fields": {...}}}`.
//!
//! `code` is stable and machine-readable (the SPA matches on it); `message`
//! is for people; `fields` maps a request field's path to what is wrong with
//! it, for validation errors.

use std::collections::BTreeMap;

/// The envelope.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
    /// Per-field problems, keyed by the field's path in the request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// The error codes the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not valid JSON or has the wrong shape.
    BadRequest,
    /// 422: well-formed, but a field's value is not acceptable.
    ValidationFailed,
    /// 401: no valid session or token.
    Unauthenticated,
    /// 403: signed in, but not allowed.
    Forbidden,
    /// 401: the username or password (or code) is wrong, or the account is
    /// locked for a while; deliberately the same answer for all three.
    InvalidCredentials,
    /// 403: the session is valid, but this action needs a fresh
    /// confirmation (`POST /api/auth/reauth`).
    ReauthRequired,
    /// 403: the `X-CSRF-Token` header or the `Origin` is missing or wrong.
    CsrfFailed,
    /// 403: the password was reset by an admin; change it first.
    PasswordChangeRequired,
    /// 403: admins must turn on two-factor authentication first.
    TwoFactorSetupRequired,
    /// 403: the token's scope does not allow this.
    InsufficientScope,
    /// 404: no such resource (or not yours).
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: it already exists.
    Conflict,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 429: too many requests; see `Retry-After`.
    RateLimited,
    /// 500: our fault; the cause is in the server's log under the request id.
    Internal,
    /// 503: a dependency (database, broker) is unavailable.
    Unavailable,
    /// 400: the broker refused the account's API keys (wrong keys, or
    /// paper keys on a live account or the other way round). Never a 401:
    /// the caller's own sign-in is fine.
    BrokerKeysRejected,
    /// 422: the broker refused the order (its message says why, e.g.
    /// insufficient buying power).
    OrderRejected,
    /// 409: the user has no active trading account (add one, or pass
    /// `?account=`).
    NoActiveAccount,
    /// 502: the broker failed (5xx).
    BrokerError,
    /// 503: the broker's rate limit is reached; see `Retry-After`.
    BrokerRateLimited,
    /// 504: the broker did not answer in time.
    BrokerTimeout,
}

impl ErrorBody {
    /// An error without field details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                fields: BTreeMap::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let mut body = ErrorBody::new(ErrorCode::ValidationFailed, "check the fields");
        body.error
            .fields
            .insert("password".into(), "must be at least 12 characters".into());
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {
                "code": "validation_failed",
                "message": "check the fields",
                "fields": {"password": "must be at least 12 characters"}
            }})
        );
    }
}
