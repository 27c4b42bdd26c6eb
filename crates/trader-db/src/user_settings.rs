//! Each user's settings: the Python version's `settings.yaml` groups as one
//! JSON document (validated by the server before it is stored).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::user_settings;
use crate::users::now;
use crate::{DbConnection, DbError};

/// The user's stored settings JSON, if they ever saved any.
pub fn get(conn: &mut DbConnection, user: UserId) -> Result<Option<String>, DbError> {
    Ok(user_settings::table
        .find(user.0)
        .select(user_settings::settings)
        .first(conn)
        .optional()?)
}

/// Reads, changes and stores the user's settings in one write transaction
/// (the user's row locked on PostgreSQL), so two changes at once cannot
/// lose one: `change` gets the connection (inside the transaction) and the
/// stored JSON (if any) and answers the new JSON, or an error that leaves
/// everything as it was.
pub fn update<E: From<DbError> + From<diesel::result::Error>>(
    conn: &mut DbConnection,
    user: UserId,
    change: impl FnOnce(&mut DbConnection, Option<String>) -> Result<String, E>,
) -> Result<String, E> {
    conn.write_transaction(|conn| {
        lock(conn, user)?;
        let stored = get(conn, user)?;
        let json = change(conn, stored)?;
        put(conn, user, &json)?;
        Ok(json)
    })
}

/// Locks the user's row until the end of the write transaction on
/// PostgreSQL (SQLite's `BEGIN IMMEDIATE` already holds the write lock):
/// whatever reads the settings under it sees no change until it ends.
pub fn lock(conn: &mut DbConnection, user: UserId) -> Result<(), DbError> {
    if let DbConnection::Postgres(pg) = conn {
        crate::schema::users::table
            .find(user.0)
            .select(crate::schema::users::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// Stores the user's settings JSON (replacing what was there); call it in
/// a write transaction ([`update`]).
pub fn put(conn: &mut DbConnection, user: UserId, json: &str) -> Result<(), DbError> {
    let at: NaiveDateTime = now().naive_utc();
    conn.transaction(|conn| {
        let n = diesel::update(user_settings::table.find(user.0))
            .set((
                user_settings::settings.eq(json),
                user_settings::updated_at.eq(at),
            ))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(user_settings::table)
                .values((
                    user_settings::user_id.eq(user.0),
                    user_settings::settings.eq(json),
                    user_settings::updated_at.eq(at),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}
