//! actix-session's `SessionStore` over our database, so sessions live on
//! the server: one logout ends exactly that session, "log out everywhere"
//! ends all of them, a pending two-factor login and its try counter cannot
//! be replayed from an old cookie, and several instances share sessions.
//!
//! The cookie holds a random 64-character key; the table keeps only its
//! SHA-256. Session state is actix-session's map of JSON strings; the keys
//! `uid`, `ip` and `ua` are also copied into columns so a user can list
//! their sessions.

use std::collections::HashMap;
use std::sync::Arc;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::web;
use chrono::Duration;
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};
use trader_api_types::UserId;
use trader_db::Pool;
use trader_db::sessions::{self, SessionWrite};

use crate::auth::cache::{AuthCache, CachedSession};
use crate::clock::SharedClock;

/// Session state keys.
pub mod keys {
    /// The signed-in user's id.
    pub const USER_ID: &str = "uid";
    /// The user's security stamp when the session began.
    pub const STAMP: &str = "stamp";
    /// The CSRF token bound to this session.
    pub const CSRF: &str = "csrf";
    /// When the session (sign-in) began, unix seconds: the absolute limit.
    pub const CREATED: &str = "created";
    /// When the person last confirmed who they are, unix seconds.
    pub const CONFIRMED: &str = "confirmed";
    /// A pending login: the user whose password was right (also copied
    /// into the row's `user_id`, so "log out everywhere" and a password
    /// change end pending logins too).
    pub const PENDING_USER_ID: &str = "pending_uid";
    /// A pending login: the random id of its `pending_logins` row, which
    /// keeps the security stamp and the try counter.
    pub const PENDING_ID: &str = "pending_id";
    /// Wrong passwords or codes in a row in this session (reauth, 2FA
    /// changes, password change); five end the session.
    pub const FACTOR_FAILURES: &str = "factor_failures";
    /// The session's own random id (signed-in sessions), also copied into
    /// its row's `sid` column.
    pub const SID: &str = "sid";
    /// Client address and user agent, for the list of sessions.
    pub const IP: &str = "ip";
    pub const USER_AGENT: &str = "ua";
}

/// The database-backed store, with the instance's cache of verified
/// sign-ins in front of it (see [`crate::auth::cache`]).
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    pool: Pool,
    clock: SharedClock,
    cache: Arc<AuthCache>,
}

impl DbSessionStore {
    pub fn new(pool: Pool, clock: SharedClock, cache: Arc<AuthCache>) -> Self {
        Self { pool, clock, cache }
    }
}

/// The stored form of a cookie's session key.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_key() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

fn to_chrono(ttl: &CookieDuration) -> Duration {
    Duration::seconds(ttl.whole_seconds())
}

/// A JSON-string state value as plain text (actix-session stores values
/// JSON-encoded).
fn text_of(state: &HashMap<String, String>, key: &str) -> Option<String> {
    state
        .get(key)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
}

/// The user a session belongs to: the signed-in user, or the user of a
/// pending two-factor login.
fn user_of(state: &HashMap<String, String>) -> Option<UserId> {
    state
        .get(keys::USER_ID)
        .or_else(|| state.get(keys::PENDING_USER_ID))
        .and_then(|v| v.parse::<i64>().ok())
        .map(UserId)
}

struct Columns {
    state: String,
    user_id: Option<UserId>,
    ip: Option<String>,
    ua: Option<String>,
    sid: Option<String>,
}

fn columns(state: &HashMap<String, String>) -> Result<Columns, serde_json::Error> {
    Ok(Columns {
        state: serde_json::to_string(state)?,
        user_id: user_of(state),
        ip: text_of(state, keys::IP),
        ua: text_of(state, keys::USER_AGENT),
        sid: text_of(state, keys::SID),
    })
}

