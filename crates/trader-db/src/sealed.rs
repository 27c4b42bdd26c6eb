//! Every column that holds a value sealed by the secret box, seen the same
//! way, for `rotate-key`: read them in batches by row id, and replace one
//! value only while it is still the one read.
//!
//! The sealed columns are [`SealedColumn::ALL`]; a new sealed column must be
//! added there, or `rotate-key` would leave it under the old key (and it
//! would stop opening once the old key is dropped). A test in
//! `trader-server` seals a value in every column and checks that rotation
//! reaches each.
//!
//! A sealed value is `v1:<key id>:<data>`; "under key K" means it starts
//! with `v1:K:`. Key ids are 8 lower-case hex digits, so they need no
//! escaping in a `LIKE` pattern.

use diesel::prelude::*;

use crate::{DbConnection, DbError};

/// A column holding sealed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SealedColumn {
    /// `users.totp_secret`: the TOTP secret while 2FA is on.
    UserTotpSecret,
    /// `users.totp_pending_secret`: a TOTP secret set up, not yet confirmed.
    UserTotpPendingSecret,
    /// `trading_accounts.key_id`: the Alpaca key id.
    AccountKeyId,
    /// `trading_accounts.secret_key`: the Alpaca secret key.
    AccountSecretKey,
}

impl SealedColumn {
    /// Every sealed column.
    pub const ALL: [Self; 4] = [
        Self::UserTotpSecret,
        Self::UserTotpPendingSecret,
        Self::AccountKeyId,
        Self::AccountSecretKey,
    ];

    /// `table.column`: the field name bound into the value's associated
    /// data (with the user id and the row id).
    pub fn name(self) -> &'static str {
        match self {
            Self::UserTotpSecret => "users.totp_secret",
            Self::UserTotpPendingSecret => "users.totp_pending_secret",
            Self::AccountKeyId => "trading_accounts.key_id",
            Self::AccountSecretKey => "trading_accounts.secret_key",
        }
    }
}

impl std::fmt::Display for SealedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One stored sealed value and what its associated data names.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// The row's id (`users.id` or `trading_accounts.id`).
    pub row_id: i64,
    /// The user the value belongs to.
    pub user_id: i64,
    /// The sealed text as stored.
    pub sealed: String,
}

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sealed text says nothing without a key, but there is no
        // reason to spread it through logs either.
        f.debug_struct("SealedValue")
            .field("row_id", &self.row_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$table`, `$id` (the row id column), `$user` (the user
/// id column) and `$column` bound to the schema items of `$col`.
macro_rules! on_column {
    ($col:expr, |$table:ident, $id:ident, $user:ident, $column:ident| $body:expr) => {
        match $col {
            SealedColumn::UserTotpSecret => {
                use crate::schema::users as t;
                let ($table, $id, $user, $column) = (t::table, t::id, t::id, t::totp_secret);
                $body
            }
            SealedColumn::UserTotpPendingSecret => {
                use crate::schema::users as t;
                let ($table, $id, $user, $column) =
                    (t::table, t::id, t::id, t::totp_pending_secret);
                $body
            }
            SealedColumn::AccountKeyId => {
                use crate::schema::trading_accounts as t;
                let ($table, $id, $user, $column) = (t::table, t::id, t::user_id, t::key_id);
                $body
            }
            SealedColumn::AccountSecretKey => {
                use crate::schema::trading_accounts as t;
                let ($table, $id, $user, $column) = (t::table, t::id, t::user_id, t::secret_key);
                $body
            }
        }
    };
}

/// `v1:<key id>:%`, refusing anything but a key id's hex digits (which
/// would be `LIKE` wildcards or could not be a key id).
fn under_pattern(key_id: &str) -> Result<String, DbError> {
    if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DbError::Corrupt(format!("`{key_id}` is not a key id")));
    }
    Ok(format!("v1:{key_id}:%"))
}

fn values(rows: Vec<(i64, i64, Option<String>)>) -> Vec<SealedValue> {
    rows.into_iter()
        .filter_map(|(row_id, user_id, sealed)| {
            sealed.map(|sealed| SealedValue {
                row_id,
                user_id,
                sealed,
            })
        })
        .collect()
}

/// Up to `limit` values of `column` in rows with an id above `after`, by
/// id, that are not under `key_id` (NULLs are not values).
pub fn next_not_under(
    conn: &mut DbConnection,
    column: SealedColumn,
    key_id: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<SealedValue>, DbError> {
    let pattern = under_pattern(key_id)?;
    let rows = on_column!(column, |table, id, user, col| {
        table
            .filter(id.gt(after))
            .filter(col.nullable().is_not_null())
            .filter(col.nullable().not_like(&pattern))
            .order(id.asc())
            .limit(limit)
            .select((id, user, col.nullable()))
            .load::<(i64, i64, Option<String>)>(conn)?
    });
    Ok(values(rows))
}

/// Up to `limit` values of `column` in rows with an id above `after`, by
/// id, whatever their key.
pub fn next(
    conn: &mut DbConnection,
    column: SealedColumn,
    after: i64,
    limit: i64,
) -> Result<Vec<SealedValue>, DbError> {
    let rows = on_column!(column, |table, id, user, col| {
        table
            .filter(id.gt(after))
            .filter(col.nullable().is_not_null())
            .order(id.asc())
            .limit(limit)
            .select((id, user, col.nullable()))
            .load::<(i64, i64, Option<String>)>(conn)?
    });
    Ok(values(rows))
}

/// How many values of `column` are not under `key_id`.
pub fn count_not_under(
    conn: &mut DbConnection,
    column: SealedColumn,
    key_id: &str,
) -> Result<i64, DbError> {
    let pattern = under_pattern(key_id)?;
    Ok(on_column!(column, |table, _id, _user, col| {
        table
            .filter(col.nullable().is_not_null())
            .filter(col.nullable().not_like(&pattern))
            .count()
            .get_result::<i64>(conn)?
    }))
}

/// The value of `column` in row `row_id` now (`None`: no such row, or the
/// column is empty).
pub fn get(
    conn: &mut DbConnection,
    column: SealedColumn,
    row_id: i64,
) -> Result<Option<SealedValue>, DbError> {
    let row = on_column!(column, |table, id, user, col| {
        table
            .filter(id.eq(row_id))
            .select((id, user, col.nullable()))
            .first::<(i64, i64, Option<String>)>(conn)
            .optional()?
    });
    Ok(row.and_then(|r| values(vec![r]).pop()))
}

/// Replaces the value of `column` in row `row_id` with `new`, only while it
/// is still `old` (`UPDATE .. WHERE id = ? AND column = old`): answers
/// whether it did. `false` means someone changed (or removed) the value
/// since it was read; read it again.
pub fn replace(
    conn: &mut DbConnection,
    column: SealedColumn,
    row_id: i64,
    old: &str,
    new: &str,
) -> Result<bool, DbError> {
    let n = on_column!(column, |table, id, _user, col| {
        diesel::update(table.filter(id.eq(row_id)).filter(col.nullable().eq(old)))
            .set(col.eq(new))
            .execute(conn)?
    });
    Ok(n == 1)
}
