//! `alpaca-trader rotate-key`: re-seals every sealed value (trading-account
//! keys, TOTP secrets, pending TOTP secrets: [`SealedColumn::ALL`]) under
//! the current `ENCRYPTION_KEY`, while the servers keep running.
//!
//! The procedure: restart every instance with the new key as
//! `ENCRYPTION_KEY` and the old one in `ENCRYPTION_KEYS_OLD`; run
//! `rotate-key`; check with `rotate-key --check`; drop the old key and
//! restart again.
//!
//! How it stays safe while servers run:
//!
//! - It refuses to start, and stops between batches, while a running
//!   instance (a row in `instances` seen within
//!   [`crate::instance::gone_after`]) seals under another key: that
//!   instance could not open what this command writes, or would keep
//!   writing values under the old key.
//! - Each value is written alone with `UPDATE .. WHERE id = ? AND column =
//!   <the ciphertext read>`. When a user changed the value meanwhile (new
//!   keys, 2FA set up again), nothing is overwritten: the value is read
//!   again and, if it is still under an old key, re-sealed again.
//! - Every write is a whole value, so an interrupted run (even SIGKILL)
//!   leaves each value under either key, both of which the servers open.
//!   A second run continues: it only reads values not yet under the
//!   current key.
//!
//! Values that cannot be opened (a key missing from the ring, altered
//! data) are left as they are and listed by column and row at the end; the
//! command then exits 1. Nothing it prints or logs contains a key, a
//! plaintext or a ciphertext.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use trader_db::instances::Instance;
use trader_db::sealed::{self, SealedColumn, SealedValue};
use trader_db::{DbConnection, DbError, Pool};
use trader_security::{Aad, KeyRing};

use crate::settings::ServeArgs;

/// Tries per value when users keep changing it under us.
const MAX_TRIES: usize = 5;

/// For tests only: milliseconds to wait after each value, so a test can
/// interrupt a run halfway. Not a setting; never set it in production.
const TEST_DELAY_ENV: &str = "ALPACA_TRADER_TEST_ROTATE_DELAY_MS";

/// Flags of `rotate-key`.
#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// Only report how many values each key id seals; exit 1 while any
    /// value is under a key other than ENCRYPTION_KEY.
    #[arg(long)]
    pub check: bool,

    /// Values read (and then written one by one) per batch.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub batch_size: i64,

    #[command(flatten)]
    pub server: ServeArgs,
}

/// What happened to one value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Written again under the current key.
    Resealed,
    /// Already under the current key when (re-)read: a user or another
    /// run wrote it meanwhile.
    AlreadyCurrent,
    /// The row or the value went away meanwhile.
    Gone,
    /// Could not be opened or re-sealed; left as it was. The text says why
    /// and never holds the value.
    Failed(String),
}

/// Counts for the final report.
#[derive(Debug, Default)]
struct Tally {
    resealed: u64,
    already_current: u64,
    gone: u64,
    failed: Vec<(SealedColumn, i64, String)>,
}

/// Runs `rotate-key` (or `rotate-key --check`).
pub fn run(args: &RotateKeyArgs) -> anyhow::Result<()> {
    let (settings, _) = crate::Settings::from_serve_args(&args.server)?;
    let ring = KeyRing::new(
        settings.encryption_key.clone(),
        settings.encryption_keys_old.clone(),
    );
    let pool = Pool::open(&settings.database_url, 2)?;
    trader_db::run_migrations(&mut *pool.get()?)?;
    let mut conn = pool.get()?;
    if args.check {
        return check(&mut conn, &ring);
    }
    refuse_unless_ready(&mut conn, &ring)?;
    rotate(&mut conn, &ring, args.batch_size)
}

/// Running instances that do not seal under `ring`'s current key.
fn lagging_instances(conn: &mut DbConnection, ring: &KeyRing) -> Result<Vec<Instance>, DbError> {
    Ok(crate::instance::running(conn)?
        .into_iter()
        .filter(|i| i.current_key_id != ring.current_key_id())
        .collect())
}

