//! The `trading_accounts` table: a user's Alpaca (paper, live) and
//! simulator accounts.
//!
//! The API keys are stored sealed by the server's secret box, with the
//! user, the row's id and the field bound in as associated data. Since the
//! id is known only after the insert, [`create`] inserts the row with
//! placeholders and lets the caller seal inside the same transaction.
//! Names are unique per user without regard to ASCII case; at most one
//! account per user is active (a partial unique index).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::trading_accounts;
use crate::users::{lower, now};
use crate::{DbConnection, DbError};

/// A trading account as stored. The keys are sealed; `Debug` leaves them out.
#[derive(Clone, PartialEq, Eq)]
pub struct TradingAccount {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    /// `paper`, `live` or `sim`.
    pub environment: String,
    /// Sealed key id.
    pub key_id: String,
    /// Sealed secret key.
    pub secret_key: String,
    /// The key id's last four characters.
    pub key_hint: String,
    pub is_active: bool,
    /// False once the broker refused the keys (until they are replaced).
    pub verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_verified_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for TradingAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TradingAccount")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = trading_accounts)]
struct Row {
    id: i64,
    user_id: i64,
    name: String,
    environment: String,
    key_id: String,
    secret_key: String,
    key_hint: String,
    is_active: bool,
    verified: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    last_verified_at: Option<NaiveDateTime>,
}

impl From<Row> for TradingAccount {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            user_id: UserId(r.user_id),
            name: r.name,
            environment: r.environment,
            key_id: r.key_id,
            secret_key: r.secret_key,
            key_hint: r.key_hint,
            is_active: r.is_active,
            verified: r.verified,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            last_verified_at: r.last_verified_at.map(|t| t.and_utc()),
        }
    }
}

/// What a new account holds; the keys are sealed by `seal` once the row's
/// id is known.
#[derive(Debug, Clone)]
pub struct NewTradingAccount<'a> {
    pub user_id: UserId,
    pub name: &'a str,
    pub environment: &'a str,
    pub key_hint: &'a str,
    pub verified_at: DateTime<Utc>,
}

/// Sealed keys for a row: `(key_id, secret_key)`.
pub type SealedKeys = (String, String);

/// Inserts an account, then seals its keys with `seal(row id)` and stores
/// them, in one transaction; the user's first account becomes active. A
/// name taken by the user in any case is [`DbError::Conflict`].
pub fn create<E>(
    conn: &mut DbConnection,
    new: &NewTradingAccount<'_>,
    seal: impl Fn(i64) -> Result<SealedKeys, E>,
) -> Result<Result<TradingAccount, E>, DbError> {
    match create_once(conn, new, &seal) {
        // Two first accounts added at once on PostgreSQL both find none
        // active (there are no rows to lock yet); the one-active index
        // refuses the second, which then goes in as inactive.
        Err(DbError::Conflict { constraint })
            if constraint
                .as_deref()
                .is_some_and(|c| c.contains("one_active")) =>
        {
            create_once(conn, new, &seal)
        }
        other => other,
    }
}

fn create_once<E>(
    conn: &mut DbConnection,
    new: &NewTradingAccount<'_>,
    seal: &impl Fn(i64) -> Result<SealedKeys, E>,
) -> Result<Result<TradingAccount, E>, DbError> {
    let at = now().naive_utc();
    let mut sealing_error = None;
    let created = conn.write_transaction::<_, DbError, _>(|conn| {
        lock_user_rows(conn, new.user_id)?;
        // Active when the user has no active account (the first one, or
        // after the active one was deleted with no other left).
        let first = trading_accounts::table
            .filter(trading_accounts::user_id.eq(new.user_id.0))
            .filter(trading_accounts::is_active.eq(true))
            .count()
            .get_result::<i64>(conn)?
            == 0;
        diesel::insert_into(trading_accounts::table)
            .values((
                trading_accounts::user_id.eq(new.user_id.0),
                trading_accounts::name.eq(new.name),
                trading_accounts::environment.eq(new.environment),
                trading_accounts::key_id.eq(""),
                trading_accounts::secret_key.eq(""),
                trading_accounts::key_hint.eq(new.key_hint),
                trading_accounts::is_active.eq(first),
                trading_accounts::verified.eq(true),
                trading_accounts::created_at.eq(at),
                trading_accounts::updated_at.eq(at),
                trading_accounts::last_verified_at.eq(Some(new.verified_at.naive_utc())),
            ))
            .execute(conn)?;
        let id: i64 = trading_accounts::table
            .filter(trading_accounts::user_id.eq(new.user_id.0))
            .filter(lower(trading_accounts::name).eq(lower(new.name)))
            .select(trading_accounts::id)
            .first(conn)?;
        match seal(id) {
            Ok((key_id, secret_key)) => {
                diesel::update(trading_accounts::table.find(id))
                    .set((
                        trading_accounts::key_id.eq(key_id),
                        trading_accounts::secret_key.eq(secret_key),
                    ))
                    .execute(conn)?;
                Ok(Some(find_row(conn, new.user_id, id)?))
            }
            Err(e) => {
                sealing_error = Some(e);
                // Nothing half-written: roll the insert back.
                Err(DbError::Query(diesel::result::Error::RollbackTransaction))
            }
        }
    });
    match (created, sealing_error) {
        (_, Some(e)) => Ok(Err(e)),
        (Ok(Some(account)), None) => Ok(Ok(account)),
        (Ok(None), None) => Err(DbError::Corrupt("the new account vanished".to_owned())),
        (Err(e), None) => Err(e),
    }
}

