//! The scheduler's state: the lease that lets one scheduler run passes on
//! SQLite (PostgreSQL uses an advisory lock instead), each user's next run,
//! and the record of passes.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::{scheduler_lease, scheduler_runs, scheduler_users};
use crate::{DbConnection, DbError};

/// The key of the PostgreSQL advisory lock that the one scheduler holds on
/// a connection of its own ("alpaca-trader scheduler"). `restore` takes it
/// too, so no pass runs while a database is being replaced.
pub const SCHEDULER_LOCK_KEY: i64 = 0x0A17_7A5C_4ED0;

/// The name of the SQLite scheduler lease.
pub const SCHEDULER_LEASE: &str = "scheduler";

/// Takes or renews the lease `name` for `holder` until `until`: answers
/// whether `holder` holds it now (it was free, expired, or already its own).
pub fn take_lease(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbError> {
    conn.write_transaction(|conn| {
        let current: Option<(String, NaiveDateTime)> = scheduler_lease::table
            .find(name)
            .select((scheduler_lease::holder, scheduler_lease::expires_at))
            .first(conn)
            .optional()?;
        match current {
            None => {
                diesel::insert_into(scheduler_lease::table)
                    .values((
                        scheduler_lease::name.eq(name),
                        scheduler_lease::holder.eq(holder),
                        scheduler_lease::expires_at.eq(until.naive_utc()),
                    ))
                    .execute(conn)?;
                Ok(true)
            }
            Some((h, expires)) if h == holder || expires.and_utc() <= now => {
                diesel::update(scheduler_lease::table.find(name))
                    .set((
                        scheduler_lease::holder.eq(holder),
                        scheduler_lease::expires_at.eq(until.naive_utc()),
                    ))
                    .execute(conn)?;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    })
}

/// Whether `holder` holds the lease `name` at `now`.
pub fn lease_held(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    Ok(scheduler_lease::table
        .find(name)
        .filter(scheduler_lease::holder.eq(holder))
        .filter(scheduler_lease::expires_at.gt(now.naive_utc()))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Gives the lease up (a graceful stop), if `holder` holds it.
pub fn release_lease(conn: &mut DbConnection, name: &str, holder: &str) -> Result<(), DbError> {
    diesel::delete(
        scheduler_lease::table
            .find(name)
            .filter(scheduler_lease::holder.eq(holder)),
    )
    .execute(conn)?;
    Ok(())
}

/// A user's next run, when known.
pub type NextRun = (UserId, Option<DateTime<Utc>>);

/// A user's run state: (last run, next run, last error).
pub type UserState = (Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>);

/// Each user's next run: `(user, next_run_at)`; users never run have none.
pub fn next_runs(conn: &mut DbConnection) -> Result<Vec<NextRun>, DbError> {
    Ok(scheduler_users::table
        .select((scheduler_users::user_id, scheduler_users::next_run_at))
        .load::<(i64, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .map(|(u, n)| (UserId(u), n.map(|t| t.and_utc())))
        .collect())
}

/// Records a user's run and when the next one is due.
pub fn record_user_run(
    conn: &mut DbConnection,
    user: UserId,
    ran_at: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    error: Option<&str>,
) -> Result<(), DbError> {
    let n = diesel::update(scheduler_users::table.find(user.0))
        .set((
            scheduler_users::last_run_at.eq(Some(ran_at.naive_utc())),
            scheduler_users::next_run_at.eq(next.map(|t| t.naive_utc())),
            scheduler_users::last_error.eq(error),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(scheduler_users::table)
            .values((
                scheduler_users::user_id.eq(user.0),
                scheduler_users::last_run_at.eq(Some(ran_at.naive_utc())),
                scheduler_users::next_run_at.eq(next.map(|t| t.naive_utc())),
                scheduler_users::last_error.eq(error),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A user's run state.
pub fn user_state(conn: &mut DbConnection, user: UserId) -> Result<Option<UserState>, DbError> {
    Ok(scheduler_users::table
        .find(user.0)
        .select((
            scheduler_users::last_run_at,
            scheduler_users::next_run_at,
            scheduler_users::last_error,
        ))
        .first::<(Option<NaiveDateTime>, Option<NaiveDateTime>, Option<String>)>(conn)
        .optional()?
        .map(|(l, n, e)| (l.map(|t| t.and_utc()), n.map(|t| t.and_utc()), e)))
}

/// A finished pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub holder: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub users: i32,
    pub symbols: i32,
    pub signals: i32,
    pub errors: i32,
}

/// Records a pass.
pub fn record_run(conn: &mut DbConnection, run: &Run) -> Result<(), DbError> {
    diesel::insert_into(scheduler_runs::table)
        .values((
            scheduler_runs::holder.eq(&run.holder),
            scheduler_runs::started_at.eq(run.started_at.naive_utc()),
            scheduler_runs::finished_at.eq(run.finished_at.map(|t| t.naive_utc())),
            scheduler_runs::users.eq(run.users),
            scheduler_runs::symbols.eq(run.symbols),
            scheduler_runs::signals.eq(run.signals),
            scheduler_runs::errors.eq(run.errors),
        ))
        .execute(conn)?;
    Ok(())
}

/// The most recent passes, newest first.
pub fn recent_runs(conn: &mut DbConnection, limit: i64) -> Result<Vec<Run>, DbError> {
    type R = (
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        i32,
        i32,
        i32,
        i32,
    );
    Ok(scheduler_runs::table
        .order(scheduler_runs::id.desc())
        .limit(limit)
        .select((
            scheduler_runs::holder,
            scheduler_runs::started_at,
            scheduler_runs::finished_at,
            scheduler_runs::users,
            scheduler_runs::symbols,
            scheduler_runs::signals,
            scheduler_runs::errors,
        ))
        .load::<R>(conn)?
        .into_iter()
        .map(|r| Run {
            holder: r.0,
            started_at: r.1.and_utc(),
            finished_at: r.2.map(|t| t.and_utc()),
            users: r.3,
            symbols: r.4,
            signals: r.5,
            errors: r.6,
        })
        .collect())
}
