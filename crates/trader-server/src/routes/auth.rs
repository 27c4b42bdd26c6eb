//! Sign-in: the first admin's setup, registration, password login with an
//! optional second step, sign-out, "who am I", and re-confirmation for
//! sensitive actions.
//!
//! Unknown users, wrong passwords, inactive and locked accounts all get the
//! same 401 body, and cost the same: an unknown user is checked against a
//! dummy argon2 hash.

use std::path::{Path, PathBuf};

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;
use trader_api_types::auth::{
    CodeRequest, CurrentUser, LoginRequest, LoginResponse, MeResponse, ReauthRequest,
    ReauthResponse, RegisterRequest, SetupStatus,
};
use trader_api_types::{Email, ErrorBody, ErrorCode, Role, Username};
use trader_db::pending_logins;
use trader_db::users::{self, NewUser, User};
use trader_security::{NewPassword, SecretString};

use crate::auth::guard::{self, LoginCheck, Proof, audit_username, network_of};
use crate::auth::session_store::{hash_key, keys};
use crate::auth::{AuthUser, CONFIRMATION_WINDOW, SessionUser, Via, begin_session, confirm};
use crate::error::{ApiError, blocking};
use crate::json::ApiJson;
use crate::meta::{Event, RequestMeta, audit};
use crate::routes::two_factor::SecondFactor;
use crate::settings::Registration;
use crate::state::AppState;

/// Wrong codes allowed per pending login.
pub(crate) const MAX_CODE_TRIES: i32 = 5;
/// A pending login (password accepted, code not yet) lasts this long.
const PENDING_LOGIN_SECS: i64 = 300;

/// Makes a one-time setup token, stores its hash in the database (so
/// every instance sharing it accepts it) and writes the token to
/// `<data_dir>/setup-token` (mode 0600), replacing an older file.
pub(crate) fn make_setup_token(
    conn: &mut trader_db::DbConnection,
    data_dir: &Path,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let token = crate::auth::random_token();
    trader_db::setup_tokens::insert(conn, &hash_key(&token), now)?;
    crate::settings::create_private_dir(data_dir)?;
    let path = setup_token_path(data_dir);
    let _ = std::fs::remove_file(&path);
    crate::settings::write_private_file(&path, format!("{token}\n").as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(token)
}

fn setup_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("setup-token")
}

/// A unique violation on insert is a taken username (409 naming the field).
pub(crate) fn username_taken(e: trader_db::DbError) -> ApiError {
    match e {
        trader_db::DbError::Conflict { .. } => ApiError::Conflict(
            "that username is taken".to_owned(),
            [("username".to_owned(), "is taken".to_owned())].into(),
        ),
        other => other.into(),
    }
}

pub(crate) fn current_user(user: &User) -> CurrentUser {
    CurrentUser {
        id: user.id,
        username: user.username.clone(),
        email: user.email.clone(),
        role: user.role,
        two_factor_enabled: user.totp_enabled,
        must_change_password: user.must_change_password,
        created_at: user.created_at,
        last_login_at: user.last_login_at,
        last_login_ip: user.last_login_ip.clone(),
    }
}

/// Whether the install still needs its first admin, and whether anyone may
/// register.
#[utoipa::path(
    tag = "auth",
    operation_id = "setup_status",
    responses((status = 200, body = SetupStatus), (status = "default", description = "An error", body = ErrorBody))
)]
#[get("/setup-status")]
pub(crate) async fn setup_status(
    state: web::Data<AppState>,
) -> Result<web::Json<SetupStatus>, ApiError> {
    let st = state.clone();
    let count = blocking(move || Ok(users::count_users(&mut *st.pool.get()?)?)).await?;
    Ok(web::Json(SetupStatus {
        setup_required: count == 0,
        registration_open: state.settings.registration == Registration::Open,
    }))
}

/// Parses a registration's fields, naming every bad one.
fn parse_registration(body: &RegisterRequest) -> Result<(Username, Email, NewPassword), ApiError> {
    let mut fields = std::collections::BTreeMap::new();
    let username = Username::parse(body.username.trim())
        .map_err(|e| fields.insert("username".into(), e))
        .ok();
    let email = Email::parse(&body.email)
        .map_err(|e| fields.insert("email".into(), e))
        .ok();
    let password = NewPassword::new(SecretString::from(body.password.expose().to_owned()))
        .map_err(|e| fields.insert("password".into(), e.to_string()))
        .ok();
    match (username, email, password) {
        (Some(u), Some(e), Some(p)) => Ok((u, e, p)),
        _ => Err(ApiError::Validation {
            message: "some fields are not acceptable".to_owned(),
            fields,
        }),
    }
}