/// Locks the user's account rows until the transaction ends (PostgreSQL
/// `FOR UPDATE`; on SQLite the caller's `write_transaction` already holds
/// the write lock), so activating, deleting and adding run one after the
/// other and always leave exactly one account active.
fn lock_user_rows(conn: &mut DbConnection, user: UserId) -> Result<(), DbError> {
    if let DbConnection::Postgres(pg) = conn {
        trading_accounts::table
            .filter(trading_accounts::user_id.eq(user.0))
            .select(trading_accounts::id)
            .for_update()
            .load::<i64>(pg)?;
    }
    Ok(())
}

fn find_row(conn: &mut DbConnection, user: UserId, id: i64) -> Result<TradingAccount, DbError> {
    Ok(trading_accounts::table
        .find(id)
        .filter(trading_accounts::user_id.eq(user.0))
        .select(Row::as_select())
        .first(conn)?
        .into())
}

/// The user's account with this id; `None` for an id of someone else's.
pub fn find(
    conn: &mut DbConnection,
    user: UserId,
    id: i64,
) -> Result<Option<TradingAccount>, DbError> {
    Ok(trading_accounts::table
        .find(id)
        .filter(trading_accounts::user_id.eq(user.0))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(TradingAccount::from))
}

/// The user's active account, if any.
pub fn find_active(
    conn: &mut DbConnection,
    user: UserId,
) -> Result<Option<TradingAccount>, DbError> {
    Ok(trading_accounts::table
        .filter(trading_accounts::user_id.eq(user.0))
        .filter(trading_accounts::is_active.eq(true))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(TradingAccount::from))
}

/// The user's accounts, oldest first.
pub fn list_for_user(
    conn: &mut DbConnection,
    user: UserId,
) -> Result<Vec<TradingAccount>, DbError> {
    Ok(trading_accounts::table
        .filter(trading_accounts::user_id.eq(user.0))
        .order(trading_accounts::id.asc())
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(TradingAccount::from)
        .collect())
}

