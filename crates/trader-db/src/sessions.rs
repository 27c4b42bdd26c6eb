//! Server-side sessions: the rows behind actix-session's cookie.
//!
//! The cookie carries a random session key; the table keeps only its
//! SHA-256 (`key_hash`), so a copy of the database does not hand out live
//! sessions. Each row also records who it belongs to and from where, for
//! the user's list of their sessions.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::sessions;
use crate::{DbConnection, DbError};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    pub user_id: Option<UserId>,
    /// actix-session's state, a JSON object of strings.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: i64,
    user_id: Option<i64>,
    state: String,
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id.map(UserId),
            state: r.state,
            created_at: r.created_at.and_utc(),
            last_seen_at: r.last_seen_at.and_utc(),
            expires_at: r.expires_at.and_utc(),
            ip: r.ip,
            user_agent: r.user_agent,
        }
    }
}

/// What a save writes.
#[derive(Debug, Clone)]
pub struct SessionWrite<'a> {
    pub user_id: Option<UserId>,
    pub state: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The session's own id from its state (signed-in sessions).
    pub sid: Option<&'a str>,
}

/// Inserts a new session under `key_hash`.
pub fn insert(
    conn: &mut DbConnection,
    key_hash: &str,
    w: &SessionWrite<'_>,
) -> Result<(), DbError> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::key_hash.eq(key_hash),
            sessions::user_id.eq(w.user_id.map(|u| u.0)),
            sessions::state.eq(w.state),
            sessions::created_at.eq(w.now.naive_utc()),
            sessions::last_seen_at.eq(w.now.naive_utc()),
            sessions::expires_at.eq(w.expires_at.naive_utc()),
            sessions::ip.eq(w.ip),
            sessions::user_agent.eq(w.user_agent),
            sessions::sid.eq(w.sid),
        ))
        .execute(conn)?;
    Ok(())
}

/// The live (unexpired) session under `key_hash`.
pub fn load(
    conn: &mut DbConnection,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, DbError> {
    Ok(sessions::table
        .filter(sessions::key_hash.eq(key_hash))
        .filter(sessions::expires_at.gt(now.naive_utc()))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .map(Session::from))
}

/// Rewrites a live session's state; answers `false` if it is gone.
pub fn update(
    conn: &mut DbConnection,
    key_hash: &str,
    w: &SessionWrite<'_>,
) -> Result<bool, DbError> {
    let n = diesel::update(
        sessions::table
            .filter(sessions::key_hash.eq(key_hash))
            .filter(sessions::expires_at.gt(w.now.naive_utc())),
    )
    .set((
        sessions::user_id.eq(w.user_id.map(|u| u.0)),
        sessions::state.eq(w.state),
        sessions::last_seen_at.eq(w.now.naive_utc()),
        sessions::expires_at.eq(w.expires_at.naive_utc()),
        sessions::ip.eq(w.ip),
        sessions::user_agent.eq(w.user_agent),
        sessions::sid.eq(w.sid),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Extends a live session (idle timeout) without changing its state;
/// answers `false` if it is gone. Called on every request, so it writes
/// only when the expiry would move by more than [`TOUCH_GRANULARITY`]:
/// reads are cheap and concurrent, writes (on SQLite) are not. `last_seen_at`
/// is therefore accurate to about a minute.
pub fn touch(
    conn: &mut DbConnection,
    key_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let current: Option<NaiveDateTime> = sessions::table
        .filter(sessions::key_hash.eq(key_hash))
        .filter(sessions::expires_at.gt(now.naive_utc()))
        .select(sessions::expires_at)
        .first(conn)
        .optional()?;
    let Some(current) = current else {
        return Ok(false);
    };
    if expires_at.naive_utc() - current < TOUCH_GRANULARITY {
        return Ok(true);
    }
    let n = diesel::update(
        sessions::table
            .filter(sessions::key_hash.eq(key_hash))
            .filter(sessions::expires_at.gt(now.naive_utc())),
    )
    .set((
        sessions::last_seen_at.eq(now.naive_utc()),
        sessions::expires_at.eq(expires_at.naive_utc()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// How far an expiry must move before [`touch`] writes it.
pub const TOUCH_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Deletes the session under `key_hash`.
pub fn delete_by_key(conn: &mut DbConnection, key_hash: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::key_hash.eq(key_hash))).execute(conn)? == 1)
}

/// A user's live sessions, newest first.
pub fn list_for_user(
    conn: &mut DbConnection,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, DbError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user.0))
        .filter(sessions::expires_at.gt(now.naive_utc()))
        .order(sessions::id.desc())
        .select(SessionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Session::from)
        .collect())
}

/// Deletes session `id` if it belongs to `user`.
pub fn delete_for_user(conn: &mut DbConnection, user: UserId, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(
        sessions::table
            .filter(sessions::id.eq(id))
            .filter(sessions::user_id.eq(user.0)),
    )
    .execute(conn)?
        == 1)
}

/// Deletes all of a user's sessions; answers how many.
pub fn delete_all_for_user(conn: &mut DbConnection, user: UserId) -> Result<usize, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user.0))).execute(conn)?)
}

/// Deletes expired sessions; answers how many.
pub fn purge_expired(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(
        diesel::delete(sessions::table.filter(sessions::expires_at.le(now.naive_utc())))
            .execute(conn)?,
    )
}

/// Reserves one wrong-answer slot of the session with this `sid` before a
/// password or code is checked: answers the count including this one, or
/// `None` when `max` are spent (or the session is gone). A conditional
/// update, so parallel requests cannot share a slot.
pub fn reserve_factor_failure(
    conn: &mut DbConnection,
    sid: &str,
    max: i32,
) -> Result<Option<i32>, DbError> {
    conn.transaction(|conn| {
        let n = diesel::update(
            sessions::table
                .filter(sessions::sid.eq(sid))
                .filter(sessions::factor_failures.lt(max)),
        )
        .set(sessions::factor_failures.eq(sessions::factor_failures + 1))
        .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(sessions::table
            .filter(sessions::sid.eq(sid))
            .select(sessions::factor_failures)
            .first::<i32>(conn)
            .optional()?)
    })
}

/// Clears the session's wrong answers (a right one came).
pub fn reset_factor_failures(conn: &mut DbConnection, sid: &str) -> Result<(), DbError> {
    diesel::update(sessions::table.filter(sessions::sid.eq(sid)))
        .set(sessions::factor_failures.eq(0))
        .execute(conn)?;
    Ok(())
}

/// Whether the session with this `sid` is still there and unexpired.
pub fn live_by_sid(
    conn: &mut DbConnection,
    sid: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        sessions::table
            .filter(sessions::sid.eq(sid))
            .filter(sessions::expires_at.gt(now.naive_utc())),
    ))
    .get_result(conn)?)
}

/// Deletes the session with this `sid`.
pub fn delete_by_sid(conn: &mut DbConnection, sid: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::sid.eq(sid))).execute(conn)? == 1)
}

/// Gives back a reserved slot (nothing was checked: a lock refused first).
pub fn release_factor_failure(conn: &mut DbConnection, sid: &str) -> Result<(), DbError> {
    diesel::update(
        sessions::table
            .filter(sessions::sid.eq(sid))
            .filter(sessions::factor_failures.gt(0)),
    )
    .set(sessions::factor_failures.eq(sessions::factor_failures - 1))
    .execute(conn)?;
    Ok(())
}