/// Fails, naming them on stderr, while an instance lags behind.
fn refuse_unless_ready(conn: &mut DbConnection, ring: &KeyRing) -> anyhow::Result<()> {
    let lagging = lagging_instances(conn, ring)?;
    if lagging.is_empty() {
        return Ok(());
    }
    let new = ring.current_key_id();
    eprintln!(
        "{} running instance(s) do not seal under the new key {new}:",
        lagging.len()
    );
    for i in &lagging {
        let holds_new = i.key_ids.iter().any(|k| k == new);
        eprintln!(
            "  instance {} on {} (pid {}), started {}, last seen {}: seals under {}{}",
            i.id,
            i.hostname,
            i.pid,
            i.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            i.last_seen_at.format("%Y-%m-%d %H:%M:%S UTC"),
            i.current_key_id,
            if holds_new {
                " (it has the new key only among its old keys)"
            } else {
                " and does not have the new key"
            }
        );
    }
    bail!(
        "refusing to re-seal while a running instance does not seal under the new key {new}: \
         restart every instance with ENCRYPTION_KEY set to the new key and the old key in \
         ENCRYPTION_KEYS_OLD, then run rotate-key again (an instance that was killed counts as \
         gone {} s after its last heartbeat)",
        crate::instance::gone_after().num_seconds()
    )
}

fn test_delay() -> Option<Duration> {
    std::env::var(TEST_DELAY_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
}

fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} values re-sealed, {per_sec}, eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn rotate(conn: &mut DbConnection, ring: &KeyRing, batch_size: i64) -> anyhow::Result<()> {
    let current = ring.current_key_id().to_owned();
    let mut total = 0u64;
    for column in SealedColumn::ALL {
        total += u64::try_from(sealed::count_not_under(conn, column, &current)?).unwrap_or(0);
    }
    println!("rotate-key: {total} value(s) to re-seal under key {current}");
    let bar = progress_bar(total);
    let delay = test_delay();
    let mut tally = Tally::default();
    for column in SealedColumn::ALL {
        let mut after = 0i64;
        loop {
            // Again before every batch: an instance started meanwhile with
            // the old key alone could not open what this batch writes.
            if !lagging_instances(conn, ring)?.is_empty() {
                bar.abandon();
                print_tally(&tally, &current);
                refuse_unless_ready(conn, ring)?;
            }
            let batch = sealed::next_not_under(conn, column, &current, after, batch_size)?;
            let Some(last) = batch.last() else { break };
            after = last.row_id;
            for value in batch {
                let row_id = value.row_id;
                match reseal_one(conn, ring, column, value)? {
                    Outcome::Resealed => tally.resealed += 1,
                    Outcome::AlreadyCurrent => tally.already_current += 1,
                    Outcome::Gone => tally.gone += 1,
                    Outcome::Failed(why) => tally.failed.push((column, row_id, why)),
                }
                bar.inc(1);
                if let Some(d) = delay {
                    std::thread::sleep(d);
                }
            }
        }
    }
    bar.finish_and_clear();
    print_tally(&tally, &current);
    if !tally.failed.is_empty() {
        for (column, row, why) in &tally.failed {
            eprintln!("  {column} of row {row}: {why}");
        }
        bail!(
            "{} value(s) could not be re-sealed and are still under an old key (listed above); \
             keep the old key in ENCRYPTION_KEYS_OLD until they are dealt with",
            tally.failed.len()
        );
    }
    let mut left = 0i64;
    for column in SealedColumn::ALL {
        left += sealed::count_not_under(conn, column, &current)?;
    }
    if left > 0 {
        bail!(
            "{left} value(s) were written under another key while this ran (by something \
             without the new key, e.g. migrate-yaml with the old ENCRYPTION_KEY); run rotate-key again"
        );
    }
    println!(
        "every sealed value is under key {current}: check with `alpaca-trader rotate-key --check`, \
         then remove the old key from ENCRYPTION_KEYS_OLD and restart the servers"
    );
    Ok(())
}

fn print_tally(tally: &Tally, current: &str) {
    println!(
        "rotate-key: {} re-sealed under key {current}, {} already under it (changed meanwhile), \
         {} gone meanwhile, {} could not be opened",
        tally.resealed,
        tally.already_current,
        tally.gone,
        tally.failed.len()
    );
}

