//! Failure counters that slow down guessing without letting a stranger lock
//! the owner out.
//!
//! - **Passwords** are counted per (account, client network) in
//!   `login_failures`: [`LOCK_THRESHOLD`] wrong passwords from one network
//!   lock that pair with growing delays ([`lockout_delay`]); the owner on
//!   another network still signs in. Across networks, more than
//!   [`HOURLY_CEILING`] failures in an hour refuse further attempts (the
//!   server exempts a browser that completed a sign-in recently).
//! - **Second-factor codes** are counted per account on the user row
//!   (whoever sends a code already knows the password), and lock the second
//!   factor after [`LOCK_THRESHOLD`].
//!
//! Every attempt is *reserved* before the secret is checked: a
//! compare-and-swap update that counts the attempt (and sets the lock when
//! it is the one that reaches the threshold). Requests racing in parallel
//! therefore get no extra guesses. A right answer releases its reservation;
//! only a full sign-in clears the counts.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::{login_failures, users};
use crate::{DbConnection, DbError};

/// Failures (per network for passwords, per account for codes) that lock.
pub const LOCK_THRESHOLD: i32 = 10;
/// Password failures for one account, across networks, allowed per hour.
pub const HOURLY_CEILING: i32 = 50;
/// How often a compare-and-swap is retried when another request changed
/// the counter in between. Twenty sign-ins of one account at once (a
/// script's threads) needed more than 16; each retry waits a little longer
/// (see [`cas_pause`]). Running out answers "locked", the safe side.
const CAS_TRIES: usize = 64;

/// The pause before compare-and-swap retry `n` (0-based): 0, 0.1, 0.2 ...
/// ms, so racing requests fall out of step. The callers run on blocking
/// threads, never on an async worker.
fn cas_pause(n: usize) {
    if n > 0 {
        std::thread::sleep(std::time::Duration::from_micros(
            100 * u64::try_from(n).unwrap_or(64),
        ));
    }
}

/// How long attempts stay locked after `failures` failures: nothing below
/// [`LOCK_THRESHOLD`], then 1 minute, doubling with each further failure,
/// at most an hour.
pub fn lockout_delay(failures: i32) -> Option<Duration> {
    if failures < LOCK_THRESHOLD {
        return None;
    }
    let doublings = u32::try_from(failures - LOCK_THRESHOLD).unwrap_or(0).min(6);
    Some(Duration::minutes(1_i64 << doublings).min(Duration::hours(1)))
}

/// The outcome of reserving an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt is counted; `failures` includes it. When it reached the
    /// threshold, the lock is already set (and lifts again if the answer
    /// proves right).
    Reserved { failures: i32 },
    /// Attempts are refused until then.
    Locked { until: DateTime<Utc> },
}

fn lock_for(failures: i32, now: DateTime<Utc>) -> Option<NaiveDateTime> {
    lockout_delay(failures).map(|d| (now + d).naive_utc())
}

