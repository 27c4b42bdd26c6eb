//! Pending two-factor logins: the password was right, the code is not in
//! yet. The session keeps only a random id; the row (under the id's hash)
//! keeps the user, their security stamp at the time and a try counter
//! that is reserved with a conditional update, so parallel requests with
//! one cookie get no extra tries.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::pending_logins;
use crate::{DbConnection, DbError};

/// A pending login as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub user_id: UserId,
    /// The user's security stamp when the password was accepted; a
    /// password change or "log out everywhere" since ends the login.
    pub security_stamp: String,
    /// The client network the password came from.
    pub network: String,
    pub tries: i32,
    pub expires_at: DateTime<Utc>,
}

/// What a new pending login holds.
#[derive(Debug, Clone)]
pub struct NewPendingLogin<'a> {
    /// The hash of the id kept in the session.
    pub id_hash: &'a str,
    pub user_id: UserId,
    pub security_stamp: &'a str,
    pub network: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Stores a pending login.
pub fn insert(conn: &mut DbConnection, new: &NewPendingLogin<'_>) -> Result<(), DbError> {
    diesel::insert_into(pending_logins::table)
        .values((
            pending_logins::id.eq(new.id_hash),
            pending_logins::user_id.eq(new.user_id.0),
            pending_logins::security_stamp.eq(new.security_stamp),
            pending_logins::network.eq(new.network),
            pending_logins::tries.eq(0),
            pending_logins::created_at.eq(new.now.naive_utc()),
            pending_logins::expires_at.eq(new.expires_at.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The pending login under `id_hash`, if it has not expired.
pub fn find(
    conn: &mut DbConnection,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<PendingLogin>, DbError> {
    let row = pending_logins::table
        .find(id_hash)
        .filter(pending_logins::expires_at.gt(now.naive_utc()))
        .select((
            pending_logins::user_id,
            pending_logins::security_stamp,
            pending_logins::network,
            pending_logins::tries,
            pending_logins::expires_at,
        ))
        .first::<(i64, String, String, i32, NaiveDateTime)>(conn)
        .optional()?;
    Ok(row.map(|(u, s, n, t, e)| PendingLogin {
        user_id: UserId(u),
        security_stamp: s,
        network: n,
        tries: t,
        expires_at: e.and_utc(),
    }))
}

/// Reserves one try: answers `false` when `max` tries are spent (or the
/// login is gone).
pub fn reserve_try(conn: &mut DbConnection, id_hash: &str, max: i32) -> Result<bool, DbError> {
    let n = diesel::update(
        pending_logins::table
            .find(id_hash)
            .filter(pending_logins::tries.lt(max)),
    )
    .set(pending_logins::tries.eq(pending_logins::tries + 1))
    .execute(conn)?;
    Ok(n == 1)
}

/// Ends a pending login.
pub fn delete(conn: &mut DbConnection, id_hash: &str) -> Result<(), DbError> {
    diesel::delete(pending_logins::table.find(id_hash)).execute(conn)?;
    Ok(())
}

/// Ends every pending login of `user`.
pub fn delete_all_for_user(conn: &mut DbConnection, user: UserId) -> Result<usize, DbError> {
    Ok(
        diesel::delete(pending_logins::table.filter(pending_logins::user_id.eq(user.0)))
            .execute(conn)?,
    )
}

/// Deletes expired pending logins.
pub fn purge_expired(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(
        diesel::delete(
            pending_logins::table.filter(pending_logins::expires_at.le(now.naive_utc())),
        )
        .execute(conn)?,
    )
}
