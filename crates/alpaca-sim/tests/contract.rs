//! The contract suite: what Alpaca's public API reference says, checked
//! against the simulator. Every case names the section of
//! `shared/reference/ALPACA-API.md` it follows (that page names its sources:
//! Alpaca's docs, alpaca-py and apca). The expectations below come from that
//! page, not from the simulator's output.

mod common;

use chrono::Duration;
use common::*;
use serde_json::{Value, json};

/// JSON types as ALPACA-API.md describes fields.
#[derive(Clone, Copy, Debug)]
enum J {
    /// Any string.
    Str,
    /// String or null.
    StrOrNull,
    /// A decimal string such as "122086.5".
    Dec,
    /// Decimal string or null.
    DecOrNull,
    /// JSON integer.
    Int,
    /// JSON number.
    Num,
    /// Boolean.
    Bool,
    /// RFC 3339 timestamp string.
    Ts,
    /// Timestamp or null.
    TsOrNull,
    /// UUID string.
    Uuid,
    /// UUID or null.
    UuidOrNull,
    /// Array.
    Arr,
    /// Object.
    Obj,
    /// Null (present).
    Null,
    /// Present, any type.
    Any,
}

fn is_ts(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

fn is_dec(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        !s.is_empty()
            && s.trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            && s.parse::<f64>().is_ok()
    })
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

fn matches(v: &Value, j: J) -> bool {
    match j {
        J::Str => v.is_string(),
        J::StrOrNull => v.is_string() || v.is_null(),
        J::Dec => is_dec(v),
        J::DecOrNull => v.is_null() || is_dec(v),
        J::Int => v.is_i64() || v.is_u64(),
        J::Num => v.is_number(),
        J::Bool => v.is_boolean(),
        J::Ts => is_ts(v),
        J::TsOrNull => v.is_null() || is_ts(v),
        J::Uuid => is_uuid(v),
        J::UuidOrNull => v.is_null() || is_uuid(v),
        J::Arr => v.is_array(),
        J::Obj => v.is_object(),
        J::Null => v.is_null(),
        J::Any => true,
    }
}

/// Asserts each field is present with its documented type.
fn check(section: &str, obj: &Value, fields: &[(&str, J)]) {
    let map = obj
        .as_object()
        .unwrap_or_else(|| panic!("{section}: not an object: {obj}"));
    for (name, j) in fields {
        let v = map
            .get(*name)
            .unwrap_or_else(|| panic!("{section}: field `{name}` missing in {obj}"));
        assert!(
            matches(v, *j),
            "{section}: field `{name}` should be {j:?}, is {v}"
        );
    }
}

/// Asserts Alpaca's error body: `{"code": <8 digits>, "message": "..."}`.
fn check_error(section: &str, r: &Resp, status: u16, code: u64) {
    assert_eq!(r.status, status, "{section}: {}", r.raw);
    assert_eq!(r.body["code"].as_u64(), Some(code), "{section}: {}", r.raw);
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{section}: {}",
        r.raw
    );
}

fn check_rate_headers(section: &str, r: &Resp) {
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        let v = r
            .header(h)
            .unwrap_or_else(|| panic!("{section}: header {h} missing"));
        assert!(v.parse::<u64>().is_ok(), "{section}: {h}: {v}");
    }
}

const ORDER_FIELDS: &[(&str, J)] = &[
    ("id", J::Uuid),
    ("client_order_id", J::Str),
    ("created_at", J::Ts),
    ("updated_at", J::TsOrNull),
    ("submitted_at", J::TsOrNull),
    ("filled_at", J::TsOrNull),
    ("expired_at", J::TsOrNull),
    ("expires_at", J::TsOrNull),
    ("canceled_at", J::TsOrNull),
    ("failed_at", J::TsOrNull),
    ("replaced_at", J::TsOrNull),
    ("replaced_by", J::UuidOrNull),
    ("replaces", J::UuidOrNull),
    ("asset_id", J::Uuid),
    ("symbol", J::Str),
    ("asset_class", J::Str),
    ("notional", J::DecOrNull),
    ("qty", J::DecOrNull),
    ("filled_qty", J::Dec),
    ("filled_avg_price", J::DecOrNull),
    ("order_class", J::Str),
    ("order_type", J::Str),
    ("type", J::Str),
    ("side", J::Str),
    ("time_in_force", J::Str),
    ("limit_price", J::DecOrNull),
    ("stop_price", J::DecOrNull),
    ("status", J::Str),
    ("extended_hours", J::Bool),
    ("trail_percent", J::DecOrNull),
    ("trail_price", J::DecOrNull),
    ("hwm", J::DecOrNull),
    ("legs", J::Null),
];

const STATUSES: &[&str] = &[
    "new",
    "partially_filled",
    "filled",
    "done_for_day",
    "canceled",
    "expired",
    "replaced",
    "pending_cancel",
    "pending_replace",
    "pending_review",
    "accepted",
    "pending_new",
    "accepted_for_bidding",
    "stopped",
    "rejected",
    "suspended",
    "calculated",
    "held",
];

