//! Requests and responses of sign-in, two-factor authentication, profile,
//! tokens, sessions, the audit log and user administration.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Role, UserId};

/// A password, code or token in a request or a once-only response. Its
/// `Debug` never shows the value, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Takes the value out.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// `GET /api/auth/setup-status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupStatus {
    /// True while no user exists: the first admin registers with the setup
    /// token printed at start-up.
    pub setup_required: bool,
    /// Whether anyone may register (`REGISTRATION=open`).
    pub registration_open: bool,
}

/// `POST /api/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3-32 ASCII letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 3,
            max_length = 32,
            pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$"
        )
    )]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 3, max_length = 254))]
    pub email: String,
    /// 12-128 characters, not one of the most common passwords.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password, min_length = 12, max_length = 128))]
    pub password: Sensitive,
    /// Required for the first user (the admin): the one-time token from
    /// the server's start-up output or `./data/setup-token`.
    #[serde(default)]
    pub setup_token: Option<Sensitive>,
}

/// `POST /api/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: Sensitive,
}

/// The answer to a password sign-in: signed in, or a second step is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// True when `POST /api/auth/verify-2fa` must follow.
    pub two_factor_required: bool,
    /// The signed-in user (absent while 2FA is pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<CurrentUser>,
    /// The CSRF token for state-changing requests of this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// `POST /api/auth/verify-2fa`, `POST /api/2fa/enable`,
/// `POST /api/2fa/disable`, `POST /api/2fa/recovery-codes`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// A 6-digit TOTP code, or (where accepted) a recovery code.
    pub code: Sensitive,
}

/// `POST /api/auth/reauth`: the password, or a 2FA code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    #[serde(default)]
    pub password: Option<Sensitive>,
    #[serde(default)]
    pub code: Option<Sensitive>,
}

/// When the person was last confirmed, and until when that holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReauthResponse {
    pub confirmed_until: DateTime<Utc>,
}

/// The signed-in user, as they see themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CurrentUser {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub two_factor_enabled: bool,
    /// An admin reset the password: change it before anything else.
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub last_login_ip: Option<String>,
}

/// `GET /api/auth/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeResponse {
    pub user: CurrentUser,
    /// For cookie sessions: the token to send as `X-CSRF-Token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// How the request was authenticated: `session` or `token`.
    pub auth: String,
}

/// `POST /api/2fa/setup`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TwoFactorSetup {
    /// The secret in base32, for typing into an authenticator app.
    pub secret: Sensitive,
    /// The `otpauth://` URI (also shown as a QR code at `/api/2fa/qrcode`).
    pub otpauth_uri: Sensitive,
}

/// Recovery codes, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<Sensitive>,
}

/// `PATCH /api/profile`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 3, max_length = 254))]
    pub email: String,
}

/// `POST /api/profile/password`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: Sensitive,
    /// 12-128 characters, not one of the most common passwords.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password, min_length = 12, max_length = 128))]
    pub new_password: Sensitive,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// GET requests only.
    Read,
    /// Reading, and placing and cancelling orders.
    Trade,
}

impl TokenScope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trade => "trade",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "trade" => Some(Self::Trade),
            _ => None,
        }
    }
}

/// `POST /api/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// A name to recognise it by, 1-64 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub name: String,
    /// Exactly one scope: `read` or `trade`.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1))]
    pub scopes: Vec<TokenScope>,
    /// 1 to 365 days.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 365))]
    pub expires_in_days: i64,
    /// A `trade` token may act on `live` accounts only when made with this.
    #[serde(default)]
    pub live: bool,
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<TokenScope>,
    /// May act on `live` accounts (trade tokens made with `live`).
    pub live: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `POST /api/tokens`: the token, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: Token,
    /// Send as `Authorization: Bearer <token>`. Not shown again.
    pub token: Sensitive,
}

/// `GET /api/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenList {
    pub tokens: Vec<Token>,
}

/// One of the user's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request came with.
    pub current: bool,
}

/// `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// An audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<UserId>,
    pub username: Option<String>,
    /// The admin who acted, when not the user.
    pub actor_id: Option<UserId>,
    /// e.g. `login_succeeded`, `login_failed`, `token_created`.
    pub event: String,
    /// Details such as a reason code; never a secret.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub detail: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A page of audit entries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// A user as an admin sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUser {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub active: bool,
    pub two_factor_enabled: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// `GET /api/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUserList {
    pub users: Vec<AdminUser>,
}

/// `POST /api/admin/users`: the new user gets a temporary password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 3,
            max_length = 32,
            pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$"
        )
    )]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 3, max_length = 254))]
    pub email: String,
    #[serde(default)]
    pub role: Option<Role>,
}

/// `PATCH /api/admin/users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub role: Option<Role>,
}

/// A user with a temporary password, shown once; they must change it at
/// their next sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserWithTemporaryPassword {
    pub user: AdminUser,
    pub temporary_password: Sensitive,
}