/// Creates an account: the first admin (with the setup token), or, when
/// registration is open, a user.
#[utoipa::path(
    tag = "auth",
    operation_id = "register",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created; sign in next", body = CurrentUser),
        (status = 403, description = "Registration is closed, or the setup token is missing or wrong", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    )
)]
#[post("/register")]
pub(crate) async fn register(
    state: web::Data<AppState>,
    meta: RequestMeta,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (username, email, password) = parse_registration(&body)?;
    let permit = state.password_permit().await?;
    let hash = web::block(move || trader_security::hash_password(&password))
        .await?
        .map_err(ApiError::internal)?;
    drop(permit);
    let st = state.clone();
    let setup_token = body.setup_token;
    let user = blocking(move || {
        let mut conn = st.pool.get()?;
        let now = st.clock.now();
        // One write transaction: the count, the token's conditional delete
        // and the insert. A failed insert rolls the delete back, so it does
        // not burn the token; two racing claims cannot both use it.
        let outcome = conn.write_transaction(|conn| -> Result<Result<(User, bool), ()>, ApiError> {
            let first = users::count_users(conn)? == 0;
            let role = if first {
                let given = setup_token.as_ref().map(|t| hash_key(t.expose().trim()));
                let consumed = match given {
                    Some(hash) => trader_db::setup_tokens::consume(conn, &hash, now)?,
                    None => false,
                };
                if !consumed {
                    return Ok(Err(()));
                }
                trader_db::setup_tokens::delete_all(conn)?;
                Role::Admin
            } else {
                if st.settings.registration == Registration::Closed {
                    return Err(ApiError::forbidden(
                        ErrorCode::Forbidden,
                        "registration is closed; an admin can create your account",
                    ));
                }
                Role::User
            };
            let created = users::create_user(
                conn,
                &NewUser {
                    username: username.as_str(),
                    email: email.as_str(),
                    password_hash: &hash,
                    role,
                    must_change_password: false,
                },
            )
            .map_err(username_taken)?;
            let event = if first { "setup_completed" } else { "registered" };
            audit(conn, &meta, Event::of(&created, event), now)?;
            Ok(Ok((created, first)))
        })?;
        match outcome {
            Ok((created, first)) => {
                if first {
                    let _ = std::fs::remove_file(setup_token_path(&st.settings.data_dir));
                }
                Ok(created)
            }
            Err(()) => {
                let shown = audit_username(&st, username.as_str(), false);
                audit(&mut conn, &meta, Event { user_id: None, username: Some(&shown), actor_id: None, event: "setup_failed", detail: None }, now)?;
                Err(ApiError::forbidden(
                    ErrorCode::Forbidden,
                    "the first account needs the one-time setup token from the server's start-up output or data/setup-token",
                ))
            }
        }
    })
    .await?;
    Ok(HttpResponse::Created().json(current_user(&user)))
}

fn session_insert(
    session: &Session,
    key: &str,
    value: impl serde::Serialize,
) -> Result<(), ApiError> {
    session
        .insert(key, value)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("session insert: {e}")))
}

/// Finishes a sign-in: a new session, every failure count of this user
/// from this network cleared, the login recorded and audited, and a device
/// cookie that exempts this browser from the hourly ceiling.
async fn finish_login(
    state: &web::Data<AppState>,
    session: &Session,
    meta: &RequestMeta,
    user: User,
    method: &'static str,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let csrf = begin_session(
        session,
        &user,
        now,
        meta.ip.clone(),
        meta.user_agent.clone(),
    )?;
    let st = state.clone();
    let meta = meta.clone();
    let id = user.id;
    let user = blocking(move || {
        let mut conn = st.pool.get()?;
        users::record_login(&mut conn, id, now, meta.ip.as_deref())?;
        guard::clear_after_sign_in(&mut conn, id, &network_of(meta.ip.as_deref()))?;
        let detail = serde_json::json!({"method": method});
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "login_succeeded").detail(&detail),
            now,
        )?;
        // Read back: a second-factor lock may have marked the password for
        // a change meanwhile.
        Ok(users::find_user_by_id(&mut conn, id)?.unwrap_or(user))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .cookie(guard::device_cookie(state, &user))
        .json(LoginResponse {
            two_factor_required: false,
            user: Some(current_user(&user)),
            csrf_token: Some(csrf),
        }))
}

