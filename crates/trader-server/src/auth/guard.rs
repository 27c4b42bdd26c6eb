//! The one place where a password, a TOTP code or a recovery code is
//! checked, so every check refuses while locked, counts toward the matching
//! counter ([`trader_db::login_guard`]) and is audited the same way.
//!
//! - Sign-in: [`check_login_password`] (per account and client network,
//!   with an hourly ceiling across networks that a browser holding a
//!   device cookie from an earlier full sign-in is exempt from) and
//!   [`check_login_code`] (per account).
//! - Signed in (reauth, 2FA changes, password change): [`confirm_identity`].
//!   Five wrong answers in a row there end the session.
//!
//! Each attempt is reserved in the database before the secret is checked,
//! so requests racing in parallel get no extra guesses.

use std::net::IpAddr;

use actix_session::Session;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::{HttpRequest, web};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use trader_api_types::UserId;
use trader_db::login_guard::{self, Ceiling, LOCK_THRESHOLD, Reservation};
use trader_db::users::{self, User};
use trader_security::{NewPassword, SecretString};

use crate::auth::session_store::keys;
use crate::error::{ApiError, blocking};
use crate::meta::{Event, RequestMeta, audit};
use crate::routes::two_factor::{SecondFactor, check_second_factor};
use crate::state::AppState;

/// Wrong answers in a row that end a signed-in session.
pub(crate) const SESSION_FAILURE_LIMIT: i32 = 5;
/// How long a device cookie from a full sign-in exempts that browser from
/// the hourly ceiling.
pub(crate) const DEVICE_COOKIE_DAYS: i64 = 90;
/// The longest username kept in a failed sign-in's audit entry.
const AUDIT_USERNAME_MAX: usize = 64;

/// The client network an address belongs to: its /24 (IPv4) or /64
/// (IPv6); IPv4-mapped IPv6 addresses count as IPv4.
pub(crate) fn network_of(ip: Option<&str>) -> String {
    let Some(ip) = ip.and_then(|s| s.parse::<IpAddr>().ok()) else {
        return "unknown".to_owned();
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let prefix = if ip.is_ipv4() { 24 } else { 64 };
    ipnet::IpNet::new(ip, prefix)
        .map(|n| n.trunc().to_string())
        .unwrap_or_else(|_| ip.to_string())
}

fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_seconds())
        .unwrap_or(0)
        .max(1)
}

fn locked(message: &'static str, until: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    ApiError::Locked {
        message,
        retry_after_secs: seconds_until(until, now),
    }
}

/// What a typed username becomes in a failed sign-in's audit entry: a known
/// user's name as it is (at most 64 characters); an unknown one as a keyed
/// hash, since people type passwords into the username box.
pub(crate) fn audit_username(state: &AppState, typed: &str, known: bool) -> String {
    if known {
        return typed.chars().take(AUDIT_USERNAME_MAX).collect();
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&state.audit_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(typed.trim().to_ascii_lowercase().as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("unknown-user:{hex}")
}

/// The key that signs device cookies, derived from SECRET_KEY.
pub(crate) fn device_key(secret: &[u8]) -> Key {
    let mut h = Sha256::new();
    h.update(b"alpaca-trader device cookie\0");
    h.update(secret);
    Key::derive_from(&h.finalize())
}

/// The key of audit usernames' keyed hashes, derived from SECRET_KEY.
pub(crate) fn audit_key(secret: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"alpaca-trader audit usernames\0");
    h.update(secret);
    h.finalize().to_vec()
}

fn device_cookie_name(state: &AppState) -> &'static str {
    if state.settings.secure_cookies() {
        "__Host-alpaca_device"
    } else {
        "alpaca_device"
    }
}

