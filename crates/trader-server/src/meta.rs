//! Where a request came from (client address and user agent), for the
//! audit log and the list of sessions, and the audit-log helper.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{Ready, ready};
use trader_api_types::UserId;
use trader_db::audit::{self, NewAuditEntry};
use trader_db::{DbConnection, DbError};

use crate::state::AppState;

/// The client address (through trusted proxies) and user agent.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl FromRequest for RequestMeta {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.trusted_proxies.clone())
            .unwrap_or_default();
        let ip = crate::client_ip::of_request(req, &trusted).map(|ip| ip.to_string());
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        ready(Ok(Self { ip, user_agent }))
    }
}

/// One audit event.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub user_id: Option<UserId>,
    pub username: Option<&'a str>,
    pub actor_id: Option<UserId>,
    pub event: &'a str,
    pub detail: Option<&'a serde_json::Value>,
}

impl<'a> Event<'a> {
    /// An event about `user`, done by themself.
    pub fn of(user: &'a trader_db::users::User, event: &'a str) -> Self {
        Self {
            user_id: Some(user.id),
            username: Some(&user.username),
            actor_id: None,
            event,
            detail: None,
        }
    }

    pub fn detail(mut self, detail: &'a serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn by(mut self, actor: UserId) -> Self {
        self.actor_id = Some(actor);
        self
    }
}

/// Writes `event` to the audit log, with where the request came from.
pub fn audit(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    event: Event<'_>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbError> {
    let detail = event.detail.map(ToString::to_string);
    audit::record(
        conn,
        &NewAuditEntry {
            user_id: event.user_id,
            username: event.username,
            actor_id: event.actor_id,
            event: event.event,
            detail: detail.as_deref(),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
        },
        at,
    )
}

/// Writes `event` about `user` (done by themself), with `detail`, off the
/// async workers: the one helper for handlers and services that audit
/// outside a database call of their own.
pub async fn audit_user(
    state: &AppState,
    user: &trader_db::users::User,
    meta: &RequestMeta,
    event: &'static str,
    detail: Option<serde_json::Value>,
) -> Result<(), crate::error::ApiError> {
    let pool = state.pool.clone();
    let now = state.clock.now();
    let (user, meta) = (user.clone(), meta.clone());
    crate::error::blocking(move || {
        let mut conn = pool.get()?;
        let mut e = Event::of(&user, event);
        e.detail = detail.as_ref();
        audit(&mut conn, &meta, e, now)?;
        Ok(())
    })
    .await
}