fn check_order(section: &str, o: &Value) {
    check(section, o, ORDER_FIELDS);
    // "order_class: \"\" for simple orders in live responses"; apca needs it present.
    assert_eq!(o["order_class"], "", "{section}");
    // "notional, qty: exactly one is set".
    assert!(
        o["qty"].is_null() != o["notional"].is_null(),
        "{section}: exactly one of qty and notional: {o}"
    );
    assert!(
        STATUSES.contains(&o["status"].as_str().unwrap_or("")),
        "{section}: status {}",
        o["status"]
    );
    assert_eq!(o["asset_class"], "us_equity");
}

/// 2.0 Common rules: authentication headers and the 401 body.
#[tokio::test]
async fn common_rules_authentication() {
    let sim = start_at(wednesday_10am()).await;
    let section = "2.0 Common rules: authentication; 2.13 Auth";
    let anonymous = reqwest::get(format!("{}/v2/account", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("x-ratelimit-limit"));
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(
        body,
        json!({"code": 40110000, "message": "request is not authorized"}),
        "{section}"
    );

    let c = Client::new(&sim);
    assert_eq!(c.get("/v2/account").await.status, 200, "{section}");
    // The key id now works only with the secret it was first used with.
    let wrong = Client::with_keys(&sim, KEY, "not-the-secret");
    let r = wrong.get("/v2/account").await;
    check_error(section, &r, 401, 40110000);
    assert_eq!(r.body["message"], "request is not authorized");
    // "bad or mismatched paper/live keys": a live key id on a paper simulator.
    let live = Client::with_keys(&sim, "AKLIVEKEY0000001", "x");
    check_error(section, &live.get("/v2/account").await, 401, 40110000);
    sim.stop().await;

    let live_sim = start_with(alpaca_sim::SimConfig {
        mode: alpaca_sim::Mode::Live,
        clock: alpaca_sim::ClockMode::Fixed(wednesday_10am()),
        ..Default::default()
    })
    .await;
    let paper_key = Client::new(&live_sim);
    check_error(section, &paper_key.get("/v2/account").await, 401, 40110000);
    let live_key = Client::with_keys(&live_sim, "AKLIVEKEY0000001", "x");
    assert_eq!(live_key.get("/v2/account").await.status, 200);
    live_sim.stop().await;
}

/// 2.0 Common rules: rate limits ("every trading response carries
/// X-Ratelimit-Limit: 200, -Remaining, -Reset") and the error body.
#[tokio::test]
async fn common_rules_rate_limit_headers_and_errors() {
    let sim = start_at(wednesday_10am()).await;
    let section = "2.0 Common rules: rate limits";
    let c = Client::new(&sim);
    let r = c.get("/v2/account").await;
    check_rate_headers(section, &r);
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("200"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("199"));
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(reset > now && reset <= now + 61, "epoch seconds: {reset}");
    // On errors too.
    let r = c
        .get("/v2/orders/00000000-0000-0000-0000-000000000000")
        .await;
    check_rate_headers(section, &r);
    check_error("2.3 Orders: get one", &r, 404, 40410000);
    assert_eq!(r.body["message"], "order not found");
    let r = c.get("/v2/stocks/bars?symbols=AAPL&timeframe=1Min").await;
    check_rate_headers("2.9 Market data (openapi ratelimit headers)", &r);
    // An unknown endpoint is a 404 in the same envelope.
    let r = c.get("/v2/nothing-here").await;
    check_error("2.0 Common rules: error body", &r, 404, 40410000);
    // A malformed body.
    let r = c.send_raw("/v2/orders", "{not json").await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert!(r.body["code"].is_u64());
    sim.stop().await;
}

/// 2.1 Account: every documented field with its type; apca's required ones.
#[tokio::test]
async fn account_fields() {
    let sim = start_at(wednesday_10am()).await;
    let section = "2.1 Account";
    let r = Client::new(&sim).get("/v2/account").await;
    assert_eq!(r.status, 200);
    check(
        section,
        &r.body,
        &[
            ("id", J::Uuid),
            ("account_number", J::Str),
            ("status", J::Str),
            ("crypto_status", J::Str),
            ("currency", J::Str),
            ("cash", J::Dec),
            ("portfolio_value", J::Dec),
            ("equity", J::Dec),
            ("last_equity", J::Dec),
            ("buying_power", J::Dec),
            ("regt_buying_power", J::Dec),
            ("daytrading_buying_power", J::Dec),
            ("effective_buying_power", J::Dec),
            ("non_marginable_buying_power", J::Dec),
            ("options_buying_power", J::Dec),
            ("bod_dtbp", J::Any),
            ("accrued_fees", J::Dec),
            ("pending_transfer_in", J::Dec),
            ("pending_transfer_out", J::Dec),
            ("long_market_value", J::Dec),
            ("short_market_value", J::Dec),
            ("position_market_value", J::Dec),
            ("initial_margin", J::Dec),
            ("maintenance_margin", J::Dec),
            ("last_maintenance_margin", J::Dec),
            ("sma", J::Dec),
            ("multiplier", J::Dec),
            ("pattern_day_trader", J::Bool),
            ("trading_blocked", J::Bool),
            ("transfers_blocked", J::Bool),
            ("account_blocked", J::Bool),
            ("trade_suspended_by_user", J::Bool),
            ("shorting_enabled", J::Bool),
            ("daytrade_count", J::Int),
            ("created_at", J::Ts),
            ("options_approved_level", J::Int),
            ("options_trading_level", J::Int),
            ("crypto_tier", J::Int),
            ("admin_configurations", J::Obj),
        ],
    );
    let a = &r.body;
    assert_eq!(a["status"], "ACTIVE", "{section}: status enum");
    assert_eq!(a["currency"], "USD");
    assert!(["1", "2", "4"].contains(&a["multiplier"].as_str().unwrap()));
    assert!(
        a["account_number"].as_str().unwrap().starts_with("PA"),
        "paper numbers"
    );
    // "equity = cash + long_market_value + short_market_value"; portfolio_value equals equity.
    let sum = num(&a["cash"]) + num(&a["long_market_value"]) + num(&a["short_market_value"]);
    assert!((num(&a["equity"]) - sum).abs() < 1e-9);
    assert_eq!(a["portfolio_value"], a["equity"]);
    assert!(a.as_object().unwrap().contains_key("user_configurations"));
    sim.stop().await;
}

/// 2.2 Positions: list, one, close one (200 + Order), close all (207).
#[tokio::test]
async fn positions_contract() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let r = c.get("/v2/positions").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!([]), "2.2: array of Position");
    check_error(
        "2.2 Positions: 404 position does not exist",
        &c.get("/v2/positions/AAPL").await,
        404,
        40410000,
    );
    check_error(
        "2.2 Positions: DELETE, 404 if no position",
        &c.delete("/v2/positions/AAPL").await,
        404,
        40410000,
    );
    c.order(json!({"symbol":"AAPL","qty":"10","side":"buy","type":"market","time_in_force":"day"}))
        .await;
    c.order(json!({"symbol":"TSLA","qty":"4","side":"sell","type":"market","time_in_force":"day"}))
        .await;
    sim.control().advance_clock(Duration::minutes(5));
    let list = c.get("/v2/positions").await.body;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let fields = [
        ("asset_id", J::Uuid),
        ("symbol", J::Str),
        ("exchange", J::Str),
        ("asset_class", J::Str),
        ("asset_marginable", J::Bool),
        ("avg_entry_price", J::Dec),
        ("qty", J::Dec),
        ("qty_available", J::Dec),
        ("side", J::Str),
        ("market_value", J::Dec),
        ("cost_basis", J::Dec),
        ("unrealized_pl", J::Dec),
        ("unrealized_plpc", J::Dec),
        ("unrealized_intraday_pl", J::Dec),
        ("unrealized_intraday_plpc", J::Dec),
        ("current_price", J::Dec),
        ("lastday_price", J::Dec),
        ("change_today", J::Dec),
    ];
    for p in list.as_array().unwrap() {
        check("2.2 Position object", p, &fields);
        assert_eq!(p["asset_class"], "us_equity");
    }
    // By asset id too ("{symbol_or_asset_id}").
    let aapl = c.get("/v2/positions/AAPL").await.body;
    let by_id = c
        .get(&format!(
            "/v2/positions/{}",
            aapl["asset_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.body["symbol"], "AAPL");
    assert_eq!(aapl["side"], "long");
    // "qty: negative for short".
    let tsla = c.get("/v2/positions/TSLA").await.body;
    assert_eq!(tsla["side"], "short");
    assert_eq!(tsla["qty"], "-4", "2.2: qty negative for short");
    // "ratios are fractions": |plpc| is small, not a percentage.
    assert!(num(&aapl["unrealized_plpc"]).abs() < 0.5);

    // qty and percentage are mutually exclusive.
    let r = c.delete("/v2/positions/AAPL?qty=1&percentage=10").await;
    assert_eq!(
        r.status, 422,
        "2.2: qty and percentage are mutually exclusive"
    );
    let r = c.delete("/v2/positions/AAPL?qty=3").await;
    assert_eq!(r.status, 200, "2.2: DELETE one: 200 with an Order");
    check_order("2.2 DELETE /v2/positions/{symbol}", &r.body);
    assert_eq!(r.body["type"], "market");
    assert_eq!(r.body["qty"], "3");

    let r = c.delete("/v2/positions?cancel_orders=true").await;
    assert_eq!(r.status, 207, "2.2: DELETE all: 207");
    for item in r.body.as_array().unwrap() {
        check(
            "2.2 close all item",
            item,
            &[("symbol", J::Str), ("status", J::Int), ("body", J::Obj)],
        );
        assert_eq!(item["status"], 200);
        check_order("2.2 close all item body", &item["body"]);
    }
    sim.stop().await;
}

/// 2.3 Orders: submit (200), get, get by client order id, list with every
/// parameter, replace, cancel (204), cancel all (207), error codes.
#[tokio::test]
async fn orders_contract() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    // "Request bodies accept strings or numbers" (2.0 Encoding).
    let r = c
        .post(
            "/v2/orders",
            json!({"symbol":"AAPL","qty":2,"side":"buy","type":"market","time_in_force":"day"}),
        )
        .await;
    assert_eq!(r.status, 200, "2.3 Submit: 200 (not 201): {}", r.raw);
    check_order("2.3 Submit", &r.body);
    let market = r.body;
    // client_order_id generated when absent.
    assert!(!market["client_order_id"].as_str().unwrap().is_empty());

    let limit = c
        .order(
            json!({"symbol":"MSFT","qty":"1","side":"buy","type":"limit","limit_price":"1.5",
                      "time_in_force":"gtc","client_order_id":"contract-limit"}),
        )
        .await;
    check_order("2.3 Submit limit", &limit);
    assert_eq!(limit["limit_price"], "1.5");
    let id = limit["id"].as_str().unwrap().to_string();
    sim.control().advance_clock(Duration::seconds(1));
    let stop = c
        .order(
            json!({"symbol":"SPY","qty":"1","side":"buy","type":"stop_limit","stop_price":"9000",
                      "limit_price":"9001","time_in_force":"day"}),
        )
        .await;
    assert_eq!(stop["stop_price"], "9000");
    sim.control().advance_clock(Duration::seconds(1));
    let notional = c
        .order(json!({"symbol":"SPY","notional":"150.5","side":"buy","type":"market","time_in_force":"day"}))
        .await;
    check_order("2.3 Submit notional", &notional);
    assert_eq!(notional["notional"], "150.5");

    // Get one; apca sends the id without hyphens.
    let r = c.get(&format!("/v2/orders/{id}")).await;
    assert_eq!(r.status, 200);
    check_order("2.3 Get one", &r.body);
    let simple = id.replace('-', "");
    assert_eq!(
        c.get(&format!("/v2/orders/{simple}")).await.body["id"],
        id.as_str()
    );
    // "The path really contains a colon."
    let r = c
        .get("/v2/orders:by_client_order_id?client_order_id=contract-limit")
        .await;
    assert_eq!(r.status, 200, "2.3 by_client_order_id");
    assert_eq!(r.body["id"], id.as_str());
    check_error(
        "2.3 by_client_order_id unknown",
        &c.get("/v2/orders:by_client_order_id?client_order_id=nope")
            .await,
        404,
        40410000,
    );

    // List: status open (default), closed, all; limit; direction; symbols; side; after/until.
    let open = c.get("/v2/orders").await.body;
    assert_eq!(
        open.as_array().unwrap().len(),
        2,
        "2.3 List: status defaults to open"
    );
    let all = c.get("/v2/orders?status=all").await.body;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4);
    let created: Vec<&str> = all
        .iter()
        .map(|o| o["created_at"].as_str().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "2.3: direction defaults to desc"
    );
    let asc = c.get("/v2/orders?status=all&direction=asc").await.body;
    assert_eq!(asc[0]["id"], market["id"]);
    assert_eq!(
        c.get("/v2/orders?status=closed")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        c.get("/v2/orders?status=all&limit=1")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let spy = c.get("/v2/orders?status=all&symbols=SPY,MSFT").await.body;
    assert_eq!(spy.as_array().unwrap().len(), 3);
    assert_eq!(
        c.get("/v2/orders?status=all&side=sell").await.body,
        json!([])
    );
    let after = c
        .get("/v2/orders?status=all&after=2024-07-10T14:00:00Z")
        .await
        .body;
    assert_eq!(
        after.as_array().unwrap().len(),
        2,
        "2.3: after is exclusive"
    );
    let until = c
        .get("/v2/orders?status=all&until=2024-07-10T14:00:01Z")
        .await
        .body;
    assert_eq!(
        until.as_array().unwrap().len(),
        2,
        "2.3: until is exclusive"
    );
    let nested = c.get("/v2/orders?status=all&nested=true").await;
    assert_eq!(nested.status, 200);
    check_error(
        "2.3 List: bad status",
        &c.get("/v2/orders?status=maybe").await,
        422,
        40010001,
    );

    // Replace: "Returns a new Order with a new id. The old order moves to
    // replaced with replaced_by; the new one has replaces."
    let r = c
        .patch(&format!("/v2/orders/{id}"), json!({"limit_price":"1.25"}))
        .await;
    assert_eq!(r.status, 200, "2.3 Replace: {}", r.raw);
    check_order("2.3 Replace", &r.body);
    let new_id = r.body["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_eq!(r.body["replaces"], id.as_str());
    let old = c.get(&format!("/v2/orders/{id}")).await.body;
    assert_eq!(old["status"], "replaced");
    assert_eq!(old["replaced_by"], new_id.as_str());
    check_error(
        "2.3 Replace: 404",
        &c.patch(
            "/v2/orders/00000000-0000-0000-0000-000000000000",
            json!({"qty":"1"}),
        )
        .await,
        404,
        40410000,
    );

    // Cancel: 204 with an empty body; 422 when not cancelable; 404.
    let r = c.delete(&format!("/v2/orders/{new_id}")).await;
    assert_eq!(r.status, 204, "2.3 Cancel: 204");
    assert!(r.raw.is_empty(), "2.3 Cancel: empty body");
    check_error(
        "2.3 Cancel: 422 not cancelable",
        &c.delete(&format!("/v2/orders/{new_id}")).await,
        422,
        42210000,
    );
    check_error(
        "2.3 Cancel: 404",
        &c.delete("/v2/orders/00000000-0000-0000-0000-000000000000")
            .await,
        404,
        40410000,
    );

    // Cancel all: 207 with [{id, status, body}].
    let r = c.delete("/v2/orders").await;
    assert_eq!(r.status, 207, "2.3 Cancel all: 207");
    let items = r.body.as_array().unwrap();
    assert_eq!(items.len(), 1);
    check(
        "2.3 Cancel all item",
        &items[0],
        &[("id", J::Uuid), ("status", J::Int), ("body", J::Obj)],
    );
    assert_eq!(c.get("/v2/orders").await.body, json!([]));
    sim.stop().await;
}

/// 2.13 checklist: validation on submit, each a precise 422 or 403.
#[tokio::test]
async fn order_validation_errors() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let cases = [
        (
            json!({"symbol":"AAPL","qty":"1","notional":"5","side":"buy","type":"market","time_in_force":"day"}),
            422,
            40010001,
            "2.3 Submit: qty | notional mutually exclusive",
        ),
        (
            json!({"symbol":"AAPL","qty":"0.5","side":"buy","type":"market","time_in_force":"gtc"}),
            422,
            40010001,
            "2.3 Submit: fractional only market + day",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","time_in_force":"day"}),
            422,
            40010001,
            "2.3 Submit: limit_price required for limit",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"stop_limit","stop_price":"10","time_in_force":"day"}),
            422,
            40010001,
            "2.3 Submit: limit_price required for stop_limit",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"stop","time_in_force":"day"}),
            422,
            40010001,
            "2.3 Submit: stop_price required for stop",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","limit_price":"10","time_in_force":"gtc","extended_hours":true}),
            422,
            40010001,
            "2.3 Submit: extended_hours only limit + day",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day","client_order_id":"x".repeat(49)}),
            422,
            40010001,
            "2.3 Submit: client_order_id <= 48",
        ),
        (
            json!({"symbol":"AAPL","qty":"1000000","side":"buy","type":"market","time_in_force":"day"}),
            403,
            40310000,
            "2.0 Error body: 403 insufficient buying power",
        ),
    ];
    for (body, status, code, section) in cases {
        let r = c.post("/v2/orders", body).await;
        check_error(section, &r, status, code);
    }
    let r = c
        .post("/v2/orders", json!({"symbol":"AAPL","qty":"1000000","side":"buy","type":"market","time_in_force":"day"}))
        .await;
    check(
        "2.0 Error body: insufficient buying power context fields",
        &r.body,
        &[("buying_power", J::Dec), ("cost_basis", J::Dec)],
    );
    // Wash trade: "422 {"code":42210000,"message":"potential wash trade detected. use complex orders"}".
    c.order(json!({"symbol":"AAPL","qty":"1","side":"sell","type":"limit","limit_price":"9999","time_in_force":"gtc"}))
        .await;
    let r = c
        .post(
            "/v2/orders",
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day"}),
        )
        .await;
    check_error("2.0 Error body: wash trade", &r, 422, 42210000);
    assert_eq!(
        r.body["message"],
        "potential wash trade detected. use complex orders"
    );
    sim.stop().await;
}