/// A short tag of a security stamp: a device cookie names the stamp it was
/// made under, so a password change or "log out everywhere" revokes it.
fn stamp_tag(stamp: &str) -> String {
    let digest = Sha256::digest(stamp.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// A device cookie's claim: this browser completed a full sign-in of
/// `user` under the stamp tagged `stamp_tag` in the last 90 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Device {
    user: UserId,
    stamp_tag: String,
}

impl Device {
    /// Whether the cookie vouches for `user` as they are now.
    fn vouches_for(&self, user: &User) -> bool {
        self.user == user.id && self.stamp_tag == stamp_tag(&user.security_stamp)
    }
}

/// The claim of the signed device cookie this request carries, if valid.
pub(crate) fn device_user(req: &HttpRequest, state: &AppState) -> Option<Device> {
    let name = device_cookie_name(state);
    let cookie = req.cookie(name)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let value = jar.signed(&state.device_key).get(name)?.value().to_owned();
    let mut parts = value.split('.');
    let (Some("v2"), Some(uid), Some(issued), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let issued = DateTime::from_timestamp(issued.parse().ok()?, 0)?;
    let now = state.clock.now();
    (now - issued <= Duration::days(DEVICE_COOKIE_DAYS) && issued <= now + Duration::minutes(5))
        .then_some(Device {
            user: UserId(uid.parse().ok()?),
            stamp_tag: tag.to_owned(),
        })
}

/// A fresh device cookie for `user`, set on a full sign-in.
pub(crate) fn device_cookie(state: &AppState, user: &User) -> Cookie<'static> {
    let name = device_cookie_name(state);
    let value = format!(
        "v2.{}.{}.{}",
        user.id.0,
        state.clock.now().timestamp(),
        stamp_tag(&user.security_stamp)
    );
    let mut jar = CookieJar::new();
    jar.signed_mut(&state.device_key)
        .add(Cookie::new(name, value));
    let signed = jar
        .get(name)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    Cookie::build(name, signed)
        .path("/")
        .http_only(true)
        .secure(state.settings.secure_cookies())
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::days(DEVICE_COOKIE_DAYS))
        .finish()
}

/// What the sign-in's password step found.
#[derive(Debug)]
pub(crate) enum LoginCheck {
    Ok(Box<User>),
    /// The one 401 for an unknown user, a wrong password, an inactive
    /// account and a locked (account, network) pair.
    Refused,
}

const CEILING_MESSAGE: &str = "too many failed sign-ins for this account in the last hour; sign in from a browser you used before, or wait";

/// Checks a sign-in's username and password at the same argon2 cost
/// whether or not the user exists; counts and audits failures.
///
/// Reservation, argon2 and release run in one blocking task: if the client
/// goes away meanwhile, the task still finishes, so a right password always
/// gives its reservation back. The argon2 check holds no database
/// connection.
pub(crate) async fn check_login_password(
    state: &web::Data<AppState>,
    meta: &RequestMeta,
    username: String,
    password: SecretString,
    device: Option<Device>,
) -> Result<LoginCheck, ApiError> {
    let username = username.trim().to_owned();
    let network = network_of(meta.ip.as_deref());
    let now = state.clock.now();
    let st = state.clone();
    let meta = meta.clone();
    let permit = state.password_permit().await?;
    let outcome = blocking(move || {
        // Find the user and reserve the attempt (per network, then the
        // hourly ceiling) before any password is checked.
        let mut conn = st.pool.get()?;
        let user = users::find_user_by_username(&mut conn, &username)?;
        let mut reservation = None;
        if let Some(user) = &user {
            let r = login_guard::reserve_password_attempt(&mut conn, user.id, &network, now)?;
            if let Reservation::Reserved { .. } = r {
                let exempt = device.as_ref().is_some_and(|d| d.vouches_for(user));
                if let Ceiling::Reached { until } =
                    login_guard::reserve_hourly_attempt(&mut conn, user.id, now, exempt)?
                {
                    login_guard::release_password_attempt(&mut conn, user.id, &network)?;
                    let detail =
                        serde_json::json!({"reason": "hourly_ceiling", "network": network});
                    audit(
                        &mut conn,
                        &meta,
                        Event::of(user, "login_failed").detail(&detail),
                        now,
                    )?;
                    return Err(locked(CEILING_MESSAGE, until, now));
                }
            }
            reservation = Some(r);
        }
        drop(conn);
        let is_locked = matches!(reservation, Some(Reservation::Locked { .. }));

        // The same argon2 work in every case.
        let valid = match user.as_ref().filter(|_| !is_locked) {
            Some(u) => trader_security::verify_password(&password, &u.password_hash)
                .map_err(ApiError::internal)?,
            None => trader_security::verify_dummy(&password),
        };

        let mut conn = st.pool.get()?;
        let Some(user) = user else {
            let detail = serde_json::json!({"reason": "unknown_user"});
            let shown = audit_username(&st, &username, false);
            let event = Event {
                user_id: None,
                username: Some(&shown),
                actor_id: None,
                event: "login_failed",
                detail: Some(&detail),
            };
            audit(&mut conn, &meta, event, now)?;
            return Ok(LoginCheck::Refused);
        };
        if valid && !is_locked {
            // Not a guess: give the reservation back. Earlier failures stay
            // until the whole sign-in succeeds.
            login_guard::release_password_attempt(&mut conn, user.id, &network)?;
            login_guard::release_hourly_attempt(&mut conn, user.id)?;
        }
        if is_locked || !valid || !user.is_active {
            let reason = if is_locked {
                "locked"
            } else if !valid {
                "bad_password"
            } else {
                "inactive"
            };
            let detail = serde_json::json!({"reason": reason, "network": network});
            audit(
                &mut conn,
                &meta,
                Event::of(&user, "login_failed").detail(&detail),
                now,
            )?;
            return Ok(LoginCheck::Refused);
        }
        drop(conn);
        // Stored with weaker parameters: replace the hash now that we have
        // the password (only if it still meets today's policy).
        if trader_security::needs_rehash(&user.password_hash)
            && let Ok(Ok(hash)) =
                NewPassword::new(password.clone()).map(|p| trader_security::hash_password(&p))
        {
            users::update_password_hash(&mut *st.pool.get()?, user.id, &hash)?;
        }
        Ok(LoginCheck::Ok(Box::new(user)))
    })
    .await;
    drop(permit);
    outcome
}

