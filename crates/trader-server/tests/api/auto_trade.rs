//! Auto-trade against alpaca-sim with a pinned clock: dry run, orders
//! placed once (a repeated pass, two servers), the kill switch (also
//! against a pass already sending), each guardrail, its own account, stale
//! bars, who may raise the risk, and `run-once`.

use std::time::Duration;

use alpaca_sim::{Fault, Mode, SimHandle};
use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::{Role, UserId};
use trader_db::Backend;

use crate::support::{TestApp, error_code};
use crate::two_factor::enable_2fa;

const KEY: &str = "PKAUTOTRADETEST00001";
const OTHER_KEY: &str = "PKAUTOTRADETEST00002";
const SECRET: &str = "auto-trade-test-secret-01";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Wednesday 10 July 2024, 10:00 in New York: the market is open, the
/// last closed daily bar is Tuesday's.
fn wednesday_10am() -> DateTime<Utc> {
    at("2024-07-10T14:00:00Z")
}

/// The same day at 08:00, before the open: market orders wait (stay open).
fn wednesday_8am() -> DateTime<Utc> {
    at("2024-07-10T12:00:00Z")
}

/// RSI alone, with thresholds that make every symbol a BUY (or a SELL).
fn rules(action: &str) -> Value {
    let (oversold, overbought) = if action == "buy" {
        (99.0, 99.9)
    } else {
        (0.1, 0.2)
    };
    json!({
        "indicators": {
            "rsi": {"enabled": true, "period": 14, "oversold": oversold, "overbought": overbought},
            "sma_crossover": {"enabled": false},
            "macd": {"enabled": false},
            "bollinger_bands": {"enabled": false}
        },
        "signal": {"mode": "any"},
        "schedule": {"enabled": true, "interval_minutes": 5, "market_hours_only": false},
    })
}

struct Trader {
    app: TestApp,
    sim: SimHandle,
    client: Client,
    csrf: String,
    user: UserId,
    account: i64,
}

impl Trader {
    async fn start(backend: Backend, clock: DateTime<Utc>) -> Self {
        Self::start_with(backend, clock, |_| {}).await
    }

    async fn start_with(
        backend: Backend,
        clock: DateTime<Utc>,
        configure: impl FnOnce(&mut trader_server::settings::Settings),
    ) -> Self {
        let sim = crate::support::pinned_sim(clock, Mode::Paper).await;
        // A stock that trades only in whole shares and cannot be shorted.
        sim.control()
            .add_asset(alpaca_sim::Asset {
                fractionable: false,
                shortable: false,
                easy_to_borrow: false,
                ..alpaca_sim::Asset::new("WHOLE", "Whole Shares Only Inc.", "NYSE")
            })
            .unwrap();
        let url = sim.base_url();
        let app = TestApp::spawn_with(backend, move |s| {
            s.broker_urls.sim = Some(url);
            configure(s);
        })
        .await;
        app.secret(KEY);
        app.secret(OTHER_KEY);
        app.secret(SECRET);
        let user = app.create_user("alice", Role::User);
        let client = app.client();
        let (csrf, _, _) = enable_2fa(&app, &client, "alice").await;
        // Tokens' `iat` is checked against the system clock: bring the
        // test clock back from the step enable_2fa took.
        app.clock.advance(chrono::Duration::seconds(-30));
        let mut t = Self {
            app,
            sim,
            client,
            csrf,
            user,
            account: 0,
        };
        t.account = t.add_account("Auto", KEY).await;
        t
    }

