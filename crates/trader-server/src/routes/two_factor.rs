//! Two-factor authentication: set up a TOTP secret, confirm it with a code
//! to turn 2FA on (answering the recovery codes once), turn it off, and
//! make new recovery codes.

use actix_web::{HttpResponse, get, post, web};
use trader_api_types::auth::{CodeRequest, RecoveryCodes, Sensitive, TwoFactorSetup};
use trader_api_types::{ErrorBody, ErrorCode};
use trader_db::users::{self, User};
use trader_db::{DbConnection, recovery_codes};
use trader_security::totp::{self, TotpSecret};
use trader_security::{Aad, ExposeSecret, SecretString};

use crate::auth::guard::{Proof, confirm_identity};
use crate::auth::{SessionUser, keep_session_with_stamp};
use crate::error::{ApiError, blocking};
use crate::json::ApiJson;
use crate::meta::{Event, RequestMeta, audit};
use crate::state::AppState;

/// Which second factor matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// Associated data of a sealed field of the `users` row: the user, the row
/// and the table-qualified field, so a value copied elsewhere fails to open.
fn aad(user: &User, field: &str) -> Aad {
    totp_aad(user.id, field)
}

/// [`aad`] by the user's id (for `restore`, which checks sealed values
/// before any `User` exists).
pub(crate) fn totp_aad(user: trader_api_types::UserId, field: &str) -> Aad {
    Aad::new(user.0, user.0, &format!("users.{field}"))
}

/// Opens a sealed TOTP secret of `user` stored in `field`.
pub(crate) fn open_secret(
    state: &AppState,
    user: &User,
    sealed: &str,
    field: &str,
) -> Result<TotpSecret, ApiError> {
    let base32 = state
        .keyring
        .open_str(sealed, &aad(user, field))
        .map_err(|e| {
            ApiError::internal(anyhow::anyhow!(
                "cannot open the TOTP secret of user {}: {e}",
                user.id
            ))
        })?;
    TotpSecret::from_base32(base32.expose_secret())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored TOTP secret is invalid: {e}")))
}

fn seal_secret(
    state: &AppState,
    user: &User,
    secret: &TotpSecret,
    field: &str,
) -> Result<String, ApiError> {
    state
        .keyring
        .seal_str(secret.to_base32().expose_secret(), &aad(user, field))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("sealing failed: {e}")))
}

fn unix_now(state: &AppState) -> u64 {
    u64::try_from(state.clock.now().timestamp()).unwrap_or(0)
}

/// Checks a second factor of `user` (2FA on): a TOTP code, or, when
/// `allow_recovery`, an unused recovery code. A TOTP step is accepted only
/// above the last accepted one, recorded with a conditional update, so a
/// code works once even when two requests race; a recovery code is marked
/// used the same way.
pub(crate) fn check_second_factor(
    state: &AppState,
    conn: &mut DbConnection,
    user: &User,
    code: &str,
    allow_recovery: bool,
) -> Result<Option<SecondFactor>, ApiError> {
    let Some(sealed) = user.totp_secret.as_deref().filter(|_| user.totp_enabled) else {
        return Ok(None);
    };
    let secret = open_secret(state, user, sealed, "totp_secret")?;
    if let Some(step) = totp::verify(&secret, code, unix_now(state), user.totp_last_step) {
        return Ok(users::accept_totp_step(conn, user.id, step)?.then_some(SecondFactor::Totp));
    }
    if allow_recovery {
        let typed = SecretString::from(code.to_owned());
        for (id, hash) in recovery_codes::unused(conn, user.id)? {
            if totp::verify_recovery_code(&state.recovery_key, &typed, &hash) {
                return Ok(recovery_codes::mark_used(conn, id, state.clock.now())?
                    .then_some(SecondFactor::RecoveryCode));
            }
        }
    }
    Ok(None)
}

fn new_recovery_codes(
    state: &AppState,
    conn: &mut DbConnection,
    user: &User,
) -> Result<RecoveryCodes, ApiError> {
    let codes = totp::generate_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| totp::hash_recovery_code(&state.recovery_key, c))
        .collect();
    recovery_codes::replace(conn, user.id, &hashes, state.clock.now())?;
    Ok(RecoveryCodes {
        recovery_codes: codes
            .iter()
            .map(|c| Sensitive::new(c.expose_secret()))
            .collect(),
    })
}

