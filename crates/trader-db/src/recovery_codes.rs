//! Two-factor recovery codes, stored hashed, each usable once.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::recovery_codes;
use crate::{DbConnection, DbError};

/// Replaces a user's codes with these hashes (old codes stop working).
pub fn replace(
    conn: &mut DbConnection,
    user: UserId,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        delete_all(conn, user)?;
        for hash in hashes {
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::user_id.eq(user.0),
                    recovery_codes::code_hash.eq(hash),
                    recovery_codes::created_at.eq(now.naive_utc()),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A user's unused codes as `(id, hash)`.
pub fn unused(conn: &mut DbConnection, user: UserId) -> Result<Vec<(i64, String)>, DbError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user.0))
        .filter(recovery_codes::used_at.is_null())
        .order(recovery_codes::id.asc())
        .select((recovery_codes::id, recovery_codes::code_hash))
        .load(conn)?)
}

/// Marks code `id` used, only if it was unused (so two racing requests
/// cannot both use it); answers whether this call used it.
pub fn mark_used(conn: &mut DbConnection, id: i64, now: DateTime<Utc>) -> Result<bool, DbError> {
    Ok(diesel::update(
        recovery_codes::table
            .find(id)
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(now.naive_utc())))
    .execute(conn)?
        == 1)
}

/// Deletes all of a user's codes.
pub fn delete_all(conn: &mut DbConnection, user: UserId) -> Result<usize, DbError> {
    Ok(
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.0)))
            .execute(conn)?,
    )
}