impl SessionStore for DbSessionStore {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        let hash = hash_key(session_key.as_ref());
        let now = self.clock.now();
        if let Some(cached) = self.cache.session(&hash)
            && cached.expires_at > now
        {
            return Ok(Some(cached.state));
        }
        // One round trip: the session and the user it belongs to, which
        // the extractor asks for next.
        let ticket = self.cache.ticket();
        let pool = self.pool.clone();
        let (row, user) = web::block(move || -> Result<_, trader_db::DbError> {
            let mut conn = pool.get()?;
            let Some(row) = sessions::load(&mut conn, &hash, now)? else {
                return Ok((None, None));
            };
            let user = match row.user_id {
                Some(id) => trader_db::users::find_user_by_id(&mut conn, id)?,
                None => None,
            };
            Ok((Some((hash, row)), user))
        })
        .await
        .map_err(|e| LoadError::Other(anyhow::anyhow!("{e}")))?
        .map_err(|e| LoadError::Other(e.into()))?;
        let Some((hash, row)) = row else {
            return Ok(None);
        };
        let state: HashMap<String, String> =
            serde_json::from_str(&row.state).map_err(|e| LoadError::Deserialization(e.into()))?;
        if let Some(user) = user {
            self.cache.put_user(ticket, user);
        }
        self.cache.put_session(
            ticket,
            hash,
            CachedSession {
                state: state.clone(),
                expires_at: row.expires_at,
            },
        );
        Ok(Some(state))
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        let cols = columns(&session_state).map_err(|e| SaveError::Serialization(e.into()))?;
        let key = new_key();
        let hash = hash_key(&key);
        let pool = self.pool.clone();
        let now = self.clock.now();
        let expires_at = now + to_chrono(ttl);
        web::block(move || -> Result<_, trader_db::DbError> {
            let mut conn = pool.get()?;
            sessions::insert(
                &mut conn,
                &hash,
                &SessionWrite {
                    user_id: cols.user_id,
                    state: &cols.state,
                    now,
                    expires_at,
                    ip: cols.ip.as_deref(),
                    user_agent: cols.ua.as_deref(),
                    sid: cols.sid.as_deref(),
                },
            )
        })
        .await
        .map_err(|e| SaveError::Other(anyhow::anyhow!("{e}")))?
        .map_err(|e| SaveError::Other(e.into()))?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let cols = columns(&session_state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let hash = hash_key(session_key.as_ref());
        let pool = self.pool.clone();
        let now = self.clock.now();
        let expires_at = now + to_chrono(ttl);
        let state = cols.state.clone();
        let updated = web::block(move || -> Result<_, trader_db::DbError> {
            let mut conn = pool.get()?;
            sessions::update(
                &mut conn,
                &hash,
                &SessionWrite {
                    user_id: cols.user_id,
                    state: &state,
                    now,
                    expires_at,
                    ip: cols.ip.as_deref(),
                    user_agent: cols.ua.as_deref(),
                    sid: cols.sid.as_deref(),
                },
            )
        })
        .await
        .map_err(|e| UpdateError::Other(anyhow::anyhow!("{e}")))?
        .map_err(|e| UpdateError::Other(e.into()))?;
        // The state changed: no instance may keep the old one (the others
        // see the epoch move).
        self.cache.flush();
        if updated {
            Ok(session_key)
        } else {
            // The session ended while this request ran (a logout elsewhere,
            // a revocation, expiry). Its state must not come back under a
            // new key, or a revoked sign-in would live on: start an empty
            // session instead.
            self.save(HashMap::new(), ttl)
                .await
                .map_err(|e| UpdateError::Other(anyhow::anyhow!("{e}")))
        }
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        let hash = hash_key(session_key.as_ref());
        let now = self.clock.now();
        let expires_at = now + to_chrono(ttl);
        // The stored expiry is moved at most once a minute (see
        // `sessions::touch`): when the cached row shows it need not move,
        // there is nothing to ask the database.
        if let Some(cached) = self.cache.session(&hash)
            && cached.expires_at > now
            && expires_at - cached.expires_at < sessions::TOUCH_GRANULARITY
        {
            return Ok(());
        }
        let ticket = self.cache.ticket();
        let pool = self.pool.clone();
        let key = hash.clone();
        let live = web::block(move || -> Result<_, trader_db::DbError> {
            let mut conn = pool.get()?;
            sessions::touch(&mut conn, &key, now, expires_at)
        })
        .await??;
        if live {
            self.cache.extend_session(ticket, &hash, expires_at);
        }
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let hash = hash_key(session_key.as_ref());
        let pool = self.pool.clone();
        web::block(move || -> Result<_, trader_db::DbError> {
            let mut conn = pool.get()?;
            sessions::delete_by_key(&mut conn, &hash)
        })
        .await??;
        self.cache.flush();
        Ok(())
    }
}
