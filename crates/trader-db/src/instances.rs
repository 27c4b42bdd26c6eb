//! The `instances` table: which server instances are running, and which
//! encryption keys each holds (by key id, never the key).
//!
//! An instance writes its row at start ([`register`]), renews
//! `last_seen_at` every heartbeat ([`heartbeat`]) and removes it at a
//! graceful stop ([`remove`]). A killed instance leaves its row behind; a
//! row not renewed for a few heartbeats counts as gone ([`live`] takes the
//! cut-off). `rotate-key` reads the live rows to refuse re-sealing while an
//! instance could not open (or would not seal under) the new key.
//!
//! Times are the instances' own wall clocks (keep the machines' clocks in
//! step, NTP), never a test clock.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::schema::instances;
use crate::{DbConnection, DbError};

/// A running (or recently running) instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// A random id chosen at start.
    pub id: String,
    pub hostname: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The id of the key it seals under (`ENCRYPTION_KEY`).
    pub current_key_id: String,
    /// Every key id it can open with, current first.
    pub key_ids: Vec<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = instances)]
struct Row {
    id: String,
    hostname: String,
    pid: i64,
    started_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    current_key_id: String,
    key_ids: String,
}

impl From<Row> for Instance {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            hostname: r.hostname,
            pid: r.pid,
            started_at: r.started_at.and_utc(),
            last_seen_at: r.last_seen_at.and_utc(),
            current_key_id: r.current_key_id,
            key_ids: r
                .key_ids
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// Writes (or rewrites) the row of `instance`.
pub fn register(conn: &mut DbConnection, instance: &Instance) -> Result<(), DbError> {
    let values = || {
        (
            instances::hostname.eq(&instance.hostname),
            instances::pid.eq(instance.pid),
            instances::started_at.eq(instance.started_at.naive_utc()),
            instances::last_seen_at.eq(instance.last_seen_at.naive_utc()),
            instances::current_key_id.eq(&instance.current_key_id),
            instances::key_ids.eq(instance.key_ids.join(",")),
        )
    };
    conn.transaction(|conn| {
        let n = diesel::update(instances::table.find(&instance.id))
            .set(values())
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(instances::table)
                .values((instances::id.eq(&instance.id), values()))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Renews the row's `last_seen_at`; answers `false` when the row is gone
/// (the caller registers again).
pub fn heartbeat(conn: &mut DbConnection, id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
    let n = diesel::update(instances::table.find(id))
        .set(instances::last_seen_at.eq(now.naive_utc()))
        .execute(conn)?;
    Ok(n == 1)
}

/// Removes the row (a graceful stop).
pub fn remove(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    diesel::delete(instances::table.find(id)).execute(conn)?;
    Ok(())
}

/// The instances seen at or after `since`, oldest start first.
pub fn live(conn: &mut DbConnection, since: DateTime<Utc>) -> Result<Vec<Instance>, DbError> {
    Ok(instances::table
        .filter(instances::last_seen_at.ge(since.naive_utc()))
        .order((instances::started_at.asc(), instances::id.asc()))
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Instance::from)
        .collect())
}

/// Deletes rows not seen since `before` (instances killed long ago).
pub fn purge_stale(conn: &mut DbConnection, before: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(
        diesel::delete(instances::table.filter(instances::last_seen_at.lt(before.naive_utc())))
            .execute(conn)?,
    )
}
