//! Determinism (issue 4, "Must show"): the same seed gives the same bars and
//! fills on every run, and bars for several symbols fetched in one paged
//! sequence equal the bars fetched one symbol at a time.

mod common;

use std::collections::BTreeMap;

use alpaca_sim::{ClockMode, SimConfig};
use chrono::Duration;
use common::*;
use serde_json::{Value, json};

async fn sim_with_seed(seed: u64) -> alpaca_sim::SimHandle {
    start_with(SimConfig {
        seed,
        clock: ClockMode::Fixed(wednesday_10am()),
        ..SimConfig::default()
    })
    .await
}

/// Runs a fixed script of orders and clock moves; returns what the API
/// showed: bars, orders, activities and the account.
async fn script(seed: u64) -> Vec<Value> {
    let sim = sim_with_seed(seed).await;
    let c = Client::new(&sim);
    let mut seen = Vec::new();
    seen.push(
        c.get("/v2/stocks/bars?symbols=AAPL,MSFT&timeframe=5Min&start=2024-07-09&feed=sip")
            .await
            .body,
    );
    seen.push(
        c.order(
            json!({"symbol":"AAPL","qty":"7","side":"buy","type":"market","time_in_force":"day"}),
        )
        .await,
    );
    let p = num(&seen[1]["filled_avg_price"]);
    let limit = format!("{:.2}", p * 0.995);
    seen.push(c.order(json!({"symbol":"MSFT","qty":"3","side":"buy","type":"limit","limit_price":limit,"time_in_force":"gtc"})).await);
    seen.push(c.order(json!({"symbol":"SPY","notional":"2500","side":"buy","type":"market","time_in_force":"day"})).await);
    sim.control().advance_clock(Duration::days(2));
    seen.push(c.get("/v2/orders?status=all&direction=asc").await.body);
    seen.push(c.get("/v2/account/activities").await.body);
    seen.push(c.get("/v2/positions").await.body);
    seen.push(c.get("/v2/account").await.body);
    sim.stop().await;
    seen
}

#[tokio::test]
async fn same_seed_same_bars_and_fills() {
    let a = script(7).await;
    let b = script(7).await;
    assert_eq!(a, b);
    // The limit order and the notional order took part too.
    let orders = a[4].as_array().unwrap();
    assert_eq!(orders.len(), 3);
    assert!(
        orders
            .iter()
            .all(|o| o["filled_avg_price"].is_string() || o["status"] == "new")
    );
    let other = script(8).await;
    assert_ne!(a[0], other[0], "another seed gives other prices");
}

/// Fetches every page of a bars request; returns the bars per symbol and
/// the number of pages.
#[expect(
    clippy::unwrap_used,
    reason = "a test helper: failing loudly is the point"
)]
async fn all_pages(c: &Client, path: &str) -> (BTreeMap<String, Vec<Value>>, usize) {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &token {
            Some(t) => format!("{path}&page_token={t}"),
            None => path.to_string(),
        };
        let r = c.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        pages += 1;
        let bars = &r.body["bars"];
        if let Some(map) = bars.as_object() {
            for (symbol, list) in map {
                out.entry(symbol.clone())
                    .or_default()
                    .extend(list.as_array().unwrap().iter().cloned());
            }
        } else if let Some(list) = bars.as_array() {
            let symbol = r.body["symbol"].as_str().unwrap().to_string();
            out.entry(symbol).or_default().extend(list.iter().cloned());
        }
        match r.body["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
        assert!(pages < 1000);
    }
    (out, pages)
}

#[tokio::test]
async fn three_symbols_over_a_year_paged_equal_one_symbol_at_a_time() {
    let sim = sim_with_seed(42).await;
    let c = Client::new(&sim);
    let range = "timeframe=1Day&start=2023-01-01T00:00:00Z&end=2023-12-31T23:59:59Z&feed=sip";
    let (multi, pages) = all_pages(
        &c,
        &format!("/v2/stocks/bars?symbols=SPY,AAPL,MSFT&{range}&limit=100"),
    )
    .await;
    assert_eq!(pages, 8, "750 bars in pages of 100");
    assert_eq!(
        multi.keys().cloned().collect::<Vec<_>>(),
        ["AAPL", "MSFT", "SPY"]
    );
    for symbol in ["AAPL", "MSFT", "SPY"] {
        let (single, _) =
            all_pages(&c, &format!("/v2/stocks/{symbol}/bars?{range}&limit=37")).await;
        assert_eq!(multi[symbol].len(), 250, "NYSE had 250 sessions in 2023");
        assert_eq!(multi[symbol], single[symbol], "{symbol}");
        let times: Vec<&str> = multi[symbol]
            .iter()
            .map(|b| b["t"].as_str().unwrap())
            .collect();
        assert_eq!(times[0], "2023-01-03T05:00:00Z");
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(!times.contains(&"2023-04-07T04:00:00Z"), "Good Friday");
    }
    sim.stop().await;
}

#[tokio::test]
async fn hourly_bars_paged_equal_and_aggregate_the_minutes() {
    let sim = sim_with_seed(42).await;
    let c = Client::new(&sim);
    let range = "timeframe=1Hour&start=2024-06-01&end=2024-06-30&feed=sip";
    let (multi, pages) = all_pages(
        &c,
        &format!("/v2/stocks/bars?symbols=NVDA,TSLA,QQQ&{range}&limit=333"),
    )
    .await;
    assert!(pages > 1);
    for symbol in ["NVDA", "TSLA", "QQQ"] {
        let (single, _) = all_pages(&c, &format!("/v2/stocks/{symbol}/bars?{range}")).await;
        assert_eq!(multi[symbol], single[symbol]);
        // 19 sessions of 7 hourly bars (9:00 holds 9:30-9:59).
        assert_eq!(multi[symbol].len(), 19 * 7);
    }

    // A day bar is the aggregate of that day's minute bars.
    let day = c
        .get("/v2/stocks/NVDA/bars?timeframe=1Day&start=2024-06-14&end=2024-06-14&feed=sip")
        .await
        .body["bars"][0]
        .clone();
    let (minutes, _) = all_pages(
        &c,
        "/v2/stocks/NVDA/bars?timeframe=1Min&start=2024-06-14&end=2024-06-14&feed=sip&limit=10000",
    )
    .await;
    let m = &minutes["NVDA"];
    assert_eq!(m.len(), 390);
    let f = |b: &Value, k: &str| b[k].as_f64().unwrap();
    assert_eq!(f(&day, "o"), f(&m[0], "o"));
    assert_eq!(f(&day, "c"), f(&m[389], "c"));
    let high = m.iter().map(|b| f(b, "h")).fold(f64::MIN, f64::max);
    let low = m.iter().map(|b| f(b, "l")).fold(f64::MAX, f64::min);
    assert_eq!(f(&day, "h"), high);
    assert_eq!(f(&day, "l"), low);
    let volume: u64 = m.iter().map(|b| b["v"].as_u64().unwrap()).sum();
    assert_eq!(day["v"].as_u64().unwrap(), volume);
    sim.stop().await;
}