/// 2.4 Portfolio history: numbers, epoch seconds, default timeframes.
#[tokio::test]
async fn portfolio_history_contract() {
    let sim = start_at(t("2024-07-01T14:00:00Z")).await;
    let c = Client::new(&sim);
    c.order(json!({"symbol":"AAPL","qty":"5","side":"buy","type":"market","time_in_force":"day"}))
        .await;
    sim.control().set_clock(t("2024-07-10T17:00:00Z"));
    let r = c.get("/v2/account/portfolio/history").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let h = &r.body;
    check(
        "2.4 Portfolio history response",
        h,
        &[
            ("timestamp", J::Arr),
            ("equity", J::Arr),
            ("profit_loss", J::Arr),
            ("profit_loss_pct", J::Arr),
            ("base_value", J::Num),
            ("timeframe", J::Str),
        ],
    );
    assert_eq!(
        h["timeframe"], "1D",
        "2.4: 1D for a period of 30 days or more (default 1M)"
    );
    let n = h["timestamp"].as_array().unwrap().len();
    assert!(n >= 7);
    for key in ["timestamp", "equity", "profit_loss", "profit_loss_pct"] {
        assert_eq!(
            h[key].as_array().unwrap().len(),
            n,
            "2.4: {key} is parallel"
        );
    }
    for ts in h["timestamp"].as_array().unwrap() {
        let s = ts.as_i64().expect("2.4: timestamp int[]");
        assert!(
            (1_000_000_000..10_000_000_000).contains(&s),
            "2.4: epoch seconds, not ms: {s}"
        );
    }
    assert!(h["equity"].as_array().unwrap().iter().all(Value::is_number));
    assert!(
        h["profit_loss"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_number)
    );
    assert!(
        h["profit_loss_pct"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.is_number() || v.is_null())
    );
    // A fraction, not a percentage.
    assert!(h["profit_loss_pct"][n - 1].as_f64().unwrap().abs() < 0.5);

    let week = c.get("/v2/account/portfolio/history?period=1W").await.body;
    assert_eq!(week["timeframe"], "15Min", "2.4: 15Min under 30 days");
    let day = c.get("/v2/account/portfolio/history?period=1D").await.body;
    assert_eq!(day["timeframe"], "1Min", "2.4: 1Min under 7 days");
    let r = c
        .get("/v2/account/portfolio/history?period=1M&timeframe=1H&date_end=2024-07-05&extended_hours=true")
        .await;
    assert_eq!(r.status, 200, "2.4: timeframe 1H, date_end, extended_hours");
    let last = r.body["timestamp"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(
        last < t("2024-07-06T00:00:00Z").timestamp(),
        "2.4: date_end"
    );
    let r = c.get("/v2/account/portfolio/history?timeframe=2D").await;
    check_error("2.4: timeframe values", &r, 422, 40010001);
    sim.stop().await;
}

/// 2.5 Clock and calendar.
#[tokio::test]
async fn clock_and_calendar_contract() {
    let sim = start_at(t("2024-01-10T15:00:00Z")).await;
    let c = Client::new(&sim);
    let r = c.get("/v2/clock").await;
    assert_eq!(r.status, 200);
    check(
        "2.5 Clock",
        &r.body,
        &[
            ("timestamp", J::Ts),
            ("is_open", J::Bool),
            ("next_open", J::Ts),
            ("next_close", J::Ts),
        ],
    );
    assert_eq!(r.body["is_open"], true);
    // "Timestamps typically carry an ET offset such as -04:00" (-05:00 in winter).
    assert_eq!(r.body["timestamp"], "2024-01-10T10:00:00-05:00");
    assert_eq!(r.body["next_close"], "2024-01-10T16:00:00-05:00");
    assert_eq!(r.body["next_open"], "2024-01-11T09:30:00-05:00");

    let r = c.get("/v2/calendar?start=2024-12-23&end=2024-12-27").await;
    assert_eq!(r.status, 200);
    let days = r.body.as_array().unwrap();
    assert_eq!(days.len(), 4, "Christmas is closed");
    for d in days {
        check(
            "2.5 Calendar",
            d,
            &[("date", J::Str), ("open", J::Str), ("close", J::Str)],
        );
        // "apca requires open and close in %H:%M format exactly".
        let open = d["open"].as_str().unwrap();
        assert!(chrono::NaiveTime::parse_from_str(open, "%H:%M").is_ok() && open.len() == 5);
        assert!(chrono::NaiveDate::parse_from_str(d["date"].as_str().unwrap(), "%Y-%m-%d").is_ok());
    }
    assert_eq!(days[1]["date"], "2024-12-24");
    assert_eq!(days[1]["close"], "13:00");
    assert_eq!(days[0]["open"], "09:30");
    assert_eq!(days[0]["close"], "16:00");
    sim.stop().await;
}

/// 2.6 Assets.
#[tokio::test]
async fn assets_contract() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let r = c
        .get("/v2/assets?status=active&asset_class=us_equity")
        .await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert!(list.len() >= 100, "issue 4: at least 100 built-in assets");
    let fields = [
        ("id", J::Uuid),
        ("class", J::Str),
        ("exchange", J::Str),
        ("symbol", J::Str),
        ("name", J::Str),
        ("status", J::Str),
        ("tradable", J::Bool),
        ("marginable", J::Bool),
        ("shortable", J::Bool),
        ("easy_to_borrow", J::Bool),
        ("fractionable", J::Bool),
        ("attributes", J::Arr),
    ];
    let exchanges = ["AMEX", "ARCA", "BATS", "NYSE", "NASDAQ", "NYSEARCA", "OTC"];
    for a in list {
        check("2.6 Asset object", a, &fields);
        assert_eq!(a["class"], "us_equity", "2.6: the key is `class`");
        assert!(!a.as_object().unwrap().contains_key("asset_class"));
        assert!(exchanges.contains(&a["exchange"].as_str().unwrap()));
    }
    // The Python version's watchlist (shared/fixtures/legacy-config/watchlist.yaml).
    for s in [
        "AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "PLTR", "CRWV",
    ] {
        let r = c.get(&format!("/v2/assets/{s}")).await;
        assert_eq!(r.status, 200, "{s}");
        assert!(!r.body["name"].as_str().unwrap().is_empty());
    }
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(c.get(&format!("/v2/assets/{id}")).await.body["id"], id);
    check_error(
        "2.6: 404 if unknown",
        &c.get("/v2/assets/NOPE").await,
        404,
        40410000,
    );
    assert_eq!(c.get("/v2/assets?asset_class=crypto").await.body, json!([]));
    sim.stop().await;
}

