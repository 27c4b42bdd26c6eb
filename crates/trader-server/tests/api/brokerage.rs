//! Trading accounts and the broker endpoints, over HTTP against a real
//! alpaca-sim (the same client code that talks to Alpaca): adding accounts
//! with keys checked and sealed, reading the account, trading, faults,
//! shared reads, isolation between users, token scopes.

use std::time::Duration;

use alpaca_sim::{Fault, FaultKind, Mode, SimHandle};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp, error_code};
use crate::two_factor::enable_2fa;

const KEY: &str = "PKSERVERTEST0000AB12";
const SECRET: &str = "server-test-secret-0000001";
const LIVE_KEY: &str = "AKSERVERLIVE0000CD34";
const LIVE_SECRET: &str = "server-live-secret-0000001";

/// 2024-07-10 (a Wednesday) 10:00 New York: the market is open.
fn wednesday_10am() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2024-07-10T14:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// A server whose `sim` environment is one simulator (paper mode) and whose
/// `live` environment is a second simulator in live mode.
struct Broker {
    app: TestApp,
    sim: SimHandle,
    live: SimHandle,
}

async fn start_sim(mode: Mode) -> SimHandle {
    crate::support::pinned_sim(wednesday_10am(), mode).await
}

impl Broker {
    async fn start(backend: Backend) -> Self {
        let sim = start_sim(Mode::Paper).await;
        let live = start_sim(Mode::Live).await;
        let (sim_url, live_url) = (sim.base_url(), live.base_url());
        let app = TestApp::spawn_with(backend, move |s| {
            s.broker_urls.sim = Some(sim_url.clone());
            s.broker_urls.paper = sim_url.clone();
            s.broker_urls.live = live_url.clone();
            s.broker_urls.data = live_url;
            // Short deadlines so the fault tests stay quick.
            s.broker = trader_alpaca::ClientConfig {
                connect_timeout: Duration::from_secs(1),
                call_timeout: Duration::from_secs(3),
                try_timeout: Duration::from_millis(800),
                max_tries: 3,
                backoff: Duration::from_millis(20),
                cache_ttl: Duration::from_secs(2),
            };
            // Live streams ask the broker for orders often, to keep the
            // stream tests short.
            s.event_timings.order_poll = Duration::from_millis(300);
        })
        .await;
        for s in [KEY, SECRET, LIVE_KEY, LIVE_SECRET] {
            app.secret(s);
        }
        Self { app, sim, live }
    }

    /// Signs `name` in (created as a user); answers the client and CSRF token.
    async fn user(&self, name: &str) -> (Client, String) {
        self.app.create_user(name, Role::User);
        let client = self.app.client();
        let csrf = self.app.login(&client, name, PASSWORD).await;
        (client, csrf)
    }

