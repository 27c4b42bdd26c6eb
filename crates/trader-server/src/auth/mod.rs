//! Who is calling. Every authenticated handler takes one of these
//! extractors:
//!
//! - [`AuthUser`]: a browser session (cookie) or a bearer token. Cookie
//!   requests that change state must carry the session's `X-CSRF-Token`
//!   and, when the browser sends one, an allowed `Origin`. A `read` token
//!   may only GET.
//! - [`SessionUser`]: a browser session only. Tokens never manage tokens,
//!   sessions, two-factor authentication, passwords or users.
//! - [`AdminUser`]: a session of an admin who has two-factor
//!   authentication on.
//!
//! Sessions and tokens carry the user's security stamp; when it changes
//! (password change, "log out everywhere", 2FA change, deactivation) they
//! stop working at the next request.

pub mod cache;
pub(crate) mod guard;
pub mod session_store;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Duration, Utc};
use futures_util::future::LocalBoxFuture;
use subtle::ConstantTimeEq;
use trader_api_types::auth::TokenScope;
use trader_api_types::{ErrorCode, Role, UserId};
use trader_db::users::{self, User};

use crate::error::{ApiError, blocking};
use crate::state::AppState;
use session_store::keys;

/// A sign-in lasts at most this long, however active.
pub const SESSION_ABSOLUTE: Duration = Duration::hours(12);
/// A session idle this long ends.
pub const SESSION_IDLE: Duration = Duration::minutes(30);
/// A password or code confirms the person for this long.
pub const CONFIRMATION_WINDOW: Duration = Duration::minutes(10);

/// How a request was authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    Session(SessionAuth),
    Token(TokenAuth),
}

/// A cookie session.
#[derive(Clone)]
pub struct SessionAuth {
    pub session: Session,
    pub csrf: String,
    /// The session's own id in its state (to mark "current" in lists).
    pub sid: String,
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for SessionAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionAuth")
            .field("confirmed_at", &self.confirmed_at)
            .finish_non_exhaustive()
    }
}

/// A bearer token.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    pub token_id: i64,
    pub scope: TokenScope,
    /// A `trade` token made with `live`: may act on live accounts.
    pub live: bool,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub via: Via,
}

impl AuthUser {
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// The session, when the caller came with one.
    pub fn session(&self) -> Option<&SessionAuth> {
        match &self.via {
            Via::Session(s) => Some(s),
            Via::Token(_) => None,
        }
    }
}

/// A caller with a browser session (not a token).
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub auth: SessionAuth,
}

impl SessionUser {
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// Refuses with 403 `reauth_required` unless the person confirmed who
    /// they are (sign-in, password or code) within the last 10 minutes.
    pub fn require_recent_confirmation(&self, now: DateTime<Utc>) -> Result<(), ApiError> {
        match self.auth.confirmed_at {
            Some(at) if now - at <= CONFIRMATION_WINDOW && at <= now + Duration::seconds(5) => {
                Ok(())
            }
            _ => Err(ApiError::forbidden(
                ErrorCode::ReauthRequired,
                "confirm it is you first: POST /api/auth/reauth with your password or a code",
            )),
        }
    }
}

/// An admin with two-factor authentication on, in a browser session.
#[derive(Debug, Clone)]
pub struct AdminUser(pub SessionUser);

fn unix(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_unix(s: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(s, 0)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Paths a user whose password an admin reset may still use.
fn allowed_while_password_must_change(path: &str) -> bool {
    matches!(
        path,
        "/api/profile/password" | "/api/auth/me" | "/api/auth/logout" | "/api/auth/logout-all"
    )
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))
}

/// The request's own origin, as a browser would send it.
fn own_origin(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host()).to_ascii_lowercase()
}

/// Refuses a state-changing request from a foreign page: the `Origin`, when
/// present, must be ours or listed in PUBLIC_URL/ALLOWED_ORIGINS.
pub fn check_origin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if is_safe(req.method()) {
        return Ok(());
    }
    let Some(origin) = req.headers().get("origin") else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
        .unwrap_or_default();
    if origin == own_origin(req) || state.settings.allowed_origins.contains(&origin) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            ErrorCode::CsrfFailed,
            "this request came from a page of another site",
        ))
    }
}

async fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = state_of(req)?;
    if let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthenticated(
                "the Authorization header must be `Bearer <token>`",
            ))?;
        return authenticate_token(req, &state, token.to_owned()).await;
    }
    authenticate_session(req, &state).await
}

async fn authenticate_token(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    token: String,
) -> Result<AuthUser, ApiError> {
    const INVALID: ApiError = ApiError::Unauthenticated("the token is invalid, expired or revoked");
    let now = state.clock.now();
    let claims = state.jwt.verify(&token).map_err(|e| {
        tracing::debug!(reason = %e, "bearer token refused");
        INVALID
    })?;
    let jti = claims.jti.to_string();
    // Reads may use the instance's cache of verified rows; anything that
    // changes something reads them afresh (see `cache`).
    let cached = if is_safe(req.method()) {
        state.auth_cache.token(&jti).and_then(|record| {
            let user = state.auth_cache.user(record.user_id)?;
            Some((record, user))
        })
    } else {
        None
    };
    let (record, user) = match cached {
        Some(hit) => hit,
        None => {
            let ticket = state.auth_cache.ticket();
            let pool = state.pool.clone();
            let (record, user) = blocking(move || {
                let mut conn = pool.get()?;
                let record = trader_db::tokens::find_by_jti(&mut conn, &jti)?;
                let user = match &record {
                    Some(r) => users::find_user_by_id(&mut conn, r.user_id)?,
                    None => None,
                };
                Ok((record, user))
            })
            .await?;
            let (Some(record), Some(user)) = (record, user) else {
                return Err(INVALID);
            };
            state.auth_cache.put_token(ticket, record.clone());
            state.auth_cache.put_user(ticket, user.clone());
            (record, user)
        }
    };
    let scope = TokenScope::parse(&record.scope).ok_or(INVALID)?;
    if record.revoked_at.is_some()
        || record.expires_at <= now
        || record.user_id.0.to_string() != claims.sub
        || !user.is_active
        || user
            .security_stamp
            .as_bytes()
            .ct_eq(claims.stamp.as_bytes())
            .unwrap_u8()
            != 1
    {
        return Err(INVALID);
    }
    if scope == TokenScope::Read && !is_safe(req.method()) {
        return Err(ApiError::forbidden(
            ErrorCode::InsufficientScope,
            "a read token may only read (GET)",
        ));
    }
    // The last use, to the minute: a write per request would make every
    // script call wait for the database's write lock. Recorded only for a
    // use the token's scope allows.
    if record
        .last_used_at
        .is_none_or(|t| now - t >= Duration::minutes(1))
    {
        let ticket = state.auth_cache.ticket();
        let pool = state.pool.clone();
        let id = record.id;
        blocking(move || {
            let mut conn = pool.get()?;
            trader_db::tokens::touch(&mut conn, id, now)?;
            Ok(())
        })
        .await?;
        state.auth_cache.touch_token(ticket, &record.jti, now);
    }
    Ok(AuthUser {
        user,
        via: Via::Token(TokenAuth {
            token_id: record.id,
            scope,
            live: record.live,
        }),
    })
}