/// Makes a new TOTP secret (not yet on): add it to an authenticator app,
/// then confirm with `POST /api/2fa/enable`.
#[utoipa::path(
    tag = "two-factor",
    operation_id = "setup_two_factor",
    responses(
        (status = 200, description = "The pending secret", body = TwoFactorSetup),
        (status = 409, description = "2FA is already on", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/setup")]
pub(crate) async fn setup_two_factor(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
) -> Result<web::Json<TwoFactorSetup>, ApiError> {
    if caller.user.totp_enabled {
        return Err(ApiError::Conflict(
            "two-factor authentication is already on; turn it off first to change the secret"
                .to_owned(),
            Default::default(),
        ));
    }
    let secret = TotpSecret::generate();
    let sealed = seal_secret(&state, &caller.user, &secret, "totp_pending_secret")?;
    let uri = totp::otpauth_uri(&secret, &caller.user.username);
    let st = state.clone();
    let user = caller.user.clone();
    blocking(move || {
        let mut conn = st.pool.get()?;
        users::set_totp_pending(&mut conn, user.id, Some(&sealed))?;
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "two_factor_setup"),
            st.clock.now(),
        )?;
        Ok(())
    })
    .await?;
    Ok(web::Json(TwoFactorSetup {
        secret: Sensitive::new(secret.to_base32().expose_secret()),
        otpauth_uri: Sensitive::new(uri.expose_secret()),
    }))
}