    async fn add_sim_account(&self, client: &Client, csrf: &str, name: &str, key: &str) -> Value {
        let res = self
            .app
            .post(
                client,
                "/api/accounts",
                json!({"name": name, "environment": "sim", "key_id": key, "secret_key": SECRET}),
                Some(csrf),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    async fn json(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: &str,
    ) -> (StatusCode, Value) {
        let res = self.app.send(client, method, path, body, Some(csrf)).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn calls(&self, method: &str, path: &str) -> u64 {
        self.sim.control().request_count(KEY, method, path)
    }
}

/// The whole path over HTTP: add a sim account (keys checked), read the
/// account and positions, buy at market, see the fill and the position,
/// close it, and see the equity curve change.
async fn a_user_trades_on_a_sim_account(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    let meta: Value = b.app.get(&client, "/api/meta").await.json().await.unwrap();
    assert_eq!(meta["environments"], json!(["paper", "live", "sim"]));

    // No account yet.
    let (status, body) = b
        .json(&client, Method::GET, "/api/account", None, &csrf)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_active_account"))
    );

    let account = b.add_sim_account(&client, &csrf, "Demo", KEY).await;
    assert_eq!(account["active"], true);
    assert_eq!(account["environment"], "sim");
    assert_eq!(account["key_hint"], "AB12");
    assert!(account.get("key_id").is_none() && account.get("secret_key").is_none());

    let (status, acct) = b
        .json(&client, Method::GET, "/api/account", None, &csrf)
        .await;
    assert_eq!(status, StatusCode::OK, "{acct}");
    assert_eq!(acct["cash"], "100000");
    assert!(acct["equity"].is_string() && acct["buying_power"].is_string());
    assert_eq!(acct["pattern_day_trader"], false);
    let (_, positions) = b
        .json(&client, Method::GET, "/api/positions", None, &csrf)
        .await;
    assert_eq!(positions["positions"], json!([]));
    let (_, before) = b
        .json(
            &client,
            Method::GET,
            "/api/portfolio-history?period=1D",
            None,
            &csrf,
        )
        .await;
    assert_eq!(before["timeframe"], "15Min");

    let (status, order) = b
        .json(
            &client,
            Method::POST,
            "/api/orders",
            Some(json!({"symbol": "aapl", "side": "buy", "type": "market", "time_in_force": "day", "qty": "3"})),
            &csrf,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["symbol"], "AAPL");
    let id = order["id"].as_str().unwrap().to_owned();
    let (_, got) = b
        .json(
            &client,
            Method::GET,
            &format!("/api/orders/{id}"),
            None,
            &csrf,
        )
        .await;
    assert_eq!(got["status"], "filled");
    assert_eq!(got["filled_qty"], "3");
    let (_, positions) = b
        .json(&client, Method::GET, "/api/positions", None, &csrf)
        .await;
    assert_eq!(positions["positions"][0]["symbol"], "AAPL");
    assert_eq!(positions["positions"][0]["qty"], "3");
    let (_, fills) = b
        .json(
            &client,
            Method::GET,
            "/api/activities?types=FILL",
            None,
            &csrf,
        )
        .await;
    assert_eq!(fills["fills"][0]["order_id"], id.as_str());

    // Prices move; then the position is closed.
    b.sim.control().advance_clock(chrono::Duration::minutes(90));
    let (status, closing) = b
        .json(&client, Method::DELETE, "/api/positions/AAPL", None, &csrf)
        .await;
    assert_eq!(status, StatusCode::OK, "{closing}");
    assert_eq!(closing["side"], "sell");
    let (_, positions) = b
        .json(&client, Method::GET, "/api/positions", None, &csrf)
        .await;
    assert_eq!(positions["positions"], json!([]));
    let (_, after) = b
        .json(
            &client,
            Method::GET,
            "/api/portfolio-history?period=1D",
            None,
            &csrf,
        )
        .await;
    assert_ne!(before["equity"], after["equity"], "the equity curve moved");
    let (_, all) = b
        .json(&client, Method::GET, "/api/orders?status=all", None, &csrf)
        .await;
    assert_eq!(all["orders"].as_array().unwrap().len(), 2);

    // Audited without keys or order bodies.
    let events = b.app.audit_events(None);
    for e in [
        "trading_account_added",
        "order_submitted",
        "position_closed",
    ] {
        assert!(events.contains(&e.to_owned()), "{e}: {events:?}");
    }
}

/// An order placed while the page is open reaches its stream as an `order`
/// event and a `fill`, from the broker's own answer, without a reload; a
/// second user's stream hears nothing of it.
async fn orders_and_fills_reach_the_open_page(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    let (bob, _) = b.user("bob").await;
    b.add_sim_account(&client, &csrf, "Demo", KEY).await;
    let url = b.app.url("/api/events");
    let mut page = crate::events::Stream::open(&client, url.clone(), None).await;
    let mut bobs = crate::events::Stream::open(&bob, url, None).await;
    // The first look at the account is the baseline.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, order) = b
        .json(
            &client,
            Method::POST,
            "/api/orders",
            Some(json!({"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day", "qty": "2"})),
            &csrf,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_str().unwrap();
    let (mut changed, mut filled) = (None, None);
    while changed.is_none() || filled.is_none() {
        let Some(m) = page.next(Duration::from_secs(5)).await else {
            panic!("the order's events never came");
        };
        match m.event.as_str() {
            "order" => changed = Some(m.data),
            "fill" => filled = Some(m.data),
            _ => {}
        }
    }
    let (changed, filled) = (changed.unwrap(), filled.unwrap());
    assert_eq!(changed["order"]["id"], id);
    assert_eq!(changed["order"]["status"], "filled");
    assert_eq!(
        (
            filled["order_id"].as_str(),
            filled["symbol"].as_str(),
            filled["qty"].as_str()
        ),
        (Some(id), Some("AAPL"), Some("2"))
    );
    assert!(filled["price"].is_string());
    assert!(bobs.next(Duration::from_millis(800)).await.is_none());
}

/// Broker failures answer 502, 504 and 503 (with Retry-After) in the
/// envelope; a GET is tried at most 3 times; an order accepted and then
/// timed out exists exactly once.
async fn broker_faults_are_answered_clearly(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    b.add_sim_account(&client, &csrf, "Demo", KEY).await;
    b.sim.control().clear_requests();

    b.sim.control().set_fault(Fault::ErrorNext {
        status: 500,
        count: 10,
    });
    let res = b.app.get(&client, "/api/account").await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::BAD_GATEWAY, "broker_error".to_owned())
    );
    assert_eq!(b.calls("GET", "/v2/account"), 3, "tried at most 3 times");
    b.sim.control().clear_faults();

    b.sim.control().set_fault(Fault::Hang);
    let res = b.app.get(&client, "/api/positions").await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::GATEWAY_TIMEOUT, "broker_timeout".to_owned())
    );
    b.sim.control().clear_faults();

    b.sim.control().set_fault(Fault::RateLimitStorm);
    let res = b.app.get(&client, "/api/clock").await;
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    assert!(headers.contains_key("retry-after"), "{text}");
    let res = b.app.get(&client, "/api/clock").await;
    assert_eq!(
        error_code(res).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_rate_limited".to_owned()
        )
    );
    b.sim.control().clear_faults();

    // Accepted, then the answer comes after the try's deadline.
    b.sim.control().set_fault(Fault::DelayResponse {
        millis: 1500,
        method: Some("POST".to_owned()),
        path: Some("/v2/orders".to_owned()),
        count: Some(1),
    });
    let (status, order) = b
        .json(
            &client,
            Method::POST,
            "/api/orders",
            Some(json!({"symbol": "MSFT", "side": "buy", "type": "market", "time_in_force": "day", "qty": "1"})),
            &csrf,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    b.sim.control().clear_fault(FaultKind::DelayResponse);
    let (_, all) = b
        .json(
            &client,
            Method::GET,
            "/api/orders?status=all&symbols=MSFT",
            None,
            &csrf,
        )
        .await;
    assert_eq!(
        all["orders"].as_array().unwrap().len(),
        1,
        "exactly one order: {all}"
    );
    assert!(
        b.calls("POST", "/v2/orders") >= 2,
        "the order was sent again"
    );

    // A script's own client_order_id sent twice: 409 with the existing order.
    let body = json!({"symbol": "MSFT", "side": "buy", "type": "market", "time_in_force": "day", "qty": "1", "client_order_id": "my-script-0001"});
    let (first, placed) = b
        .json(
            &client,
            Method::POST,
            "/api/orders",
            Some(body.clone()),
            &csrf,
        )
        .await;
    assert_eq!(first, StatusCode::CREATED);
    let (second, dup) = b
        .json(&client, Method::POST, "/api/orders", Some(body), &csrf)
        .await;
    assert_eq!(second, StatusCode::CONFLICT, "{dup}");
    assert_eq!(dup["order"]["id"], placed["id"]);
}

