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
use trader_db::users::{self, NewUser, User};
use trader_security::{NewPassword, SecretString};

use crate::auth::session_store::keys;
use crate::auth::{AuthUser, CONFIRMATION_WINDOW, SessionUser, Via, begin_session, confirm};
use crate::error::{ApiError, blocking};
use crate::json::ApiJson;
use crate::meta::{Event, RequestMeta, audit};
use crate::routes::two_factor::{SecondFactor, check_second_factor};
use crate::settings::Registration;
use crate::startup::AppState;

/// Wrong codes allowed per pending login.
pub(crate) const MAX_CODE_TRIES: i64 = 5;
/// A pending login (password accepted, code not yet) lasts this long.
const PENDING_LOGIN_SECS: i64 = 300;

/// Makes the one-time setup token and writes it to `<data_dir>/setup-token`
/// (mode 0600), replacing an older one.
pub(crate) fn make_setup_token(data_dir: &Path) -> anyhow::Result<String> {
    let token = crate::auth::random_token();
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
        let first = users::count_users(&mut conn)? == 0;
        let role = if first {
            // The token is taken out under the lock, so two racing
            // registrations cannot both use it.
            let mut guard = st
                .setup_token
                .lock()
                .map_err(|_| ApiError::internal(anyhow::anyhow!("setup token lock poisoned")))?;
            let matches = match (guard.as_deref(), setup_token.as_ref()) {
                (Some(expected), Some(given)) => {
                    expected.as_bytes().ct_eq(given.expose().trim().as_bytes()).unwrap_u8() == 1
                }
                _ => false,
            };
            if !matches {
                audit(&mut conn, &meta, Event { user_id: None, username: Some(username.as_str()), actor_id: None, event: "setup_failed", detail: None }, st.clock.now())?;
                return Err(ApiError::forbidden(
                    ErrorCode::Forbidden,
                    "the first account needs the one-time setup token from the server's start-up output or data/setup-token",
                ));
            }
            guard.take();
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
            &mut conn,
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
        audit(&mut conn, &meta, Event::of(&created, event), st.clock.now())?;
        if first {
            let _ = std::fs::remove_file(setup_token_path(&st.settings.data_dir));
        }
        Ok(created)
    })
    .await?;
    Ok(HttpResponse::Created().json(current_user(&user)))
}

fn unix(t: DateTime<Utc>) -> i64 {
    t.timestamp()
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

/// What the password check found.
enum PasswordCheck {
    Ok(Box<User>),
    Refused,
}

/// Checks a username and password at the same cost whether or not the
/// user exists, counts failures, and audits the outcome. The argon2 check
/// runs without holding a database connection, so sign-ins in flight do
/// not starve other requests of the pool.
async fn check_password(
    state: &web::Data<AppState>,
    meta: &RequestMeta,
    username: String,
    password: SecretString,
) -> Result<PasswordCheck, ApiError> {
    let username = username.trim().to_owned();
    let st = state.clone();
    let name = username.clone();
    let user =
        blocking(move || Ok(users::find_user_by_username(&mut *st.pool.get()?, &name)?)).await?;
    let now = state.clock.now();
    let locked = user
        .as_ref()
        .is_some_and(|u| u.locked_until.is_some_and(|until| until > now));

    // The same argon2 work in every case.
    let hash = user
        .as_ref()
        .filter(|_| !locked)
        .map(|u| u.password_hash.clone());
    let pw = password.clone();
    let permit = state.password_permit().await?;
    let valid = web::block(move || match hash {
        Some(hash) => trader_security::verify_password(&pw, &hash),
        None => Ok(trader_security::verify_dummy(&pw)),
    })
    .await?
    .map_err(ApiError::internal)?;
    drop(permit);

    let st = state.clone();
    let meta = meta.clone();
    blocking(move || {
        let mut conn = st.pool.get()?;
        let Some(user) = user else {
            let detail = serde_json::json!({"reason": "unknown_user"});
            let event = Event {
                user_id: None,
                username: Some(&username),
                actor_id: None,
                event: "login_failed",
                detail: Some(&detail),
            };
            audit(&mut conn, &meta, event, now)?;
            return Ok(PasswordCheck::Refused);
        };
        if locked || !valid || !user.is_active {
            let reason = if locked {
                "locked"
            } else if !valid {
                "bad_password"
            } else {
                "inactive"
            };
            if !valid && !locked {
                users::record_failure(&mut conn, user.id, now)?;
            }
            let detail = serde_json::json!({"reason": reason});
            audit(
                &mut conn,
                &meta,
                Event::of(&user, "login_failed").detail(&detail),
                now,
            )?;
            return Ok(PasswordCheck::Refused);
        }
        users::reset_failures(&mut conn, user.id)?;
        drop(conn);
        // Stored with weaker parameters: replace the hash now that we have
        // the password (only if it still meets today's policy).
        if trader_security::needs_rehash(&user.password_hash)
            && let Ok(Ok(hash)) =
                NewPassword::new(password.clone()).map(|p| trader_security::hash_password(&p))
        {
            users::update_password_hash(&mut *st.pool.get()?, user.id, &hash)?;
        }
        Ok(PasswordCheck::Ok(Box::new(user)))
    })
    .await
}

/// Finishes a sign-in: a new session, the login recorded and audited.
async fn finish_login(
    state: &web::Data<AppState>,
    session: &Session,
    meta: &RequestMeta,
    user: User,
    method: &'static str,
) -> Result<LoginResponse, ApiError> {
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
        users::reset_failures(&mut conn, id)?;
        let detail = serde_json::json!({"method": method});
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "login_succeeded").detail(&detail),
            now,
        )?;
        Ok(user)
    })
    .await?;
    Ok(LoginResponse {
        two_factor_required: false,
        user: Some(current_user(&user)),
        csrf_token: Some(csrf),
    })
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
        (status = 401, description = "Wrong username or password (one answer for both)", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
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
) -> Result<web::Json<LoginResponse>, ApiError> {
    crate::auth::check_origin(&req, &state)?;
    let body = body.into_inner();
    let password = SecretString::from(body.password.into_inner());
    let user = match check_password(&state, &meta, body.username, password).await? {
        PasswordCheck::Ok(user) => *user,
        PasswordCheck::Refused => return Err(ApiError::InvalidCredentials),
    };
    if user.totp_enabled {
        // A pending login lives only on the server: a new session id, the
        // user and a try counter, and nothing that signs anyone in.
        session.renew();
        session.clear();
        session_insert(&session, keys::PENDING_USER_ID, user.id.0)?;
        session_insert(&session, keys::PENDING_TRIES, 0_i64)?;
        session_insert(&session, keys::PENDING_CREATED, unix(state.clock.now()))?;
        return Ok(web::Json(LoginResponse {
            two_factor_required: true,
            user: None,
            csrf_token: None,
        }));
    }
    Ok(web::Json(
        finish_login(&state, &session, &meta, user, "password").await?,
    ))
}

