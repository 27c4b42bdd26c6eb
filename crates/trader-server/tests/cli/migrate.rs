//! `migrate-yaml` on copies of the Python version's configuration files
//! (copied from shared/fixtures/legacy-config into trader-indicators'
//! test fixtures), against an in-process alpaca-sim.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use alpaca_sim::{Mode, SimConfig, SimHandle, Simulator};
use trader_api_types::Role;
use trader_api_types::signals::{Settings, SignalMode};
use trader_db::Backend;
use trader_db::test_support::TestDb;
use trader_security::{Aad, EncryptionKey, ExposeSecret, KeyRing};

use crate::support::{alpaca_trader, stderr, stdout};

const PAPER_KEY: &str = "PKMIGRATE00000000001";
const PAPER_SECRET: &str = "sEcReT0000000000000000000000000000000001";
const OTHER_KEY: &str = "PKMIGRATE00000000002";
const OTHER_SECRET: &str = "sEcReT0000000000000000000000000000000002";
const LIVE_KEY: &str = "AKMIGRATE00000000003";
const LIVE_SECRET: &str = "sEcReT0000000000000000000000000000000003";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../trader-indicators/tests/fixtures/legacy-config")
}

/// A copy of the fixtures in a temp folder; `edit(name, text)` changes
/// each file's text.
fn config_copy(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["accounts.yaml", "watchlist.yaml", "settings.yaml"] {
        let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
        std::fs::write(dir.path().join(name), edit(name, text)).unwrap();
    }
    dir
}

/// The fixtures with keys the simulator accepts.
fn with_test_keys(name: &str, text: String) -> String {
    if name == "accounts.yaml" {
        text.replace("YOUR_API_KEY_HERE", PAPER_KEY)
            .replace("YOUR_SECRET_KEY_HERE", PAPER_SECRET)
            .replace("ANOTHER_API_KEY", OTHER_KEY)
            .replace("ANOTHER_SECRET_KEY", OTHER_SECRET)
    } else {
        text
    }
}

/// The fixtures with test keys and settings that differ from the defaults.
fn with_test_keys_and_settings(name: &str, text: String) -> String {
    let text = with_test_keys(name, text);
    if name == "settings.yaml" {
        text.replace("    period: 14", "    period: 10")
            .replace("mode: any", "mode: majority")
            .replace("lookback_days: 100", "lookback_days: 200")
            .replace("  cron: null", "  cron: 30 10 * * 1-5")
    } else {
        text
    }
}

/// A test world: a database with user `alice`, the encryption key, a
/// paper and a live simulator.
struct World {
    db: TestDb,
    encryption_key: String,
    secret_key: String,
    paper: SimHandle,
    live: SimHandle,
    _rt: tokio::runtime::Runtime,
    /// The command's working folder (no stray `.env`).
    cwd: tempfile::TempDir,
    user: trader_api_types::UserId,
}

