//! The signed-in user's own account: email and password.

use actix_web::{HttpResponse, patch, post, web};
use trader_api_types::auth::{ChangePasswordRequest, CurrentUser, UpdateProfileRequest};
use trader_api_types::{Email, ErrorBody};
use trader_db::users::{self, UserChanges};
use trader_security::{NewPassword, SecretString};

use crate::auth::guard::{Proof, confirm_identity};
use crate::auth::{SessionUser, keep_session_with_stamp};
use crate::error::{ApiError, blocking};
use crate::json::ApiJson;
use crate::meta::{Event, RequestMeta, audit};
use crate::routes::auth::current_user;
use crate::state::AppState;

/// Changes the email address: a browser session with a recent
/// confirmation only (no token: the email is where account mail goes).
#[utoipa::path(
    tag = "profile",
    operation_id = "update_profile",
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, body = CurrentUser),
        (status = 403, description = "Confirm first (reauth_required)", body = ErrorBody),
        (status = 422, description = "Not an email address", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[patch("/profile")]
pub(crate) async fn update_profile(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    body: ApiJson<UpdateProfileRequest>,
) -> Result<web::Json<CurrentUser>, ApiError> {
    caller.require_recent_confirmation(state.clock.now())?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::field("email", e))?;
    let st = state.clone();
    let user = blocking(move || {
        let mut conn = st.pool.get()?;
        let updated = users::update_user(
            &mut conn,
            caller.user.id,
            &UserChanges {
                email: Some(email.as_str()),
                ..UserChanges::default()
            },
        )?
        .ok_or(ApiError::NotFound)?;
        audit(
            &mut conn,
            &meta,
            Event::of(&updated, "email_changed"),
            st.clock.now(),
        )?;
        Ok(updated)
    })
    .await?;
    Ok(web::Json(current_user(&user)))
}

/// Changes the password (the current one is required). Every other session
/// and every token ends; this session goes on.
#[utoipa::path(
    tag = "profile",
    operation_id = "change_password",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "The current password is wrong", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; locked for a while", body = ErrorBody),
        (status = 422, description = "The new password breaks a rule", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/profile/password")]
pub(crate) async fn change_password(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    body: ApiJson<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    // No separate confirmation: the current password is checked here,
    // through the same guard as a reauth (counted, locked, five in a row
    // end the session).
    let body = body.into_inner();
    let new = NewPassword::new(SecretString::from(body.new_password.into_inner()))
        .map_err(|e| ApiError::field("new_password", e.to_string()))?;
    let current = SecretString::from(body.current_password.into_inner());
    confirm_identity(
        &state,
        &caller.auth.session,
        &caller.user,
        &meta,
        Proof::Password(current),
        "password_change_failed",
    )
    .await?;
    let st = state.clone();
    let user = caller.user.clone();
    let sid = caller.auth.sid.clone();
    let _permit = state.password_permit().await?;
    let stamp = blocking(move || {
        let now = st.clock.now();
        let mut conn = st.pool.get()?;
        let hash = trader_security::hash_password(&new).map_err(ApiError::internal)?;
        let stamp = users::set_password_with(&mut conn, user.id, &hash, false)?
            .ok_or(ApiError::NotFound)?;
        crate::routes::sessions::end_other_sessions(&st, &mut conn, user.id, &sid)?;
        trader_db::tokens::revoke_all_for_user(&mut conn, user.id, now)?;
        audit(&mut conn, &meta, Event::of(&user, "password_changed"), now)?;
        Ok(stamp)
    })
    .await?;
    keep_session_with_stamp(&caller.auth.session, &stamp)?;
    Ok(HttpResponse::NoContent().finish())
}
