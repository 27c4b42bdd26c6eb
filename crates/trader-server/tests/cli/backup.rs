//! `backup` and `restore` as an operator runs them: real processes, real
//! databases (a SQLite file, a PostgreSQL database of its own per test), a
//! load of writes running during the backup, and the app started on a
//! restored database.
//!
//! Targets are filled and read through connections of the test's own that
//! are closed again at once: a pooled connection left open would (rightly)
//! make `restore` refuse the database as in use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DurationRound, TimeDelta};
use trader_api_types::signals::{Settings, SignalMode};
use trader_api_types::{Role, UserId};
use trader_db::backup::{self, EPHEMERAL_TABLES, TABLES};
use trader_db::test_support::TestDb;
use trader_db::{Backend, DbConnection, DbError, users};
use trader_security::{Aad, EncryptionKey, ExposeSecret, KeyRing, TotpSecret};

use crate::cli_backend_tests;
use crate::serve::Server;
use crate::support::{alpaca_trader, stderr, stdout};

const PASSWORD: &str = "correct horse battery staple";
const KEY_ID: &str = "PKBACKUP000000000001";
const SECRET: &str = "backup-secret-00000000000000000001";
const LOAD_SYMBOL: &str = "LOAD";
const LOAD_EVENT: &str = "backup_test_load";

/// An installation's keys.
struct Keys {
    encryption: String,
    secret: String,
}

impl Keys {
    fn new() -> Self {
        Self {
            encryption: trader_security::generate_encryption_key(),
            secret: trader_security::generate_secret_key(),
        }
    }

    fn ring(&self) -> KeyRing {
        KeyRing::new(
            EncryptionKey::from_base64(&self.encryption).unwrap(),
            Vec::new(),
        )
    }
}

/// What [`seed`] made.
struct Seeded {
    alice: UserId,
    totp_base32: String,
}

/// A connection of the test's own (not pooled), closed when dropped.
fn direct(db: &TestDb) -> DbConnection {
    db.url().connect().unwrap()
}

