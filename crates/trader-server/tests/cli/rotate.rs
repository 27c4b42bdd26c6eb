//! `rotate-key` as an operator runs it: a real process on a real database
//! (SQLite file and PostgreSQL), values sealed under the old key in every
//! sealed column, checks with the new key alone afterwards.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use trader_api_types::{Role, UserId};
use trader_db::Backend;
use trader_db::test_support::TestDb;
use trader_security::{EncryptionKey, KeyRing};

use crate::sealed_seed::{self, Seeded};
use crate::serve::Server;
use crate::support::{alpaca_trader, stderr, stdout};

struct World {
    db: TestDb,
    secret_key: String,
    old_key: String,
    new_key: String,
    cwd: tempfile::TempDir,
}

fn ring(current: &str, old: &[&str]) -> KeyRing {
    KeyRing::new(
        EncryptionKey::from_base64(current).unwrap(),
        old.iter()
            .map(|k| EncryptionKey::from_base64(k).unwrap())
            .collect(),
    )
}

fn key_id(key: &str) -> String {
    EncryptionKey::from_base64(key).unwrap().key_id()
}

impl World {
    fn new(backend: Backend) -> Self {
        Self {
            db: TestDb::new(backend),
            secret_key: trader_security::generate_secret_key(),
            old_key: trader_security::generate_encryption_key(),
            new_key: trader_security::generate_encryption_key(),
            cwd: tempfile::tempdir().unwrap(),
        }
    }

    fn user(&self, name: &str) -> UserId {
        trader_db::users::create_user(
            &mut self.db.conn(),
            &trader_db::users::NewUser {
                username: name,
                email: &format!("{name}@example.com"),
                password_hash: "not a hash",
                role: Role::User,
                must_change_password: false,
            },
        )
        .unwrap()
        .id
    }

    /// Two users with 2FA on, one with 2FA set up but not confirmed, and
    /// `accounts` trading accounts, all sealed under the old key.
    fn seed(&self, accounts: usize) -> Seeded {
        let old = ring(&self.old_key, &[]);
        let mut seeded = Seeded::default();
        let mut conn = self.db.conn();
        let alice = self.user("alice");
        let bob = self.user("bob");
        let carol = self.user("carol");
        sealed_seed::totp(&mut conn, &old, alice, true, &mut seeded);
        sealed_seed::totp(&mut conn, &old, bob, true, &mut seeded);
        sealed_seed::totp(&mut conn, &old, carol, false, &mut seeded);
        for i in 0..accounts {
            let owner = [alice, bob, carol][i % 3];
            let key = format!("PKROTATE{i:012}");
            let secret = format!("rotate-secret-{i:020}");
            sealed_seed::account(
                &mut conn,
                &old,
                owner,
                &format!("account {i}"),
                "paper",
                (&key, &secret),
                &mut seeded,
            );
        }
        seeded
    }

    /// `alpaca-trader rotate-key ARGS` with the new key current and the old
    /// one in ENCRYPTION_KEYS_OLD.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = alpaca_trader(self.cwd.path());
        cmd.arg("rotate-key")
            .args(args)
            .env("DATABASE_URL", self.db.url_string())
            .env("SECRET_KEY", &self.secret_key)
            .env("ENCRYPTION_KEY", &self.new_key)
            .env("ENCRYPTION_KEYS_OLD", &self.old_key);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// A real `serve` with `ENCRYPTION_KEY=current` (and the old keys).
    fn serve(&self, current: &str, old: Option<&str>) -> Server {
        let mut cmd = alpaca_trader(self.cwd.path());
        cmd.args([
            "serve",
            "--port",
            "0",
            "--workers",
            "1",
            "--no-demo",
            "--no-scheduler",
        ])
        .env("APP_ENV", "development")
        .env("DATA_DIR", self.cwd.path().join("data"))
        .env("DATABASE_URL", self.db.url_string())
        .env("SECRET_KEY", &self.secret_key)
        .env("ENCRYPTION_KEY", current);
        if let Some(old) = old {
            cmd.env("ENCRYPTION_KEYS_OLD", old);
        }
        Server::start(&mut cmd)
    }