/// After a wrong code: audits it and, when it locked the second factor,
/// audits the lock and, when the codes came after the password was proven
/// (a sign-in), makes the user change their password: whoever reached the
/// lock knows it.
fn after_wrong_code(
    conn: &mut trader_db::DbConnection,
    meta: &RequestMeta,
    user: &User,
    failures: i32,
    now: DateTime<Utc>,
    password_proven: bool,
) -> Result<(), ApiError> {
    audit(conn, meta, Event::of(user, "two_factor_failed"), now)?;
    if failures >= LOCK_THRESHOLD {
        let until = login_guard::lockout_delay(failures).map(|d| now + d);
        let detail = serde_json::json!({
            "failures": failures,
            "locked_until": until,
            "must_change_password": password_proven,
        });
        audit(
            conn,
            meta,
            Event::of(user, "two_factor_locked").detail(&detail),
            now,
        )?;
        if password_proven {
            users::require_password_change(conn, user.id)?;
        }
        tracing::warn!(
            user_id = %user.id,
            failures,
            "second factor locked after repeated wrong codes"
        );
    }
    Ok(())
}

/// Checks a sign-in's second factor (TOTP or a recovery code) for `user`,
/// counting per account. `Ok(None)`: wrong (audited and counted). A locked
/// second factor answers 429 even for the right code.
pub(crate) fn check_login_code(
    state: &AppState,
    conn: &mut trader_db::DbConnection,
    meta: &RequestMeta,
    user: &User,
    code: &str,
) -> Result<Option<SecondFactor>, ApiError> {
    let now = state.clock.now();
    let failures = match login_guard::reserve_factor_attempt(conn, user.id, now)? {
        Reservation::Locked { until } => {
            return Err(locked(
                "too many wrong codes: two-factor sign-in for this account is locked for a while",
                until,
                now,
            ));
        }
        Reservation::Reserved { failures } => failures,
    };
    let factor = check_second_factor(state, conn, user, code, true)?;
    match factor {
        Some(SecondFactor::RecoveryCode) => {
            audit(conn, meta, Event::of(user, "recovery_code_used"), now)?;
        }
        Some(SecondFactor::Totp) => {}
        None => after_wrong_code(conn, meta, user, failures, now, true)?,
    }
    Ok(factor)
}

/// Clears every failure count a full sign-in of `user` from `network` ends.
pub(crate) fn clear_after_sign_in(
    conn: &mut trader_db::DbConnection,
    user: UserId,
    network: &str,
) -> Result<(), ApiError> {
    login_guard::clear_password_failures(conn, user, network)?;
    login_guard::clear_factor_failures(conn, user)?;
    Ok(())
}

/// What a signed-in person offers to prove who they are.
pub(crate) enum Proof {
    Password(SecretString),
    /// A TOTP code, or also a recovery code when `recovery` is true.
    Code {
        code: String,
        recovery: bool,
    },
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Password(_) => "Proof::Password(..)",
            Self::Code { .. } => "Proof::Code(..)",
        })
    }
}

