//! The signed-in user's browser sessions: list them, end one.

use actix_web::{HttpResponse, delete, get, web};
use trader_api_types::auth::{SessionInfo, SessionList};
use trader_api_types::{ErrorBody, UserId};
use trader_db::{DbConnection, sessions};

use crate::auth::SessionUser;
use crate::error::{ApiError, blocking};
use crate::meta::{Event, RequestMeta, audit};
use crate::state::AppState;

fn sid_of(state_json: &str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = serde_json::from_str(state_json).ok()?;
    serde_json::from_str(map.get("sid")?).ok()
}

/// Deletes every session of `user` except the one whose state has `sid`.
pub(crate) fn end_other_sessions(
    state: &AppState,
    conn: &mut DbConnection,
    user: UserId,
    sid: &str,
) -> Result<usize, ApiError> {
    let mut ended = 0;
    for s in sessions::list_for_user(conn, user, state.clock.now())? {
        if sid_of(&s.state).as_deref() != Some(sid) && sessions::delete_for_user(conn, user, s.id)?
        {
            ended += 1;
        }
    }
    if ended > 0 {
        session_ended(conn, user, "signed_out_elsewhere")?;
    }
    Ok(ended)
}

/// Tells the user's open pages that some of their sessions ended (each
/// page then finds out whether it was its own).
pub(crate) fn session_ended(
    conn: &mut DbConnection,
    user: UserId,
    reason: &str,
) -> Result<(), ApiError> {
    crate::services::events::publish(
        conn,
        user,
        crate::services::events::kinds::SESSION_ENDED,
        &serde_json::json!({ "reason": reason }),
        None,
    )?;
    Ok(())
}

/// The user's active sessions, newest first.
#[utoipa::path(
    tag = "sessions",
    operation_id = "list_sessions",
    responses((status = 200, body = SessionList), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []))
)]
#[get("/sessions")]
pub(crate) async fn list_sessions(
    state: web::Data<AppState>,
    caller: SessionUser,
) -> Result<web::Json<SessionList>, ApiError> {
    let st = state.clone();
    let id = caller.user.id;
    let rows = blocking(move || {
        Ok(sessions::list_for_user(
            &mut *st.pool.get()?,
            id,
            st.clock.now(),
        )?)
    })
    .await?;
    Ok(web::Json(SessionList {
        sessions: rows
            .into_iter()
            .map(|s| SessionInfo {
                current: sid_of(&s.state).as_deref() == Some(caller.auth.sid.as_str()),
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect(),
    }))
}

/// Ends one of the user's sessions.
#[utoipa::path(
    tag = "sessions",
    operation_id = "delete_session",
    params(("id" = i64, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such session of yours", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[delete("/sessions/{id}")]
pub(crate) async fn delete_session(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let st = state.clone();
    let user = caller.user.clone();
    let was_current = blocking(move || {
        let mut conn = st.pool.get()?;
        let rows = sessions::list_for_user(&mut conn, user.id, st.clock.now())?;
        let target = rows.iter().find(|s| s.id == id).ok_or(ApiError::NotFound)?;
        let was_current = sid_of(&target.state).as_deref() == Some(caller.auth.sid.as_str());
        if !sessions::delete_for_user(&mut conn, user.id, id)? {
            return Err(ApiError::NotFound);
        }
        session_ended(&mut conn, user.id, "session_revoked")?;
        let detail = serde_json::json!({"session_id": id});
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "session_revoked").detail(&detail),
            st.clock.now(),
        )?;
        Ok(was_current)
    })
    .await?;
    if was_current {
        caller.auth.session.purge();
    }
    Ok(HttpResponse::NoContent().finish())
}
