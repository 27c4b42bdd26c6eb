//! The audit log: a user's own events, newest first, a page at a time.

use actix_web::{get, web};
use trader_api_types::auth::{AuditEntry, AuditPage};
use trader_api_types::{ErrorBody, UserId};
use trader_db::audit::AuditEntryRow;

use crate::auth::AuthUser;
use crate::error::{ApiError, blocking};
use crate::state::AppState;

/// Paging of audit lists.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Entries older than this id (the previous page's `next_before`).
    pub(crate) before: Option<i64>,
    /// At most this many entries, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub(crate) limit: Option<i64>,
}

pub(crate) fn entry(row: AuditEntryRow) -> AuditEntry {
    AuditEntry {
        id: row.id,
        at: row.at.and_utc(),
        user_id: row.user_id.map(UserId),
        username: row.username,
        actor_id: row.actor_id.map(UserId),
        event: row.event,
        detail: row.detail.and_then(|d| serde_json::from_str(&d).ok()),
        ip: row.ip,
        user_agent: row.user_agent,
    }
}

/// One page of entries of `user` (all users when `None`).
pub(crate) async fn page(
    state: &web::Data<AppState>,
    user: Option<UserId>,
    query: AuditQuery,
) -> Result<AuditPage, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 200"));
    }
    let st = state.clone();
    let rows = blocking(move || {
        Ok(trader_db::audit::list(
            &mut *st.pool.get()?,
            user,
            query.before,
            limit,
        )?)
    })
    .await?;
    let next_before = if i64::try_from(rows.len()).unwrap_or(0) == limit {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(AuditPage {
        entries: rows.into_iter().map(entry).collect(),
        next_before,
    })
}

/// The signed-in user's own audit events.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit",
    params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []), ("bearer" = []))
)]
#[get("/audit")]
pub(crate) async fn list_audit(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditPage>, ApiError> {
    Ok(web::Json(
        page(&state, Some(caller.id()), query.into_inner()).await?,
    ))
}