/// The pending secret as a QR code for authenticator apps.
#[utoipa::path(
    tag = "two-factor",
    operation_id = "two_factor_qrcode",
    responses(
        (status = 200, description = "A PNG image", content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "No secret is being set up", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []))
)]
#[get("/qrcode")]
pub(crate) async fn two_factor_qrcode(
    state: web::Data<AppState>,
    caller: SessionUser,
) -> Result<HttpResponse, ApiError> {
    let sealed = caller
        .user
        .totp_pending_secret
        .clone()
        .ok_or(ApiError::NotFound)?;
    let secret = open_secret(&state, &caller.user, &sealed, "totp_pending_secret")?;
    let uri = totp::otpauth_uri(&secret, &caller.user.username);
    // Drawing the PNG is CPU work: off the async workers.
    let png = web::block(move || totp::qr_png(uri.expose_secret()))
        .await?
        .map_err(|e| ApiError::internal(anyhow::anyhow!("QR code: {e}")))?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

/// Turns 2FA on with a code from the app; answers the recovery codes once.
/// Every other session ends.
#[utoipa::path(
    tag = "two-factor",
    operation_id = "enable_two_factor",
    request_body = CodeRequest,
    responses(
        (status = 200, description = "2FA is on; keep these codes", body = RecoveryCodes),
        (status = 401, description = "The code is wrong", body = ErrorBody),
        (status = 403, description = "Confirm first (reauth_required)", body = ErrorBody),
        (status = 404, description = "Set up first", body = ErrorBody),
        (status = 409, description = "2FA is already on (a second, racing Enable)", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/enable")]
pub(crate) async fn enable_two_factor(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    body: ApiJson<CodeRequest>,
) -> Result<web::Json<RecoveryCodes>, ApiError> {
    caller.require_recent_confirmation(state.clock.now())?;
    if caller.user.totp_enabled {
        return Err(already_on());
    }
    let sealed = caller
        .user
        .totp_pending_secret
        .clone()
        .ok_or(ApiError::NotFound)?;
    let secret = open_secret(&state, &caller.user, &sealed, "totp_pending_secret")?;
    let Some(step) = totp::verify(&secret, body.code.expose(), unix_now(&state), None) else {
        let st = state.clone();
        let user = caller.user.clone();
        blocking(move || {
            let mut conn = st.pool.get()?;
            audit(
                &mut conn,
                &meta,
                Event::of(&user, "two_factor_failed"),
                st.clock.now(),
            )?;
            Ok(())
        })
        .await?;
        return Err(ApiError::InvalidCredentials);
    };
    let sealed_secret = seal_secret(&state, &caller.user, &secret, "totp_secret")?;
    let st = state.clone();
    let user = caller.user.clone();
    let current_sid = caller.auth.sid.clone();
    let codes = blocking(move || {
        let mut conn = st.pool.get()?;
        // One transaction: the conditional update (only while 2FA is off and
        // the pending secret is the one checked) and the recovery codes. A
        // second, racing Enable changes nothing and answers 409, so the
        // codes the first one showed stay valid. Every other session and
        // every token ends; this session goes on.
        diesel::Connection::transaction::<_, ApiError, _>(&mut *conn, |conn| {
            if !users::enable_totp(conn, user.id, &sealed, &sealed_secret, step)?
                && !enable_resealed(&st, conn, &user, &secret, &sealed_secret, step)?
            {
                return Err(already_on());
            }
            let codes = new_recovery_codes(&st, conn, &user)?;
            crate::routes::sessions::end_other_sessions(&st, conn, user.id, &current_sid)?;
            trader_db::tokens::revoke_all_for_user(conn, user.id, st.clock.now())?;
            audit(
                conn,
                &meta,
                Event::of(&user, "two_factor_enabled"),
                st.clock.now(),
            )?;
            Ok(codes)
        })
    })
    .await?;
    Ok(web::Json(codes))
}

/// When the conditional Enable found another pending ciphertext: if it is
/// the same secret sealed again (`rotate-key` re-sealed it under a new key
/// while this request ran), enable with that one. A different secret (a
/// racing Setup) or 2FA already on still answers `false`.
fn enable_resealed(
    state: &AppState,
    conn: &mut DbConnection,
    user: &User,
    secret: &TotpSecret,
    sealed_secret: &str,
    step: i64,
) -> Result<bool, ApiError> {
    let Some(now) = users::find_user_by_id(conn, user.id)? else {
        return Ok(false);
    };
    let Some(pending) = now
        .totp_pending_secret
        .as_deref()
        .filter(|_| !now.totp_enabled)
    else {
        return Ok(false);
    };
    let Ok(opened) = open_secret(state, &now, pending, "totp_pending_secret") else {
        return Ok(false);
    };
    if opened.expose_bytes() != secret.expose_bytes() {
        return Ok(false);
    }
    Ok(users::enable_totp(
        conn,
        user.id,
        pending,
        sealed_secret,
        step,
    )?)
}

fn already_on() -> ApiError {
    ApiError::Conflict(
        "two-factor authentication is already on".to_owned(),
        Default::default(),
    )
}

/// Turns 2FA off; needs a recent confirmation and a code.
#[utoipa::path(
    tag = "two-factor",
    operation_id = "disable_two_factor",
    request_body = CodeRequest,
    responses(
        (status = 204, description = "2FA is off"),
        (status = 401, description = "The code is wrong; five wrong answers in a row end the session", body = ErrorBody),
        (status = 403, description = "Confirm first (reauth_required)", body = ErrorBody),
        (status = 429, description = "Too many requests, or the second factor is locked", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/disable")]
pub(crate) async fn disable_two_factor(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    body: ApiJson<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_recent_confirmation(state.clock.now())?;
    if !caller.user.totp_enabled {
        return Err(ApiError::Conflict(
            "two-factor authentication is already off".to_owned(),
            Default::default(),
        ));
    }
    let code = body.into_inner().code;
    let proof = Proof::Code {
        code: code.expose().to_owned(),
        recovery: true,
    };
    confirm_identity(
        &state,
        &caller.auth.session,
        &caller.user,
        &meta,
        proof,
        "two_factor_failed",
    )
    .await?;
    let st = state.clone();
    let user = caller.user.clone();
    let stamp = blocking(move || {
        let mut conn = st.pool.get()?;
        let stamp = users::disable_totp(&mut conn, user.id)?.ok_or(ApiError::NotFound)?;
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "two_factor_disabled"),
            st.clock.now(),
        )?;
        Ok(stamp)
    })
    .await?;
    keep_session_with_stamp(&caller.auth.session, &stamp)?;
    Ok(HttpResponse::NoContent().finish())
}

/// New recovery codes (the old ones stop working); needs a recent
/// confirmation and a TOTP code.
#[utoipa::path(
    tag = "two-factor",
    operation_id = "regenerate_recovery_codes",
    request_body = CodeRequest,
    responses(
        (status = 200, description = "The new codes, shown once", body = RecoveryCodes),
        (status = 401, description = "The code is wrong; five wrong answers in a row end the session", body = ErrorBody),
        (status = 403, description = "Confirm first (reauth_required)", body = ErrorBody),
        (status = 429, description = "Too many requests, or the second factor is locked", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/recovery-codes")]
pub(crate) async fn regenerate_recovery_codes(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    body: ApiJson<CodeRequest>,
) -> Result<web::Json<RecoveryCodes>, ApiError> {
    caller.require_recent_confirmation(state.clock.now())?;
    if !caller.user.totp_enabled {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "turn on two-factor authentication first",
        ));
    }
    let code = body.into_inner().code;
    let proof = Proof::Code {
        code: code.expose().to_owned(),
        recovery: false,
    };
    confirm_identity(
        &state,
        &caller.auth.session,
        &caller.user,
        &meta,
        proof,
        "two_factor_failed",
    )
    .await?;
    let st = state.clone();
    let user = caller.user.clone();
    let codes = blocking(move || {
        let mut conn = st.pool.get()?;
        let codes = new_recovery_codes(&st, &mut conn, &user)?;
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "recovery_codes_regenerated"),
            st.clock.now(),
        )?;
        Ok(codes)
    })
    .await?;
    Ok(web::Json(codes))
}
