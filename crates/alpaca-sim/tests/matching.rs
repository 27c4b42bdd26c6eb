//! The matching engine and the account on a pinned clock (issue 4, item 6):
//! fills, cash and equity, limit and stop triggers against the bars, day
//! order expiry, and Alpaca's rejections with their statuses and codes.

mod common;

use alpaca_sim::market::{Bar, Market};
use chrono::{Duration, NaiveDate};
use common::*;
use serde_json::json;

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: failing loudly is the point"
)]
fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 7, 10).unwrap()
}

fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// The 1-minute bar starting at `at` as the data API shows it.
async fn api_minute_bar(c: &Client, symbol: &str, at: &str) -> serde_json::Value {
    let r = c
        .get(&format!(
            "/v2/stocks/{symbol}/bars?timeframe=1Min&start={at}&end={at}&feed=sip"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body["bars"][0].clone()
}

#[tokio::test]
async fn market_buy_fills_at_the_current_price_and_moves_cash_and_equity() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let o = c
        .order(
            json!({"symbol":"AAPL","qty":"10","side":"buy","type":"market","time_in_force":"day"}),
        )
        .await;
    assert_eq!(o["status"], "filled");
    assert_eq!(o["filled_qty"], "10");
    assert_eq!(o["filled_at"], "2024-07-10T14:00:00Z");
    let p = num(&o["filled_avg_price"]);
    // The current price is the open of the minute in progress.
    let bar = api_minute_bar(&c, "AAPL", "2024-07-10T14:00:00Z").await;
    // (The 10:00 bar is not complete yet at 10:00; read it a minute later.)
    assert!(bar.is_null());
    sim.control().advance_clock(Duration::minutes(1));
    let bar = api_minute_bar(&c, "AAPL", "2024-07-10T14:00:00Z").await;
    assert_eq!(bar["o"].as_f64().unwrap(), p);

    let a = c.get("/v2/account").await.body;
    let cash = num(&a["cash"]);
    assert!((cash - (100_000.0 - 10.0 * p)).abs() < 1e-6, "{a}");

    sim.control().advance_clock(Duration::minutes(29));
    let p2 = api_minute_bar(&c, "AAPL", "2024-07-10T14:30:00Z").await;
    assert!(p2.is_null(), "the 10:30 bar is still in progress");
    let pos = c.get("/v2/positions/AAPL").await.body;
    let current = num(&pos["current_price"]);
    let a = c.get("/v2/account").await.body;
    assert!(
        (num(&a["cash"]) - cash).abs() < 1e-9,
        "cash does not move without fills"
    );
    let equity = num(&a["equity"]);
    assert!((equity - (cash + 10.0 * current)).abs() < 0.006, "{a}");
    assert!((num(&a["long_market_value"]) - 10.0 * current).abs() < 0.006);
    assert!((num(&pos["unrealized_pl"]) - 10.0 * (current - p)).abs() < 0.006);
    assert_eq!(num(&pos["avg_entry_price"]), p);
    // The account was opened today: last equity is the starting cash.
    assert_eq!(a["last_equity"], "100000");

    // The next day, last_equity is the equity at yesterday's close.
    sim.control().set_clock(t("2024-07-11T14:00:00Z"));
    let daily = c
        .get("/v2/stocks/AAPL/bars?timeframe=1Day&start=2024-07-10&end=2024-07-10&feed=sip")
        .await
        .body;
    let close = daily["bars"][0]["c"].as_f64().unwrap();
    let a = c.get("/v2/account").await.body;
    assert!(
        (num(&a["last_equity"]) - (cash + 10.0 * close)).abs() < 0.006,
        "{a}"
    );

    // The fill is a FILL activity.
    let acts = c.get("/v2/account/activities/FILL").await.body;
    assert_eq!(acts.as_array().unwrap().len(), 1);
    assert_eq!(
        acts[0]["price"].as_str().unwrap().parse::<f64>().unwrap(),
        p
    );
    assert_eq!(acts[0]["qty"], "10");
    assert_eq!(acts[0]["side"], "buy");
    assert_eq!(acts[0]["order_id"], o["id"]);
    sim.stop().await;
}

/// A symbol whose lows after 10:00 go below the 10:00 price: (symbol,
/// 10:00 price, lowest low by noon, index of the bar that first reaches it).
#[expect(
    clippy::unwrap_used,
    reason = "a test helper: failing loudly is the point"
)]
fn dipping_symbol(market: &Market) -> (String, i64, i64, usize) {
    for s in ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "META", "SPY", "QQQ"] {
        let bars: Vec<Bar> = market.minute_bars(s, date()).to_vec();
        let p0 = bars[30].o;
        let window = &bars[30..150];
        let low = window.iter().map(|b| b.l).min().unwrap();
        let k = 30 + window.iter().position(|b| b.l == low).unwrap();
        if low < p0 - 5 && k > 40 {
            return (s.to_string(), p0, low, k);
        }
    }
    panic!("no dipping symbol");
}