/// Reserves a password attempt for `user` from `network`.
pub fn reserve_password_attempt(
    conn: &mut DbConnection,
    user: UserId,
    network: &str,
    now: DateTime<Utc>,
) -> Result<Reservation, DbError> {
    for n in 0..CAS_TRIES {
        cas_pause(n);
        let row: Option<(i32, Option<NaiveDateTime>)> = login_failures::table
            .find((user.0, network))
            .select((login_failures::failures, login_failures::locked_until))
            .first(conn)
            .optional()?;
        let Some((failures, locked_until)) = row else {
            // No row yet, or a full sign-in just cleared it: make one (a
            // racing insert of the same key is fine) and look again.
            let inserted = conn.transaction(|conn| {
                diesel::insert_into(login_failures::table)
                    .values((
                        login_failures::user_id.eq(user.0),
                        login_failures::network.eq(network),
                        login_failures::failures.eq(0),
                        login_failures::updated_at.eq(now.naive_utc()),
                    ))
                    .execute(conn)
            });
            match inserted.map_err(DbError::from) {
                Ok(_) | Err(DbError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        };
        if let Some(until) = locked_until.map(|t| t.and_utc())
            && until > now
        {
            return Ok(Reservation::Locked { until });
        }
        let next = failures.saturating_add(1);
        let n = diesel::update(
            login_failures::table
                .find((user.0, network))
                .filter(login_failures::failures.eq(failures)),
        )
        .set((
            login_failures::failures.eq(next),
            login_failures::locked_until.eq(lock_for(next, now)),
            login_failures::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
        if n == 1 {
            return Ok(Reservation::Reserved { failures: next });
        }
    }
    Ok(Reservation::Locked {
        until: now + Duration::seconds(1),
    })
}

/// Gives back a reserved password attempt (the password was right): the
/// count drops by one, and a lock this attempt set lifts.
pub fn release_password_attempt(
    conn: &mut DbConnection,
    user: UserId,
    network: &str,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        diesel::update(
            login_failures::table
                .find((user.0, network))
                .filter(login_failures::failures.gt(0)),
        )
        .set(login_failures::failures.eq(login_failures::failures - 1))
        .execute(conn)?;
        diesel::update(
            login_failures::table
                .find((user.0, network))
                .filter(login_failures::failures.lt(LOCK_THRESHOLD)),
        )
        .set(login_failures::locked_until.eq(None::<NaiveDateTime>))
        .execute(conn)?;
        Ok(())
    })
}

/// Clears the password failures of `user` from `network` (a full sign-in
/// from there succeeded). Other networks keep theirs.
pub fn clear_password_failures(
    conn: &mut DbConnection,
    user: UserId,
    network: &str,
) -> Result<(), DbError> {
    diesel::delete(login_failures::table.find((user.0, network))).execute(conn)?;
    Ok(())
}

/// Password failures of `user` from `network`, and the lock's end.
pub fn password_failures(
    conn: &mut DbConnection,
    user: UserId,
    network: &str,
) -> Result<(i32, Option<DateTime<Utc>>), DbError> {
    Ok(login_failures::table
        .find((user.0, network))
        .select((login_failures::failures, login_failures::locked_until))
        .first::<(i32, Option<NaiveDateTime>)>(conn)
        .optional()?
        .map(|(f, l)| (f, l.map(|t| t.and_utc())))
        .unwrap_or((0, None)))
}

/// The outcome of counting toward the hourly ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceiling {
    /// Counted, under the ceiling.
    Counted,
    /// Over the ceiling until then; nothing was counted.
    Reached { until: DateTime<Utc> },
}

/// Counts a password attempt toward `user`'s hourly ceiling (a fixed
/// one-hour window that starts with the first failure). With `exempt` (a
/// browser that signed in fully before) the attempt is counted but never
/// refused.
pub fn reserve_hourly_attempt(
    conn: &mut DbConnection,
    user: UserId,
    now: DateTime<Utc>,
    exempt: bool,
) -> Result<Ceiling, DbError> {
    for n in 0..CAS_TRIES {
        cas_pause(n);
        let Some((count, start)) = users::table
            .find(user.0)
            .select((users::password_failures_hour, users::password_window_start))
            .first::<(i32, Option<NaiveDateTime>)>(conn)
            .optional()?
        else {
            return Ok(Ceiling::Counted);
        };
        let window_open = start.is_some_and(|s| now - s.and_utc() < Duration::hours(1));
        if window_open && count >= HOURLY_CEILING && !exempt {
            let until = start.map_or(now, |s| s.and_utc() + Duration::hours(1));
            return Ok(Ceiling::Reached { until });
        }
        let (next, next_start) = if window_open {
            (count.saturating_add(1), start)
        } else {
            (1, Some(now.naive_utc()))
        };
        let target = users::table
            .find(user.0)
            .filter(users::password_failures_hour.eq(count));
        let n = match start {
            Some(s) => diesel::update(target.filter(users::password_window_start.eq(s)))
                .set((
                    users::password_failures_hour.eq(next),
                    users::password_window_start.eq(next_start),
                ))
                .execute(conn)?,
            None => diesel::update(target.filter(users::password_window_start.is_null()))
                .set((
                    users::password_failures_hour.eq(next),
                    users::password_window_start.eq(next_start),
                ))
                .execute(conn)?,
        };
        if n == 1 {
            return Ok(Ceiling::Counted);
        }
    }
    Ok(Ceiling::Reached {
        until: now + Duration::seconds(1),
    })
}

/// Gives back an hourly count (the password was right).
pub fn release_hourly_attempt(conn: &mut DbConnection, user: UserId) -> Result<(), DbError> {
    diesel::update(
        users::table
            .find(user.0)
            .filter(users::password_failures_hour.gt(0)),
    )
    .set(users::password_failures_hour.eq(users::password_failures_hour - 1))
    .execute(conn)?;
    Ok(())
}

/// Reserves a second-factor attempt (TOTP or recovery code) for `user`.
pub fn reserve_factor_attempt(
    conn: &mut DbConnection,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Reservation, DbError> {
    for n in 0..CAS_TRIES {
        cas_pause(n);
        let Some((failures, locked_until)) = users::table
            .find(user.0)
            .select((users::factor_failures, users::factor_locked_until))
            .first::<(i32, Option<NaiveDateTime>)>(conn)
            .optional()?
        else {
            return Ok(Reservation::Locked { until: now });
        };
        if let Some(until) = locked_until.map(|t| t.and_utc())
            && until > now
        {
            return Ok(Reservation::Locked { until });
        }
        let next = failures.saturating_add(1);
        let n = diesel::update(
            users::table
                .find(user.0)
                .filter(users::factor_failures.eq(failures)),
        )
        .set((
            users::factor_failures.eq(next),
            users::factor_locked_until.eq(lock_for(next, now)),
        ))
        .execute(conn)?;
        if n == 1 {
            return Ok(Reservation::Reserved { failures: next });
        }
    }
    Ok(Reservation::Locked {
        until: now + Duration::seconds(1),
    })
}

/// Gives back a reserved second-factor attempt (the code was right, outside
/// a sign-in): the count drops by one and a lock this attempt set lifts.
pub fn release_factor_attempt(conn: &mut DbConnection, user: UserId) -> Result<(), DbError> {
    conn.transaction(|conn| {
        diesel::update(
            users::table
                .find(user.0)
                .filter(users::factor_failures.gt(0)),
        )
        .set(users::factor_failures.eq(users::factor_failures - 1))
        .execute(conn)?;
        diesel::update(
            users::table
                .find(user.0)
                .filter(users::factor_failures.lt(LOCK_THRESHOLD)),
        )
        .set(users::factor_locked_until.eq(None::<NaiveDateTime>))
        .execute(conn)?;
        Ok(())
    })
}

/// Clears the second-factor failures (a full sign-in succeeded).
pub fn clear_factor_failures(conn: &mut DbConnection, user: UserId) -> Result<(), DbError> {
    diesel::update(users::table.find(user.0))
        .set((
            users::factor_failures.eq(0),
            users::factor_locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes per-network password counts that are unlocked and untouched
/// since `before` (the table would otherwise grow with every network that
/// ever tried a known username).
pub fn purge_stale(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        login_failures::table
            .filter(login_failures::updated_at.lt(before.naive_utc()))
            .filter(
                login_failures::locked_until
                    .is_null()
                    .or(login_failures::locked_until.le(now.naive_utc())),
            ),
    )
    .execute(conn)?)
}