/// Re-seals one value under the current key with a conditional update;
/// when the value changed since it was read, reads it again and retries.
fn reseal_one(
    conn: &mut DbConnection,
    ring: &KeyRing,
    column: SealedColumn,
    mut value: SealedValue,
) -> Result<Outcome, DbError> {
    for _ in 0..MAX_TRIES {
        let aad = Aad::new(value.user_id, value.row_id, column.name());
        let resealed = match ring.reseal(&value.sealed, &aad) {
            Ok(None) => return Ok(Outcome::AlreadyCurrent),
            Ok(Some(resealed)) => resealed,
            Err(e) => return Ok(Outcome::Failed(e.to_string())),
        };
        if sealed::replace(conn, column, value.row_id, &value.sealed, &resealed)? {
            return Ok(Outcome::Resealed);
        }
        match sealed::get(conn, column, value.row_id)? {
            Some(now) => value = now,
            None => return Ok(Outcome::Gone),
        }
    }
    Ok(Outcome::Failed(format!(
        "changed by someone else on each of {MAX_TRIES} tries; run rotate-key again"
    )))
}

/// Where one key id stands.
#[derive(Debug, Default)]
struct KeyCount {
    total: u64,
    by_column: BTreeMap<SealedColumn, u64>,
}

/// `--check`: how many values each key id seals, and the running
/// instances' keys. Fails while any value is under a key other than the
/// current one (or cannot be read as a sealed value).
fn check(conn: &mut DbConnection, ring: &KeyRing) -> anyhow::Result<()> {
    let current = ring.current_key_id().to_owned();
    let ring_ids = ring.key_ids();
    let mut keys: BTreeMap<String, KeyCount> = BTreeMap::new();
    let mut malformed: BTreeMap<SealedColumn, u64> = BTreeMap::new();
    for column in SealedColumn::ALL {
        let mut after = 0i64;
        loop {
            let batch = sealed::next(conn, column, after, 500)?;
            let Some(last) = batch.last() else { break };
            after = last.row_id;
            for value in &batch {
                match trader_security::key_id_of(&value.sealed) {
                    Ok(id) => {
                        let entry = keys.entry(id.to_owned()).or_default();
                        entry.total += 1;
                        *entry.by_column.entry(column).or_default() += 1;
                    }
                    Err(_) => *malformed.entry(column).or_default() += 1,
                }
            }
        }
    }
    let describe = |id: &str| {
        if id == current {
            "ENCRYPTION_KEY"
        } else if ring_ids.iter().any(|k| k == id) {
            "in ENCRYPTION_KEYS_OLD"
        } else {
            "not configured here: these cannot be opened"
        }
    };
    println!("current key (ENCRYPTION_KEY): {current}");
    if !keys.contains_key(&current) {
        println!("key {current} (ENCRYPTION_KEY): 0 values");
    }
    let mut elsewhere = 0u64;
    for (id, count) in &keys {
        if *id != current {
            elsewhere += count.total;
        }
        let detail: Vec<String> = count
            .by_column
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        println!(
            "key {id} ({}): {} value(s) ({})",
            describe(id),
            count.total,
            detail.join(", ")
        );
    }
    let bad: u64 = malformed.values().sum();
    if bad > 0 {
        let detail: Vec<String> = malformed.iter().map(|(c, n)| format!("{c} {n}")).collect();
        println!(
            "malformed (not a sealed value): {bad} ({})",
            detail.join(", ")
        );
    }
    let running = crate::instance::running(conn)?;
    println!("running instances: {}", running.len());
    for i in &running {
        println!(
            "  instance {} on {} (pid {}): seals under {}, opens {}{}",
            i.id,
            i.hostname,
            i.pid,
            i.current_key_id,
            i.key_ids.join(", "),
            if i.current_key_id == current {
                ""
            } else {
                " (NOT the current key: restart it)"
            }
        );
    }
    if elsewhere + bad > 0 {
        bail!(
            "{} value(s) are not under the current key {current}: run `alpaca-trader rotate-key` \
             and keep the old key in ENCRYPTION_KEYS_OLD until this check passes",
            elsewhere + bad
        );
    }
    println!(
        "every sealed value is under the current key {current}; the old keys are no longer needed"
    );
    Ok(())
}
