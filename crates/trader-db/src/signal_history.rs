//! Signal history: every signal the scheduler computed, one row per (user,
//! symbol, timeframe, bar), with the votes and values behind it. Storing a
//! signal for a bar already stored does nothing, so a repeated pass or a
//! second scheduler never stores one twice.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::signal_history;
use crate::{DbConnection, DbError};

/// A signal to store.
#[derive(Debug, Clone)]
pub struct NewSignal<'a> {
    pub user_id: UserId,
    pub symbol: &'a str,
    pub timeframe: &'a str,
    pub bar_time: DateTime<Utc>,
    pub action: &'a str,
    pub strength: f64,
    pub price: Option<f64>,
    /// JSON of the votes.
    pub votes: &'a str,
}

/// A stored signal.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSignal {
    pub id: i64,
    pub symbol: String,
    pub timeframe: String,
    pub bar_time: DateTime<Utc>,
    pub action: String,
    pub strength: f64,
    pub price: Option<f64>,
    pub votes: String,
    pub created_at: DateTime<Utc>,
}

/// Stores `signal` unless one for its bar exists; answers whether it did.
pub fn insert(
    conn: &mut DbConnection,
    signal: &NewSignal<'_>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    // Its own (nested) transaction: on PostgreSQL a refused insert must
    // not abort the caller's transaction.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(signal_history::table)
            .values((
                signal_history::user_id.eq(signal.user_id.0),
                signal_history::symbol.eq(signal.symbol),
                signal_history::timeframe.eq(signal.timeframe),
                signal_history::bar_time.eq(signal.bar_time.naive_utc()),
                signal_history::action.eq(signal.action),
                signal_history::strength.eq(signal.strength),
                signal_history::price.eq(signal.price),
                signal_history::votes.eq(signal.votes),
                signal_history::created_at.eq(now.naive_utc()),
            ))
            .execute(conn)
    });
    match inserted.map_err(DbError::from) {
        Ok(_) => Ok(true),
        Err(DbError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Stores many signals at once, skipping those whose bar is stored:
/// one statement (`ON CONFLICT DO NOTHING` on PostgreSQL, `INSERT OR
/// IGNORE` on SQLite). Answers how many were new.
pub fn insert_many(
    conn: &mut DbConnection,
    signals: &[NewSignal<'_>],
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    if signals.is_empty() {
        return Ok(0);
    }
    let at = now.naive_utc();
    let rows: Vec<_> = signals
        .iter()
        .map(|s| {
            (
                signal_history::user_id.eq(s.user_id.0),
                signal_history::symbol.eq(s.symbol),
                signal_history::timeframe.eq(s.timeframe),
                signal_history::bar_time.eq(s.bar_time.naive_utc()),
                signal_history::action.eq(s.action),
                signal_history::strength.eq(s.strength),
                signal_history::price.eq(s.price),
                signal_history::votes.eq(s.votes),
                signal_history::created_at.eq(at),
            )
        })
        .collect();
    Ok(match conn {
        DbConnection::Postgres(pg) => diesel::insert_into(signal_history::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::insert_or_ignore_into(signal_history::table)
            .values(&rows)
            .execute(sqlite)?,
    })
}

/// Which signals to list.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery<'a> {
    pub symbol: Option<&'a str>,
    pub action: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only rows with a smaller id (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

type Row = (
    i64,
    String,
    String,
    NaiveDateTime,
    String,
    f64,
    Option<f64>,
    String,
    NaiveDateTime,
);

/// The user's signals, newest first.
pub fn list(
    conn: &mut DbConnection,
    user: UserId,
    q: &HistoryQuery<'_>,
) -> Result<Vec<StoredSignal>, DbError> {
    let mut query = signal_history::table
        .filter(signal_history::user_id.eq(user.0))
        .into_boxed();
    if let Some(symbol) = q.symbol {
        query = query.filter(signal_history::symbol.eq(symbol.to_owned()));
    }
    if let Some(action) = q.action {
        query = query.filter(signal_history::action.eq(action.to_owned()));
    }
    if let Some(from) = q.from {
        query = query.filter(signal_history::bar_time.ge(from.naive_utc()));
    }
    if let Some(to) = q.to {
        query = query.filter(signal_history::bar_time.le(to.naive_utc()));
    }
    if let Some(before) = q.before_id {
        query = query.filter(signal_history::id.lt(before));
    }
    Ok(query
        .order(signal_history::id.desc())
        .limit(q.limit)
        .select((
            signal_history::id,
            signal_history::symbol,
            signal_history::timeframe,
            signal_history::bar_time,
            signal_history::action,
            signal_history::strength,
            signal_history::price,
            signal_history::votes,
            signal_history::created_at,
        ))
        .load::<Row>(conn)?
        .into_iter()
        .map(|r| StoredSignal {
            id: r.0,
            symbol: r.1,
            timeframe: r.2,
            bar_time: r.3.and_utc(),
            action: r.4,
            strength: r.5,
            price: r.6,
            votes: r.7,
            created_at: r.8.and_utc(),
        })
        .collect())
}

/// Deletes BUY and SELL rows created before `trades_before` and HOLD rows
/// created before `holds_before`; answers how many.
pub fn prune(
    conn: &mut DbConnection,
    trades_before: DateTime<Utc>,
    holds_before: DateTime<Utc>,
) -> Result<usize, DbError> {
    let holds = diesel::delete(
        signal_history::table
            .filter(signal_history::action.eq("hold"))
            .filter(signal_history::created_at.lt(holds_before.naive_utc())),
    )
    .execute(conn)?;
    let trades = diesel::delete(
        signal_history::table
            .filter(signal_history::action.ne("hold"))
            .filter(signal_history::created_at.lt(trades_before.naive_utc())),
    )
    .execute(conn)?;
    Ok(holds + trades)
}

/// How many signals `user` has stored (all users when `None`).
pub fn count(conn: &mut DbConnection, user: Option<UserId>) -> Result<i64, DbError> {
    let mut q = signal_history::table.into_boxed();
    if let Some(u) = user {
        q = q.filter(signal_history::user_id.eq(u.0));
    }
    Ok(q.count().get_result(conn)?)
}