    async fn add_account(&self, name: &str, key: &str) -> i64 {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/accounts",
                Some(json!({"name": name, "environment": "sim", "key_id": key, "secret_key": SECRET})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let res = self
            .app
            .send(&self.client, method, path, body, Some(&self.csrf))
            .await;
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn watch(&self, symbols: &[&str]) {
        for symbol in symbols {
            let (status, body) = self
                .call(
                    Method::POST,
                    "/api/watchlist",
                    Some(json!({"symbol": symbol})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{symbol}: {body}");
        }
    }

    /// PATCHes the settings; answers the new settings.
    async fn settings(&self, patch: Value) -> Value {
        let (status, body) = self
            .call(Method::PATCH, "/api/indicators", Some(patch))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Rules that give `action` everywhere, auto-trade on this account.
    async fn trade(&self, action: &str, dry_run: bool) {
        let mut patch = rules(action);
        patch["auto_trade"] = json!({
            "enabled": true, "account_id": self.account, "dry_run": dry_run,
            "max_order_notional": 10000.0, "max_orders_per_day": 50, "max_daily_loss_pct": 5.0,
        });
        self.settings(patch).await;
    }

    async fn pass(&self, now: DateTime<Utc>) -> trader_server::services::scheduler::PassReport {
        trader_server::services::scheduler::run_pass(&self.app.state, "test", now)
            .await
            .unwrap()
    }

    /// The decision log, newest first.
    async fn log(&self) -> Vec<Value> {
        let (status, body) = self
            .call(Method::GET, "/api/auto-trade/log?limit=500", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["decisions"].as_array().unwrap().clone()
    }

    /// The latest decision for `symbol`.
    async fn decision(&self, symbol: &str) -> Value {
        self.log()
            .await
            .into_iter()
            .find(|d| d["symbol"] == symbol)
            .unwrap_or_else(|| panic!("no decision for {symbol}"))
    }

    /// Every order at the simulator for `key`, as Alpaca lists them.
    async fn sim_orders(&self, key: &str) -> Vec<Value> {
        reqwest::Client::new()
            .get(format!(
                "{}/v2/orders?status=all&limit=500",
                self.sim.base_url()
            ))
            .header("APCA-API-KEY-ID", key)
            .header("APCA-API-SECRET-KEY", SECRET)
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
    }

    fn posted(&self, key: &str) -> u64 {
        self.sim.control().request_count(key, "POST", "/v2/orders")
    }
}

fn symbols_of(orders: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = orders
        .iter()
        .map(|o| o["symbol"].as_str().unwrap().to_owned())
        .collect();
    s.sort();
    s
}

/// Dry run records and sends nothing; with dry run off the orders are
/// placed once (notional when fractionable, whole shares otherwise); a
/// repeated pass and two servers at once place none twice.
async fn orders_are_placed_once(backend: Backend) {
    let t = Trader::start(backend, wednesday_10am()).await;
    t.watch(&["AAPL", "MSFT", "WHOLE"]).await;
    t.trade("buy", true).await;
    let now = wednesday_10am();

    let report = t.pass(now).await;
    assert_eq!(report.decisions, 3, "{report:?}");
    assert_eq!(report.orders_placed, 0);
    assert_eq!(t.posted(KEY), 0, "a dry run sends nothing");
    let log = t.log().await;
    assert_eq!(log.len(), 3);
    for d in &log {
        assert_eq!(d["outcome"], "dry_run", "{d}");
        assert!(
            d["reason"]
                .as_str()
                .unwrap()
                .starts_with("dry run: would buy"),
            "{d}"
        );
        assert!(d["order_id"].is_null());
    }
    let aapl = t.decision("AAPL").await;
    assert_eq!(aapl["notional"], "5000.00", "5% of $100,000: {aapl}");
    let whole = t.decision("WHOLE").await;
    assert!(whole["notional"].is_null(), "{whole}");
    let qty: u64 = whole["qty"].as_str().unwrap().parse().unwrap();
    assert!(qty >= 1, "{whole}");

    // Dry run off: the same (still fresh) bar is traded, once.
    t.settings(json!({"auto_trade": {"dry_run": false}})).await;
    let later = now + chrono::Duration::minutes(6);
    let report = t.pass(later).await;
    assert_eq!(report.orders_placed, 3, "{report:?}");
    assert_eq!(t.posted(KEY), 3);
    let orders = t.sim_orders(KEY).await;
    assert_eq!(symbols_of(&orders), ["AAPL", "MSFT", "WHOLE"]);
    for o in &orders {
        let coid = o["client_order_id"].as_str().unwrap();
        assert!(coid.starts_with("at-") && coid.len() == 48, "{o}");
        let d = t.decision(o["symbol"].as_str().unwrap()).await;
        assert_eq!(d["outcome"], "placed", "{d}");
        assert_eq!(d["order_id"], o["id"]);
        assert_eq!(d["client_order_id"], o["client_order_id"]);
    }
    let whole_order = orders.iter().find(|o| o["symbol"] == "WHOLE").unwrap();
    assert_eq!(
        whole_order["qty"],
        json!(qty.to_string()),
        "whole shares: {whole_order}"
    );
    assert!(whole_order["notional"].is_null());
    let aapl_order = orders.iter().find(|o| o["symbol"] == "AAPL").unwrap();
    assert_eq!(aapl_order["notional"], "5000", "{aapl_order}");
    assert_eq!(
        t.app
            .audit_events(Some(t.user))
            .iter()
            .filter(|e| *e == "auto_trade_order_placed")
            .count(),
        3
    );

    // A repeated pass on the same bar places nothing.
    let report = t.pass(later + chrono::Duration::minutes(6)).await;
    assert_eq!(report.orders_placed, 0, "{report:?}");
    assert_eq!(t.posted(KEY), 3);

    // Two servers running the same pass at once: each order once.
    t.watch(&["TSLA", "NVDA", "AMD"]).await;
    let (_, handle, _dir, second) = t.app.second_instance_state().await;
    let when = later + chrono::Duration::minutes(12);
    let (a, b) = tokio::join!(
        trader_server::services::scheduler::run_pass(&t.app.state, "a", when),
        trader_server::services::scheduler::run_pass(&second, "b", when),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.orders_placed + b.orders_placed, 3, "{a:?} {b:?}");
    let orders = t.sim_orders(KEY).await;
    assert_eq!(
        symbols_of(&orders),
        ["AAPL", "AMD", "MSFT", "NVDA", "TSLA", "WHOLE"],
        "one order per symbol"
    );
    drop(handle.stop(false));
}

/// The kill switch saves "off", cancels the open orders auto-trade sent
/// (never the user's own), and no order follows it, even from a pass that
/// was sending one as it was pressed. A trade token may press it.
async fn the_kill_switch_wins(backend: Backend) {
    let t = Trader::start(backend, wednesday_8am()).await;
    t.watch(&["AAPL", "MSFT"]).await;
    t.trade("buy", false).await;
    // The user's own order, which the kill switch must leave alone.
    let (status, own) = t
        .call(
            Method::POST,
            "/api/orders",
            Some(json!({"symbol": "TSLA", "side": "buy", "type": "market", "time_in_force": "day", "qty": "1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let report = t.pass(wednesday_8am()).await;
    assert_eq!(report.orders_placed, 2, "{report:?}");
    let open = |orders: &[Value]| -> Vec<String> {
        let mut s: Vec<String> = orders
            .iter()
            .filter(|o| matches!(o["status"].as_str(), Some("accepted" | "new")))
            .map(|o| o["symbol"].as_str().unwrap().to_owned())
            .collect();
        s.sort();
        s
    };
    assert_eq!(open(&t.sim_orders(KEY).await), ["AAPL", "MSFT", "TSLA"]);

    let (_, trade) = t.app.create_token(&t.client, &t.csrf, "trade").await;
    let res = t
        .app
        .bearer(Method::POST, "/api/auto-trade/stop", &trade, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let stopped: Value = res.json().await.unwrap();
    assert_eq!(stopped["enabled"], false);
    assert_eq!(stopped["was_enabled"], true);
    assert_eq!(stopped["account_id"], t.account);
    assert_eq!(
        stopped["cancelled"].as_array().unwrap().len(),
        2,
        "{stopped}"
    );
    assert_eq!(stopped["failed"], json!([]));
    assert_eq!(
        open(&t.sim_orders(KEY).await),
        ["TSLA"],
        "the user's own order stays"
    );
    let (_, settings) = t.call(Method::GET, "/api/indicators", None).await;
    assert_eq!(settings["auto_trade"]["enabled"], false);
    assert_eq!(t.decision("AAPL").await["outcome"], "cancelled");
    assert!(
        t.app
            .audit_events(Some(t.user))
            .contains(&"auto_trade_stopped".to_owned())
    );
    // Off means off: a pass places nothing.
    let posted = t.posted(KEY);
    let report = t.pass(wednesday_8am() + chrono::Duration::minutes(6)).await;
    assert_eq!(report.orders_placed, 0);
    assert_eq!(t.posted(KEY), posted);

    // Pressed while a pass is sending: every broker call is slow, the
    // switch is pressed once an order is claimed, and nothing stands.
    t.watch(&["NVDA", "AMD", "INTC"]).await;
    t.trade("buy", false).await;
    t.sim.control().set_fault(Fault::Latency { millis: 700 });
    let state = t.app.state.clone();
    let when = wednesday_8am() + chrono::Duration::minutes(12);
    let running = tokio::spawn(async move {
        trader_server::services::scheduler::run_pass(&state, "slow", when)
            .await
            .unwrap()
    });
    let claimed = async {
        loop {
            let mut conn = t.app.db.conn();
            let rows = trader_db::auto_trade::list(
                &mut conn,
                t.user,
                &trader_db::auto_trade::LogQuery {
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
            if rows
                .iter()
                .any(|d| d.outcome == trader_db::auto_trade::Outcome::Submitting)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(30), claimed)
            .await
            .is_ok(),
        "the pass claims an order"
    );
    let (status, stopped) = t.call(Method::POST, "/api/auto-trade/stop", None).await;
    assert_eq!(status, StatusCode::OK, "{stopped}");
    let report = running.await.unwrap();
    t.sim.control().clear_faults();
    assert!(report.orders_placed <= 1, "{report:?}");
    assert_eq!(
        open(&t.sim_orders(KEY).await),
        ["TSLA"],
        "the order in flight was cancelled and no other was sent"
    );
    assert_eq!(
        t.posted(KEY),
        posted + 1,
        "one order was in flight, none after"
    );
    let log = t.log().await;
    let in_flight: Vec<&Value> = log
        .iter()
        .filter(|d| ["NVDA", "AMD", "INTC"].contains(&d["symbol"].as_str().unwrap()))
        .collect();
    assert_eq!(in_flight.len(), 1, "{log:?}");
    assert_eq!(in_flight[0]["outcome"], "cancelled", "{}", in_flight[0]);
}

/// Each guardrail stops the order it should: max_order_notional,
/// max_orders_per_day, max_positions and max_daily_loss_pct.
async fn guardrails_stop_orders(backend: Backend) {
    let t = Trader::start(backend, wednesday_10am()).await;
    t.watch(&["AAPL", "MSFT", "TSLA"]).await;
    t.trade("buy", false).await;
    let mut now = wednesday_10am();
    let mut next = || {
        now += chrono::Duration::minutes(6);
        now
    };
    let reasons = |log: &[Value]| -> Vec<String> {
        log.iter()
            .map(|d| format!("{} {} {}", d["symbol"], d["outcome"], d["reason"]))
            .collect()
    };

    // $5,000 per position is above a $4,000 limit: nothing is sent.
    t.settings(json!({"auto_trade": {"max_order_notional": 4000.0}}))
        .await;
    t.pass(next()).await;
    assert_eq!(t.posted(KEY), 0);
    let log = t.log().await;
    assert!(
        log.iter().all(|d| d["outcome"] == "skipped"
            && d["reason"].as_str().unwrap().contains("max_order_notional")),
        "{:?}",
        reasons(&log)
    );

    // One order a day: the first is sent, the others wait.
    t.settings(json!({"auto_trade": {"max_order_notional": 10000.0, "max_orders_per_day": 1}}))
        .await;
    let r = t.pass(next()).await;
    assert_eq!(r.orders_placed, 1, "{r:?}");
    assert_eq!(t.posted(KEY), 1);
    let log = t.log().await;
    assert_eq!(
        log.iter()
            .filter(|d| d["reason"]
                .as_str()
                .unwrap()
                .contains("max_orders_per_day is 1"))
            .count(),
        2,
        "{:?}",
        reasons(&log)
    );

    // Two positions at most: one more is sent, the third waits.
    t.settings(
        json!({"auto_trade": {"max_orders_per_day": 10}, "execution": {"max_positions": 2}}),
    )
    .await;
    let r = t.pass(next()).await;
    assert_eq!(r.orders_placed, 1, "{r:?}");
    assert_eq!(t.posted(KEY), 2);
    let waiting: Vec<Value> = t
        .log()
        .await
        .into_iter()
        .filter(|d| d["outcome"] == "skipped")
        .collect();
    assert_eq!(waiting.len(), 1);
    assert!(
        waiting[0]["reason"]
            .as_str()
            .unwrap()
            .contains("reach max_positions 2"),
        "{}",
        waiting[0]
    );
    let last = waiting[0]["symbol"].as_str().unwrap().to_owned();

    // A losing day: a large position of the user's own, then the minute
    // its price has fallen enough for the day's P&L to pass -0.1%.
    let (status, body) = t
        .call(
            Method::POST,
            "/api/orders",
            Some(json!({"symbol": "SPY", "side": "buy", "type": "market", "time_in_force": "day", "notional": "80000"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let account = |t: &Trader| {
        let url = format!("{}/v2/account", t.sim.base_url());
        async move {
            reqwest::Client::new()
                .get(url)
                .header("APCA-API-KEY-ID", KEY)
                .header("APCA-API-SECRET-KEY", SECRET)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let num = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    let mut losing = None;
    for minute in 1..=360 {
        let when = now + chrono::Duration::minutes(minute);
        t.sim.control().set_clock(when);
        let a = account(&t).await;
        if num(&a["equity"]) < num(&a["last_equity"]) * 0.9985 {
            losing = Some(when);
            break;
        }
    }
    let Some(losing) = losing else {
        panic!("the simulated day has no dip of 0.15%")
    };
    t.settings(
        json!({"execution": {"max_positions": 10}, "auto_trade": {"max_daily_loss_pct": 0.1}}),
    )
    .await;
    let r = t.pass(losing).await;
    assert_eq!(r.orders_placed, 0, "{r:?}");
    assert_eq!(t.posted(KEY), 3, "only the user's own order since");
    let d = t.decision(&last).await;
    assert!(
        d["reason"].as_str().unwrap().contains("max_daily_loss_pct"),
        "{d}"
    );
}

/// Auto-trade keeps to its own account whatever account is active, and
/// deleting that account turns it off.
async fn auto_trade_keeps_to_its_account(backend: Backend) {
    let t = Trader::start(backend, wednesday_10am()).await;
    let other = t.add_account("Other", OTHER_KEY).await;
    t.watch(&["AAPL"]).await;
    t.trade("buy", false).await;
    let (status, body) = t
        .call(
            Method::POST,
            &format!("/api/accounts/{other}/activate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, settings) = t.call(Method::GET, "/api/indicators", None).await;
    assert_eq!(settings["auto_trade"]["account_id"], t.account);
    let r = t.pass(wednesday_10am()).await;
    assert_eq!(r.orders_placed, 1, "{r:?}");
    assert_eq!(t.posted(KEY), 1);
    assert_eq!(t.posted(OTHER_KEY), 0, "never the active account's keys");

    let (status, _) = t
        .call(
            Method::DELETE,
            &format!("/api/accounts/{}", t.account),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, settings) = t.call(Method::GET, "/api/indicators", None).await;
    assert_eq!(settings["auto_trade"]["enabled"], false, "{settings}");
    assert!(settings["auto_trade"]["account_id"].is_null());
    assert!(
        t.app
            .audit_events(Some(t.user))
            .contains(&"auto_trade_disabled".to_owned())
    );
    // Turning it on names an account of the user's.
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/indicators",
            Some(json!({"auto_trade": {"enabled": true, "account_id": t.account}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["auto_trade.account_id"].is_string());
}

/// A bar that closed more than one timeframe ago places nothing: hourly
/// bars at 09:45 after a night (the last closed bar is the day before's),
/// and daily bars when the data stopped a session ago.
async fn stale_bars_place_nothing(backend: Backend) {
    let morning = at("2024-07-10T13:45:00Z");
    // No shared reads: the broker's clock is read afresh after it moves.
    let t = Trader::start_with(backend, morning, |s| {
        s.broker.cache_ttl = std::time::Duration::ZERO;
    })
    .await;
    t.watch(&["AAPL", "MSFT"]).await;
    t.trade("buy", false).await;
    t.settings(json!({"data": {"timeframe": "1Hour", "lookback_days": 30}}))
        .await;
    let r = t.pass(morning).await;
    assert_eq!(r.orders_placed, 0, "{r:?}");
    let log = t.log().await;
    assert_eq!(log.len(), 2);
    for d in &log {
        assert_eq!(d["outcome"], "skipped");
        assert!(d["reason"].as_str().unwrap().starts_with("stale"), "{d}");
    }

    // Daily bars: the scheduler's data source stopped on Tuesday evening
    // (the broker's clock pinned there) while Wednesday's session closed.
    t.settings(json!({"data": {"timeframe": "1Day", "lookback_days": 100}}))
        .await;
    t.sim.control().set_clock(at("2024-07-11T21:00:00Z"));
    let r = t.pass(at("2024-07-11T21:00:00Z")).await;
    assert_eq!(r.orders_placed, 0, "{r:?}");
    assert_eq!(t.posted(KEY), 0);
}

/// Raising the risk takes a session with 2FA and a recent confirmation: a
/// trade token gets 403 for it, but may lower limits, turn auto-trade off
/// and press the kill switch.
async fn only_a_confirmed_session_raises_the_risk(backend: Backend) {
    let t = Trader::start(backend, wednesday_10am()).await;
    let (_, trade) = t.app.create_token(&t.client, &t.csrf, "trade").await;
    let patch = |token: &str, body: Value| {
        let app = &t.app;
        let token = token.to_owned();
        async move {
            app.bearer(Method::PATCH, "/api/indicators", &token, Some(body))
                .await
        }
    };
    let refused = |bodies: Vec<Value>| {
        let patch = &patch;
        let trade = &trade;
        async move {
            for body in bodies {
                let res = patch(trade, body.clone()).await;
                assert_eq!(
                    error_code(res).await,
                    (StatusCode::FORBIDDEN, "insufficient_scope".to_owned()),
                    "{body}"
                );
            }
        }
    };
    let account = t.account;
    refused(vec![
        json!({"auto_trade": {"enabled": true, "account_id": account}}),
        json!({"auto_trade": {"account_id": account}}),
        json!({"auto_trade": {"max_orders_per_day": 11}}),
        json!({"auto_trade": {"max_order_notional": 1000.01}}),
        json!({"auto_trade": {"max_daily_loss_pct": 3.5}}),
        json!({"auto_trade": {"dry_run": false}}),
    ])
    .await;
    let res = patch(&trade, json!({"auto_trade": {"max_orders_per_day": 5}})).await;
    assert_eq!(res.status(), StatusCode::OK, "lowering a limit is fine");

    // The session turns it on; while it is on, the token cannot size it
    // up either; it can turn it off and stop it.
    t.trade("buy", true).await;
    refused(vec![
        json!({"execution": {"position_size_pct": 6.0}}),
        json!({"execution": {"max_positions": 11}}),
        json!({"execution": {"allow_short": true}}),
    ])
    .await;
    let res = patch(&trade, json!({"auto_trade": {"enabled": false}})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = t
        .app
        .bearer(Method::POST, "/api/auto-trade/stop", &trade, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A session whose confirmation is older than 10 minutes must confirm.
    t.app.clock.advance(chrono::Duration::minutes(11));
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/indicators",
            Some(json!({"auto_trade": {"enabled": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "reauth_required");
    t.app.clock.advance(chrono::Duration::minutes(-11));

    // Without 2FA, never.
    t.app.create_user("bob", Role::User);
    let bob = t.app.client();
    let csrf = t.app.login(&bob, "bob", crate::support::PASSWORD).await;
    let res = t
        .app
        .send(
            &bob,
            Method::PATCH,
            "/api/indicators",
            Some(json!({"auto_trade": {"max_orders_per_day": 20}})),
            Some(&csrf),
        )
        .await;
    assert_eq!(
        error_code(res).await,
        (
            StatusCode::FORBIDDEN,
            "two_factor_setup_required".to_owned()
        )
    );
}

/// `alpaca-trader run-once`, as cron runs it: one pass with auto-trade
/// under the scheduler's lock, on the same database and keys.
async fn run_once_trades(backend: Backend) {
    let secret_key = trader_security::generate_secret_key();
    let encryption_key = trader_security::generate_encryption_key();
    let (sk, ek) = (secret_key.clone(), encryption_key.clone());
    let t = Trader::start_with(backend, wednesday_10am(), move |s| {
        s.secret_key =
            trader_security::SecretKey::new(trader_security::SecretString::from(sk)).unwrap();
        s.encryption_key = trader_security::EncryptionKey::from_base64(&ek).unwrap();
    })
    .await;
    t.app.secret(secret_key.clone());
    t.app.secret(encryption_key.clone());
    t.watch(&["AAPL", "MSFT"]).await;
    t.trade("buy", false).await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_alpaca-trader"))
            .args(["run-once", "--no-demo"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("APP_ENV", "development")
            .env("DATABASE_URL", t.app.db.url_string())
            .env("DATA_DIR", t.app.data_dir.path())
            .env("SECRET_KEY", &secret_key)
            .env("ENCRYPTION_KEY", &encryption_key)
            .env("ALPACA_SIM_URL", t.sim.base_url())
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 auto-trade decisions, 2 orders placed, 0 errors"),
        "{stdout}"
    );
    assert_eq!(symbols_of(&t.sim_orders(KEY).await), ["AAPL", "MSFT"]);
    // Again (not due yet, and the bar is decided): nothing more.
    let out = run();
    assert!(out.status.success());
    assert_eq!(t.posted(KEY), 2);
}

/// An order sent without an answer (the connection dropped after the
/// broker took it) is found by the kill switch under its client_order_id
/// and cancelled; the log says it may stand until then.
async fn the_kill_switch_finds_unanswered_orders(backend: Backend) {
    let t = Trader::start_with(backend, wednesday_8am(), |s| {
        s.broker = trader_alpaca::ClientConfig {
            connect_timeout: Duration::from_secs(1),
            call_timeout: Duration::from_secs(2),
            try_timeout: Duration::from_millis(500),
            max_tries: 2,
            backoff: Duration::from_millis(20),
            cache_ttl: Duration::from_secs(2),
        };
    })
    .await;
    t.watch(&["AAPL"]).await;
    t.trade("buy", false).await;
    t.sim.control().set_fault(Fault::DropResponse {
        method: Some("POST".to_owned()),
        path: Some("/v2/orders".to_owned()),
        count: None,
    });
    let r = t.pass(wednesday_8am()).await;
    t.sim.control().clear_faults();
    assert_eq!(r.orders_placed, 0, "{r:?}");
    let d = t.decision("AAPL").await;
    assert_eq!(d["outcome"], "failed", "{d}");
    assert!(d["reason"].as_str().unwrap().contains("may stand"), "{d}");
    let orders = t.sim_orders(KEY).await;
    assert_eq!(orders.len(), 1, "the broker took it once: {orders:?}");
    let (status, stopped) = t.call(Method::POST, "/api/auto-trade/stop", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stopped["cancelled"][0]["order_id"], orders[0]["id"],
        "{stopped}"
    );
    let orders = t.sim_orders(KEY).await;
    assert_eq!(orders[0]["status"], "canceled", "{orders:?}");
}

/// While auto-trade trades a live account, a trade token made without
/// `live` cannot steer it (its watchlists, its rules), only turn it off;
/// and simulated bars never size a live order.
async fn live_auto_trade_is_guarded(backend: Backend) {
    let live = crate::support::pinned_sim(wednesday_10am(), Mode::Live).await;
    let live_url = live.base_url();
    let t = Trader::start_with(backend, wednesday_10am(), move |s| {
        s.broker_urls.live = live_url.clone();
        s.broker_urls.data = live_url;
    })
    .await;
    let live_key = "AKAUTOTRADELIVE00001";
    t.app.secret(live_key);
    let (status, body) = t
        .call(
            Method::POST,
            "/api/accounts",
            Some(json!({"name": "Live", "environment": "live", "key_id": live_key, "secret_key": SECRET, "confirm_live": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let live_id = body["id"].as_i64().unwrap();
    t.watch(&["AAPL"]).await;
    let mut patch = rules("buy");
    patch["auto_trade"] = json!({"enabled": true, "account_id": live_id, "dry_run": false, "max_order_notional": 10000.0});
    t.settings(patch).await;

    let (_, trade) = t.app.create_token(&t.client, &t.csrf, "trade").await;
    let res = t
        .app
        .bearer(
            Method::POST,
            "/api/watchlist",
            &trade,
            Some(json!({"symbol": "MSFT"})),
        )
        .await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::FORBIDDEN, "insufficient_scope".to_owned())
    );
    let res = t
        .app
        .bearer(
            Method::PATCH,
            "/api/indicators",
            &trade,
            Some(json!({"indicators": {"rsi": {"period": 10}}})),
        )
        .await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::FORBIDDEN, "insufficient_scope".to_owned())
    );

    // Bars from the simulator (the operator's data source is a simulator
    // account) never size an order on the live account.
    let r = {
        let (_, handle, _dir, second) = t
            .app
            .second_instance_with(|s| {
                s.market_data = Some((
                    trader_api_types::broker::Environment::Sim,
                    trader_alpaca::BrokerKeys::new("PKOPERATORDATA000009", SECRET),
                ));
            })
            .await;
        let r = trader_server::services::scheduler::run_pass(&second, "sim-data", wednesday_10am())
            .await
            .unwrap();
        drop(handle.stop(false));
        r
    };
    assert_eq!(r.orders_placed, 0, "{r:?}");
    assert!(r.errors.iter().any(|e| e.contains("not trading")), "{r:?}");
    assert_eq!(
        live.control().request_count(live_key, "POST", "/v2/orders"),
        0
    );
    // The user sees why in the scheduler's status.
    let (_, status) = t.call(Method::GET, "/api/scheduler-status", None).await;
    assert!(
        status["you"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("not trading")),
        "{status}"
    );

    // With its own (live) data it trades; the token may turn it off.
    let r = t
        .pass(wednesday_10am() + chrono::Duration::minutes(6))
        .await;
    assert_eq!(r.orders_placed, 1, "{r:?}");
    let res = t
        .app
        .bearer(
            Method::PATCH,
            "/api/indicators",
            &trade,
            Some(json!({"auto_trade": {"enabled": false}})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = t
        .app
        .bearer(
            Method::POST,
            "/api/watchlist",
            &trade,
            Some(json!({"symbol": "MSFT"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// A SELL with nothing held opens a short only with `allow_short`, in
/// whole shares (never notional), and never for an asset the broker does
/// not lend; a SELL of a held position sells what is available.
async fn shorts_open_only_when_allowed(backend: Backend) {
    let t = Trader::start(backend, wednesday_10am()).await;
    t.watch(&["AAPL", "MSFT", "WHOLE"]).await;
    // A position of the user's own in MSFT.
    let (status, body) = t
        .call(
            Method::POST,
            "/api/orders",
            Some(json!({"symbol": "MSFT", "side": "buy", "type": "market", "time_in_force": "day", "qty": "3"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    t.trade("sell", false).await;
    let mut now = wednesday_10am();
    let r = t.pass(now).await;
    assert_eq!(r.orders_placed, 1, "only the held MSFT is sold: {r:?}");
    let msft = t.decision("MSFT").await;
    assert_eq!(
        (msft["side"].as_str(), msft["qty"].as_str()),
        (Some("sell"), Some("3")),
        "{msft}"
    );
    for symbol in ["AAPL", "WHOLE"] {
        let d = t.decision(symbol).await;
        assert!(
            d["reason"].as_str().unwrap().contains("allow_short is off"),
            "{d}"
        );
    }

    t.settings(json!({"execution": {"allow_short": true}}))
        .await;
    now += chrono::Duration::minutes(6);
    let r = t.pass(now).await;
    assert_eq!(r.orders_placed, 1, "{r:?}");
    let orders = t.sim_orders(KEY).await;
    let short = orders
        .iter()
        .find(|o| o["symbol"] == "AAPL")
        .unwrap_or_else(|| panic!("no AAPL short: {orders:?}"));
    assert_eq!(short["side"], "sell");
    assert!(short["notional"].is_null(), "{short}");
    let qty: f64 = short["qty"].as_str().unwrap().parse().unwrap();
    assert!(qty >= 1.0 && qty.fract() == 0.0, "whole shares: {short}");
    let whole = t.decision("WHOLE").await;
    assert!(
        whole["reason"]
            .as_str()
            .unwrap()
            .contains("cannot be sold short"),
        "{whole}"
    );
}

crate::api_tests!(
    shorts_open_only_when_allowed,
    the_kill_switch_finds_unanswered_orders,
    live_auto_trade_is_guarded,
    orders_are_placed_once,
    the_kill_switch_wins,
    guardrails_stop_orders,
    auto_trade_keeps_to_its_account,
    stale_bars_place_nothing,
    only_a_confirmed_session_raises_the_risk,
    run_once_trades,
);
