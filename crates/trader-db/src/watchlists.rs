//! Watchlists: several named lists per user, exactly one of them the
//! default (a partial unique index), each with its symbols.
//!
//! Every function takes the owner: a watchlist of someone else's is the
//! same as none (`None`/`false`), so the API answers 404 for both.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::{watchlist_symbols, watchlists};
use crate::users::{lower, now};
use crate::{DbConnection, DbError};

/// Lists a user may have.
pub const MAX_LISTS: i64 = 20;
/// Symbols a list may hold.
pub const MAX_SYMBOLS: i64 = 200;
/// The name of the list every user starts with.
pub const DEFAULT_NAME: &str = "Watchlist";

/// A watchlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watchlist {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A symbol on a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub symbol: String,
    pub name: Option<String>,
    pub added_at: DateTime<Utc>,
}

type Row = (i64, i64, String, bool, NaiveDateTime, NaiveDateTime);

fn from_row(r: Row) -> Watchlist {
    Watchlist {
        id: r.0,
        user_id: UserId(r.1),
        name: r.2,
        is_default: r.3,
        created_at: r.4.and_utc(),
        updated_at: r.5.and_utc(),
    }
}

const COLUMNS: (
    watchlists::id,
    watchlists::user_id,
    watchlists::name,
    watchlists::is_default,
    watchlists::created_at,
    watchlists::updated_at,
) = (
    watchlists::id,
    watchlists::user_id,
    watchlists::name,
    watchlists::is_default,
    watchlists::created_at,
    watchlists::updated_at,
);

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("the user already has {MAX_LISTS} watchlists")]
    TooManyLists,
    #[error("the watchlist already holds {MAX_SYMBOLS} symbols")]
    TooManySymbols,
    #[error("the default watchlist cannot be deleted while others exist")]
    DefaultInUse,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ListError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Locks the user's lists (PostgreSQL; SQLite's write transaction already