/// 2.7 Account activities: TradeActivity fields, paging, direction.
#[tokio::test]
async fn activities_contract() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    for (i, s) in ["AAPL", "MSFT", "SPY"].iter().enumerate() {
        c.order(json!({"symbol":s,"qty":"1","side":"buy","type":"market","time_in_force":"day"}))
            .await;
        sim.control().advance_clock(Duration::minutes(i as i64 + 1));
    }
    let r = c.get("/v2/account/activities?activity_types=FILL").await;
    assert_eq!(r.status, 200);
    let list = r.body.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for a in list {
        check(
            "2.7 TradeActivity",
            a,
            &[
                ("activity_type", J::Str),
                ("id", J::Str),
                ("transaction_time", J::Ts),
                ("type", J::Str),
                ("price", J::Dec),
                ("qty", J::Dec),
                ("side", J::Str),
                ("symbol", J::Str),
                ("leaves_qty", J::Dec),
                ("cum_qty", J::Dec),
                ("order_id", J::Uuid),
                ("order_status", J::Str),
            ],
        );
        assert_eq!(a["activity_type"], "FILL");
        assert!(["fill", "partial_fill"].contains(&a["type"].as_str().unwrap()));
        // "id ("<date>::<uuid>", usable as page_token)".
        let id = a["id"].as_str().unwrap();
        let (date, uuid) = id.split_once("::").expect("2.7: <date>::<uuid>");
        assert!(date.chars().all(|ch| ch.is_ascii_digit()) && date.len() >= 8);
        assert!(uuid::Uuid::parse_str(uuid).is_ok());
    }
    assert_eq!(list[0]["symbol"], "SPY", "2.7: direction defaults to desc");
    let asc = c
        .get("/v2/account/activities?direction=asc&page_size=2")
        .await
        .body;
    assert_eq!(asc.as_array().unwrap().len(), 2);
    assert_eq!(asc[0]["symbol"], "AAPL");
    let token = asc[1]["id"].as_str().unwrap();
    let next = c
        .get(&format!(
            "/v2/account/activities?direction=asc&page_token={token}"
        ))
        .await
        .body;
    assert_eq!(next.as_array().unwrap().len(), 1);
    assert_eq!(next[0]["symbol"], "SPY");
    let by_date = c.get("/v2/account/activities?date=2024-07-10").await.body;
    assert_eq!(by_date.as_array().unwrap().len(), 3);
    let r = c
        .get("/v2/account/activities?date=2024-07-10&after=2024-07-09T00:00:00Z")
        .await;
    assert_eq!(
        r.status, 422,
        "2.7: date cannot be combined with after/until"
    );
    assert_eq!(
        c.get("/v2/account/activities?page_size=101").await.status,
        422,
        "2.7: max 100"
    );
    assert_eq!(c.get("/v2/account/activities/DIV").await.body, json!([]));
    sim.stop().await;
}

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: failing loudly is the point"
)]
fn check_bar(section: &str, b: &Value) {
    check(
        section,
        b,
        &[
            ("t", J::Ts),
            ("o", J::Num),
            ("h", J::Num),
            ("l", J::Num),
            ("c", J::Num),
            ("v", J::Int),
            ("n", J::Int),
            ("vw", J::Num),
        ],
    );
    let f = |k: &str| b[k].as_f64().unwrap();
    assert!(f("l") <= f("o") && f("o") <= f("h") && f("l") <= f("c") && f("c") <= f("h"));
}