/// Checks a signed-in user's password or code (reauth, 2FA changes,
/// password change): refused while locked, counted toward the matching
/// counter (passwords also toward the hourly ceiling), audited as
/// `failed_event` when wrong. Five wrong answers in a row end the session,
/// counted in the session's row with a conditional update so parallel
/// requests get no more. Answers which second factor matched, if a code.
pub(crate) async fn confirm_identity(
    state: &web::Data<AppState>,
    session: &Session,
    user: &User,
    meta: &RequestMeta,
    proof: Proof,
    failed_event: &'static str,
) -> Result<Option<SecondFactor>, ApiError> {
    const ENDED: ApiError = ApiError::Unauthenticated(
        "too many wrong passwords or codes in a row: this session has ended; sign in again",
    );
    if matches!(proof, Proof::Code { .. }) && !user.totp_enabled {
        return Err(ApiError::field(
            "code",
            "two-factor authentication is off: confirm with your password",
        ));
    }
    let sid = session
        .get::<String>(keys::SID)
        .ok()
        .flatten()
        .unwrap_or_default();
    let now = state.clock.now();
    let network = network_of(meta.ip.as_deref());
    let permit = match proof {
        Proof::Password(_) => Some(state.password_permit().await?),
        Proof::Code { .. } => None,
    };
    let st = state.clone();
    let (meta2, u) = (meta.clone(), user.clone());
    // One blocking task from reservation to release: a client that goes
    // away cannot leave a right answer counted as wrong.
    let outcome = blocking(move || -> Result<Result<Option<SecondFactor>, bool>, ApiError> {
        let mut conn = st.pool.get()?;
        let Some(in_a_row) =
            trader_db::sessions::reserve_factor_failure(&mut conn, &sid, SESSION_FAILURE_LIMIT)?
        else {
            return Ok(Err(true));
        };
        let right = match proof {
            Proof::Password(password) => {
                match login_guard::reserve_password_attempt(&mut conn, u.id, &network, now)? {
                    Reservation::Locked { until } => {
                        trader_db::sessions::release_factor_failure(&mut conn, &sid)?;
                        return Err(locked(
                            "too many wrong passwords from this network; password checks are locked for a while",
                            until,
                            now,
                        ));
                    }
                    Reservation::Reserved { .. } => {}
                }
                if let Ceiling::Reached { until } =
                    login_guard::reserve_hourly_attempt(&mut conn, u.id, now, false)?
                {
                    login_guard::release_password_attempt(&mut conn, u.id, &network)?;
                    trader_db::sessions::release_factor_failure(&mut conn, &sid)?;
                    return Err(locked(CEILING_MESSAGE, until, now));
                }
                drop(conn);
                let valid = trader_security::verify_password(&password, &u.password_hash)
                    .map_err(ApiError::internal)?;
                conn = st.pool.get()?;
                if valid {
                    login_guard::release_password_attempt(&mut conn, u.id, &network)?;
                    login_guard::release_hourly_attempt(&mut conn, u.id)?;
                    Some(None)
                } else {
                    audit(&mut conn, &meta2, Event::of(&u, failed_event), now)?;
                    None
                }
            }
            Proof::Code { code, recovery } => {
                let failures = match login_guard::reserve_factor_attempt(&mut conn, u.id, now)? {
                    Reservation::Locked { until } => {
                        trader_db::sessions::release_factor_failure(&mut conn, &sid)?;
                        return Err(locked(
                            "too many wrong codes: two-factor checks for this account are locked for a while",
                            until,
                            now,
                        ));
                    }
                    Reservation::Reserved { failures } => failures,
                };
                match check_second_factor(&st, &mut conn, &u, &code, recovery)? {
                    Some(factor) => {
                        login_guard::release_factor_attempt(&mut conn, u.id)?;
                        if factor == SecondFactor::RecoveryCode {
                            audit(&mut conn, &meta2, Event::of(&u, "recovery_code_used"), now)?;
                        }
                        Some(Some(factor))
                    }
                    None => {
                        if failed_event != "two_factor_failed" {
                            audit(&mut conn, &meta2, Event::of(&u, failed_event), now)?;
                        }
                        after_wrong_code(&mut conn, &meta2, &u, failures, now, false)?;
                        None
                    }
                }
            }
        };
        match right {
            Some(factor) => {
                trader_db::sessions::reset_factor_failures(&mut conn, &sid)?;
                Ok(Ok(factor))
            }
            None if in_a_row >= SESSION_FAILURE_LIMIT => {
                trader_db::sessions::delete_by_sid(&mut conn, &sid)?;
                audit(&mut conn, &meta2, Event::of(&u, "session_ended_after_failures"), now)?;
                Ok(Err(true))
            }
            None => Ok(Err(false)),
        }
    })
    .await;
    drop(permit);
    match outcome? {
        Ok(factor) => Ok(factor),
        Err(true) => {
            session.purge();
            Err(ENDED)
        }
        Err(false) => Err(ApiError::InvalidCredentials),
    }
}