    /// Nothing secret in what a command printed.
    fn assert_no_secrets(&self, out: &Output, seeded: &Seeded) {
        let text = format!("{}{}", stdout(out), stderr(out));
        for secret in
            seeded
                .plaintexts()
                .iter()
                .chain([&self.old_key, &self.new_key, &self.secret_key])
        {
            assert!(!text.contains(secret.as_str()), "a secret in: {text}");
        }
        for (_, sealed) in sealed_seed::stored(&mut self.db.conn()).values() {
            assert!(!text.contains(sealed.as_str()), "a ciphertext in: {text}");
        }
    }
}

/// Everything re-sealed; afterwards the new key alone opens every value;
/// `--check` fails before and passes after; a second run has nothing to do.
fn rotate_key_reseals_every_value_and_the_new_key_alone_opens_them(backend: Backend) {
    let w = World::new(backend);
    let seeded = w.seed(4);
    let total = seeded.0.len();
    assert_eq!(total, 2 + 1 + 4 * 2);
    let (old_id, new_id) = (key_id(&w.old_key), key_id(&w.new_key));

    let check = w.run(&["--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    let report = stdout(&check);
    assert!(
        report.contains(&format!(
            "key {old_id} (in ENCRYPTION_KEYS_OLD): {total} value(s)"
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!("key {new_id} (ENCRYPTION_KEY): 0 values")),
        "{report}"
    );
    assert!(
        stderr(&check).contains(&format!("{total} value(s) are not under the current key")),
        "{}",
        stderr(&check)
    );

    let out = w.run(&["--batch-size", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.contains(&format!("{total} value(s) to re-seal under key {new_id}")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "rotate-key: {total} re-sealed under key {new_id}, 0 already"
        )),
        "{printed}"
    );
    assert!(
        printed.contains("every sealed value is under key"),
        "{printed}"
    );
    w.assert_no_secrets(&out, &seeded);

    // The new key alone opens everything; nothing names the old key.
    let mut conn = w.db.conn();
    sealed_seed::assert_all_open_with(&mut conn, &ring(&w.new_key, &[]), &seeded);
    assert_eq!(sealed_seed::count_under(&mut conn, &old_id), 0);

    let check = w.run(&["--check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains(&format!("key {new_id} (ENCRYPTION_KEY): {total} value(s)")),
        "{}",
        stdout(&check)
    );
    // With the old key dropped, too.
    let dropped = w
        .command(&["--check"])
        .env_remove("ENCRYPTION_KEYS_OLD")
        .output()
        .unwrap();
    assert!(dropped.status.success(), "{}", stderr(&dropped));

    let again = w.run(&[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("0 value(s) to re-seal"),
        "{}",
        stdout(&again)
    );
}

/// A value under a key the ring lacks, or altered, is listed (column and
/// row, never the value), left as it is, and the run exits 1; the others
/// are re-sealed.
fn values_that_do_not_open_are_listed_and_left_alone(backend: Backend) {
    let w = World::new(backend);
    let mut seeded = w.seed(2);
    let stranger = trader_security::generate_encryption_key();
    let mut conn = w.db.conn();
    let dave = w.user("dave");
    let lost = sealed_seed::account(
        &mut conn,
        &ring(&stranger, &[]),
        dave,
        "sealed elsewhere",
        "paper",
        ("PKLOST000000000000001", "lost-secret-000000000001"),
        &mut seeded,
    );
    let out = w.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "trading_accounts.key_id of row {lost}: sealed under unknown key"
        )),
        "{err}"
    );
    assert!(err.contains("2 value(s) could not be re-sealed"), "{err}");
    w.assert_no_secrets(&out, &seeded);
    // The rest is under the new key.
    let new = ring(&w.new_key, &[]);
    for ((column, row), (user, sealed)) in sealed_seed::stored(&mut conn) {
        if row == lost && column.name().starts_with("trading_accounts") {
            assert_eq!(
                trader_security::key_id_of(&sealed),
                Ok(key_id(&stranger).as_str())
            );
        } else {
            assert!(
                new.open(
                    &sealed,
                    &trader_security::Aad::new(user, row, column.name())
                )
                .is_ok()
            );
        }
    }
    let check = w.run(&["--check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("not configured here: these cannot be opened"),
        "{}",
        stdout(&check)
    );
}

/// Killed with SIGKILL halfway, then run again: the second run does what
/// was left, and every value ends under the new key.
fn killed_halfway_then_run_again_it_finishes(backend: Backend) {
    let w = World::new(backend);
    let seeded = w.seed(30);
    let total = seeded.0.len();
    let new_id = key_id(&w.new_key);
    let mut child = w
        .command(&["--batch-size", "4"])
        .env("ALPACA_TRADER_TEST_ROTATE_DELAY_MS", "40")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = sealed_seed::count_under(&mut w.db.conn(), &new_id);
        if done >= 8 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "rotate-key ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no progress: {done} done");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let done = sealed_seed::count_under(&mut w.db.conn(), &new_id);
    assert!(done > 0 && done < total, "{done} of {total}");
    // Halfway, every value still opens with the ring the servers have.
    sealed_seed::assert_all_open_with(&mut w.db.conn(), &ring(&w.new_key, &[&w.old_key]), &seeded);

    let out = w.run(&["--batch-size", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let left = total - done;
    assert!(
        stdout(&out).contains(&format!("{left} value(s) to re-seal")),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("rotate-key: {left} re-sealed")),
        "{}",
        stdout(&out)
    );
    sealed_seed::assert_all_open_with(&mut w.db.conn(), &ring(&w.new_key, &[]), &seeded);
    assert!(w.run(&["--check"]).status.success());
}

/// A running `serve` that seals under the old key blocks rotate-key (and
/// `--check` names it); one with the new key does not; once the old one
/// stops, rotate-key runs; a row of an instance gone long ago is ignored.
fn refuses_while_an_instance_without_the_new_key_runs(backend: Backend) {
    let w = World::new(backend);
    let seeded = w.seed(2);
    let old_id = key_id(&w.old_key);
    let mut with_new = w.serve(&w.new_key, Some(&w.old_key));
    let mut old_only = w.serve(&w.old_key, None);

    let out = w.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("refusing to re-seal"), "{err}");
    assert!(err.contains("1 running instance(s)"), "{err}");
    assert!(
        err.contains(&format!(
            "seals under {old_id} and does not have the new key"
        )),
        "{err}"
    );
    w.assert_no_secrets(&out, &seeded);
    // Nothing was written.
    assert_eq!(
        sealed_seed::count_under(&mut w.db.conn(), &old_id),
        seeded.0.len()
    );
    let check = w.run(&["--check"]);
    assert!(
        stdout(&check).contains("running instances: 2"),
        "{}",
        stdout(&check)
    );
    assert!(
        stdout(&check).contains("(NOT the current key: restart it)"),
        "{}",
        stdout(&check)
    );

    // The old-key instance stops (gracefully: its row goes); a row of an
    // instance killed long ago, without the new key, does not count.
    old_only.stop();
    let long_ago = trader_db::users::now() - chrono::Duration::minutes(5);
    trader_db::instances::register(
        &mut w.db.conn(),
        &trader_db::instances::Instance {
            id: "killed-long-ago".to_owned(),
            hostname: "gone".to_owned(),
            pid: 1,
            started_at: long_ago,
            last_seen_at: long_ago,
            current_key_id: old_id.clone(),
            key_ids: vec![old_id.clone()],
        },
    )
    .unwrap();
    let out = w.run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    sealed_seed::assert_all_open_with(&mut w.db.conn(), &ring(&w.new_key, &[]), &seeded);
    with_new.stop();
    // Both instances removed their rows at their graceful stop.
    let left = trader_db::instances::live(&mut w.db.conn(), long_ago).unwrap();
    assert_eq!(
        left.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["killed-long-ago"]
    );
}

crate::cli_backend_tests!(
    rotate_key_reseals_every_value_and_the_new_key_alone_opens_them,
    values_that_do_not_open_are_listed_and_left_alone,
    killed_halfway_then_run_again_it_finishes,
    refuses_while_an_instance_without_the_new_key_runs,
);
