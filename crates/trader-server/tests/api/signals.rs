//! Watchlists, settings and signals over HTTP, against alpaca-sim.

use alpaca_sim::{Mode, SimHandle};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp, error_code};

const KEY: &str = "PKSIGNALSTEST0000001";
const SECRET: &str = "signals-test-secret-0001";
const SETTINGS_YAML: &str =
    include_str!("../../../trader-indicators/tests/fixtures/legacy-config/settings.yaml");

fn wednesday_10am() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2024-07-10T14:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

struct World {
    app: TestApp,
    sim: SimHandle,
    client: Client,
    csrf: String,
}

impl World {
    async fn new(backend: Backend, with_account: bool) -> Self {
        let sim = crate::support::pinned_sim(wednesday_10am(), Mode::Paper).await;
        let url = sim.base_url();
        let app = TestApp::spawn_with(backend, move |s| {
            s.broker_urls.sim = Some(url);
        })
        .await;
        app.secret(KEY);
        app.secret(SECRET);
        app.create_user("alice", Role::User);
        let client = app.client();
        let csrf = app.login(&client, "alice", PASSWORD).await;
        let w = Self {
            app,
            sim,
            client,
            csrf,
        };
        if with_account {
            w.add_account().await;
        }
        w
    }

    async fn add_account(&self) {
        let res = self
            .call(
                Method::POST,
                "/api/accounts",
                Some(json!({"name": "Sim", "environment": "sim", "key_id": KEY, "secret_key": SECRET})),
            )
            .await;
        assert_eq!(res.0, StatusCode::CREATED, "{}", res.1);
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
}

/// Lists: the default made on first use, more lists, symbols checked
/// against the broker, duplicates 409, the Python version's routes on the
/// default list, and another user's list is 404.
async fn watchlists_work_like_the_python_version_and_more(backend: Backend) {
    let w = World::new(backend, true).await;
    let (status, lists) = w.call(Method::GET, "/api/watchlists", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lists["watchlists"][0]["name"], "Watchlist");
    assert_eq!(lists["watchlists"][0]["is_default"], true);

    let (status, added) = w
        .call(
            Method::POST,
            "/api/watchlist",
            Some(json!({"symbol": "aapl"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["symbol"], "AAPL");
    assert!(
        added["name"].as_str().is_some_and(|n| !n.is_empty()),
        "the broker's name: {added}"
    );
    let (status, dup) = w
        .call(
            Method::POST,
            "/api/watchlist",
            Some(json!({"symbol": "AAPL"})),
        )
        .await;
    assert_eq!(
        (status, dup["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (status, bad) = w
        .call(
            Method::POST,
            "/api/watchlist",
            Some(json!({"symbol": "1ABC"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["error"]["fields"]["symbol"].is_string());
    let (status, unknown) = w
        .call(
            Method::POST,
            "/api/watchlist",
            Some(json!({"symbol": "ZZZZQ"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{unknown}");

    let (status, tech) = w
        .call(
            Method::POST,
            "/api/watchlists",
            Some(json!({"name": "Tech"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(tech["is_default"], false);
    let tech_id = tech["id"].as_i64().unwrap();
    let (status, _) = w
        .call(
            Method::POST,
            "/api/watchlists",
            Some(json!({"name": "tech"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = w
        .call(
            Method::POST,
            &format!("/api/watchlists/{tech_id}/symbols"),
            Some(json!({"symbol": "MSFT"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Make Tech the default; the old default can then be deleted.
    let (status, tech) = w
        .call(
            Method::PUT,
            &format!("/api/watchlists/{tech_id}"),
            Some(json!({"is_default": true})),
        )
        .await;
    assert_eq!(
        (status, tech["is_default"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (_, default) = w.call(Method::GET, "/api/watchlist", None).await;
    assert_eq!(default["symbols"][0]["symbol"], "MSFT");
    let (status, _) = w
        .call(Method::DELETE, &format!("/api/watchlists/{tech_id}"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the default cannot go while others exist"
    );
    let (status, _) = w.call(Method::DELETE, "/api/watchlist/MSFT", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.call(Method::DELETE, "/api/watchlist/MSFT", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bob sees none of it.
    w.app.create_user("bob", Role::User);
    let bob = w.app.client();
    let bob_csrf = w.app.login(&bob, "bob", PASSWORD).await;
    for (method, path) in [
        (Method::GET, format!("/api/watchlists/{tech_id}/symbols")),
        (Method::PUT, format!("/api/watchlists/{tech_id}")),
        (Method::DELETE, format!("/api/watchlists/{tech_id}")),
        (Method::GET, format!("/api/signals?watchlist={tech_id}")),
    ] {
        let body = (method == Method::PUT).then(|| json!({"name": "mine"}));
        let res = w
            .app
            .send(&bob, method.clone(), &path, body, Some(&bob_csrf))
            .await;
        assert_eq!(
            error_code(res).await.0,
            StatusCode::NOT_FOUND,
            "{method} {path}"
        );
    }
    let events = w.app.audit_events(None);
    assert!(events.contains(&"watchlist_symbol_added".to_owned()));
    assert!(events.contains(&"watchlist_created".to_owned()));
}

/// The settings: the Python version's defaults, and at every boundary just
/// inside passes and just outside is a 422 naming the field's JSON path.
async fn settings_validate_at_every_boundary(backend: Backend) {
    let w = World::new(backend, false).await;
    let (status, defaults) = w.call(Method::GET, "/api/indicators", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(defaults["indicators"]["rsi"]["period"], 14);
    assert_eq!(defaults["indicators"]["sma_crossover"]["long_period"], 50);
    assert_eq!(defaults["signal"]["mode"], "any");
    assert_eq!(defaults["signal"]["min_agree"], 2);
    assert_eq!(defaults["data"]["feed"], "iex");
    assert_eq!(defaults["execution"]["position_size_pct"], 5.0);

    // (path, patch with the value just inside, just outside)
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "indicators.rsi.period",
            json!({"indicators": {"rsi": {"period": 2}}}),
            json!({"indicators": {"rsi": {"period": 1}}}),
        ),
        (
            "indicators.rsi.period",
            json!({"indicators": {"rsi": {"period": 500}}}),
            json!({"indicators": {"rsi": {"period": 501}}}),
        ),
        (
            "indicators.bollinger_bands.std_dev",
            json!({"indicators": {"bollinger_bands": {"std_dev": 5.0}}}),
            json!({"indicators": {"bollinger_bands": {"std_dev": 5.01}}}),
        ),
        (
            "indicators.bollinger_bands.std_dev",
            json!({"indicators": {"bollinger_bands": {"std_dev": 0.5}}}),
            json!({"indicators": {"bollinger_bands": {"std_dev": 0.49}}}),
        ),
        (
            "execution.position_size_pct",
            json!({"execution": {"position_size_pct": 0.1}}),
            json!({"execution": {"position_size_pct": 0.09}}),
        ),
        (
            "execution.position_size_pct",
            json!({"execution": {"position_size_pct": 100.0}}),
            json!({"execution": {"position_size_pct": 100.01}}),
        ),
        (
            "execution.max_positions",
            json!({"execution": {"max_positions": 1}}),
            json!({"execution": {"max_positions": 0}}),
        ),
        (
            "execution.max_positions",
            json!({"execution": {"max_positions": 100}}),
            json!({"execution": {"max_positions": 101}}),
        ),
        (
            "schedule.interval_minutes",
            json!({"schedule": {"interval_minutes": 1}}),
            json!({"schedule": {"interval_minutes": 0}}),
        ),
        (
            "schedule.interval_minutes",
            json!({"schedule": {"interval_minutes": 1440}}),
            json!({"schedule": {"interval_minutes": 1441}}),
        ),
        (
            "schedule.cron",
            json!({"schedule": {"cron": "*/5 9-16 * * 1-5"}}),
            json!({"schedule": {"cron": "*/5 9-16 * * 1-5 2024"}}),
        ),
        (
            "data.timeframe",
            json!({"data": {"timeframe": "59Min"}}),
            json!({"data": {"timeframe": "60Min"}}),
        ),
        (
            "data.timeframe",
            json!({"data": {"timeframe": "23Hour"}}),
            json!({"data": {"timeframe": "24Hour"}}),
        ),
        (
            "data.feed",
            json!({"data": {"feed": "sip"}}),
            json!({"data": {"feed": "otc"}}),
        ),
        (
            "data.lookback_days",
            json!({"data": {"lookback_days": 3650}}),
            json!({"data": {"lookback_days": 3651}}),
        ),
        (
            "execution.order_type",
            json!({"execution": {"order_type": "market"}}),
            json!({"execution": {"order_type": "limit"}}),
        ),
    ];
    for (path, inside, outside) in cases {
        let (status, body) = w
            .call(Method::PATCH, "/api/indicators", Some(inside.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{path} inside: {inside} -> {body}");
        let (status, body) = w
            .call(Method::PATCH, "/api/indicators", Some(outside.clone()))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} outside: {outside} -> {body}"
        );
        assert!(body["error"]["fields"][path].is_string(), "{path}: {body}");
        // Back to the defaults for the next case.
        let (status, _) = w
            .call(Method::PUT, "/api/indicators", Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // Every rule off: refused; several bad fields in one answer.
    let (status, body) = w
        .call(
            Method::PUT,
            "/api/indicators",
            Some(json!({"indicators": {"rsi": {"enabled": false}, "sma_crossover": {"enabled": false}, "macd": {"enabled": false}, "bollinger_bands": {"enabled": false}}, "data": {"feed": "x", "lookback_days": 0}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for path in ["indicators", "data.feed", "data.lookback_days"] {
        assert!(body["error"]["fields"][path].is_string(), "{path}: {body}");
    }
    let (_, now) = w.call(Method::GET, "/api/indicators", None).await;
    assert_eq!(now, defaults, "nothing half-written");
}

/// The signals through the API equal `signals --window W` on the same bars
/// and settings, for the Python version's settings in its three modes.
async fn signals_equal_the_signals_command(backend: Backend) {
    let w = World::new(backend, true).await;
    for symbol in ["AAPL", "MSFT", "TSLA", "SPY"] {
        let (status, _) = w
            .call(
                Method::POST,
                "/api/watchlist",
                Some(json!({"symbol": symbol})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let broker = trader_alpaca::Broker::new(
        trader_alpaca::BrokerUrls::all_at(&w.sim.base_url()),
        trader_alpaca::ClientConfig::default(),
    )
    .unwrap();
    let client = broker
        .for_account(
            trader_alpaca::AccountKey(1),
            trader_alpaca::Environment::Sim,
            &trader_alpaca::BrokerKeys::new(KEY, SECRET),
        )
        .unwrap();
    for (mode, min_agree) in [("any", 2), ("majority", 2), ("unanimous", 2)] {
        let (status, _) = w
            .call(
                Method::PATCH,
                "/api/indicators",
                Some(json!({"signal": {"mode": mode, "min_agree": min_agree}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, list) = w.call(Method::GET, "/api/signals", None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let window = usize::try_from(list["window"].as_u64().unwrap()).unwrap();
        assert!(window >= 150, "W covers the rules' warm-up: {window}");
        let yaml = SETTINGS_YAML.replace("mode: any", &format!("mode: {mode}"));
        for row in list["signals"].as_array().unwrap() {
            let symbol = row["symbol"].as_str().unwrap();
            assert!(row["error"].is_null(), "{row}");
            // The same bars, straight from the simulator.
            let mut query = trader_alpaca::BarsQuery::new(&[symbol], "1Day");
            query.start = Some(wednesday_10am() - chrono::Duration::days(400));
            query.end = Some(wednesday_10am());
            query.feed = Some("iex".to_owned());
            let bars = client.bars(&query).await.unwrap().remove(symbol).unwrap();
            let closed: Vec<_> = bars
                .into_iter()
                .filter(|b| b.t + chrono::Duration::days(1) <= wednesday_10am())
                .collect();
            let tail = &closed[closed.len() - window..];
            let mut csv = String::from("open,high,low,close,volume\n");
            for b in tail {
                csv.push_str(&format!("{},{},{},{},{}\n", b.o, b.h, b.l, b.c, b.v));
            }
            let out = trader_indicators::signals_csv(&csv, &yaml, window).unwrap();
            let last = out.lines().nth(1).unwrap();
            let cols: Vec<&str> = last.split(',').collect();
            assert_eq!(row["action"], cols[2], "{symbol} {mode}: {row} vs {last}");
            let strength: f64 = cols[3].parse().unwrap();
            assert!((row["strength_pct"].as_f64().unwrap() - strength * 100.0).abs() < 0.01);
            let votes: Vec<&str> = row["votes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| match v["vote"].as_str().unwrap() {
                    "none" => "",
                    other => other,
                })
                .map(|v| match v {
                    "buy" => "buy",
                    "sell" => "sell",
                    _ => "",
                })
                .collect();
            assert_eq!(votes, cols[4..8].to_vec(), "{symbol} {mode}");
            assert_eq!(row["price"].as_f64().unwrap(), tail.last().unwrap().c);
        }
    }
}

/// A symbol the data source does not know is reported in its own row.
async fn an_unknown_symbol_fails_only_its_row(backend: Backend) {
    let w = World::new(backend, false).await;
    // Added before any account: only the shape is checked.
    for symbol in ["AAPL", "NOPEX"] {
        let (status, _) = w
            .call(
                Method::POST,
                "/api/watchlist",
                Some(json!({"symbol": symbol})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body) = w.call(Method::GET, "/api/signals", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_active_account"))
    );
    w.add_account().await;
    let (status, list) = w.call(Method::GET, "/api/signals", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let rows = list["signals"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["action"].is_string(), "{}", rows[0]);
    assert!(
        rows[1]["action"].is_null() && rows[1]["error"].is_string(),
        "{}",
        rows[1]
    );
}

/// The chart: bars with the indicators aligned (values from the first bar,
/// thanks to the warm-up bars), and markers that agree with the signals.
async fn the_chart_is_ready_to_draw(backend: Backend) {
    let w = World::new(backend, true).await;
    w.call(
        Method::POST,
        "/api/watchlist",
        Some(json!({"symbol": "AAPL"})),
    )
    .await;
    let (status, chart) = w.call(Method::GET, "/api/chart/aapl?limit=120", None).await;
    assert_eq!(status, StatusCode::OK, "{chart}");
    let bars = chart["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 120);
    for series in [
        "sma_short",
        "sma_long",
        "bb_upper",
        "bb_middle",
        "bb_lower",
        "rsi",
        "macd",
        "macd_signal",
        "macd_hist",
    ] {
        let values = chart[series].as_array().unwrap();
        assert_eq!(values.len(), 120, "{series}");
        assert!(
            values.iter().all(Value::is_number),
            "{series} has values from the first bar"
        );
    }
    let times: Vec<&Value> = bars.iter().map(|b| &b["t"]).collect();
    for m in chart["markers"].as_array().unwrap() {
        assert!(times.contains(&&m["t"]), "{m}");
        assert!(m["action"] == "buy" || m["action"] == "sell");
    }
    // The last bar's marker is the signal GET /api/signals gives now.
    let (_, signals) = w.call(Method::GET, "/api/signals", None).await;
    let action = signals["signals"][0]["action"].as_str().unwrap();
    let last_marker = chart["markers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["t"] == *bars.last().unwrap().get("t").unwrap());
    match last_marker {
        Some(m) => assert_eq!(m["action"], action),
        None => assert_eq!(action, "hold"),
    }
    for (path, status) in [
        (
            "/api/chart/AAPL?limit=1001",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/chart/AAPL?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "/api/chart/AAPL?timeframe=7Day",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/chart/NOPEX", StatusCode::NOT_FOUND),
    ] {
        let (got, body) = w.call(Method::GET, path, None).await;
        assert_eq!(got, status, "{path}: {body}");
    }
}

/// Three users with overlapping watchlists: with the operator's data key,
/// one bars request per pass for all of them; without it, one per user
/// through their own keys. Signals are stored once per bar; a repeated pass
/// stores nothing twice; an unknown symbol does not stop the pass.
async fn the_scheduler_fetches_each_source_once(backend: Backend) {
    for operator in [true, false] {
        let sim = crate::support::pinned_sim(wednesday_10am(), Mode::Paper).await;
        let url = sim.base_url();
        let app = TestApp::spawn_with(backend, move |s| {
            s.broker_urls.sim = Some(url);
            if operator {
                s.market_data = Some((
                    trader_api_types::broker::Environment::Sim,
                    trader_alpaca::BrokerKeys::new("PKOPERATORDATA000001", "operator-secret-0001"),
                ));
            }
        })
        .await;
        app.secret("operator-secret-0001");
        let lists: [&[&str]; 3] = [&["AAPL", "MSFT"], &["MSFT", "TSLA"], &["AAPL", "NOPEX"]];
        let mut keys = Vec::new();
        for (i, symbols) in lists.iter().enumerate() {
            let name = format!("user{i}");
            app.create_user(&name, Role::User);
            let client = app.client();
            let csrf = app.login(&client, &name, PASSWORD).await;
            // Symbols first: with no account yet only their shape is checked.
            for symbol in *symbols {
                let res = app
                    .post(
                        &client,
                        "/api/watchlist",
                        json!({"symbol": symbol}),
                        Some(&csrf),
                    )
                    .await;
                assert_eq!(res.status(), StatusCode::CREATED);
            }
            let key = format!("PKSCHEDULERUSER0000{i}");
            let res = app
                .post(
                    &client,
                    "/api/accounts",
                    json!({"name": "Sim", "environment": "sim", "key_id": key, "secret_key": SECRET}),
                    Some(&csrf),
                )
                .await;
            assert_eq!(res.status(), StatusCode::CREATED);
            keys.push(key);
        }
        sim.control().clear_requests();
        let now = wednesday_10am();
        let report = trader_server::services::scheduler::run_pass(&app.state, "test", now)
            .await
            .unwrap();
        assert_eq!(report.users, 3, "{report:?}");
        assert_eq!(report.symbols, 4);
        assert_eq!(report.signals_stored, 5, "{report:?}");
        assert!(
            report.errors.iter().any(|e| e.contains("NOPEX")),
            "{report:?}"
        );
        let bars_calls = |key: &str| sim.control().request_count(key, "GET", "/v2/stocks/bars");
        if operator {
            assert_eq!(bars_calls("PKOPERATORDATA000001"), 1);
            for key in &keys {
                assert_eq!(bars_calls(key), 0, "never a user's keys for the data");
            }
        } else {
            for key in &keys {
                assert_eq!(bars_calls(key), 1, "one request per user");
            }
        }
        // Stored once per bar.
        let stored = {
            let mut conn = app.db.conn();
            trader_db::signal_history::count(&mut conn, None).unwrap()
        };
        assert_eq!(stored, 5);
        // user0 sees their own two in the history, newest first, a page at a time.
        let c = app.client();
        app.login(&c, "user0", PASSWORD).await;
        let page: Value = app
            .get(&c, "/api/signals/history?limit=1")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["signals"].as_array().unwrap().len(), 1, "{page}");
        let cursor = page["next_cursor"].as_i64().unwrap();
        let rest: Value = app
            .get(&c, &format!("/api/signals/history?cursor={cursor}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(rest["signals"].as_array().unwrap().len(), 1);
        assert!(rest["next_cursor"].is_null());
        let mut symbols = vec![
            page["signals"][0]["symbol"].clone(),
            rest["signals"][0]["symbol"].clone(),
        ];
        symbols.sort_by_key(|v| v.to_string());
        assert_eq!(symbols, vec![json!("AAPL"), json!("MSFT")]);
        let status: Value = app
            .get(&c, "/api/scheduler-status")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(status["last_pass"]["signals"], 5, "{status}");
        assert!(status["you"]["next_run_at"].is_string());
        assert!(status["users"].is_null(), "only admins see everyone's");
        // Nobody is due again at once; a later pass on the same bar
        // stores nothing twice.
        let again = trader_server::services::scheduler::run_pass(&app.state, "test", now)
            .await
            .unwrap();
        assert_eq!(again.users, 0);
        let later = trader_server::services::scheduler::run_pass(
            &app.state,
            "test",
            now + chrono::Duration::minutes(6),
        )
        .await
        .unwrap();
        assert_eq!(later.users, 3);
        assert_eq!(later.signals_stored, 0, "{later:?}");
        let mut conn = app.db.conn();
        assert_eq!(
            trader_db::signal_history::count(&mut conn, None).unwrap(),
            5
        );
    }
}

/// A result is reused until a newer bar can exist, then computed afresh.
async fn signals_are_reused_until_a_newer_bar(backend: Backend) {
    let w = World::new(backend, true).await;
    w.call(
        Method::POST,
        "/api/watchlist",
        Some(json!({"symbol": "AAPL"})),
    )
    .await;
    let (_, first) = w.call(Method::GET, "/api/signals", None).await;
    w.sim.control().clear_requests();
    let (_, again) = w.call(Method::GET, "/api/signals", None).await;
    assert_eq!(first, again);
    assert_eq!(
        w.sim.control().request_count(KEY, "GET", "/v2/stocks/bars"),
        0,
        "reused"
    );
    // A day later a newer bar exists.
    w.sim.control().advance_clock(chrono::Duration::days(1));
    // (The broker's clock is itself a shared read, kept 2 s.)
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (_, later) = w.call(Method::GET, "/api/signals", None).await;
    assert_eq!(
        w.sim.control().request_count(KEY, "GET", "/v2/stocks/bars"),
        1
    );
    assert_ne!(
        later["signals"][0]["bar_time"],
        first["signals"][0]["bar_time"]
    );
    // Requests that miss together compute the list once.
    w.sim.control().advance_clock(chrono::Duration::days(1));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    w.sim.control().clear_requests();
    let all =
        futures_util::future::join_all((0..5).map(|_| w.call(Method::GET, "/api/signals", None)))
            .await;
    assert!(all.iter().all(|(status, _)| *status == StatusCode::OK));
    assert!(all.iter().all(|(_, body)| body == &all[0].1));
    assert_ne!(
        all[0].1["signals"][0]["bar_time"],
        later["signals"][0]["bar_time"]
    );
    assert_eq!(
        w.sim.control().request_count(KEY, "GET", "/v2/stocks/bars"),
        1,
        "one computation for five requests"
    );
}

crate::api_tests!(
    signals_are_reused_until_a_newer_bar,
    the_scheduler_fetches_each_source_once,
    the_chart_is_ready_to_draw,
    watchlists_work_like_the_python_version_and_more,
    settings_validate_at_every_boundary,
    signals_equal_the_signals_command,
    an_unknown_symbol_fails_only_its_row,
);
