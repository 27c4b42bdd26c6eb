//! This server instance's row in the `instances` table: written at start
//! with the ids of the encryption keys it holds, renewed every
//! [`HEARTBEAT`], removed at a graceful stop. `rotate-key` reads the rows
//! seen within [`GONE_AFTER`] to refuse re-sealing while a running
//! instance does not seal under the new key (it could not open what
//! `rotate-key` writes, or would keep sealing new values under the old key).

use std::time::Duration;

use trader_db::instances::{self, Instance};
use trader_db::{DbConnection, DbError};
use trader_security::KeyRing;

/// How often a running instance renews its row.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// A row not renewed for this long belongs to an instance that is gone
/// (killed, or its machine lost): four heartbeats.
pub fn gone_after() -> chrono::Duration {
    chrono::Duration::seconds(4 * 15)
}

/// Rows older than this are deleted by any instance's heartbeat.
fn forget_after() -> chrono::Duration {
    chrono::Duration::days(1)
}

/// This machine's name, for operators reading `rotate-key`'s refusal.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The row describing this process with `keyring`, seen now.
pub fn describe(keyring: &KeyRing) -> Instance {
    let now = trader_db::users::now();
    Instance {
        id: uuid::Uuid::new_v4().simple().to_string(),
        hostname: hostname(),
        pid: i64::from(std::process::id()),
        started_at: now,
        last_seen_at: now,
        current_key_id: keyring.current_key_id().to_owned(),
        key_ids: keyring.key_ids(),
    }
}

/// Renews `instance`'s row, writing it again if it was removed (a long
/// pause, or another instance purged it); also forgets rows of instances
/// gone for a day.
pub fn beat(conn: &mut DbConnection, instance: &Instance) -> Result<(), DbError> {
    let now = trader_db::users::now();
    if !instances::heartbeat(conn, &instance.id, now)? {
        instances::register(
            conn,
            &Instance {
                last_seen_at: now,
                ..instance.clone()
            },
        )?;
    }
    instances::purge_stale(conn, now - forget_after())?;
    Ok(())
}

/// The instances seen recently enough to count as running.
pub fn running(conn: &mut DbConnection) -> Result<Vec<Instance>, DbError> {
    instances::live(conn, trader_db::users::now() - gone_after())
}