/// Migrates `db` and fills it as a user's installation would be: two users
/// (alice with 2FA on, bob with 2FA being set up), alice's sim account with
/// sealed keys (active), changed settings, a watchlist, `signals` signals, the
/// audit log, the scheduler's record.
fn seed(db: &TestDb, keys: &Keys, signals: usize) -> Seeded {
    let ring = keys.ring();
    let mut conn = direct(db);
    trader_db::run_migrations(&mut conn).unwrap();
    let hash = trader_security::hash_password(
        &trader_security::NewPassword::new(trader_security::SecretString::from(PASSWORD)).unwrap(),
    )
    .unwrap();
    let mut create = |username: &str, email: &str, role| {
        users::create_user(
            &mut conn,
            &users::NewUser {
                username,
                email,
                password_hash: &hash,
                role,
                must_change_password: false,
            },
        )
        .unwrap()
        .id
    };
    let alice = create("alice", "alice@example.com", Role::User);
    let bob = create("bob", "bob@example.com", Role::Admin);

    let totp = TotpSecret::generate();
    let totp_base32 = totp.to_base32().expose_secret().to_owned();
    let seal_user = |user: UserId, field: &str| {
        ring.seal_str(
            &totp_base32,
            &Aad::new(user.0, user.0, &format!("users.{field}")),
        )
        .unwrap()
    };
    let pending = seal_user(alice, "totp_pending_secret");
    users::set_totp_pending(&mut conn, alice, Some(&pending)).unwrap();
    assert!(
        users::enable_totp(
            &mut conn,
            alice,
            &pending,
            &seal_user(alice, "totp_secret"),
            0
        )
        .unwrap()
    );
    users::set_totp_pending(&mut conn, bob, Some(&seal_user(bob, "totp_pending_secret"))).unwrap();

    let now = users::now();
    let account = conn
        .write_transaction::<_, DbError, _>(|c| {
            trader_db::trading_accounts::insert_in(
                c,
                &trader_db::trading_accounts::NewTradingAccount {
                    user_id: alice,
                    name: "Sim",
                    environment: "sim",
                    key_hint: "0001",
                    verified_at: now,
                },
                Some(now),
                |row| {
                    let seal = |v: &str, f: &str| {
                        ring.seal_str(v, &Aad::new(alice.0, row, &format!("trading_accounts.{f}")))
                            .unwrap()
                    };
                    Ok::<_, DbError>((seal(KEY_ID, "key_id"), seal(SECRET, "secret_key")))
                },
            )
        })
        .unwrap();
    assert!(trader_db::trading_accounts::activate(&mut conn, alice, account.id).unwrap());

    let mut settings = Settings::default();
    settings.signal.mode = SignalMode::Majority;
    trader_db::user_settings::put(&mut conn, alice, &serde_json::to_string(&settings).unwrap())
        .unwrap();
    let list = trader_db::watchlists::default_for(&mut conn, alice).unwrap();
    trader_db::watchlists::add_symbol(&mut conn, alice, list.id, "AAPL", Some("Apple Inc."))
        .unwrap();

    let symbols = ["AAPL", "MSFT", "NVDA", "TSLA"];
    let base = (now - TimeDelta::days(30))
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap();
    let votes: Vec<String> = (0..signals)
        .map(|i| {
            format!(
                r#"{{"rsi":{{"vote":"buy","value":{}}}}}"#,
                30.0 + i as f64 / 3.0
            )
        })
        .collect();
    let new: Vec<trader_db::signal_history::NewSignal<'_>> = (0..signals)
        .map(|i| trader_db::signal_history::NewSignal {
            user_id: alice,
            symbol: symbols[i % symbols.len()],
            timeframe: "1Day",
            bar_time: base + TimeDelta::minutes(i64::try_from(i).unwrap()),
            action: ["buy", "sell", "hold"][i % 3],
            strength: 1.0 / (1.0 + i as f64),
            price: (i % 5 != 0).then(|| 100.0 + i as f64 / 7.0),
            votes: &votes[i],
        })
        .collect();
    for chunk in new.chunks(500) {
        trader_db::signal_history::insert_many(&mut conn, chunk, now).unwrap();
    }
    trader_db::audit::record(
        &mut conn,
        &trader_db::audit::NewAuditEntry {
            user_id: Some(alice),
            username: Some("alice"),
            event: "login",
            ip: Some("203.0.113.7"),
            user_agent: Some("test"),
            ..Default::default()
        },
        now,
    )
    .unwrap();
    trader_db::scheduler::record_user_run(
        &mut conn,
        alice,
        now,
        Some(now + TimeDelta::hours(1)),
        None,
    )
    .unwrap();
    trader_db::scheduler::record_run(
        &mut conn,
        &trader_db::scheduler::Run {
            holder: "seed".into(),
            started_at: now,
            finished_at: Some(now),
            users: 1,
            symbols: 4,
            signals: 4,
            errors: 0,
        },
    )
    .unwrap();
    Seeded { alice, totp_base32 }
}

