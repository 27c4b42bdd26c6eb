use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::alpaca_trader;

/// A running `alpaca-trader serve`, killed on drop if not stopped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base_url: String,
    stopped: bool,
}

impl Server {
    /// Starts the command and waits for its "listening on" line.
    pub(crate) fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let base_url = loop {
            assert!(Instant::now() < deadline, "server did not start in time");
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        break url.trim().to_owned();
                    }
                }
                _ => {
                    let mut err = String::new();
                    child
                        .stderr
                        .take()
                        .unwrap()
                        .read_to_string(&mut err)
                        .unwrap();
                    panic!("server exited before listening: {err}");
                }
            }
        };
        Self {
            child,
            base_url,
            stopped: false,
        }
    }

    /// Sends `signal`, waits for exit, asserts exit 0, answers stderr.
    pub(crate) fn stop_with(&mut self, signal: Signal) -> String {
        kill(
            Pid::from_raw(i32::try_from(self.child.id()).unwrap()),
            signal,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(35);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "server did not stop on {signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        self.stopped = true;
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err).unwrap();
        }
        assert!(
            status.success(),
            "exit status {status:?} after {signal}: {err}"
        );
        err
    }

    /// SIGKILL: the process ends at once, giving nothing back.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.stopped = true;
    }

    pub(crate) fn stop(&mut self) -> String {
        self.stop_with(Signal::SIGTERM)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn serve_answers_health_and_readiness_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        alpaca_trader(dir.path())
            .args(["serve", "--port", "0", "--workers", "1"])
            .env("APP_ENV", "development"),
    );
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
    let ready = client
        .get(format!("{}/readyz", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let missing = client
        .get(format!("{}/api/nothing-here", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    let log = server.stop();
    assert!(log.contains("graceful shutdown"), "{log}");
    // The default database was created under ./data.
    assert!(dir.path().join("data/alpaca-trader.db").is_file());
}

#[test]
fn serve_stops_gracefully_on_sigint_and_the_alias_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        alpaca_trader(dir.path())
            .args(["dashboard-secure", "--port", "0", "--workers", "1"])
            .env("APP_ENV", "development"),
    );
    let log = server.stop_with(Signal::SIGINT);
    assert!(log.contains("SIGINT received"), "{log}");
}

#[test]
fn serve_refuses_a_taken_port_with_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .args(["serve", "--port", &port])
        .env("APP_ENV", "development")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}