impl World {
    fn new(backend: Backend) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let start = |mode| {
            rt.block_on(Simulator::start(
                SimConfig {
                    mode,
                    rate_limit_per_min: 0,
                    ..SimConfig::default()
                },
                "127.0.0.1:0",
            ))
            .unwrap()
        };
        let paper = start(Mode::Paper);
        let live = start(Mode::Live);
        let db = TestDb::new(backend);
        let user = trader_db::users::create_user(
            &mut db.conn(),
            &trader_db::users::NewUser {
                username: "alice",
                email: "alice@example.com",
                password_hash: "not a hash",
                role: Role::User,
                must_change_password: false,
            },
        )
        .unwrap()
        .id;
        Self {
            db,
            encryption_key: trader_security::generate_encryption_key(),
            secret_key: trader_security::generate_secret_key(),
            paper,
            live,
            _rt: rt,
            cwd: tempfile::tempdir().unwrap(),
            user,
        }
    }

    fn command(&self, dir: &Path, user: &str, extra: &[&str]) -> Command {
        let mut cmd = alpaca_trader(self.cwd.path());
        cmd.args(["migrate-yaml", "--config-dir"])
            .arg(dir)
            .args(["--user", user])
            .args(extra)
            .env("DATABASE_URL", self.db.url_string())
            .env("SECRET_KEY", &self.secret_key)
            .env("ENCRYPTION_KEY", &self.encryption_key)
            .env("ALPACA_PAPER_URL", self.paper.base_url())
            .env("ALPACA_SIM_URL", self.paper.base_url())
            .env("ALPACA_LIVE_URL", self.live.base_url())
            .env("ALPACA_DATA_URL", self.paper.base_url());
        cmd
    }

    fn run(&self, dir: &Path, extra: &[&str]) -> Output {
        let out = self.command(dir, "alice", extra).output().unwrap();
        // No key and no secret ever reaches the output.
        for secret in [
            PAPER_KEY,
            PAPER_SECRET,
            OTHER_KEY,
            OTHER_SECRET,
            LIVE_KEY,
            LIVE_SECRET,
        ] {
            assert!(
                !stdout(&out).contains(secret) && !stderr(&out).contains(secret),
                "{}{}",
                stdout(&out),
                stderr(&out)
            );
        }
        out
    }

    fn accounts(&self) -> Vec<trader_db::trading_accounts::TradingAccount> {
        trader_db::trading_accounts::list_for_user(&mut self.db.conn(), self.user).unwrap()
    }

    fn symbols(&self) -> Vec<(String, Option<String>)> {
        let mut conn = self.db.conn();
        let lists = trader_db::watchlists::list(&mut conn, self.user).unwrap();
        let Some(list) = lists.iter().find(|l| l.is_default) else {
            return Vec::new();
        };
        trader_db::watchlists::symbols(&mut conn, list.id)
            .unwrap()
            .into_iter()
            .map(|e| (e.symbol, e.name))
            .collect()
    }

    fn settings(&self) -> Option<Settings> {
        trader_db::user_settings::get(&mut self.db.conn(), self.user)
            .unwrap()
            .map(|json| serde_json::from_str(&json).unwrap())
    }

    fn open(&self, row: i64, field: &str, sealed: &str) -> String {
        let ring = KeyRing::new(
            EncryptionKey::from_base64(&self.encryption_key).unwrap(),
            Vec::new(),
        );
        ring.open_str(
            sealed,
            &Aad::new(self.user.0, row, &format!("trading_accounts.{field}")),
        )
        .unwrap()
        .expose_secret()
        .to_owned()
    }
}

fn expected_symbols() -> Vec<(String, Option<String>)> {
    [
        ("AAPL", "Apple Inc."),
        ("MSFT", "Microsoft Corp."),
        ("GOOGL", "Alphabet Inc."),
        ("AMZN", "Amazon.com Inc."),
        ("TSLA", "Tesla Inc."),
        ("NVDA", "NVIDIA Corp."),
        ("META", "Meta Platforms Inc."),
        ("PLTR", "Palantir Technologies Inc. Class A Common Stock"),
        ("CRWV", "CoreWeave, Inc. Class A Common Stock"),
    ]
    .into_iter()
    .map(|(s, n)| (s.to_owned(), Some(n.to_owned())))
    .collect()
}