/// Identical concurrent reads of one account share one broker call.
async fn concurrent_reads_share_one_broker_call(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    b.add_sim_account(&client, &csrf, "Demo", KEY).await;
    b.sim.control().clear_requests();
    let answers =
        futures_util::future::join_all((0..20).map(|_| b.app.get(&client, "/api/account"))).await;
    for res in answers {
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(b.calls("GET", "/v2/account"), 1);
}

/// Keys are sealed: a dump of the database, the API's answers, the audit
/// log and the log hold neither the key id nor the secret.
async fn keys_never_leave_sealed(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    b.add_sim_account(&client, &csrf, "Demo", KEY).await;
    let listed = b
        .app
        .get(&client, "/api/accounts")
        .await
        .text()
        .await
        .unwrap();
    let audit = b.app.get(&client, "/api/audit").await.text().await.unwrap();
    let dump = match backend {
        Backend::Sqlite => {
            let url = b.app.db.url_string();
            let path = url.trim_start_matches("sqlite://");
            let out = std::process::Command::new("sqlite3")
                .arg(path)
                .arg(".dump")
                .output();
            match out {
                Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
                // Without the sqlite3 tool, the raw file (and its WAL) says the same.
                _ => {
                    let mut bytes = std::fs::read(path).unwrap();
                    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
                    String::from_utf8_lossy(&bytes).into_owned()
                }
            }
        }
        Backend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg(b.app.db.url_string())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    assert!(dump.contains("trading_accounts"), "the dump has the table");
    for text in [&listed, &audit, &dump] {
        assert!(!text.contains(KEY), "the key id leaked");
        assert!(!text.contains(SECRET), "the secret leaked");
    }
    assert!(
        b.app
            .log_text()
            .lines()
            .all(|l| !l.contains(KEY) && !l.contains(SECRET))
    );
}

/// User B gets 404 for everything of A's.
async fn another_users_account_is_not_found(backend: Backend) {
    let b = Broker::start(backend).await;
    let (alice, alice_csrf) = b.user("alice").await;
    let account = b.add_sim_account(&alice, &alice_csrf, "Demo", KEY).await;
    let id = account["id"].as_i64().unwrap();
    let (bob, bob_csrf) = b.user("bob").await;
    let order = json!({"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day", "qty": "1"});
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/account?account={id}"), None),
        (Method::GET, format!("/api/positions?account={id}"), None),
        (Method::GET, format!("/api/orders?account={id}"), None),
        (
            Method::PUT,
            format!("/api/accounts/{id}"),
            Some(json!({"name": "mine now"})),
        ),
        (Method::POST, format!("/api/accounts/{id}/activate"), None),
        (Method::DELETE, format!("/api/accounts/{id}"), None),
        (
            Method::POST,
            format!("/api/orders?account={id}"),
            Some(order),
        ),
        (
            Method::DELETE,
            format!("/api/positions/AAPL?account={id}"),
            None,
        ),
        (Method::DELETE, format!("/api/orders?account={id}"), None),
    ];
    for (method, path, body) in calls {
        let res = b
            .app
            .send(&bob, method.clone(), &path, body, Some(&bob_csrf))
            .await;
        assert_eq!(
            error_code(res).await,
            (StatusCode::NOT_FOUND, "not_found".to_owned()),
            "{method} {path}"
        );
    }
    let (_, listed) = b
        .json(&bob, Method::GET, "/api/accounts", None, &bob_csrf)
        .await;
    assert_eq!(listed["accounts"], json!([]));
    let (_, mine) = b
        .json(&alice, Method::GET, "/api/accounts", None, &alice_csrf)
        .await;
    assert_eq!(mine["accounts"][0]["name"], "Demo");
}

/// Wrong keys answer 400 naming the likely cause and store nothing; paper
/// keys sent as live say so (a second simulator in live mode).
async fn wrong_keys_are_refused_and_nothing_is_stored(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    b.add_sim_account(&client, &csrf, "First", KEY).await;
    app_secret(&b, "the-wrong-secret-0001");
    let res = b
        .app
        .post(
            &client,
            "/api/accounts",
            json!({"name": "Again", "environment": "sim", "key_id": KEY, "secret_key": "the-wrong-secret-0001"}),
            Some(&csrf),
        )
        .await;
    let (status, body) = (res.status(), res.json::<Value>().await.unwrap());
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "broker_keys_rejected");
    let (_, listed) = b
        .json(&client, Method::GET, "/api/accounts", None, &csrf)
        .await;
    assert_eq!(listed["accounts"].as_array().unwrap().len(), 1);

    // Live keys need 2FA, a fresh confirmation and confirm_live.
    let (client, csrf, _) = {
        let c = b.app.client();
        let (csrf, secret, codes) = enable_2fa(&b.app, &c, "alice").await;
        let _ = (secret, codes);
        (c, csrf, ())
    };
    let res = b
        .app
        .post(
            &client,
            "/api/accounts",
            json!({"name": "Live", "environment": "live", "key_id": KEY, "secret_key": SECRET}),
            Some(&csrf),
        )
        .await;
    assert_eq!(
        error_code(res).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed".to_owned()
        )
    );
    let res = b
        .app
        .post(
            &client,
            "/api/accounts",
            json!({"name": "Live", "environment": "live", "key_id": KEY, "secret_key": SECRET, "confirm_live": true}),
            Some(&csrf),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "broker_keys_rejected", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("live"),
        "{body}"
    );
    let (_, listed) = b
        .json(&client, Method::GET, "/api/accounts", None, &csrf)
        .await;
    assert_eq!(
        listed["accounts"].as_array().unwrap().len(),
        1,
        "nothing stored"
    );
}

