//! Auto-trade's decision log: one row per (user, derived client_order_id),
//! that is per account, symbol, timeframe, bar and action.
//!
//! An order is claimed (`submitting`) in a write transaction before it is
//! sent, so a repeated pass or a second server finds the claim and sends
//! nothing; the row then records what the broker said. Rows that did not
//! send anything (`skipped`, `dry_run`, `failed`) may be taken again by a
//! later pass.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::auto_trade_decisions as d;
use crate::{DbConnection, DbError};

/// What became of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Claimed; the order is being sent (or the sender stopped midway).
    Submitting,
    /// The broker took the order.
    Placed,
    /// Not sent, and why (held, a limit, stale data...).
    Skipped,
    /// The broker refused the order.
    Refused,
    /// Sending failed (timeout, 5xx) and the order is not known to exist.
    Failed,
    /// Dry run: recorded, not sent.
    DryRun,
    /// Placed, then cancelled because auto-trade was stopped meanwhile.
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitting => "submitting",
            Self::Placed => "placed",
            Self::Skipped => "skipped",
            Self::Refused => "refused",
            Self::Failed => "failed",
            Self::DryRun => "dry_run",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "submitting" => Self::Submitting,
            "placed" => Self::Placed,
            "skipped" => Self::Skipped,
            "refused" => Self::Refused,
            "failed" => Self::Failed,
            "dry_run" => Self::DryRun,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Whether a later pass may decide this bar again: nothing was sent
    /// (a skip, a dry run: turning dry run off then trades the bar while
    /// it is fresh), or nothing is known to have reached the broker.
    pub fn may_retry(self) -> bool {
        matches!(self, Self::Skipped | Self::Failed | Self::DryRun)
    }
}

/// A decision as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub id: i64,
    pub user_id: UserId,
    pub account_id: i64,
    pub symbol: String,
    pub timeframe: String,
    pub bar_time: DateTime<Utc>,
    /// The signal: `buy` or `sell`.
    pub action: String,
    pub outcome: Outcome,
    pub reason: String,
    pub client_order_id: String,
    pub order_id: Option<String>,
    /// The order's side, quantity or notional (when one was sized).
    pub side: Option<String>,
    pub qty: Option<String>,
    pub notional: Option<String>,
    /// When the order was sent, by the market's (the broker's) clock.
    pub sent_at: Option<DateTime<Utc>>,
    /// By the server's clock.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A decision to record.
#[derive(Debug, Clone)]
pub struct NewDecision<'a> {
    pub user_id: UserId,
    pub account_id: i64,
    pub symbol: &'a str,
    pub timeframe: &'a str,
    pub bar_time: DateTime<Utc>,
    pub action: &'a str,
    pub client_order_id: &'a str,
}

/// The order a decision sized (all `None` when it sized none).
#[derive(Debug, Clone, Default)]
pub struct Sizing {
    pub side: Option<String>,
    pub qty: Option<String>,
    pub notional: Option<String>,
}

type Row = (
    (
        i64,
        i64,
        i64,
        String,
        String,
        NaiveDateTime,
        String,
        String,
        String,
    ),
    (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
        NaiveDateTime,
        NaiveDateTime,
    ),
);

macro_rules! columns {
    () => {
        (
            (
                d::id,
                d::user_id,
                d::account_id,
                d::symbol,
                d::timeframe,
                d::bar_time,
                d::action,
                d::outcome,
                d::reason,
            ),
            (
                d::client_order_id,
                d::order_id,
                d::side,
                d::qty,
                d::notional,
                d::sent_at,
                d::created_at,
                d::updated_at,
            ),
        )
    };
}

fn decode(r: Row) -> Decision {
    let (a, b) = r;
    Decision {
        id: a.0,
        user_id: UserId(a.1),
        account_id: a.2,
        symbol: a.3,
        timeframe: a.4,
        bar_time: a.5.and_utc(),
        action: a.6,
        // The CHECK constraint keeps the column to the known values; an
        // unknown one is final (never sent again).
        outcome: Outcome::parse(&a.7).unwrap_or(Outcome::Refused),
        reason: a.8,
        client_order_id: b.0,
        order_id: b.1,
        side: b.2,
        qty: b.3,
        notional: b.4,
        sent_at: b.5.map(|t| t.and_utc()),
        created_at: b.6.and_utc(),
        updated_at: b.7.and_utc(),
    }
}

/// The decision under `client_order_id`, if any.
pub fn find(
    conn: &mut DbConnection,
    user: UserId,
    client_order_id: &str,
) -> Result<Option<Decision>, DbError> {
    Ok(d::table
        .filter(d::user_id.eq(user.0))
        .filter(d::client_order_id.eq(client_order_id))
        .select(columns!())
        .first::<Row>(conn)
        .optional()?
        .map(decode))
}