fn imports_everything_sealed_and_a_second_run_imports_nothing(backend: Backend) {
    let w = World::new(backend);
    let dir = config_copy(with_test_keys_and_settings);
    let out = w.run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        o.contains("imported account \"Paper Trading Account\" (paper, key …0001, keys checked with the broker)"),
        "{o}"
    );
    assert!(
        o.contains("imported account \"Another Account\" (paper, key …0002"),
        "{o}"
    );
    assert!(
        o.contains("active account: \"Paper Trading Account\""),
        "{o}"
    );
    assert!(
        o.contains("9 symbol(s) added (AAPL, MSFT, GOOGL, AMZN, TSLA, NVDA, META, PLTR, CRWV)"),
        "{o}"
    );
    assert!(o.contains("imported settings.yaml"), "{o}");
    assert!(
        e.contains("accounts.yaml holds API keys in plain text"),
        "{e}"
    );

    let accounts = w.accounts();
    assert_eq!(accounts.len(), 2);
    let paper = &accounts[0];
    assert_eq!(
        (
            paper.name.as_str(),
            paper.environment.as_str(),
            paper.is_active,
            paper.key_hint.as_str()
        ),
        ("Paper Trading Account", "paper", true, "0001")
    );
    assert!(paper.last_verified_at.is_some());
    let other = &accounts[1];
    assert_eq!(
        (
            other.name.as_str(),
            other.environment.as_str(),
            other.is_active
        ),
        ("Another Account", "paper", false)
    );
    // Sealed: the stored values are not the keys, and open to them.
    for (a, key, secret) in [
        (paper, PAPER_KEY, PAPER_SECRET),
        (other, OTHER_KEY, OTHER_SECRET),
    ] {
        assert!(a.key_id.starts_with("v1:") && !a.key_id.contains(key));
        assert!(a.secret_key.starts_with("v1:") && !a.secret_key.contains(secret));
        assert_eq!(w.open(a.id, "key_id", &a.key_id), key);
        assert_eq!(w.open(a.id, "secret_key", &a.secret_key), secret);
    }

    assert_eq!(w.symbols(), expected_symbols());

    let mut expected = Settings::default();
    expected.indicators.rsi.period = 10;
    expected.signal.mode = SignalMode::Majority;
    expected.data.lookback_days = 200;
    expected.schedule.cron = Some("30 10 * * 1-5".to_owned());
    let stored = w.settings().unwrap();
    assert_eq!(stored, expected);
    assert!(!stored.auto_trade.enabled);

    // Again: nothing new.
    let again = w.run(dir.path(), &[]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let o = stdout(&again);
    assert!(!o.contains("imported account"), "{o}");
    assert!(
        o.contains("skipped account \"Paper Trading Account\": the user already has an account with this name"),
        "{o}"
    );
    assert!(o.contains("0 symbol(s) added, 9 already there"), "{o}");
    assert!(o.contains("already equal it; nothing changed"), "{o}");
    let after = w.accounts();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].key_id, accounts[0].key_id);
    assert_eq!(w.symbols(), expected_symbols());
    assert_eq!(w.settings().unwrap(), expected);
}