/// Signs in with a password. With 2FA on, the answer is
/// `{"two_factor_required": true}` and a pending login on the server;
/// `POST /api/auth/verify-2fa` completes it.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in, or a second step is due", body = LoginResponse),
        (status = 401, description = "Wrong username or password, or locked from this network (one answer for all)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or too many failures for this account in the last hour", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    )
)]
#[post("/login")]
pub(crate) async fn login(
    state: web::Data<AppState>,
    session: Session,
    meta: RequestMeta,
    req: actix_web::HttpRequest,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    crate::auth::check_origin(&req, &state)?;
    let body = body.into_inner();
    let password = SecretString::from(body.password.into_inner());
    let device = guard::device_user(&req, &state);
    let user =
        match guard::check_login_password(&state, &meta, body.username, password, device).await? {
            LoginCheck::Ok(user) => *user,
            LoginCheck::Refused => return Err(ApiError::InvalidCredentials),
        };
    if user.totp_enabled {
        // A pending login lives on the server: the session keeps a random
        // id, and the row keeps the user, their security stamp and the try
        // counter. Nothing in it signs anyone in.
        let pending = crate::auth::random_token();
        let st = state.clone();
        let now = state.clock.now();
        let network = network_of(meta.ip.as_deref());
        let (uid, stamp, id_hash) = (user.id, user.security_stamp.clone(), hash_key(&pending));
        blocking(move || {
            let mut conn = st.pool.get()?;
            pending_logins::insert(
                &mut conn,
                &pending_logins::NewPendingLogin {
                    id_hash: &id_hash,
                    user_id: uid,
                    security_stamp: &stamp,
                    network: &network,
                    now,
                    expires_at: now + chrono::Duration::seconds(PENDING_LOGIN_SECS),
                },
            )?;
            Ok(())
        })
        .await?;
        session.renew();
        session.clear();
        session_insert(&session, keys::PENDING_USER_ID, user.id.0)?;
        session_insert(&session, keys::PENDING_ID, pending)?;
        return Ok(HttpResponse::Ok().json(LoginResponse {
            two_factor_required: true,
            user: None,
            csrf_token: None,
        }));
    }
    finish_login(&state, &session, &meta, user, "password").await
}

/// Completes a pending login with a TOTP code or a recovery code. At most
/// five codes per pending login; wrong codes also count per account, and
/// ten lock the second factor (429) with growing delays.
#[utoipa::path(
    tag = "auth",
    operation_id = "verify_two_factor",
    request_body = CodeRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Wrong code, or no pending login", body = ErrorBody),
        (status = 429, description = "Too many attempts, or the second factor is locked", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    )
)]
#[post("/verify-2fa")]
pub(crate) async fn verify_two_factor(
    state: web::Data<AppState>,
    session: Session,
    meta: RequestMeta,
    req: actix_web::HttpRequest,
    body: ApiJson<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    const NO_PENDING: ApiError = ApiError::Unauthenticated(
        "no sign-in is waiting for a code; sign in with your password first",
    );
    const ENDED: ApiError =
        ApiError::Unauthenticated("this sign-in has ended; sign in with your password again");
    crate::auth::check_origin(&req, &state)?;
    let Some(pending) = session.get::<String>(keys::PENDING_ID).ok().flatten() else {
        return Err(NO_PENDING);
    };
    let id_hash = hash_key(&pending);
    let st = state.clone();
    let meta2 = meta.clone();
    let code = body.into_inner().code;
    let outcome = blocking(move || {
        let mut conn = st.pool.get()?;
        let now = st.clock.now();
        let Some(waiting) = pending_logins::find(&mut conn, &id_hash, now)? else {
            return Ok(Pending::Gone);
        };
        // The try is reserved before the code is checked: parallel
        // requests with this cookie get no extra tries.
        if !pending_logins::reserve_try(&mut conn, &id_hash, MAX_CODE_TRIES)? {
            pending_logins::delete(&mut conn, &id_hash)?;
            return Ok(Pending::Gone);
        }
        let user = users::find_user_by_id(&mut conn, waiting.user_id)?;
        let Some(user) = user.filter(|u| {
            u.is_active
                && u.security_stamp
                    .as_bytes()
                    .ct_eq(waiting.security_stamp.as_bytes())
                    .unwrap_u8()
                    == 1
        }) else {
            // Deactivated, or a password change or "log out everywhere"
            // since the password was accepted.
            pending_logins::delete(&mut conn, &id_hash)?;
            return Ok(Pending::Gone);
        };
        match guard::check_login_code(&st, &mut conn, &meta2, &user, code.expose())? {
            Some(factor) => {
                pending_logins::delete(&mut conn, &id_hash)?;
                Ok(Pending::Passed(Box::new(user), factor))
            }
            None => Ok(Pending::Wrong),
        }
    })
    .await;
    match outcome {
        Ok(Pending::Passed(user, factor)) => {
            let method = match factor {
                SecondFactor::Totp => "totp",
                SecondFactor::RecoveryCode => "recovery_code",
            };
            finish_login(&state, &session, &meta, *user, method).await
        }
        Ok(Pending::Wrong) => Err(ApiError::InvalidCredentials),
        Ok(Pending::Gone) => {
            session.purge();
            Err(ENDED)
        }
        Err(e) => Err(e),
    }
}

