//! The first admin's one-time setup token, kept as a hash in the database
//! so every instance sharing it agrees on the token.
//!
//! Each instance that starts while no user exists adds a token; any
//! unexpired one claims the install. It is consumed by a conditional
//! delete inside the transaction that creates the admin, so a failed
//! insert rolls the delete back and the token still works.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::schema::setup_tokens;
use crate::{DbConnection, DbError};

/// How long a setup token works.
pub const SETUP_TOKEN_LIFETIME: Duration = Duration::hours(24);

/// Stores the hash of a new setup token.
pub fn insert(
    conn: &mut DbConnection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(setup_tokens::table)
        .values((
            setup_tokens::token_hash.eq(token_hash),
            setup_tokens::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Consumes the token with this hash if it exists and has not expired;
/// answers whether it did. Call it in the transaction that creates the
/// first admin.
pub fn consume(
    conn: &mut DbConnection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let oldest: NaiveDateTime = (now - SETUP_TOKEN_LIFETIME).naive_utc();
    let n = diesel::delete(
        setup_tokens::table
            .filter(setup_tokens::token_hash.eq(token_hash))
            .filter(setup_tokens::created_at.gt(oldest)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes every setup token (the install is claimed).
pub fn delete_all(conn: &mut DbConnection) -> Result<usize, DbError> {
    Ok(diesel::delete(setup_tokens::table).execute(conn)?)
}