fn placeholder_keys_are_skipped_with_a_warning(backend: Backend) {
    let w = World::new(backend);
    let out = w.run(&fixtures(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("warning: skipped account \"Paper Trading Account\": accounts.yaml line 3, accounts[0].api_key: not shaped like an Alpaca key id"),
        "{e}"
    );
    assert!(
        e.contains("warning: skipped account \"Another Account\": accounts.yaml line 8"),
        "{e}"
    );
    assert!(w.accounts().is_empty());
    assert_eq!(w.symbols(), expected_symbols());
    // The fixture's settings are the defaults: stored or not, equal.
    assert_eq!(w.settings().unwrap_or_default(), Settings::default());
}

fn a_broken_file_changes_nothing_and_names_the_line(backend: Backend) {
    let w = World::new(backend);
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "settings.yaml",
            "    period: 14",
            "    period: fourteen",
            "settings.yaml line 24, indicators.rsi.period: invalid type: string (value), expected u32",
        ),
        (
            "settings.yaml",
            "lookback_days: 100",
            "lookback_days: 0",
            "settings.yaml line 2, data.lookback_days: must be 1 to 3650",
        ),
        (
            "accounts.yaml",
            "    secret_key: \"sEcReT0000000000000000000000000000000002\"\n",
            "",
            "accounts.yaml line 7, accounts[1]: missing field `secret_key`",
        ),
        (
            "watchlist.yaml",
            "  symbol: NVDA",
            "  symbol: \"NV DA\"",
            "watchlist.yaml line 13, watchlist[5].symbol: must be 1 to 10 letters",
        ),
    ];
    for (file, from, to, message) in cases {
        let dir = config_copy(|name, text| {
            let text = with_test_keys(name, text);
            if name == file {
                let changed = text.replace(from, to);
                assert_ne!(changed, text);
                changed
            } else {
                text
            }
        });
        let out = w.run(dir.path(), &["--no-verify"]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let e = stderr(&out);
        assert!(e.contains(message), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(w.accounts().is_empty());
        assert!(w.symbols().is_empty());
        assert_eq!(w.settings(), None);
    }
    // A truncated file is not YAML: the parser's line.
    let dir = config_copy(|name, text| {
        if name == "settings.yaml" {
            text.replace("  macd:\n", "  macd: [\n")
        } else {
            with_test_keys(name, text)
        }
    });
    let out = w.run(dir.path(), &["--no-verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("settings.yaml: not valid YAML"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("line "), "{}", stderr(&out));
    assert!(w.accounts().is_empty());
}

fn live_accounts_need_allow_live_and_unknown_keys_are_reported(backend: Backend) {
    let w = World::new(backend);
    let dir = config_copy(|name, text| {
        let text = with_test_keys(name, text);
        match name {
            "accounts.yaml" => text
                .replace(OTHER_KEY, LIVE_KEY)
                .replace(OTHER_SECRET, LIVE_SECRET)
                .replace(
                    "    paper: true\n    active: false",
                    "    paper: false\n    active: false\n    nickname: x",
                ),
            "settings.yaml" => text.replace("schedule:\n", "schedule:\n  timezone: UTC\n"),
            _ => text,
        }
    });
    // A dry run writes nothing.
    let dry = w.run(dir.path(), &["--dry-run", "--environment", "sim"]);
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("dry run: nothing was written"));
    assert!(
        stdout(&dry).contains("imported account \"Paper Trading Account\" (sim"),
        "{}",
        stdout(&dry)
    );
    assert!(w.accounts().is_empty() && w.symbols().is_empty());

    let out = w.run(dir.path(), &["--environment", "sim"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("warning: skipped account \"Another Account\": accounts.yaml line 10, accounts[1].paper: paper: false is live money; pass --allow-live"),
        "{e}"
    );
    assert!(
        e.contains("warning: unknown key ignored: accounts.yaml line 12: accounts[1].nickname"),
        "{e}"
    );
    assert!(
        e.contains("warning: unknown key ignored: settings.yaml line 30: schedule.timezone"),
        "{e}"
    );
    let accounts = w.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].environment, "sim");

    let out = w.run(dir.path(), &["--allow-live"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("imported account \"Another Account\" (live, key …0003, keys checked"),
        "{}",
        stdout(&out)
    );
    let accounts = w.accounts();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[1].environment, "live");
    // The active account stays the one the first run made active.
    assert!(accounts[0].is_active && !accounts[1].is_active);
}

fn keys_the_broker_refuses_are_skipped(backend: Backend) {
    let w = World::new(backend);
    // The simulator keeps the first secret it sees for a key id.
    let dir = config_copy(with_test_keys);
    let first = w.run(dir.path(), &["--dry-run"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let dir =
        config_copy(|name, text| with_test_keys(name, text).replace(PAPER_SECRET, OTHER_SECRET));
    let out = w.run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: skipped account \"Paper Trading Account\" (accounts.yaml line 2): the broker refused its keys (key …0001) as paper keys"),
        "{}",
        stderr(&out)
    );
    let accounts = w.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].name, "Another Account");
    assert!(accounts[0].is_active);
    let _ = (&w.live, &w.paper);
}

fn settings_the_user_changed_are_not_overwritten(backend: Backend) {
    let w = World::new(backend);
    let mut mine = Settings::default();
    mine.indicators.rsi.period = 21;
    trader_db::user_settings::put(
        &mut w.db.conn(),
        w.user,
        &serde_json::to_string(&mine).unwrap(),
    )
    .unwrap();
    let dir = config_copy(with_test_keys_and_settings);
    let out = w.run(dir.path(), &["--no-verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("skipped settings.yaml: the user's settings were changed from the defaults; not overwritten"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("(paper, key …0001, keys not checked)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(w.settings().unwrap(), mine);
    let accounts = w.accounts();
    assert_eq!(accounts.len(), 2);
    assert!(accounts[0].last_verified_at.is_none());
}

fn an_unknown_user_exits_1(backend: Backend) {
    let w = World::new(backend);
    let out = w.command(&fixtures(), "bob", &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no user named `bob`"),
        "{}",
        stderr(&out)
    );
}

crate::cli_backend_tests!(
    imports_everything_sealed_and_a_second_run_imports_nothing,
    placeholder_keys_are_skipped_with_a_warning,
    a_broken_file_changes_nothing_and_names_the_line,
    live_accounts_need_allow_live_and_unknown_keys_are_reported,
    keys_the_broker_refuses_are_skipped,
    settings_the_user_changed_are_not_overwritten,
    an_unknown_user_exits_1,
);