async fn authenticate_session(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<AuthUser, ApiError> {
    const SIGN_IN: ApiError = ApiError::Unauthenticated("sign in first");
    let session = req.get_session();
    let get_i64 = |k: &str| session.get::<i64>(k).ok().flatten();
    let get_str = |k: &str| session.get::<String>(k).ok().flatten();
    let Some(uid) = get_i64(keys::USER_ID) else {
        return Err(SIGN_IN);
    };
    let now = state.clock.now();
    let created = get_i64(keys::CREATED).and_then(from_unix);
    if created.is_none_or(|c| now - c > SESSION_ABSOLUTE) {
        session.purge();
        return Err(ApiError::Unauthenticated(
            "the session has ended; sign in again",
        ));
    }
    // Reads may use the user the session store cached with the session;
    // anything that changes something reads the user afresh and checks
    // that the session's row still stands (see `cache`).
    let cached = is_safe(req.method())
        .then(|| state.auth_cache.user(UserId(uid)))
        .flatten();
    let user = match cached {
        Some(user) => Some(user),
        None => {
            let pool = state.pool.clone();
            let sid = get_str(keys::SID);
            let check_row = !is_safe(req.method());
            blocking(move || {
                let mut conn = pool.get()?;
                if check_row {
                    let live = match &sid {
                        Some(sid) => trader_db::sessions::live_by_sid(&mut conn, sid, now)?,
                        None => false,
                    };
                    if !live {
                        return Ok(None);
                    }
                }
                Ok(users::find_user_by_id(&mut conn, UserId(uid))?)
            })
            .await?
        }
    };
    let stamp = get_str(keys::STAMP).unwrap_or_default();
    let user = match user {
        Some(u)
            if u.is_active
                && u.security_stamp
                    .as_bytes()
                    .ct_eq(stamp.as_bytes())
                    .unwrap_u8()
                    == 1 =>
        {
            u
        }
        _ => {
            session.purge();
            return Err(ApiError::Unauthenticated(
                "the session has ended; sign in again",
            ));
        }
    };
    let csrf = get_str(keys::CSRF).unwrap_or_default();
    if !is_safe(req.method()) {
        let sent = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if csrf.is_empty() || sent.as_bytes().ct_eq(csrf.as_bytes()).unwrap_u8() != 1 {
            return Err(ApiError::forbidden(
                ErrorCode::CsrfFailed,
                "the X-CSRF-Token header is missing or wrong (GET /api/auth/me gives it)",
            ));
        }
        check_origin(req, state)?;
    }
    if user.must_change_password && !allowed_while_password_must_change(req.path()) {
        return Err(ApiError::forbidden(
            ErrorCode::PasswordChangeRequired,
            "your password was reset: choose a new one (POST /api/profile/password) first",
        ));
    }
    Ok(AuthUser {
        user,
        via: Via::Session(SessionAuth {
            csrf,
            sid: get_str("sid").unwrap_or_default(),
            confirmed_at: get_i64(keys::CONFIRMED).and_then(from_unix),
            session,
        }),
    })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

impl FromRequest for SessionUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = authenticate(&req).await?;
            match auth.via {
                Via::Session(s) => Ok(Self {
                    user: auth.user,
                    auth: s,
                }),
                Via::Token(_) => Err(ApiError::forbidden(
                    ErrorCode::Forbidden,
                    "tokens cannot manage tokens, sessions, two-factor authentication, passwords or users; use a browser session",
                )),
            }
        })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fut = SessionUser::from_request(req, payload);
        Box::pin(async move {
            let user = fut.await?;
            if user.user.role != Role::Admin {
                return Err(ApiError::forbidden(ErrorCode::Forbidden, "admins only"));
            }
            if !user.user.totp_enabled {
                return Err(ApiError::forbidden(
                    ErrorCode::TwoFactorSetupRequired,
                    "enable two-factor authentication first",
                ));
            }
            Ok(Self(user))
        })
    }
}

/// Starts a signed-in session for `user` on `session`: a new session id
/// (the old cookie stops working), the stamp, a fresh CSRF token, and the
/// sign-in counting as a confirmation.
pub fn begin_session(
    session: &Session,
    user: &User,
    now: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<String, ApiError> {
    session.renew();
    session.clear();
    let csrf = random_token();
    let insert = |k: &str, v: serde_json::Value| {
        session
            .insert(k, v)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("session insert: {e}")))
    };
    insert(keys::USER_ID, user.id.0.into())?;
    insert(keys::STAMP, user.security_stamp.clone().into())?;
    insert(keys::CSRF, csrf.clone().into())?;
    insert(keys::CREATED, unix(now).into())?;
    insert(keys::CONFIRMED, unix(now).into())?;
    insert("sid", random_token().into())?;
    if let Some(ip) = ip {
        insert(keys::IP, ip.into())?;
    }
    if let Some(ua) = user_agent {
        insert(
            keys::USER_AGENT,
            ua.chars().take(256).collect::<String>().into(),
        )?;
    }
    Ok(csrf)
}

/// Records a fresh confirmation on the session.
pub fn confirm(session: &Session, now: DateTime<Utc>) -> Result<(), ApiError> {
    session
        .insert(keys::CONFIRMED, unix(now))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("session insert: {e}")))
}

/// Stores a changed security stamp in the current session, so it survives
/// a change the user made themself while every other session ends.
pub fn keep_session_with_stamp(session: &Session, stamp: &str) -> Result<(), ApiError> {
    session
        .insert(keys::STAMP, stamp)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("session insert: {e}")))
}

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