/// A thread writing, until stopped, one signal and one audit entry in
/// each write transaction (so a consistent snapshot holds both or
/// neither), on a connection of its own.
struct Load {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(db: &TestDb, user: UserId) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let url = db.url().clone();
        let (s, w) = (stop.clone(), written.clone());
        let handle = std::thread::spawn(move || {
            let mut conn = url.connect().unwrap();
            let base = users::now().duration_trunc(TimeDelta::minutes(1)).unwrap();
            let mut i: i64 = 0;
            while !s.load(Ordering::SeqCst) {
                conn.write_transaction::<_, DbError, _>(|c| {
                    let now = users::now();
                    trader_db::signal_history::insert(
                        c,
                        &trader_db::signal_history::NewSignal {
                            user_id: user,
                            symbol: LOAD_SYMBOL,
                            timeframe: "1Min",
                            bar_time: base + TimeDelta::minutes(i),
                            action: "hold",
                            strength: 0.5,
                            price: Some(i as f64 + 0.25),
                            votes: "{}",
                        },
                        now,
                    )?;
                    trader_db::audit::record(
                        c,
                        &trader_db::audit::NewAuditEntry {
                            user_id: Some(user),
                            event: LOAD_EVENT,
                            detail: Some(&format!(r#"{{"i":{i}}}"#)),
                            ..Default::default()
                        },
                        now,
                    )?;
                    Ok(())
                })
                .unwrap();
                i += 1;
                w.store(u64::try_from(i).unwrap(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Self {
            stop,
            written,
            handle: Some(handle),
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    fn wait_for(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.written() < n {
            assert!(
                Instant::now() < deadline,
                "the load wrote only {}",
                self.written()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap();
        self.written()
    }
}

/// Every carried table's rows, read as a backup reads them.
fn rows(db: &TestDb) -> BTreeMap<String, Vec<Vec<serde_json::Value>>> {
    backup::snapshot_rows(&mut direct(db)).unwrap()
}

fn run_backup(db: &TestDb, out: &Path, extra: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    alpaca_trader(cwd.path())
        .args(["backup", "--out"])
        .arg(out)
        .args(extra)
        .env("DATABASE_URL", db.url_string())
        .output()
        .unwrap()
}

fn run_restore(
    db: &TestDb,
    from: &Path,
    keys: &Keys,
    old: Option<&Keys>,
    extra: &[&str],
) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = alpaca_trader(cwd.path());
    cmd.args(["restore", "--from"])
        .arg(from)
        .args(extra)
        .env("DATABASE_URL", db.url_string())
        .env("SECRET_KEY", &keys.secret)
        .env("ENCRYPTION_KEY", &keys.encryption);
    if let Some(old) = old {
        cmd.env("ENCRYPTION_KEYS_OLD", &old.encryption);
    }
    cmd.output().unwrap()
}

/// Nothing secret reaches the output, and the key warning does.
fn check_output(out: &Output, keys: &Keys, seeded: Option<&Seeded>) {
    let (o, e) = (stdout(out), stderr(out));
    let mut secrets = vec![
        KEY_ID,
        SECRET,
        PASSWORD,
        keys.encryption.as_str(),
        keys.secret.as_str(),
    ];
    if let Some(s) = seeded {
        secrets.push(&s.totp_base32);
    }
    for s in secrets {
        assert!(
            !o.contains(s) && !e.contains(s),
            "a secret reached the output:\n{o}\n{e}"
        );
    }
    assert!(
        e.contains("a backup never holds ENCRYPTION_KEY")
            && e.contains("cannot give back the trading accounts' API keys or anyone's two-factor"),
        "{e}"
    );
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(out),
        stderr(out)
    );
}

fn refused(out: &Output, why: &str) {
    let e = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{}\n{e}", stdout(out));
    assert!(e.contains("restore refused: "), "{e}");
    assert!(e.contains(why), "wanted {why:?} in:\n{e}");
    assert!(e.contains("nothing was changed"), "{e}");
}

fn backup_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trader.backup");
    (dir, path)
}

/// Rows of `table` whose text columns include `needle`.
fn count_with(rows: &[Vec<serde_json::Value>], needle: &str) -> usize {
    rows.iter()
        .filter(|r| r.iter().any(|v| v.as_str() == Some(needle)))
        .count()
}

/// Target rows equal the source's, except rows of the load written after
/// the snapshot: for those two tables the target holds a prefix (by id) of
/// the source's rows, and what is missing is load rows only.
fn assert_same_but_later_load(
    source: &BTreeMap<String, Vec<Vec<serde_json::Value>>>,
    target: &BTreeMap<String, Vec<Vec<serde_json::Value>>>,
) {
    assert_eq!(
        source.keys().collect::<Vec<_>>(),
        target.keys().collect::<Vec<_>>()
    );
    for (table, src) in source {
        let dst = &target[table];
        if table == "audit_log" || table == "signal_history" {
            assert!(dst.len() <= src.len(), "{table}");
            assert_eq!(&src[..dst.len()], &dst[..], "{table}: rows differ");
            let needle = if table == "audit_log" {
                LOAD_EVENT
            } else {
                LOAD_SYMBOL
            };
            assert_eq!(
                count_with(&src[dst.len()..], needle),
                src.len() - dst.len(),
                "{table}: rows missing from the restore that the load did not write"
            );
        } else {
            assert_eq!(src, dst, "{table}: rows differ");
        }
    }
}

// ------------------------------------------------------------ Must show 1

/// Backup while a load of writes runs, restore into an empty database of
/// the same backend: identical rows; the snapshot is consistent (each
/// load transaction's two rows are both there or both not), and the load
/// really ran during the backup. The file is mode 0600.
fn backup_during_writes_restores_identical_rows(backend: Backend) {
    let keys = Keys::new();
    let source = TestDb::empty(backend);
    let seeded = seed(&source, &keys, 3000);
    let (_dir, file) = backup_file();

    let load = Load::start(&source, seeded.alice);
    load.wait_for(20);
    let before = load.written();
    let out = run_backup(&source, &file, &[]);
    let after = load.written();
    ok(&out);
    check_output(&out, &keys, Some(&seeded));
    assert!(
        stdout(&out).contains("backup written to"),
        "{}",
        stdout(&out)
    );
    load.wait_for(after + 20);
    let total = load.stop();
    assert!(after > before, "the load did not run during the backup");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "backup file mode {mode:o}");
    }
    // No temporary file is left next to it.
    assert_eq!(
        std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
        1
    );
    let first_line = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let header: backup::Header = serde_json::from_str(&first_line).unwrap();
    assert_eq!(header.format, "alpaca-trader-backup");
    assert_eq!(header.format_version, 1);
    let known = trader_db::known_migrations(backend).unwrap();
    assert_eq!(header.schema_version, known.last().unwrap().version);
    assert_eq!(
        header
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        TABLES
    );

    let target = TestDb::empty(backend);
    let out = run_restore(&target, &file, &keys, None, &[]);
    ok(&out);
    check_output(&out, &keys, Some(&seeded));

    let (src, dst) = (rows(&source), rows(&target));
    assert_same_but_later_load(&src, &dst);
    let load_signals = count_with(&dst["signal_history"], LOAD_SYMBOL);
    let load_audit = count_with(&dst["audit_log"], LOAD_EVENT);
    assert_eq!(
        load_signals, load_audit,
        "the snapshot split a transaction: {load_signals} load signals, {load_audit} load audit entries"
    );
    assert!(
        u64::try_from(load_signals).unwrap() >= before
            && u64::try_from(load_signals).unwrap() < total,
        "{before} <= {load_signals} < {total}"
    );
    assert_eq!(
        header
            .tables
            .iter()
            .find(|t| t.name == "signal_history")
            .unwrap()
            .rows,
        u64::try_from(dst["signal_history"].len()).unwrap()
    );
    for t in EPHEMERAL_TABLES {
        assert!(dst[*t].is_empty());
    }
}

// ------------------------------------------------------------ Must show 2

/// A flipped byte (in the body or the header), a truncated file, an empty
/// file and a file that is not a backup are refused; the target is left
/// exactly as it was, even with --force.
fn damaged_files_are_refused_and_change_nothing(backend: Backend) {
    let keys = Keys::new();
    let source = TestDb::empty(backend);
    let seeded = seed(&source, &keys, 200);
    let (dir, file) = backup_file();
    ok(&run_backup(&source, &file, &[]));
    let good = std::fs::read(&file).unwrap();
    let header_end = good.iter().position(|b| *b == b'\n').unwrap() + 1;

    // A target holding data of its own (restored from another backup).
    let other = TestDb::empty(backend);
    seed(&other, &keys, 10);
    let other_file = dir.path().join("other.backup");
    ok(&run_backup(&other, &other_file, &[]));
    let target = TestDb::empty(backend);
    ok(&run_restore(&target, &other_file, &keys, None, &[]));
    let before = rows(&target);
    // And an empty one.
    let empty = TestDb::empty(backend);

    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut body_flip = good.clone();
    let middle = header_end + (good.len() - header_end) / 2;
    body_flip[middle] ^= 0x01;
    let mut header_flip = good.clone();
    let at = first_line_position(&good, b"\"created_at\":\"") + 3;
    header_flip[at] ^= 0x01;
    let cases = [
        (write("body-flip", &body_flip), "checksum does not match"),
        (
            write("header-flip", &header_flip),
            "header is damaged or was changed",
        ),
        (write("truncated", &good[..good.len() - 100]), "truncated"),
        (write("header-only", &good[..header_end]), "truncated"),
        (
            write("cut-header", &good[..header_end / 2]),
            "not an alpaca-trader backup",
        ),
        (write("empty", b""), "the file is empty"),
        (
            write("foreign.json", b"{\"hello\": \"world\"}\n"),
            "not an alpaca-trader backup",
        ),
        (
            write(
                "foreign.toml",
                &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap(),
            ),
            "not an alpaca-trader backup",
        ),
    ];
    for (path, why) in &cases {
        let out = run_restore(&target, path, &keys, None, &["--force"]);
        refused(&out, why);
        check_output(&out, &keys, Some(&seeded));
        let out = run_restore(&empty, path, &keys, None, &[]);
        refused(&out, why);
    }
    assert_eq!(
        rows(&target),
        before,
        "a refused restore changed the target"
    );
    assert!(
        trader_db::backup::live_tables(&mut direct(&empty))
            .unwrap()
            .is_empty(),
        "a refused restore created tables"
    );

    // A backup from a newer alpaca-trader (a schema version this binary
    // does not have), with its header's checksum made good again.
    let mut header: backup::Header = serde_json::from_slice(&good[..header_end - 1]).unwrap();
    header.schema_version = "29991231000000".into();
    header.schema_migration = "2999-12-31-000000_from_the_future".into();
    let mut newer = backup::header_line(&header).unwrap();
    newer.extend_from_slice(&good[header_end..]);
    let path = write("newer", &newer);
    refused(
        &run_restore(&empty, &path, &keys, None, &[]),
        "made by a newer alpaca-trader",
    );
    let mut raw: serde_json::Value = serde_json::from_slice(&good[..header_end - 1]).unwrap();
    raw["format_version"] = 2.into();
    let mut newer = serde_json::to_vec(&raw).unwrap();
    newer.push(b'\n');
    newer.extend_from_slice(&good[header_end..]);
    let path = write("newer-format", &newer);
    refused(
        &run_restore(&empty, &path, &keys, None, &[]),
        "format version 2, newer",
    );

    // The good file still restores.
    ok(&run_restore(&empty, &file, &keys, None, &[]));
}

fn first_line_position(bytes: &[u8], needle: &[u8]) -> usize {
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
        + needle.len()
}

// ------------------------------------------------------------ Must show 3

/// A backup restored under another key ring is refused before anything
/// changes; with the backup's key among the old keys it restores.
fn a_different_key_ring_is_refused_before_anything_changes(backend: Backend) {
    let keys = Keys::new();
    let source = TestDb::empty(backend);
    let seeded = seed(&source, &keys, 50);
    let (_dir, file) = backup_file();
    ok(&run_backup(&source, &file, &[]));

    let other_keys = Keys::new();
    let target = TestDb::empty(backend);
    let out = run_restore(&target, &file, &other_keys, None, &[]);
    refused(&out, "cannot be opened with the current key ring");
    check_output(&out, &keys, Some(&seeded));
    assert!(
        stderr(&out).contains("users.totp_secret") || stderr(&out).contains("trading_accounts."),
        "{}",
        stderr(&out)
    );
    assert!(
        backup::live_tables(&mut direct(&target))
            .unwrap()
            .is_empty(),
        "the refused restore created tables"
    );

    // A target with data, --force: still refused, still unchanged.
    let full = TestDb::empty(backend);
    seed(&full, &other_keys, 10);
    let before = rows(&full);
    refused(
        &run_restore(&full, &file, &other_keys, None, &["--force"]),
        "cannot be opened with the current key ring",
    );
    assert_eq!(rows(&full), before);

    // After a rotation the backup's key is an old key: accepted.
    ok(&run_restore(&target, &file, &other_keys, Some(&keys), &[]));
    assert_eq!(rows(&target), rows(&source));
}

// ------------------------------------------------------------ Must show 5

/// A target with data is refused without --force and replaced with it.
fn a_non_empty_target_needs_force(backend: Backend) {
    let keys = Keys::new();
    let source = TestDb::empty(backend);
    seed(&source, &keys, 100);
    let (dir, file) = backup_file();
    ok(&run_backup(&source, &file, &[]));
    // An existing backup file is not overwritten without --force.
    let again = run_backup(&source, &file, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    ok(&run_backup(&source, &file, &["--force"]));

    let other = TestDb::empty(backend);
    seed(&other, &keys, 7);
    let other_file = dir.path().join("other.backup");
    ok(&run_backup(&other, &other_file, &[]));
    let target = TestDb::empty(backend);
    ok(&run_restore(&target, &other_file, &keys, None, &[]));
    let before = rows(&target);

    refused(&run_restore(&target, &file, &keys, None, &[]), "not empty");
    assert_eq!(rows(&target), before);
    let out = run_restore(&target, &file, &keys, None, &["--force"]);
    ok(&out);
    assert!(stdout(&out).contains("was replaced"), "{}", stdout(&out));
    assert_eq!(rows(&target), rows(&source));
}

/// A database a running server uses is refused (its connections on
/// PostgreSQL, its open file on SQLite); once the server has stopped, the
/// same restore goes through.
fn a_target_in_use_is_refused(backend: Backend) {
    let keys = Keys::new();
    let source = TestDb::empty(backend);
    seed(&source, &keys, 20);
    let (_dir, file) = backup_file();
    ok(&run_backup(&source, &file, &[]));
    let target = TestDb::empty(backend);
    ok(&run_restore(&target, &file, &keys, None, &[]));

    let cwd = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        alpaca_trader(cwd.path())
            // No scheduler: its passes would write while the test
            // checks that the refused restore wrote nothing.
            .args([
                "serve",
                "--port",
                "0",
                "--workers",
                "1",
                "--no-demo",
                "--no-scheduler",
            ])
            .env("APP_ENV", "development")
            .env("DATABASE_URL", target.url_string())
            .env("SECRET_KEY", &keys.secret)
            .env("ENCRYPTION_KEY", &keys.encryption),
    );
    let before = rows(&target);
    let out = run_restore(&target, &file, &keys, None, &["--force"]);
    refused(&out, "in use");
    server.stop();
    assert_eq!(rows(&target), before);

    ok(&run_restore(&target, &file, &keys, None, &["--force"]));
    assert_eq!(rows(&target), rows(&source));
}

/// A backup made at an older schema (the version before the events
/// table) is loaded at that schema and then migrated: restore applies the
/// newer migration after the rows are in.
fn an_older_backup_is_loaded_at_its_schema_then_migrated(backend: Backend) {
    let keys = Keys::new();
    let source = TestDb::empty(backend);
    seed(&source, &keys, 30);
    let (dir, file) = backup_file();
    ok(&run_backup(&source, &file, &[]));
    let good = std::fs::read(&file).unwrap();
    let header_end = good.iter().position(|b| *b == b'\n').unwrap() + 1;
    let mut header: backup::Header = serde_json::from_slice(&good[..header_end - 1]).unwrap();
    let known = trader_db::known_migrations(backend).unwrap();
    // The backup claims the schema before the events table came.
    let events = known
        .iter()
        .position(|m| m.name.ends_with("_events"))
        .unwrap();
    let previous = &known[events - 1];
    let newer: Vec<&str> = known[events..].iter().map(|m| m.name.as_str()).collect();
    header.schema_version = previous.version.clone();
    header.schema_migration = previous.name.clone();
    header.tables.retain(|t| t.name != "events");
    let mut older = backup::header_line(&header).unwrap();
    older.extend_from_slice(&good[header_end..]);
    let path = dir.path().join("older.backup");
    std::fs::write(&path, older).unwrap();

    let target = TestDb::empty(backend);
    let out = run_restore(&target, &path, &keys, None, &[]);
    ok(&out);
    assert!(
        stdout(&out).contains(&format!(
            "then applied {} newer migration(s): {}",
            newer.len(),
            newer.join(", ")
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(rows(&target), rows(&source));
    let applied = trader_db::applied_migrations(&mut direct(&target)).unwrap();
    assert_eq!(applied.len(), known.len());
}

/// Every table of a migrated database is one a backup carries (so adding
/// a table without adding it to the backup fails here), and the backup
/// lists every table of the schema in its header.
fn every_table_is_covered(backend: Backend) {
    let db = TestDb::new(backend);
    let live = backup::live_tables(&mut direct(&db)).unwrap();
    let mut covered: Vec<String> = TABLES.iter().map(ToString::to_string).collect();
    covered.sort();
    assert_eq!(
        live, covered,
        "tables in the database vs tables a backup carries"
    );
}

cli_backend_tests!(
    backup_during_writes_restores_identical_rows,
    damaged_files_are_refused_and_change_nothing,
    a_different_key_ring_is_refused_before_anything_changes,
    a_non_empty_target_needs_force,
    a_target_in_use_is_refused,
    an_older_backup_is_loaded_at_its_schema_then_migrated,
    every_table_is_covered,
);

// ------------------------------------------------------------ Must show 4

/// A SQLite installation moved to PostgreSQL: the rows are identical, and
/// the app started there signs alice in (password, then her TOTP code),
/// opens her account's keys (an account call against the simulator), and
/// shows her settings, watchlist and signals; new rows get fresh ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_restores_into_postgres_and_the_app_works() {
    let keys = Keys::new();
    let source = TestDb::empty(Backend::Sqlite);
    let seeded = seed(&source, &keys, 500);
    let (_dir, file) = backup_file();
    let out = tokio::task::block_in_place(|| run_backup(&source, &file, &[]));
    ok(&out);
    let target = TestDb::empty(Backend::Postgres);
    let out = tokio::task::block_in_place(|| run_restore(&target, &file, &keys, None, &[]));
    ok(&out);
    check_output(&out, &keys, Some(&seeded));
    assert!(stdout(&out).contains("from sqlite"), "{}", stdout(&out));
    assert_eq!(rows(&target), rows(&source));

    let sim = alpaca_sim::Simulator::start(
        alpaca_sim::SimConfig {
            rate_limit_per_min: 0,
            ..alpaca_sim::SimConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let mut server = tokio::task::block_in_place(|| {
        Server::start(
            alpaca_trader(cwd.path())
                .args([
                    "serve",
                    "--port",
                    "0",
                    "--workers",
                    "1",
                    "--no-demo",
                    "--no-scheduler",
                ])
                .env("APP_ENV", "development")
                .env("DATABASE_URL", target.url_string())
                .env("SECRET_KEY", &keys.secret)
                .env("ENCRYPTION_KEY", &keys.encryption)
                .env("ALPACA_SIM_URL", sim.base_url()),
        )
    });
    let base = server.base_url.clone();
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login: serde_json::Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["two_factor_required"], true, "{login}");
    let code = totp(&seeded.totp_base32, chrono::Utc::now().timestamp());
    let verified = client
        .post(format!("{base}/api/auth/verify-2fa"))
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200, "{}", verified.text().await.unwrap());
    let get = |path: &str| {
        let client = client.clone();
        let url = format!("{base}{path}");
        let path = path.to_owned();
        async move {
            let res = client.get(url).send().await.unwrap();
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    assert_eq!(get("/api/auth/me").await["user"]["username"], "alice");
    let accounts = get("/api/accounts").await;
    assert!(accounts.to_string().contains("\"Sim\""), "{accounts}");
    // The keys open: the simulator answers the account call made with them.
    let account = get("/api/account").await;
    assert_eq!(account["environment"], "sim", "{account}");
    assert_eq!(get("/api/indicators").await["signal"]["mode"], "majority");
    let history = get("/api/signals/history?limit=5").await;
    assert_eq!(history["signals"].as_array().unwrap().len(), 5, "{history}");
    let list = get("/api/watchlist").await;
    assert!(list.to_string().contains("AAPL"), "{list}");
    tokio::task::block_in_place(|| server.stop());

    // Sign-in wrote sessions and audit entries with fresh ids (the
    // identity sequences were set past the restored ids).
    let after = rows(&target);
    assert!(after["audit_log"].len() > rows(&source)["audit_log"].len());
}

/// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as an authenticator app computes it.
fn totp(secret_base32: &str, unix: i64) -> String {
    use hmac::{Hmac, Mac};
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_base32.trim_end_matches('=').as_bytes())
        .unwrap();
    let counter = u64::try_from(unix / 30).unwrap();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", bin % 1_000_000)
}