fn app_secret(b: &Broker, s: &str) {
    b.app.secret(s);
}

/// A read token cannot place, cancel or close; a trade token can on sim
/// accounts, and on a live account only when made with `live`.
async fn token_scopes_gate_trading(backend: Backend) {
    let b = Broker::start(backend).await;
    b.app.create_user("alice", Role::User);
    let client = b.app.client();
    let (csrf, _, _) = enable_2fa(&b.app, &client, "alice").await;
    // Tokens' `iat` is checked against the system clock: bring the test
    // clock back from the step enable_2fa took.
    b.app.clock.advance(chrono::Duration::seconds(-30));
    b.add_sim_account(&client, &csrf, "Demo", KEY).await;
    let order = json!({"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day", "qty": "1"});

    let (_, read) = b.app.create_token(&client, &csrf, "read").await;
    let res = b.app.bearer(Method::GET, "/api/account", &read, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    for (method, path, body) in [
        (Method::POST, "/api/orders", Some(order.clone())),
        (Method::DELETE, "/api/orders", None),
        (Method::DELETE, "/api/positions/AAPL", None),
        (Method::DELETE, "/api/positions", None),
    ] {
        let res = b.app.bearer(method.clone(), path, &read, body).await;
        assert_eq!(
            error_code(res).await,
            (StatusCode::FORBIDDEN, "insufficient_scope".to_owned()),
            "{method} {path}"
        );
    }
    let (_, trade) = b.app.create_token(&client, &csrf, "trade").await;
    let res = b
        .app
        .bearer(Method::POST, "/api/orders", &trade, Some(order.clone()))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // A live account (AK keys on the live-mode simulator).
    let res = b
        .app
        .post(
            &client,
            "/api/accounts",
            json!({"name": "Live", "environment": "live", "key_id": LIVE_KEY, "secret_key": LIVE_SECRET, "confirm_live": true}),
            Some(&csrf),
        )
        .await;
    let live: Value = res.json().await.unwrap();
    let live_id = live["id"].as_i64().unwrap();
    let mut live_order = order.clone();
    live_order["confirm"] = json!(true);
    let path = format!("/api/orders?account={live_id}");
    let res = b
        .app
        .bearer(Method::POST, &path, &trade, Some(live_order.clone()))
        .await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::FORBIDDEN, "insufficient_scope".to_owned())
    );
    // Without confirm, even a session is refused on live.
    let res = b.app.post(&client, &path, order.clone(), Some(&csrf)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A live trade token (made after a fresh confirmation) may.
    let res = b
        .app
        .post(
            &client,
            "/api/auth/reauth",
            json!({"password": PASSWORD}),
            Some(&csrf),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let res = b
        .app
        .post(
            &client,
            "/api/tokens",
            json!({"name": "live script", "scopes": ["trade"], "expires_in_days": 7, "live": true}),
            Some(&csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let live_token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    b.app.secret(live_token.clone());
    let res = b
        .app
        .bearer(Method::POST, &path, &live_token, Some(live_order))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(
        b.live
            .control()
            .request_count(LIVE_KEY, "POST", "/v2/orders"),
        1
    );
}

/// A broker 401 on a signed-in request is a 400 and never ends the
/// browser's session; the account is marked not verified.
async fn a_broker_401_keeps_the_session(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    b.add_sim_account(&client, &csrf, "Demo", KEY).await;
    b.sim.control().set_fault(Fault::ErrorNext {
        status: 401,
        count: 5,
    });
    let res = b.app.get(&client, "/api/positions").await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::BAD_REQUEST, "broker_keys_rejected".to_owned())
    );
    b.sim.control().clear_faults();
    let me = b.app.get(&client, "/api/auth/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    // The mark is written in the background.
    for _ in 0..50 {
        let (_, listed) = b
            .json(&client, Method::GET, "/api/accounts", None, &csrf)
            .await;
        if listed["accounts"][0]["verified"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, listed) = b
        .json(&client, Method::GET, "/api/accounts", None, &csrf)
        .await;
    assert_eq!(
        listed["accounts"][0]["verified"], false,
        "marked unverified"
    );
    // The keys work again: the next account read marks them verified.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        b.app.get(&client, "/api/account").await.status(),
        StatusCode::OK
    );
    for _ in 0..50 {
        let (_, listed) = b
            .json(&client, Method::GET, "/api/accounts", None, &csrf)
            .await;
        if listed["accounts"][0]["verified"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the account was not marked verified again");
}

/// An order whose answer never comes: 504 naming the client_order_id to
/// look for (never "try again"), and the order placed exactly once.
async fn an_unconfirmed_order_names_its_client_order_id(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    b.add_sim_account(&client, &csrf, "Demo", KEY).await;
    b.sim.control().set_fault(Fault::DelayResponse {
        millis: 5000,
        method: Some("POST".to_owned()),
        path: Some("/v2/orders".to_owned()),
        count: None,
    });
    let (status, body) = b
        .json(
            &client,
            Method::POST,
            "/api/orders",
            Some(json!({"symbol": "TSLA", "side": "buy", "type": "market", "time_in_force": "day", "qty": "2"})),
            &csrf,
        )
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    let id = body["error"]["fields"]["client_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(body["error"]["message"].as_str().unwrap().contains(&id));
    b.sim.control().clear_faults();
    let (_, all) = b
        .json(
            &client,
            Method::GET,
            "/api/orders?status=all&symbols=TSLA",
            None,
            &csrf,
        )
        .await;
    let orders = all["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{all}");
    assert_eq!(orders[0]["client_order_id"], id.as_str());
}

/// Two first accounts added at once: both stored, exactly one active; a
/// double-clicked activate and a delete of the active one leave exactly one
/// active.
async fn exactly_one_account_stays_active(backend: Backend) {
    let b = Broker::start(backend).await;
    let (client, csrf) = b.user("alice").await;
    let (one, two) = tokio::join!(
        b.app.post(
            &client,
            "/api/accounts",
            json!({"name": "One", "environment": "sim", "key_id": KEY, "secret_key": SECRET}),
            Some(&csrf)
        ),
        b.app.post(
            &client,
            "/api/accounts",
            json!({"name": "Two", "environment": "sim", "key_id": KEY, "secret_key": SECRET}),
            Some(&csrf)
        ),
    );
    assert_eq!(
        (one.status(), two.status()),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let active = |listed: &Value| {
        listed["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["active"] == true)
            .map(|a| a["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let (_, listed) = b
        .json(&client, Method::GET, "/api/accounts", None, &csrf)
        .await;
    let ids: Vec<i64> = listed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(active(&listed).len(), 1, "{listed}");
    let inactive = *ids.iter().find(|id| !active(&listed).contains(id)).unwrap();
    let path = format!("/api/accounts/{inactive}/activate");
    let (x, y) = tokio::join!(
        b.app.send(&client, Method::POST, &path, None, Some(&csrf)),
        b.app.send(&client, Method::POST, &path, None, Some(&csrf)),
    );
    assert_eq!((x.status(), y.status()), (StatusCode::OK, StatusCode::OK));
    let (_, listed) = b
        .json(&client, Method::GET, "/api/accounts", None, &csrf)
        .await;
    assert_eq!(active(&listed), vec![inactive]);
    let res = b
        .app
        .send(
            &client,
            Method::DELETE,
            &format!("/api/accounts/{inactive}"),
            None,
            Some(&csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (_, listed) = b
        .json(&client, Method::GET, "/api/accounts", None, &csrf)
        .await;
    assert_eq!(
        active(&listed).len(),
        1,
        "the other account became active: {listed}"
    );
}

crate::api_tests!(
    a_user_trades_on_a_sim_account,
    orders_and_fills_reach_the_open_page,
    broker_faults_are_answered_clearly,
    concurrent_reads_share_one_broker_call,
    keys_never_leave_sealed,
    another_users_account_is_not_found,
    wrong_keys_are_refused_and_nothing_is_stored,
    token_scopes_gate_trading,
    a_broker_401_keeps_the_session,
    an_unconfirmed_order_names_its_client_order_id,
    exactly_one_account_stays_active,
);