/// 2.9 Market data: bars for many symbols, one symbol, limit across symbols.
#[tokio::test]
async fn bars_contract() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let r = c
        .get("/v2/stocks/bars?symbols=AAPL,TSLA&timeframe=1Day&start=2024-07-01&end=2024-07-09")
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    check(
        "2.9 Bars, many symbols",
        &r.body,
        &[("bars", J::Obj), ("next_page_token", J::StrOrNull)],
    );
    let bars = r.body["bars"].as_object().unwrap();
    assert_eq!(bars.len(), 2);
    for list in bars.values() {
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 6, "July 4th closed");
        for b in list {
            check_bar("2.9 Bar object", b);
        }
        // Daily bars are labelled at midnight New York: "2022-04-11T04:00:00Z".
        assert_eq!(list[0]["t"], "2024-07-01T04:00:00Z");
    }
    // "The limit counts all symbols together per page, not per symbol."
    let r = c
        .get("/v2/stocks/bars?symbols=AAPL,TSLA&timeframe=1Day&start=2024-07-01&end=2024-07-09&limit=8")
        .await;
    let page: usize = r.body["bars"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(page, 8);
    assert_eq!(
        r.body["bars"]["AAPL"].as_array().unwrap().len(),
        6,
        "grouped by symbol, then time"
    );
    let token = r.body["next_page_token"]
        .as_str()
        .expect("2.9: a token while more remain");
    let r = c
        .get(&format!(
            "/v2/stocks/bars?symbols=AAPL,TSLA&timeframe=1Day&start=2024-07-01&end=2024-07-09&limit=8&page_token={token}"
        ))
        .await;
    assert_eq!(r.body["bars"]["TSLA"].as_array().unwrap().len(), 4);
    assert!(r.body["next_page_token"].is_null(), "2.9: null at the end");

    // One symbol: `symbol` in the body, as apca needs.
    let r = c
        .get("/v2/stocks/AAPL/bars?timeframe=1Hour&start=2024-07-09")
        .await;
    assert_eq!(r.status, 200);
    check(
        "2.9 Bars, one symbol",
        &r.body,
        &[
            ("bars", J::Arr),
            ("symbol", J::Str),
            ("next_page_token", J::StrOrNull),
        ],
    );
    assert_eq!(r.body["symbol"], "AAPL");
    // Timeframes as Alpaca spells them, 1Min to 12Month; anything else is 400.
    for tf in [
        "1Min", "5Min", "15Min", "59Min", "1Hour", "4Hour", "1Day", "1Week", "1Month", "3Month",
        "12Month", "1T", "1H", "1D",
    ] {
        let r = c
            .get(&format!(
                "/v2/stocks/bars?symbols=SPY&timeframe={tf}&start=2024-01-01"
            ))
            .await;
        assert_eq!(r.status, 200, "2.9 timeframe {tf}: {}", r.raw);
        for b in r.body["bars"]["SPY"].as_array().unwrap() {
            check_bar(&format!("2.9 Bar {tf}"), b);
        }
    }
    for tf in ["60Min", "24Hour", "2Day", "5Month", "1Year"] {
        let r = c
            .get(&format!(
                "/v2/stocks/bars?symbols=SPY&timeframe={tf}&start=2024-01-01"
            ))
            .await;
        assert_eq!(r.status, 400, "2.9 invalid timeframe {tf} -> 400");
    }
    // Feeds and adjustments.
    for q in [
        "feed=iex",
        "feed=sip",
        "adjustment=raw",
        "adjustment=split,dividend",
        "adjustment=all",
        "sort=desc",
    ] {
        let r = c
            .get(&format!(
                "/v2/stocks/bars?symbols=SPY&timeframe=1Day&start=2024-06-01&{q}"
            ))
            .await;
        assert_eq!(r.status, 200, "2.9 {q}");
    }
    let iex = c
        .get("/v2/stocks/bars?symbols=SPY&timeframe=1Day&start=2024-06-03&end=2024-06-03&feed=iex")
        .await
        .body;
    let sip = c
        .get("/v2/stocks/bars?symbols=SPY&timeframe=1Day&start=2024-06-03&end=2024-06-03&feed=sip")
        .await
        .body;
    assert_eq!(iex["bars"]["SPY"][0]["c"], sip["bars"]["SPY"][0]["c"]);
    assert!(
        iex["bars"]["SPY"][0]["v"].as_u64() < sip["bars"]["SPY"][0]["v"].as_u64(),
        "IEX sees a share of the volume"
    );
    assert_eq!(
        c.get("/v2/stocks/bars?symbols=SPY&timeframe=1Day&feed=nasdaq")
            .await
            .status,
        400
    );
    assert_eq!(
        c.get("/v2/stocks/bars?symbols=SPY&timeframe=1Day&limit=10001")
            .await
            .status,
        400,
        "2.9 limit 1-10000"
    );
    assert_eq!(
        c.get("/v2/stocks/bars?symbols=SPY&timeframe=1Day&adjustment=bogus")
            .await
            .status,
        400
    );
    let desc = c
        .get("/v2/stocks/bars?symbols=SPY&timeframe=1Day&start=2024-06-01&end=2024-06-30&sort=desc")
        .await
        .body;
    let t0 = desc["bars"]["SPY"][0]["t"].as_str().unwrap().to_string();
    let t1 = desc["bars"]["SPY"][1]["t"].as_str().unwrap().to_string();
    assert!(t0 > t1, "2.9 sort=desc");
    sim.stop().await;
}