#[tokio::test]
async fn limit_buy_fills_only_when_a_bars_low_reaches_it() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let market = Market::new(42);
    let (symbol, _p0, low, k) = dipping_symbol(&market);
    let bars = market.minute_bars(&symbol, date());
    let limit = dollars(low);
    let o = c
        .order(
            json!({"symbol": symbol, "qty": 4, "side": "buy", "type": "limit",
                      "limit_price": format!("{limit:.2}"), "time_in_force": "day"}),
        )
        .await;
    assert_eq!(o["status"], "new");
    let id = o["id"].as_str().unwrap().to_string();

    // Just before the bar that reaches the limit completes: still open, and
    // every completed bar since 10:00 stayed above the limit.
    sim.control().set_clock(bars[k].t + Duration::seconds(59));
    let got = c.get(&format!("/v2/orders/{id}")).await.body;
    assert_eq!(got["status"], "new", "{got}");
    let shown = c
        .get(&format!(
            "/v2/stocks/{symbol}/bars?timeframe=1Min&start=2024-07-10T14:00:00Z&feed=sip"
        ))
        .await
        .body;
    let shown = shown["bars"].as_array().unwrap();
    assert_eq!(shown.len(), k - 30);
    assert!(shown.iter().all(|b| b["l"].as_f64().unwrap() > limit));

    // Once it completes, the order has filled at min(limit, that bar's open).
    sim.control().set_clock(bars[k].t + Duration::minutes(1));
    let got = c.get(&format!("/v2/orders/{id}")).await.body;
    assert_eq!(got["status"], "filled", "{got}");
    let fill = num(&got["filled_avg_price"]);
    assert_eq!(fill, dollars(bars[k].o.min(low)));
    assert_eq!(
        got["filled_at"],
        bars[k].t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let last = api_minute_bar(
        &c,
        &symbol,
        &bars[k].t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
    .await;
    assert_eq!(last["l"].as_f64().unwrap(), limit);
    sim.stop().await;
}

#[tokio::test]
async fn stop_buy_triggers_when_a_bars_high_reaches_it() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let market = Market::new(42);
    let bars = market.minute_bars("SPY", date());
    let p0 = bars[30].o;
    let (k, high) = bars[31..200]
        .iter()
        .enumerate()
        .map(|(i, b)| (i + 31, b.h))
        .find(|(_, h)| *h > p0 + 10)
        .expect("SPY rises 10 cents within the morning");
    let stop = dollars(high);
    let o = c
        .order(json!({"symbol":"SPY","qty":"2","side":"buy","type":"stop",
                      "stop_price": format!("{stop:.2}"),"time_in_force":"gtc"}))
        .await;
    assert_eq!(o["status"], "new");
    sim.control().set_clock(bars[k].t + Duration::minutes(1));
    let got = c
        .get(&format!("/v2/orders/{}", o["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(got["status"], "filled");
    assert_eq!(num(&got["filled_avg_price"]), dollars(high.max(bars[k].o)));
    sim.stop().await;
}

#[tokio::test]
async fn day_order_expires_at_the_close_and_gtc_does_not() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let day = c
        .order(json!({"symbol":"MSFT","qty":"1","side":"buy","type":"limit","limit_price":"1.00","time_in_force":"day"}))
        .await;
    let gtc = c
        .order(json!({"symbol":"AMZN","qty":"1","side":"buy","type":"limit","limit_price":"1.00","time_in_force":"gtc"}))
        .await;
    assert_eq!(day["expires_at"], "2024-07-10T20:00:00Z");
    sim.control().set_clock(t("2024-07-10T19:59:59Z"));
    let d = c
        .get(&format!("/v2/orders/{}", day["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(d["status"], "new");
    sim.control().set_clock(t("2024-07-10T20:00:00Z"));
    let d = c
        .get(&format!("/v2/orders/{}", day["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(d["status"], "expired");
    assert_eq!(d["expired_at"], "2024-07-10T20:00:00Z");
    let g = c
        .get(&format!("/v2/orders/{}", gtc["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(g["status"], "new");
    let open = c.get("/v2/orders?status=open").await.body;
    assert_eq!(open.as_array().unwrap().len(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn market_order_outside_hours_waits_for_the_open() {
    // 8:00 New York, before the open.
    let sim = start_at(t("2024-07-10T12:00:00Z")).await;
    let c = Client::new(&sim);
    let o = c
        .order(
            json!({"symbol":"AAPL","qty":"3","side":"buy","type":"market","time_in_force":"day"}),
        )
        .await;
    assert_eq!(o["status"], "accepted");
    assert!(o["filled_at"].is_null());
    sim.control().set_clock(t("2024-07-10T13:29:59Z"));
    let got = c
        .get(&format!("/v2/orders/{}", o["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(got["status"], "accepted");
    sim.control().set_clock(t("2024-07-10T13:45:00Z"));
    let got = c
        .get(&format!("/v2/orders/{}", o["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(got["status"], "filled");
    assert_eq!(got["filled_at"], "2024-07-10T13:30:00Z");
    let open_bar = api_minute_bar(&c, "AAPL", "2024-07-10T13:30:00Z").await;
    assert_eq!(
        num(&got["filled_avg_price"]),
        open_bar["o"].as_f64().unwrap()
    );
    sim.stop().await;
}

#[tokio::test]
async fn ioc_and_fok_fill_at_once_or_cancel() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let ioc = c
        .order(json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","limit_price":"1.00","time_in_force":"ioc"}))
        .await;
    assert_eq!(ioc["status"], "canceled");
    let fok = c
        .order(
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"fok"}),
        )
        .await;
    assert_eq!(fok["status"], "filled");
    sim.stop().await;
}

#[tokio::test]
async fn rejections_have_alpacas_status_and_code() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let post = |body: serde_json::Value| {
        let c = &c;
        async move { c.post("/v2/orders", body).await }
    };

    // Insufficient buying power: 403 40310000 with buying_power and cost_basis.
    let r = post(
        json!({"symbol":"AAPL","qty":"100000","side":"buy","type":"market","time_in_force":"day"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.raw);
    assert_eq!(r.body["code"], 40310000);
    assert_eq!(r.body["message"], "insufficient buying power");
    assert_eq!(r.body["buying_power"], "200000");
    assert!(r.body["cost_basis"].is_string());

    // A reused client_order_id: 422 40010001.
    let first = json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day","client_order_id":"dup-1"});
    assert_eq!(post(first.clone()).await.status, 200);
    let r = post(first).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["code"], 40010001);

    // Cancelling a filled order: 422.
    let filled = c
        .get("/v2/orders:by_client_order_id?client_order_id=dup-1")
        .await
        .body;
    assert_eq!(filled["status"], "filled");
    let r = c
        .delete(&format!("/v2/orders/{}", filled["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["code"], 42210000);

    // An opposite order open for the symbol: 422 42210000 (wash trade).
    let r = post(json!({"symbol":"MSFT","qty":"1","side":"buy","type":"limit","limit_price":"1","time_in_force":"gtc"})).await;
    assert_eq!(r.status, 200);
    let r = post(
        json!({"symbol":"MSFT","qty":"1","side":"sell","type":"market","time_in_force":"day"}),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["code"], 42210000);
    assert_eq!(
        r.body["message"],
        "potential wash trade detected. use complex orders"
    );

    // Bad quantities and prices: 422 40010001.
    for (body, why) in [
        (
            json!({"symbol":"AAPL","qty":"-1","side":"buy","type":"market","time_in_force":"day"}),
            "negative qty",
        ),
        (
            json!({"symbol":"AAPL","qty":"0","side":"buy","type":"market","time_in_force":"day"}),
            "zero qty",
        ),
        (
            json!({"symbol":"AAPL","qty":"abc","side":"buy","type":"market","time_in_force":"day"}),
            "not a number",
        ),
        (
            json!({"symbol":"AAPL","side":"buy","type":"market","time_in_force":"day"}),
            "no qty",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","notional":"10","side":"buy","type":"market","time_in_force":"day"}),
            "qty and notional",
        ),
        (
            json!({"symbol":"AAPL","qty":"1.5","side":"buy","type":"limit","limit_price":"10","time_in_force":"day"}),
            "fractional limit",
        ),
        (
            json!({"symbol":"AAPL","notional":"100","side":"buy","type":"market","time_in_force":"gtc"}),
            "notional gtc",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","time_in_force":"day"}),
            "no limit price",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","limit_price":"-5","time_in_force":"day"}),
            "negative limit",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","limit_price":"10.001","time_in_force":"day"}),
            "sub-penny",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"stop","time_in_force":"day"}),
            "no stop price",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day","extended_hours":true}),
            "extended market",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"up","type":"market","time_in_force":"day"}),
            "bad side",
        ),
        (
            json!({"symbol":"NOPE","qty":"1","side":"buy","type":"market","time_in_force":"day"}),
            "unknown symbol",
        ),
        (
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day","client_order_id":"x".repeat(49)}),
            "long client id",
        ),
    ] {
        let r = post(body).await;
        assert_eq!(r.status, 422, "{why}: {}", r.raw);
        assert_eq!(r.body["code"], 40010001, "{why}");
    }

    // Order classes and types the simulator does not support: 422 saying so.
    for body in [
        json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day","order_class":"bracket",
               "take_profit":{"limit_price":"500"},"stop_loss":{"stop_price":"50"}}),
        json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","limit_price":"10","time_in_force":"day","order_class":"oto",
               "take_profit":{"limit_price":"500"}}),
        json!({"symbol":"AAPL","qty":"1","side":"sell","type":"trailing_stop","trail_percent":"5","time_in_force":"day"}),
        json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"opg"}),
    ] {
        let r = post(body).await;
        assert_eq!(r.status, 422, "{}", r.raw);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("not supported by the simulator"),
            "{}",
            r.raw
        );
    }

    // Selling more than the position holds: 403 insufficient qty.
    let r = post(
        json!({"symbol":"AAPL","qty":"5","side":"sell","type":"market","time_in_force":"day"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.raw);
    assert_eq!(r.body["code"], 40310000);
    assert_eq!(r.body["available"], "1");
    sim.stop().await;
}

#[tokio::test]
async fn closing_positions() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    c.order(json!({"symbol":"AAPL","qty":"10","side":"buy","type":"market","time_in_force":"day"}))
        .await;
    c.order(json!({"symbol":"MSFT","qty":"4","side":"buy","type":"market","time_in_force":"day"}))
        .await;
    c.order(json!({"symbol":"TSLA","qty":"2","side":"sell","type":"market","time_in_force":"day"}))
        .await;
    sim.control().advance_clock(Duration::minutes(10));

    // Part of one position, by percentage.
    let r = c.delete("/v2/positions/AAPL?percentage=50").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["qty"], "5");
    assert_eq!(r.body["side"], "sell");
    let pos = c.get("/v2/positions/AAPL").await.body;
    assert_eq!(pos["qty"], "5");

    // All of them: 207 with one item per position; shorts are bought back.
    let r = c.delete("/v2/positions?cancel_orders=true").await;
    assert_eq!(r.status, 207, "{}", r.raw);
    let items = r.body.as_array().unwrap();
    assert_eq!(items.len(), 3);
    let tsla = items.iter().find(|i| i["symbol"] == "TSLA").unwrap();
    assert_eq!(tsla["status"], 200);
    assert_eq!(tsla["body"]["side"], "buy");
    assert_eq!(c.get("/v2/positions").await.body, json!([]));
    let a = c.get("/v2/account").await.body;
    assert_eq!(a["cash"], a["equity"]);
    assert_eq!(a["long_market_value"], "0");
    sim.stop().await;
}

#[tokio::test]
async fn portfolio_history_follows_the_fills() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let o = c
        .order(
            json!({"symbol":"AAPL","qty":"10","side":"buy","type":"market","time_in_force":"day"}),
        )
        .await;
    let p = num(&o["filled_avg_price"]);
    // Friday 2024-07-12 after the close.
    sim.control().set_clock(t("2024-07-12T21:00:00Z"));
    let h = c
        .get("/v2/account/portfolio/history?period=1W&timeframe=1D")
        .await;
    assert_eq!(h.status, 200, "{}", h.raw);
    let h = h.body;
    let stamps: Vec<i64> = h["timestamp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    // Jul 10, 11 and 12 at midnight New York (the account opened on the 10th).
    assert_eq!(stamps, vec![1_720_584_000, 1_720_670_400, 1_720_756_800]);
    let daily = c
        .get("/v2/stocks/AAPL/bars?timeframe=1Day&start=2024-07-10&end=2024-07-12&feed=sip")
        .await
        .body;
    let cash = 100_000.0 - 10.0 * p;
    for (i, bar) in daily["bars"].as_array().unwrap().iter().enumerate() {
        let expected = cash + 10.0 * bar["c"].as_f64().unwrap();
        let got = h["equity"][i].as_f64().unwrap();
        assert!(
            (got - expected).abs() < 0.006,
            "day {i}: {got} vs {expected}"
        );
        let pl = h["profit_loss"][i].as_f64().unwrap();
        assert!((pl - (expected - 100_000.0)).abs() < 0.006);
    }
    assert_eq!(h["base_value"].as_f64().unwrap(), 100_000.0);
    assert_eq!(h["timeframe"], "1D");
    let a = c.get("/v2/account").await.body;
    assert_eq!(h["equity"][2].as_f64().unwrap(), num(&a["equity"]));

    // Intraday on Friday: 26 points of 15 minutes.
    let h = c
        .get("/v2/account/portfolio/history?period=1D&timeframe=15Min")
        .await
        .body;
    assert_eq!(h["timestamp"].as_array().unwrap().len(), 26);
    assert_eq!(
        h["timestamp"][0].as_i64().unwrap(),
        t("2024-07-12T13:30:00Z").timestamp()
    );
    assert_eq!(h["equity"][25].as_f64().unwrap(), num(&a["equity"]));
    sim.stop().await;
}

#[tokio::test]
async fn extended_hours_limit_orders_trade_before_the_open() {
    // 8:00 New York: pre-market, where the last price is yesterday's close.
    let sim = start_at(t("2024-07-10T12:00:00Z")).await;
    let c = Client::new(&sim);
    let daily = c
        .get("/v2/stocks/AAPL/bars?timeframe=1Day&start=2024-07-09&end=2024-07-09&feed=sip")
        .await
        .body;
    let close = daily["bars"][0]["c"].as_f64().unwrap();
    let limit = format!("{:.2}", close + 1.0);
    let regular = c
        .order(
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","limit_price":limit,
                      "time_in_force":"day"}),
        )
        .await;
    assert_eq!(regular["status"], "accepted", "waits for the open");
    c.delete(&format!("/v2/orders/{}", regular["id"].as_str().unwrap()))
        .await;
    let extended = c
        .order(
            json!({"symbol":"AAPL","qty":"1","side":"buy","type":"limit","limit_price":limit,
                      "time_in_force":"day","extended_hours":true}),
        )
        .await;
    assert_eq!(extended["status"], "filled");
    assert_eq!(num(&extended["filled_avg_price"]), close);
    assert_eq!(extended["filled_at"], "2024-07-10T12:00:00Z");
    sim.stop().await;
}