/// Completes a pending login with a TOTP code or a recovery code. At most
/// five wrong codes per pending login; then it ends.
#[utoipa::path(
    tag = "auth",
    operation_id = "verify_two_factor",
    request_body = CodeRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Wrong code, or no pending login", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
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
) -> Result<web::Json<LoginResponse>, ApiError> {
    const NO_PENDING: ApiError = ApiError::Unauthenticated(
        "no sign-in is waiting for a code; sign in with your password first",
    );
    crate::auth::check_origin(&req, &state)?;
    let get = |k: &str| session.get::<i64>(k).ok().flatten();
    let (Some(uid), Some(tries), Some(created)) = (
        get(keys::PENDING_USER_ID),
        get(keys::PENDING_TRIES),
        get(keys::PENDING_CREATED),
    ) else {
        return Err(NO_PENDING);
    };
    let now = state.clock.now();
    if tries >= MAX_CODE_TRIES || unix(now) - created > PENDING_LOGIN_SECS {
        session.purge();
        return Err(ApiError::Unauthenticated(
            "this sign-in has ended; sign in with your password again",
        ));
    }
    let st = state.clone();
    let meta2 = meta.clone();
    let code = body.into_inner().code;
    let outcome = blocking(move || {
        let mut conn = st.pool.get()?;
        let Some(user) = users::find_user_by_id(&mut conn, trader_api_types::UserId(uid))? else {
            return Ok(None);
        };
        if !user.is_active || user.locked_until.is_some_and(|u| u > now) {
            return Ok(Some((user, None)));
        }
        let factor = check_second_factor(&st, &mut conn, &user, code.expose(), true)?;
        match factor {
            Some(SecondFactor::RecoveryCode) => {
                audit(
                    &mut conn,
                    &meta2,
                    Event::of(&user, "recovery_code_used"),
                    now,
                )?;
            }
            Some(SecondFactor::Totp) => {}
            None => {
                users::record_failure(&mut conn, user.id, now)?;
                audit(
                    &mut conn,
                    &meta2,
                    Event::of(&user, "two_factor_failed"),
                    now,
                )?;
            }
        }
        Ok(Some((user, factor)))
    })
    .await?;
    match outcome {
        None => {
            session.purge();
            Err(NO_PENDING)
        }
        Some((user, Some(factor))) => {
            let method = match factor {
                SecondFactor::Totp => "totp",
                SecondFactor::RecoveryCode => "recovery_code",
            };
            Ok(web::Json(
                finish_login(&state, &session, &meta, user, method).await?,
            ))
        }
        Some((_, None)) => {
            // Counted on the server: an old copy of the cookie names the
            // same session, so it cannot bring back spent tries.
            session_insert(&session, keys::PENDING_TRIES, tries + 1)?;
            Err(ApiError::InvalidCredentials)
        }
    }
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
        trader_db::tokens::revoke_all_for_user(&mut conn, caller.user.id, now)?;
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
        (status = 401, description = "Wrong password or code", body = ErrorBody),
        (status = 422, description = "Neither a password nor a code", body = ErrorBody),
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
    let st = state.clone();
    let user = caller.user.clone();
    let _permit = state.password_permit().await?;
    let confirmed = blocking(move || {
        let mut conn = st.pool.get()?;
        let now = st.clock.now();
        let ok = match (body.password, body.code) {
            (Some(p), None) => trader_security::verify_password(
                &SecretString::from(p.into_inner()),
                &user.password_hash,
            )
            .map_err(ApiError::internal)?,
            (None, Some(c)) => {
                check_second_factor(&st, &mut conn, &user, c.expose(), false)?.is_some()
            }
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
        if ok {
            audit(&mut conn, &meta, Event::of(&user, "reauth"), now)?;
        } else {
            users::record_failure(&mut conn, user.id, now)?;
            audit(&mut conn, &meta, Event::of(&user, "reauth_failed"), now)?;
        }
        Ok(ok)
    })
    .await?;
    if !confirmed {
        return Err(ApiError::InvalidCredentials);
    }
    let now = state.clock.now();
    confirm(&caller.auth.session, now)?;
    Ok(web::Json(ReauthResponse {
        confirmed_until: now + CONFIRMATION_WINDOW,
    }))
}