/// Renames an account; answers the updated row, or `None` when it is not
/// the user's. A taken name is [`DbError::Conflict`].
pub fn rename(
    conn: &mut DbConnection,
    user: UserId,
    id: i64,
    name: &str,
) -> Result<Option<TradingAccount>, DbError> {
    let n = diesel::update(
        trading_accounts::table
            .find(id)
            .filter(trading_accounts::user_id.eq(user.0)),
    )
    .set((
        trading_accounts::name.eq(name),
        trading_accounts::updated_at.eq(now().naive_utc()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    find(conn, user, id)
}

/// Stores newly sealed keys (checked with the broker at `verified_at`).
pub fn replace_keys(
    conn: &mut DbConnection,
    user: UserId,
    id: i64,
    keys: &SealedKeys,
    key_hint: &str,
    verified_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = diesel::update(
        trading_accounts::table
            .find(id)
            .filter(trading_accounts::user_id.eq(user.0)),
    )
    .set((
        trading_accounts::key_id.eq(&keys.0),
        trading_accounts::secret_key.eq(&keys.1),
        trading_accounts::key_hint.eq(key_hint),
        trading_accounts::verified.eq(true),
        trading_accounts::last_verified_at.eq(Some(verified_at.naive_utc())),
        trading_accounts::updated_at.eq(now().naive_utc()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records whether the broker accepted the keys at `at`, only while the
/// account still has the (sealed) key id the broker judged: keys replaced
/// meanwhile are not marked by a verdict on the old ones.
pub fn mark_verified(
    conn: &mut DbConnection,
    id: i64,
    sealed_key_id: &str,
    verified: bool,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let target = trading_accounts::table
        .find(id)
        .filter(trading_accounts::key_id.eq(sealed_key_id));
    if verified {
        diesel::update(target)
            .set((
                trading_accounts::verified.eq(true),
                trading_accounts::last_verified_at.eq(Some(at.naive_utc())),
            ))
            .execute(conn)?;
    } else {
        // Only a change: each write moves the auth epoch, which empties
        // every server's cache, and rejected keys are reported on every
        // read of the account.
        diesel::update(target.filter(trading_accounts::verified.eq(true)))
            .set(trading_accounts::verified.eq(false))
            .execute(conn)?;
    }
    Ok(())
}

/// Makes the account active (and every other of the user's inactive), in
/// one transaction; answers `false` when it is not the user's.
pub fn activate(conn: &mut DbConnection, user: UserId, id: i64) -> Result<bool, DbError> {
    conn.write_transaction(|conn| activate_in(conn, user, id))
}

/// [`activate`] inside the caller's write transaction.
pub fn activate_in(conn: &mut DbConnection, user: UserId, id: i64) -> Result<bool, DbError> {
    lock_user_rows(conn, user)?;
    if find(conn, user, id)?.is_none() {
        return Ok(false);
    }
    diesel::update(
        trading_accounts::table
            .filter(trading_accounts::user_id.eq(user.0))
            .filter(trading_accounts::is_active.eq(true)),
    )
    .set(trading_accounts::is_active.eq(false))
    .execute(conn)?;
    diesel::update(trading_accounts::table.find(id))
        .set((
            trading_accounts::is_active.eq(true),
            trading_accounts::updated_at.eq(now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(true)
}

/// The user's account named `name` (without regard to ASCII case, as the
/// unique index compares names).
pub fn find_by_name(
    conn: &mut DbConnection,
    user: UserId,
    name: &str,
) -> Result<Option<TradingAccount>, DbError> {
    Ok(trading_accounts::table
        .filter(trading_accounts::user_id.eq(user.0))
        .filter(lower(trading_accounts::name).eq(lower(name)))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(TradingAccount::from))
}

/// Inserts an inactive account inside the caller's write transaction (for
/// imports that add several things at once; [`create`] is the one-account
/// path), sealing its keys with `seal(row id)`. `verified_at: None` means
/// the keys were not checked with the broker. A taken name is
/// [`DbError::Conflict`].
pub fn insert_in<E: From<DbError>>(
    conn: &mut DbConnection,
    new: &NewTradingAccount<'_>,
    verified_at: Option<DateTime<Utc>>,
    seal: impl FnOnce(i64) -> Result<SealedKeys, E>,
) -> Result<TradingAccount, E> {
    lock_user_rows(conn, new.user_id)?;
    let at = now().naive_utc();
    diesel::insert_into(trading_accounts::table)
        .values((
            trading_accounts::user_id.eq(new.user_id.0),
            trading_accounts::name.eq(new.name),
            trading_accounts::environment.eq(new.environment),
            trading_accounts::key_id.eq(""),
            trading_accounts::secret_key.eq(""),
            trading_accounts::key_hint.eq(new.key_hint),
            trading_accounts::is_active.eq(false),
            trading_accounts::verified.eq(true),
            trading_accounts::created_at.eq(at),
            trading_accounts::updated_at.eq(at),
            trading_accounts::last_verified_at.eq(verified_at.map(|t| t.naive_utc())),
        ))
        .execute(conn)
        .map_err(DbError::from)?;
    let id: i64 = trading_accounts::table
        .filter(trading_accounts::user_id.eq(new.user_id.0))
        .filter(lower(trading_accounts::name).eq(lower(new.name)))
        .select(trading_accounts::id)
        .first(conn)
        .map_err(DbError::from)?;
    let (key_id, secret_key) = seal(id)?;
    diesel::update(trading_accounts::table.find(id))
        .set((
            trading_accounts::key_id.eq(key_id),
            trading_accounts::secret_key.eq(secret_key),
        ))
        .execute(conn)
        .map_err(DbError::from)?;
    Ok(find_row(conn, new.user_id, id)?)
}

/// Deletes the account; answers whether it was the user's. When it was the
/// active one, the user's oldest remaining account becomes active.
pub fn delete(conn: &mut DbConnection, user: UserId, id: i64) -> Result<bool, DbError> {
    delete_with(conn, user, id, |_| Ok(()))
}

/// [`delete`], then `after` in the same transaction (what else must
/// change with the account, e.g. settings that name it).
pub fn delete_with<E: From<DbError> + From<diesel::result::Error>>(
    conn: &mut DbConnection,
    user: UserId,
    id: i64,
    after: impl FnOnce(&mut DbConnection) -> Result<(), E>,
) -> Result<bool, E> {
    conn.write_transaction(|conn| {
        lock_user_rows(conn, user)?;
        if find(conn, user, id)?.is_none() {
            return Ok(false);
        }
        diesel::delete(trading_accounts::table.find(id)).execute(conn)?;
        // Read again under the lock: none active (this was the active one)
        // makes the oldest remaining account active.
        let active = trading_accounts::table
            .filter(trading_accounts::user_id.eq(user.0))
            .filter(trading_accounts::is_active.eq(true))
            .count()
            .get_result::<i64>(conn)?;
        if active == 0
            && let Some(next) = trading_accounts::table
                .filter(trading_accounts::user_id.eq(user.0))
                .order(trading_accounts::id.asc())
                .select(trading_accounts::id)
                .first::<i64>(conn)
                .optional()?
        {
            diesel::update(trading_accounts::table.find(next))
                .set(trading_accounts::is_active.eq(true))
                .execute(conn)?;
        }
        after(conn)?;
        Ok(true)
    })
}