/// holds the write lock), so counting and changing cannot interleave.
fn lock_user(conn: &mut DbConnection, user: UserId) -> Result<(), DbError> {
    // The user's own row, which exists even before their first list: two
    // first uses at once then run one after the other.
    if let DbConnection::Postgres(pg) = conn {
        crate::schema::users::table
            .find(user.0)
            .select(crate::schema::users::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

/// The user's lists, the default first, then by creation.
pub fn list(conn: &mut DbConnection, user: UserId) -> Result<Vec<Watchlist>, DbError> {
    Ok(watchlists::table
        .filter(watchlists::user_id.eq(user.0))
        .order((watchlists::is_default.desc(), watchlists::id.asc()))
        .select(COLUMNS)
        .load::<Row>(conn)?
        .into_iter()
        .map(from_row)
        .collect())
}

/// The user's list `id`.
pub fn find(conn: &mut DbConnection, user: UserId, id: i64) -> Result<Option<Watchlist>, DbError> {
    Ok(watchlists::table
        .find(id)
        .filter(watchlists::user_id.eq(user.0))
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()?
        .map(from_row))
}

/// The user's default list, created (empty, named "Watchlist") when the
/// user has none yet.
pub fn default_for(conn: &mut DbConnection, user: UserId) -> Result<Watchlist, DbError> {
    let found = watchlists::table
        .filter(watchlists::user_id.eq(user.0))
        .filter(watchlists::is_default.eq(true))
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()?;
    if let Some(row) = found {
        return Ok(from_row(row));
    }
    conn.write_transaction(|conn| {
        lock_user(conn, user)?;
        let found = watchlists::table
            .filter(watchlists::user_id.eq(user.0))
            .filter(watchlists::is_default.eq(true))
            .select(COLUMNS)
            .first::<Row>(conn)
            .optional()?;
        if let Some(row) = found {
            return Ok(from_row(row));
        }
        let any = watchlists::table
            .filter(watchlists::user_id.eq(user.0))
            .select(watchlists::id)
            .order(watchlists::id.asc())
            .first::<i64>(conn)
            .optional()?;
        let id = match any {
            Some(id) => {
                diesel::update(watchlists::table.find(id))
                    .set(watchlists::is_default.eq(true))
                    .execute(conn)?;
                id
            }
            None => insert(conn, user, DEFAULT_NAME, true)?,
        };
        find(conn, user, id)?.ok_or_else(|| DbError::Corrupt("default watchlist vanished".into()))
    })
}

/// The user's default list inside the caller's write transaction (for
/// imports; SQLite's write transactions do not nest, so [`default_for`]
/// cannot be called there): created, empty, when the user has none.
pub fn default_in(conn: &mut DbConnection, user: UserId) -> Result<Watchlist, DbError> {
    lock_user(conn, user)?;
    let found = watchlists::table
        .filter(watchlists::user_id.eq(user.0))
        .filter(watchlists::is_default.eq(true))
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()?;
    if let Some(row) = found {
        return Ok(from_row(row));
    }
    let id = insert(conn, user, DEFAULT_NAME, true)?;
    find(conn, user, id)?.ok_or_else(|| DbError::Corrupt("default watchlist vanished".into()))
}

/// Adds symbols (already checked, none on the list yet) to list `id`
/// inside the caller's write transaction, in order; refuses to pass
/// [`MAX_SYMBOLS`].
pub fn add_symbols_in(
    conn: &mut DbConnection,
    id: i64,
    entries: &[(String, Option<String>)],
) -> Result<(), ListError> {
    let count: i64 = watchlist_symbols::table
        .filter(watchlist_symbols::watchlist_id.eq(id))
        .count()
        .get_result(conn)?;
    let new = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    if count.saturating_add(new) > MAX_SYMBOLS {
        return Err(ListError::TooManySymbols);
    }
    let start = now();
    for (i, (symbol, name)) in entries.iter().enumerate() {
        // One microsecond apart, so the list keeps the file's order.
        let at = start + chrono::Duration::microseconds(i64::try_from(i).unwrap_or(0));
        diesel::insert_into(watchlist_symbols::table)
            .values((
                watchlist_symbols::watchlist_id.eq(id),
                watchlist_symbols::symbol.eq(symbol),
                watchlist_symbols::name.eq(name.as_deref()),
                watchlist_symbols::added_at.eq(at.naive_utc()),
            ))
            .execute(conn)
            .map_err(DbError::from)?;
    }
    Ok(())
}

/// Creates the default list of a new user (inside the user's insert).
pub fn create_default(conn: &mut DbConnection, user: UserId) -> Result<(), DbError> {
    insert(conn, user, DEFAULT_NAME, true).map(|_| ())
}

fn insert(
    conn: &mut DbConnection,
    user: UserId,
    name: &str,
    is_default: bool,
) -> Result<i64, DbError> {
    let at = now().naive_utc();
    diesel::insert_into(watchlists::table)
        .values((
            watchlists::user_id.eq(user.0),
            watchlists::name.eq(name),
            watchlists::is_default.eq(is_default),
            watchlists::created_at.eq(at),
            watchlists::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(watchlists::table
        .filter(watchlists::user_id.eq(user.0))
        .filter(lower(watchlists::name).eq(lower(name)))
        .select(watchlists::id)
        .first(conn)?)
}

/// Creates a list; the user's first becomes the default. A name taken in
/// any case is a conflict.
pub fn create(conn: &mut DbConnection, user: UserId, name: &str) -> Result<Watchlist, ListError> {
    conn.write_transaction(|conn| {
        lock_user(conn, user)?;
        let count: i64 = watchlists::table
            .filter(watchlists::user_id.eq(user.0))
            .count()
            .get_result(conn)?;
        if count >= MAX_LISTS {
            return Err(ListError::TooManyLists);
        }
        let id = insert(conn, user, name, count == 0)?;
        Ok(find(conn, user, id)?
            .ok_or_else(|| DbError::Corrupt("new watchlist vanished".into()))?)
    })
}

/// Renames a list and/or makes it the default.
pub fn update(
    conn: &mut DbConnection,
    user: UserId,
    id: i64,
    name: Option<&str>,
    make_default: bool,
) -> Result<Option<Watchlist>, ListError> {
    conn.write_transaction(|conn| {
        lock_user(conn, user)?;
        if find(conn, user, id)?.is_none() {
            return Ok(None);
        }
        if let Some(name) = name {
            diesel::update(watchlists::table.find(id))
                .set((
                    watchlists::name.eq(name),
                    watchlists::updated_at.eq(now().naive_utc()),
                ))
                .execute(conn)?;
        }
        if make_default {
            diesel::update(
                watchlists::table
                    .filter(watchlists::user_id.eq(user.0))
                    .filter(watchlists::is_default.eq(true)),
            )
            .set(watchlists::is_default.eq(false))
            .execute(conn)?;
            diesel::update(watchlists::table.find(id))
                .set(watchlists::is_default.eq(true))
                .execute(conn)?;
        }
        Ok(find(conn, user, id)?)
    })
}

/// Deletes a list; the default only when it is the user's last.
pub fn delete(conn: &mut DbConnection, user: UserId, id: i64) -> Result<bool, ListError> {
    conn.write_transaction(|conn| {
        lock_user(conn, user)?;
        let Some(list) = find(conn, user, id)? else {
            return Ok(false);
        };
        let count: i64 = watchlists::table
            .filter(watchlists::user_id.eq(user.0))
            .count()
            .get_result(conn)?;
        if list.is_default && count > 1 {
            return Err(ListError::DefaultInUse);
        }
        diesel::delete(watchlist_symbols::table.filter(watchlist_symbols::watchlist_id.eq(id)))
            .execute(conn)?;
        diesel::delete(watchlists::table.find(id)).execute(conn)?;
        Ok(true)
    })
}

/// The symbols of list `id` (the caller checked the owner), in the order
/// they were added.
pub fn symbols(conn: &mut DbConnection, id: i64) -> Result<Vec<Entry>, DbError> {
    Ok(watchlist_symbols::table
        .filter(watchlist_symbols::watchlist_id.eq(id))
        .order((
            watchlist_symbols::added_at.asc(),
            watchlist_symbols::symbol.asc(),
        ))
        .select((
            watchlist_symbols::symbol,
            watchlist_symbols::name,
            watchlist_symbols::added_at,
        ))
        .load::<(String, Option<String>, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(symbol, name, at)| Entry {
            symbol,
            name,
            added_at: at.and_utc(),
        })
        .collect())
}

/// Adds a symbol to the user's list `id`: `Ok(None)` when the list is not
/// theirs; a symbol already there is a conflict.
pub fn add_symbol(
    conn: &mut DbConnection,
    user: UserId,
    id: i64,
    symbol: &str,
    name: Option<&str>,
) -> Result<Option<Entry>, ListError> {
    conn.write_transaction(|conn| {
        lock_user(conn, user)?;
        if find(conn, user, id)?.is_none() {
            return Ok(None);
        }
        let count: i64 = watchlist_symbols::table
            .filter(watchlist_symbols::watchlist_id.eq(id))
            .count()
            .get_result(conn)?;
        if count >= MAX_SYMBOLS {
            return Err(ListError::TooManySymbols);
        }
        let at = now();
        diesel::insert_into(watchlist_symbols::table)
            .values((
                watchlist_symbols::watchlist_id.eq(id),
                watchlist_symbols::symbol.eq(symbol),
                watchlist_symbols::name.eq(name),
                watchlist_symbols::added_at.eq(at.naive_utc()),
            ))
            .execute(conn)
            .map_err(DbError::from)?;
        Ok(Some(Entry {
            symbol: symbol.to_owned(),
            name: name.map(str::to_owned),
            added_at: at,
        }))
    })
}

/// Removes a symbol from the user's list `id`; answers whether it was there.
pub fn remove_symbol(
    conn: &mut DbConnection,
    user: UserId,
    id: i64,
    symbol: &str,
) -> Result<bool, DbError> {
    if find(conn, user, id)?.is_none() {
        return Ok(false);
    }
    Ok(diesel::delete(
        watchlist_symbols::table
            .filter(watchlist_symbols::watchlist_id.eq(id))
            .filter(watchlist_symbols::symbol.eq(symbol)),
    )
    .execute(conn)?
        == 1)
}