/// Records a new decision with `outcome`; answers its id. A second row
/// for the same client_order_id is a [`DbError::Conflict`].
pub fn insert(
    conn: &mut DbConnection,
    new: &NewDecision<'_>,
    outcome: Outcome,
    reason: &str,
    sizing: &Sizing,
    sent_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<i64, DbError> {
    let at = now.naive_utc();
    diesel::insert_into(d::table)
        .values((
            (
                d::user_id.eq(new.user_id.0),
                d::account_id.eq(new.account_id),
                d::symbol.eq(new.symbol),
                d::timeframe.eq(new.timeframe),
                d::bar_time.eq(new.bar_time.naive_utc()),
                d::action.eq(new.action),
                d::outcome.eq(outcome.as_str()),
                d::reason.eq(reason),
            ),
            (
                d::client_order_id.eq(new.client_order_id),
                d::side.eq(sizing.side.as_deref()),
                d::qty.eq(sizing.qty.as_deref()),
                d::notional.eq(sizing.notional.as_deref()),
                d::sent_at.eq(sent_at.map(|t| t.naive_utc())),
                d::created_at.eq(at),
                d::updated_at.eq(at),
            ),
        ))
        .execute(conn)?;
    Ok(d::table
        .filter(d::user_id.eq(new.user_id.0))
        .filter(d::client_order_id.eq(new.client_order_id))
        .select(d::id)
        .first(conn)?)
}

/// Records a decision's new outcome (and the sizing, when given).
#[expect(clippy::too_many_arguments, reason = "one column each")]
pub fn update(
    conn: &mut DbConnection,
    id: i64,
    outcome: Outcome,
    reason: &str,
    order_id: Option<&str>,
    sizing: Option<&Sizing>,
    sent_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let target = d::table.find(id);
    let at = now.naive_utc();
    diesel::update(target)
        .set((
            d::outcome.eq(outcome.as_str()),
            d::reason.eq(reason),
            d::updated_at.eq(at),
        ))
        .execute(conn)?;
    if let Some(order_id) = order_id {
        diesel::update(target)
            .set(d::order_id.eq(order_id))
            .execute(conn)?;
    }
    if let Some(s) = sizing {
        diesel::update(target)
            .set((
                d::side.eq(s.side.as_deref()),
                d::qty.eq(s.qty.as_deref()),
                d::notional.eq(s.notional.as_deref()),
            ))
            .execute(conn)?;
    }
    if let Some(t) = sent_at {
        diesel::update(target)
            .set(d::sent_at.eq(t.naive_utc()))
            .execute(conn)?;
    }
    Ok(())
}

/// Orders auto-trade sent for `user` on `account` since `since` (for
/// `max_orders_per_day`).
pub fn count_sent_since(
    conn: &mut DbConnection,
    user: UserId,
    account: i64,
    since: DateTime<Utc>,
) -> Result<i64, DbError> {
    Ok(d::table
        .filter(d::user_id.eq(user.0))
        .filter(d::account_id.eq(account))
        .filter(d::sent_at.ge(since.naive_utc()))
        .count()
        .get_result(conn)?)
}

/// Which of `client_order_ids` are in `user`'s decision log for
/// `account` (whatever their outcome: an order the log thinks unsent may
/// still have reached the broker).
pub fn logged_among(
    conn: &mut DbConnection,
    user: UserId,
    account: i64,
    client_order_ids: &[String],
) -> Result<Vec<String>, DbError> {
    let mut out = Vec::new();
    // In chunks: SQLite caps a statement's parameters.
    for chunk in client_order_ids.chunks(500) {
        out.extend(
            d::table
                .filter(d::user_id.eq(user.0))
                .filter(d::account_id.eq(account))
                .filter(d::client_order_id.eq_any(chunk))
                .select(d::client_order_id)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

/// The client_order_ids of `user`'s orders on `account` whose fate is
/// unknown: being sent, or sent without an answer.
pub fn uncertain(
    conn: &mut DbConnection,
    user: UserId,
    account: i64,
) -> Result<Vec<String>, DbError> {
    Ok(d::table
        .filter(d::user_id.eq(user.0))
        .filter(d::account_id.eq(account))
        .filter(d::sent_at.is_not_null())
        .filter(d::outcome.eq_any([Outcome::Submitting.as_str(), Outcome::Failed.as_str()]))
        .select(d::client_order_id)
        .load(conn)?)
}

/// Which decisions to list.
#[derive(Debug, Clone, Default)]
pub struct LogQuery<'a> {
    pub symbol: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only rows with a smaller id (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// The user's decisions, newest first.
pub fn list(
    conn: &mut DbConnection,
    user: UserId,
    q: &LogQuery<'_>,
) -> Result<Vec<Decision>, DbError> {
    let mut query = d::table.filter(d::user_id.eq(user.0)).into_boxed();
    if let Some(symbol) = q.symbol {
        query = query.filter(d::symbol.eq(symbol.to_owned()));
    }
    if let Some(from) = q.from {
        query = query.filter(d::created_at.ge(from.naive_utc()));
    }
    if let Some(to) = q.to {
        query = query.filter(d::created_at.lt(to.naive_utc()));
    }
    if let Some(before) = q.before_id {
        query = query.filter(d::id.lt(before));
    }
    Ok(query
        .order(d::id.desc())
        .limit(q.limit)
        .select(columns!())
        .load::<Row>(conn)?
        .into_iter()
        .map(decode)
        .collect())
}

/// Deletes decisions last changed before `before` (kept as long as BUY and
/// SELL signals are); answers how many.
pub fn prune(conn: &mut DbConnection, before: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(diesel::delete(d::table.filter(d::updated_at.lt(before.naive_utc()))).execute(conn)?)
}

/// Forgets that a decision's order was sent (the broker refused it, so it
/// does not count toward `max_orders_per_day`).
pub fn clear_sent(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    diesel::update(d::table.find(id))
        .set(d::sent_at.eq(None::<NaiveDateTime>))
        .execute(conn)?;
    Ok(())
}

/// Marks the decisions whose orders the kill switch cancelled.
pub fn mark_cancelled(
    conn: &mut DbConnection,
    user: UserId,
    client_order_ids: &[String],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    for chunk in client_order_ids.chunks(500) {
        diesel::update(
            d::table
                .filter(d::user_id.eq(user.0))
                .filter(d::client_order_id.eq_any(chunk)),
        )
        .set((
            d::outcome.eq(Outcome::Cancelled.as_str()),
            d::reason.eq(reason),
            d::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    }
    Ok(())
}