/// 2.9 Latest data and snapshots.
#[tokio::test]
async fn latest_and_snapshots_contract() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let r = c
        .get("/v2/stocks/trades/latest?symbols=AAPL,MSFT&feed=iex")
        .await;
    assert_eq!(r.status, 200);
    let trades = r.body["trades"]
        .as_object()
        .expect("2.9: {\"trades\":{SYM:Trade}}");
    assert_eq!(trades.len(), 2);
    for tr in trades.values() {
        check(
            "2.9 Trade",
            tr,
            &[
                ("t", J::Ts),
                ("x", J::Str),
                ("p", J::Num),
                ("s", J::Int),
                ("c", J::Arr),
                ("i", J::Int),
                ("z", J::Str),
            ],
        );
    }
    let r = c.get("/v2/stocks/quotes/latest?symbols=AAPL").await;
    let q = &r.body["quotes"]["AAPL"];
    check(
        "2.9 Quote",
        q,
        &[
            ("t", J::Ts),
            ("ax", J::Str),
            ("ap", J::Num),
            ("as", J::Int),
            ("bx", J::Str),
            ("bp", J::Num),
            ("bs", J::Int),
            ("c", J::Arr),
            ("z", J::Str),
        ],
    );
    assert!(q["bp"].as_f64() < q["ap"].as_f64());
    let r = c.get("/v2/stocks/bars/latest?symbols=AAPL").await;
    check_bar("2.9 Latest bar", &r.body["bars"]["AAPL"]);
    let r = c.get("/v2/stocks/AAPL/trades/latest").await;
    assert_eq!(r.body["symbol"], "AAPL", "2.9 single-symbol latest trade");
    assert!(r.body["trade"].is_object());

    // "a top-level map without a wrapper".
    let r = c.get("/v2/stocks/snapshots?symbols=AAPL,SPY").await;
    assert_eq!(r.status, 200);
    let snaps = r.body.as_object().unwrap();
    assert_eq!(snaps.keys().cloned().collect::<Vec<_>>(), ["AAPL", "SPY"]);
    for s in snaps.values() {
        check(
            "2.9 Snapshot",
            s,
            &[
                ("latestTrade", J::Obj),
                ("latestQuote", J::Obj),
                ("minuteBar", J::Obj),
                ("dailyBar", J::Obj),
                ("prevDailyBar", J::Obj),
            ],
        );
        check_bar("2.9 Snapshot dailyBar", &s["dailyBar"]);
        check_bar("2.9 Snapshot prevDailyBar", &s["prevDailyBar"]);
        assert!(s["dailyBar"]["t"].as_str() > s["prevDailyBar"]["t"].as_str());
    }
    let one = c.get("/v2/stocks/AAPL/snapshot").await.body;
    assert_eq!(one["symbol"], "AAPL", "2.9: the same object plus symbol");
    assert_eq!(one["latestTrade"], snaps["AAPL"]["latestTrade"]);
    // The latest trade price is the price orders fill at.
    let o = c
        .order(
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day"}),
        )
        .await;
    assert_eq!(
        num(&o["filled_avg_price"]),
        one["latestTrade"]["p"].as_f64().unwrap()
    );
    sim.stop().await;
}