/// What became of a pending login's code.
enum Pending {
    Passed(Box<User>, SecondFactor),
    Wrong,
    Gone,
}

/// Ends this session.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    responses((status = 204, description = "Signed out"), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = [], "csrf" = []))
)]
#[post("/logout")]
pub(crate) async fn logout(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    caller.auth.session.purge();
    let st = state.clone();
    blocking(move || {
        let mut conn = st.pool.get()?;
        audit(
            &mut conn,
            &meta,
            Event::of(&caller.user, "logout"),
            st.clock.now(),
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every session and token of the user ("log out everywhere").
#[utoipa::path(
    tag = "auth",
    operation_id = "logout_all",
    responses((status = 204, description = "Signed out everywhere"), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = [], "csrf" = []))
)]
#[post("/logout-all")]
pub(crate) async fn logout_all(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    caller.auth.session.purge();
    let st = state.clone();
    blocking(move || {
        let mut conn = st.pool.get()?;
        let now = st.clock.now();
        users::rotate_security_stamp(&mut conn, caller.user.id)?;
        trader_db::sessions::delete_all_for_user(&mut conn, caller.user.id)?;
        pending_logins::delete_all_for_user(&mut conn, caller.user.id)?;
        trader_db::tokens::revoke_all_for_user(&mut conn, caller.user.id, now)?;
        crate::routes::sessions::session_ended(&mut conn, caller.user.id, "logout_all")?;
        audit(&mut conn, &meta, Event::of(&caller.user, "logout_all"), now)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user, their 2FA state and last sign-in, and the session's
/// CSRF token.
#[utoipa::path(
    tag = "auth",
    operation_id = "me",
    responses(
        (status = 200, body = MeResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/me")]
pub(crate) async fn me(caller: AuthUser) -> web::Json<MeResponse> {
    let (csrf_token, auth) = match &caller.via {
        Via::Session(s) => (Some(s.csrf.clone()), "session"),
        Via::Token(_) => (None, "token"),
    };
    web::Json(MeResponse {
        user: current_user(&caller.user),
        csrf_token,
        auth: auth.to_owned(),
    })
}

/// Confirms the person (password, or a 2FA code) for the next 10 minutes,
/// for actions that need it.
#[utoipa::path(
    tag = "auth",
    operation_id = "reauth",
    request_body = ReauthRequest,
    responses(
        (status = 200, body = ReauthResponse),
        (status = 401, description = "Wrong password or code; five wrong answers in a row end the session", body = ErrorBody),
        (status = 422, description = "Neither a password nor a code", body = ErrorBody),
        (status = 429, description = "Too many requests, or password or code checks are locked", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/reauth")]
pub(crate) async fn reauth(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    body: ApiJson<ReauthRequest>,
) -> Result<web::Json<ReauthResponse>, ApiError> {
    let body = body.into_inner();
    let proof = match (body.password, body.code) {
        (Some(p), None) => Proof::Password(SecretString::from(p.into_inner())),
        (None, Some(c)) => Proof::Code {
            code: c.expose().to_owned(),
            recovery: false,
        },
        _ => {
            return Err(ApiError::Validation {
                message: "send either `password` or `code`".to_owned(),
                fields: [(
                    "password".to_owned(),
                    "send either this or `code`".to_owned(),
                )]
                .into(),
            });
        }
    };
    guard::confirm_identity(
        &state,
        &caller.auth.session,
        &caller.user,
        &meta,
        proof,
        "reauth_failed",
    )
    .await?;
    crate::meta::audit_user(&state, &caller.user, &meta, "reauth", None).await?;
    let now = state.clock.now();
    confirm(&caller.auth.session, now)?;
    Ok(web::Json(ReauthResponse {
        confirmed_until: now + CONFIRMATION_WINDOW,
    }))
}