/// The simulator as a user starts it: any hour of the day, the replay
/// clock plays the last full session, so a market order fills.
#[tokio::test]
async fn sim_with_the_replay_clock_prints_its_address_and_fills_a_market_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim =
        Server::start(alpaca_trader(dir.path()).args(["sim", "--port", "0", "--clock", "replay"]));
    let client = reqwest::Client::new();
    let order: serde_json::Value = client
        .post(format!("{}/v2/orders", sim.base_url))
        .header("APCA-API-KEY-ID", "PKTESTCLI0000000001")
        .header("APCA-API-SECRET-KEY", "secret-for-the-cli-test")
        .json(&serde_json::json!({
            "symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = order["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now: serde_json::Value = client
            .get(format!("{}/v2/orders/{id}", sim.base_url))
            .header("APCA-API-KEY-ID", "PKTESTCLI0000000001")
            .header("APCA-API-SECRET-KEY", "secret-for-the-cli-test")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if now["status"] == "filled" {
            assert!(
                now["filled_avg_price"]
                    .as_str()
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
                    > 0.0
            );
            break;
        }
        assert!(Instant::now() < deadline, "not filled within 10 s: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sim.stop();
}

/// The README's development start: demo mode runs the simulator in-process,
/// so a new user can add a `sim` account and trade with no Alpaca account.
#[tokio::test]
async fn serve_in_development_runs_the_simulator_for_sim_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::run_with_stdin(
        alpaca_trader(dir.path())
            .args([
                "create-admin",
                "--username",
                "demo",
                "--email",
                "demo@example.com",
                "--password-stdin",
            ])
            .env("APP_ENV", "development"),
        "a demo passphrase for tests\n",
    );
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let mut server = Server::start(
        alpaca_trader(dir.path())
            .args(["serve", "--port", "0", "--workers", "1"])
            .env("APP_ENV", "development"),
    );
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let meta: serde_json::Value = client
        .get(format!("{}/api/meta", server.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["demo"], true);
    assert_eq!(
        meta["environments"],
        serde_json::json!(["paper", "live", "sim"])
    );
    let login: serde_json::Value = client
        .post(format!("{}/api/auth/login", server.base_url))
        .json(&serde_json::json!({"username": "demo", "password": "a demo passphrase for tests"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = login["csrf_token"].as_str().unwrap().to_owned();
    let added = client
        .post(format!("{}/api/accounts", server.base_url))
        .header("X-CSRF-Token", &csrf)
        .json(&serde_json::json!({"name": "Demo", "environment": "sim", "key_id": "PKDEMO00000000000001", "secret_key": "demo-secret-0001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201, "{}", added.text().await.unwrap());
    let order = client
        .post(format!("{}/api/orders", server.base_url))
        .header("X-CSRF-Token", &csrf)
        .json(&serde_json::json!({"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day", "qty": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 201, "{}", order.text().await.unwrap());
    let log = server.stop();
    assert!(log.contains("demo mode"), "{log}");

    // --no-demo: no simulator, no sim environment.
    let mut server = Server::start(
        alpaca_trader(dir.path())
            .args(["serve", "--port", "0", "--workers", "1", "--no-demo"])
            .env("APP_ENV", "development"),
    );
    let meta: serde_json::Value = reqwest::get(format!("{}/api/meta", server.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["environments"], serde_json::json!(["paper", "live"]));
    server.stop();
}

mod postgres {
    use super::*;

    /// The holders of the scheduler passes recorded so far, in order.
    fn holders(db: &trader_db::test_support::TestDb) -> Vec<String> {
        let mut conn = db.conn();
        let mut runs = trader_db::scheduler::recent_runs(&mut conn, 10_000).unwrap();
        runs.reverse();
        runs.into_iter().map(|r| r.holder).collect()
    }

    fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Two instances started at the same moment on an empty database:
    /// both come up, each migration is applied once (under the migration
    /// lock), and a session made on one works on the other.
    #[tokio::test]
    async fn two_instances_start_together_on_an_empty_database() {
        let db = trader_db::test_support::TestDb::empty(trader_db::Backend::Postgres);
        let secret_key = trader_security::generate_secret_key();
        let encryption_key = trader_security::generate_encryption_key();
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let start = |dir: &std::path::Path| {
            Server::start(
                alpaca_trader(dir)
                    .args(["serve", "--port", "0", "--workers", "1", "--no-demo"])
                    .arg("--no-scheduler")
                    .env("APP_ENV", "development")
                    .env("DATABASE_URL", db.url_string())
                    .env("SECRET_KEY", &secret_key)
                    .env("ENCRYPTION_KEY", &encryption_key),
            )
        };
        let (mut a, mut b) = std::thread::scope(|s| {
            let a = s.spawn(|| start(a_dir.path()));
            let b = s.spawn(|| start(b_dir.path()));
            (a.join().unwrap(), b.join().unwrap())
        });
        let mut conn = db.conn();
        let applied = trader_db::applied_migrations(&mut conn).unwrap();
        let mut unique = applied.clone();
        unique.dedup();
        assert_eq!(applied, unique, "each migration once");
        assert_eq!(
            applied.len(),
            std::fs::read_dir(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../migrations/postgres"
            ))
            .unwrap()
            .count(),
            "every migration applied"
        );
        // A user, signed in on A; the cookie works on B.
        let password = "correct horse battery staple";
        let hash = trader_security::hash_password(
            &trader_security::NewPassword::new(trader_security::SecretString::from(password))
                .unwrap(),
        )
        .unwrap();
        trader_db::users::create_user(
            &mut conn,
            &trader_db::users::NewUser {
                username: "alice",
                email: "alice@example.com",
                password_hash: &hash,
                role: trader_api_types::Role::User,
                must_change_password: false,
            },
        )
        .unwrap();
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = client
            .post(format!("{}/api/auth/login", a.base_url))
            .json(&serde_json::json!({"username": "alice", "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let me: serde_json::Value = client
            .get(format!("{}/api/auth/me", b.base_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["user"]["username"], "alice");
        assert_eq!(me["auth"], "session");
        a.stop();
        b.stop();
    }

    /// Part 6 of issue 14, re-checked with two real `serve` processes on one
    /// PostgreSQL database (same SECRET_KEY and ENCRYPTION_KEY, each its
    /// own data folder, both with a scheduler): the setup token one printed
    /// claims the install on the other; a session and a token made on one
    /// work on the other; a logout and a token revocation on one end them
    /// on both; password lockouts agree; exactly one scheduler runs passes;
    /// and rate limits are each instance's own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_serve_processes_share_sign_ins_logouts_lockouts_and_one_scheduler() {
        use reqwest::StatusCode;
        use serde_json::{Value, json};

        let db = trader_db::test_support::TestDb::empty(trader_db::Backend::Postgres);
        let secret_key = trader_security::generate_secret_key();
        let encryption_key = trader_security::generate_encryption_key();
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let start = |dir: &std::path::Path| {
            Server::start(
                alpaca_trader(dir)
                    .args(["serve", "--port", "0", "--workers", "1", "--no-demo"])
                    .env("APP_ENV", "development")
                    .env("DATABASE_URL", db.url_string())
                    .env("SECRET_KEY", &secret_key)
                    .env("ENCRYPTION_KEY", &encryption_key)
                    .env("SCHEDULER_TICK_SECS", "1")
                    // 10 wrong passwords must reach the lockout before
                    // this instance's own rate limit answers 429.
                    .env("AUTH_RATE_BURST", "13")
                    .env("AUTH_RATE_PERIOD_SECS", "3600"),
            )
        };
        let (mut a, mut b) = std::thread::scope(|s| {
            let a = s.spawn(|| start(a_dir.path()));
            let b = s.spawn(|| start(b_dir.path()));
            (a.join().unwrap(), b.join().unwrap())
        });
        let (a_url, b_url) = (a.base_url.clone(), b.base_url.clone());

        // Both instances are registered, under the same key.
        let running = trader_db::instances::live(
            &mut db.conn(),
            trader_db::users::now() - chrono::Duration::minutes(1),
        )
        .unwrap();
        assert_eq!(running.len(), 2, "{running:?}");
        assert_eq!(running[0].current_key_id, running[1].current_key_id);

        // The setup token: each instance that found no user made one; A's
        // claims the install on B, and then neither token works anywhere.
        let a_token = std::fs::read_to_string(a_dir.path().join("data/setup-token")).unwrap();
        let password = "correct horse battery staple";
        let http = reqwest::Client::new();
        let res = http
            .post(format!("{b_url}/api/auth/register"))
            .json(&json!({"username": "root", "email": "root@example.com", "password": password, "setup_token": a_token.trim()}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        for (url, dir) in [(&a_url, &a_dir), (&b_url, &b_dir)] {
            let token =
                std::fs::read_to_string(dir.path().join("data/setup-token")).unwrap_or_default();
            let res = http
                .post(format!("{url}/api/auth/register"))
                .json(&json!({"username": "mallory", "email": "m@example.com", "password": password, "setup_token": token.trim()}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
        }

        // A session made on A works on B; a token made on A works on B.
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let login: Value = browser
            .post(format!("{a_url}/api/auth/login"))
            .json(&json!({"username": "root", "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let csrf = login["csrf_token"].as_str().unwrap().to_owned();
        let me = |url: String, client: reqwest::Client| async move {
            client
                .get(format!("{url}/api/auth/me"))
                .send()
                .await
                .unwrap()
                .status()
        };
        assert_eq!(me(b_url.clone(), browser.clone()).await, StatusCode::OK);
        let created: Value = browser
            .post(format!("{a_url}/api/tokens"))
            .header("X-CSRF-Token", &csrf)
            .json(&json!({"name": "script", "scopes": ["read"], "expires_in_days": 30}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = created["token"].as_str().unwrap().to_owned();
        let bearer = |url: String| {
            let token = token.clone();
            async move {
                reqwest::Client::new()
                    .get(format!("{url}/api/auth/me"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(bearer(b_url.clone()).await, StatusCode::OK);
        // Revoked on B: refused on A.
        let revoked = browser
            .delete(format!("{b_url}/api/tokens/{}", created["id"]))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap();
        assert!(revoked.status().is_success(), "{}", revoked.status());
        assert_eq!(bearer(a_url.clone()).await, StatusCode::UNAUTHORIZED);
        // Logged out on B: the session is over on A too.
        let out = browser
            .post(format!("{b_url}/api/auth/logout"))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap();
        assert!(out.status().is_success(), "{}", out.status());
        assert_eq!(
            me(a_url.clone(), browser.clone()).await,
            StatusCode::UNAUTHORIZED
        );

        // Ten wrong passwords on A lock this network out on B as well.
        let attempt = |url: String, pw: &'static str| async move {
            reqwest::Client::new()
                .post(format!("{url}/api/auth/login"))
                .json(&json!({"username": "root", "password": pw}))
                .send()
                .await
                .unwrap()
                .status()
        };
        for _ in 0..10 {
            assert_eq!(
                attempt(a_url.clone(), "wrong password, guessed").await,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            attempt(b_url.clone(), "correct horse battery staple").await,
            StatusCode::UNAUTHORIZED,
            "locked on B by failures on A"
        );
        // Rate limits are per instance: A has used its 13 sign-in requests
        // (a register, a login, 10 failures, 1 now), B only 4 so far.
        assert_eq!(
            attempt(a_url.clone(), "wrong password, guessed").await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            attempt(a_url.clone(), "wrong password, guessed").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            attempt(b_url.clone(), "wrong password, guessed").await,
            StatusCode::UNAUTHORIZED,
            "B's own limit is not spent"
        );

        // One scheduler at a time: every pass so far has one holder.
        wait_for("three scheduler passes", || holders(&db).len() >= 3);
        let runs = holders(&db);
        assert!(runs.iter().all(|h| *h == runs[0]), "{runs:?}");

        a.stop();
        b.stop();
        // Both removed their instance rows at the graceful stop.
        assert!(
            trader_db::instances::live(
                &mut db.conn(),
                trader_db::users::now() - chrono::Duration::minutes(1)
            )
            .unwrap()
            .is_empty()
        );
    }

    /// Two schedulers on one PostgreSQL database: one runs passes, the
    /// other waits; when the first is killed (SIGKILL, so nothing is given
    /// back politely) the second takes over within a tick or two.
    #[test]
    fn a_second_scheduler_takes_over_when_the_first_is_killed() {
        let db = trader_db::test_support::TestDb::new(trader_db::Backend::Postgres);
        let dir = tempfile::tempdir().unwrap();
        let start = |dir: &std::path::Path| {
            Server::start(
                alpaca_trader(dir)
                    .args(["serve", "--port", "0", "--workers", "1", "--no-demo"])
                    .env("APP_ENV", "development")
                    .env("DATABASE_URL", db.url_string())
                    .env("SCHEDULER_TICK_SECS", "1"),
            )
        };
        let mut first = start(dir.path());
        wait_for("the first pass", || !holders(&db).is_empty());
        let leader = holders(&db)[0].clone();
        let mut second = start(dir.path());
        std::thread::sleep(Duration::from_secs(3));
        let runs = holders(&db);
        assert!(runs.len() >= 3, "{runs:?}");
        assert!(
            runs.iter().all(|h| *h == leader),
            "only one scheduler runs passes: {runs:?}"
        );

        first.kill();
        let before = holders(&db).len();
        let killed_at = Instant::now();
        wait_for("another scheduler's pass", || {
            holders(&db)[before.min(holders(&db).len())..]
                .iter()
                .any(|h| *h != leader)
        });
        assert!(
            killed_at.elapsed() < Duration::from_secs(5),
            "took over after {:?}",
            killed_at.elapsed()
        );
        second.stop();
    }
}

/// `run-once`: one pass under the scheduler's lock, then exit 0 with what
/// it did (for cron, as the Python version's headless trader).
#[test]
fn run_once_makes_one_pass_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .args(["run-once", "--no-demo"])
        .env("APP_ENV", "development")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("run-once: 0 users, 0 symbols, 0 signals stored, 0 auto-trade decisions, 0 orders placed, 0 errors"),
        "{stdout}"
    );
    // The pass is recorded.
    let url: trader_db::DatabaseUrl = dir
        .path()
        .join("data/alpaca-trader.db")
        .to_string_lossy()
        .parse()
        .unwrap();
    let mut conn = url.connect().unwrap();
    assert_eq!(
        trader_db::scheduler::recent_runs(&mut conn, 10)
            .unwrap()
            .len(),
        1
    );
}
