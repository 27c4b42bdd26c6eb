//! Faults (issue 4, item 8): each kind switched on and off, seen by apca as
//! Alpaca's equivalent would be; the rate limit and its headers; the control
//! API over HTTP.

mod common;

use std::time::{Duration as StdDuration, Instant};

use alpaca_sim::{ClockMode, Fault, FaultKind, SimConfig};
use apca::api::v2::{account, clock};
use apca::{ApiInfo, Client as Apca, RequestError};
use common::*;
use serde_json::json;

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: failing loudly is the point"
)]
fn apca(sim: &alpaca_sim::SimHandle) -> Apca {
    Apca::new(ApiInfo::from_parts(sim.base_url(), KEY, SECRET).unwrap())
}

#[tokio::test]
async fn latency_is_added_and_removed() {
    let sim = start_at(wednesday_10am()).await;
    let c = apca(&sim);
    c.issue::<account::Get>(&()).await.unwrap();
    sim.control().set_fault(Fault::Latency { millis: 400 });
    let started = Instant::now();
    c.issue::<account::Get>(&()).await.unwrap();
    assert!(started.elapsed() >= StdDuration::from_millis(400));
    sim.control().clear_fault(FaultKind::Latency);
    let started = Instant::now();
    c.issue::<account::Get>(&()).await.unwrap();
    assert!(started.elapsed() < StdDuration::from_millis(300));
    sim.stop().await;
}

#[tokio::test]
async fn error_status_for_the_next_calls() {
    let sim = start_at(wednesday_10am()).await;
    let c = apca(&sim);
    sim.control().set_fault(Fault::ErrorNext {
        status: 500,
        count: 2,
    });
    for _ in 0..2 {
        match c.issue::<account::Get>(&()).await.unwrap_err() {
            RequestError::Endpoint(account::GetError::UnexpectedStatus(status, body)) => {
                assert_eq!(status.as_u16(), 500);
                assert_eq!(body.unwrap().message, "internal server error");
            }
            other => panic!("{other:?}"),
        }
    }
    c.issue::<account::Get>(&()).await.unwrap();
    assert!(sim.control().faults().is_empty(), "used up");
    sim.stop().await;
}

#[tokio::test]
async fn error_status_at_a_rate() {
    let sim = start_at(wednesday_10am()).await;
    let c = apca(&sim);
    sim.control().set_fault(Fault::ErrorRate {
        status: 503,
        rate: 1.0,
    });
    let err = c.issue::<clock::Get>(&()).await.unwrap_err();
    assert!(
        matches!(err, RequestError::Endpoint(clock::GetError::UnexpectedStatus(s, _)) if s.as_u16() == 503),
        "{err:?}"
    );
    sim.control().set_fault(Fault::ErrorRate {
        status: 503,
        rate: 0.5,
    });
    let mut failed = 0;
    for _ in 0..40 {
        if c.issue::<clock::Get>(&()).await.is_err() {
            failed += 1;
        }
    }
    assert!((8..=32).contains(&failed), "about half: {failed}");
    sim.control().clear_faults();
    for _ in 0..5 {
        c.issue::<clock::Get>(&()).await.unwrap();
    }
    sim.stop().await;
}

#[tokio::test]
async fn hang_makes_clients_time_out_until_cleared() {
    let sim = start_at(wednesday_10am()).await;
    let c = apca(&sim);
    sim.control().set_fault(Fault::Hang);
    let r = tokio::time::timeout(StdDuration::from_millis(500), c.issue::<account::Get>(&())).await;
    assert!(r.is_err(), "timed out");
    // A request in flight completes once the hang is cleared.
    let c2 = apca(&sim);
    let pending = tokio::spawn(async move { c2.issue::<account::Get>(&()).await.is_ok() });
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert!(!pending.is_finished());
    sim.control().clear_fault(FaultKind::Hang);
    assert!(pending.await.unwrap());
    c.issue::<account::Get>(&()).await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_storm_is_rate_limit_exceeded() {
    let sim = start_at(wednesday_10am()).await;
    let c = apca(&sim);
    sim.control().set_fault(Fault::RateLimitStorm);
    let err = c.issue::<account::Get>(&()).await.unwrap_err();
    assert!(
        matches!(
            err,
            RequestError::Endpoint(account::GetError::RateLimitExceeded(_))
        ),
        "{err:?}"
    );
    let raw = Client::new(&sim).get("/v2/clock").await;
    assert_eq!(raw.status, 429);
    assert_eq!(raw.header("x-ratelimit-remaining").as_deref(), Some("0"));
    sim.control().clear_fault(FaultKind::RateLimitStorm);
    c.issue::<account::Get>(&()).await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_per_key_with_headers() {
    let sim = start_with(SimConfig {
        clock: ClockMode::Fixed(wednesday_10am()),
        rate_limit_per_min: 5,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    for i in 0..5 {
        let r = c.get("/v2/clock").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some((4 - i).to_string()));
        let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!(reset > chrono::Utc::now().timestamp());
    }
    let r = c.get("/v2/clock").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["code"], 42910000);
    let err = apca(&sim).issue::<account::Get>(&()).await.unwrap_err();
    assert!(matches!(
        err,
        RequestError::Endpoint(account::GetError::RateLimitExceeded(_))
    ));
    // Another key id has its own window.
    let other = Client::with_keys(&sim, "PKOTHER", "s");
    assert_eq!(other.get("/v2/clock").await.status, 200);
    sim.stop().await;
}

#[tokio::test]
async fn control_api_over_http() {
    let sim = start_at(wednesday_10am()).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}/_sim{path}")).json(&body).send()
    };
    let r = post(
        "/faults",
        json!({"kind":"error_next","status":502,"count":1}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let c = Client::new(&sim);
    assert_eq!(c.get("/v2/clock").await.status, 502);
    assert_eq!(c.get("/v2/clock").await.status, 200);
    post("/faults", json!({"kind":"rate_limit_storm"}))
        .await
        .unwrap();
    assert_eq!(c.get("/v2/clock").await.status, 429);
    let r = http
        .delete(format!("{base}/_sim/faults/rate_limit_storm"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(c.get("/v2/clock").await.status, 200);

    // Accounts, assets and the clock.
    let r = post(
        "/accounts",
        json!({"key_id":"PKCTRL","secret":"s3","cash":"5000"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let r = post("/accounts", json!({"key_id":"PKCTRL","secret":"s3"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let ctrl = Client::with_keys(&sim, "PKCTRL", "s3");
    assert_eq!(ctrl.get("/v2/account").await.body["cash"], "5000");
    let r = post(
        "/assets",
        json!({"symbol":"ZZZT","name":"Test Corp. Common Stock","exchange":"NYSE"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let a = c.get("/v2/assets/ZZZT").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["exchange"], "NYSE");
    let bars = c
        .get("/v2/stocks/ZZZT/bars?timeframe=1Day&start=2024-07-01")
        .await;
    // Six full sessions (July 4th closed) and today's bar in progress.
    assert_eq!(bars.body["bars"].as_array().unwrap().len(), 7);
    let r = post("/clock", json!({"advance_seconds": 3600}))
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["now"], "2024-07-10T15:00:00Z");
    post("/clock", json!({"set": "2024-07-13T12:00:00Z"}))
        .await
        .unwrap();
    assert_eq!(c.get("/v2/clock").await.body["is_open"], false);

    // Reset: accounts and added assets are gone, the clock is back.
    let r = http
        .post(format!("{base}/_sim/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(c.get("/v2/assets/ZZZT").await.status, 404);
    assert_eq!(c.get("/v2/clock").await.body["is_open"], true);
    // The key pair is new again: any secret creates a fresh account.
    let again = Client::with_keys(&sim, "PKCTRL", "another");
    assert_eq!(again.get("/v2/account").await.body["cash"], "100000");
    sim.stop().await;
}

fn order_body(cid: &str) -> serde_json::Value {
    json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day","client_order_id":cid})
}

/// Orders with this client order id, from `GET /v2/orders?status=all`.
#[expect(
    clippy::unwrap_used,
    reason = "a test helper: failing loudly is the point"
)]
async fn orders_with(c: &Client, cid: &str) -> usize {
    let r = c.get("/v2/orders?status=all").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["client_order_id"] == cid)
        .count()
}

#[tokio::test]
async fn delay_response_answers_late_after_handling_the_call() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    sim.control().set_fault(Fault::DelayResponse {
        millis: 800,
        method: Some("post".into()),
        path: Some("/v2/orders".into()),
        count: Some(1),
    });
    // Other calls are not delayed.
    let started = Instant::now();
    assert_eq!(c.get("/v2/account").await.status, 200);
    assert!(started.elapsed() < StdDuration::from_millis(400));
    // The order is stored although the client gave up before the answer.
    let impatient = reqwest::Client::builder()
        .timeout(StdDuration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient
        .post(format!("{}/v2/orders", sim.base_url()))
        .header("APCA-API-KEY-ID", KEY)
        .header("APCA-API-SECRET-KEY", SECRET)
        .json(&order_body("late-1"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(orders_with(&c, "late-1").await, 1);
    assert!(sim.control().faults().is_empty(), "count used up");
    // A patient client gets the answer, late.
    sim.control().set_fault(Fault::DelayResponse {
        millis: 300,
        method: None,
        path: None,
        count: None,
    });
    let started = Instant::now();
    let o = c.order(order_body("late-2")).await;
    assert!(started.elapsed() >= StdDuration::from_millis(300));
    assert_eq!(o["client_order_id"], "late-2");
    sim.control().clear_fault(FaultKind::DelayResponse);
    sim.stop().await;
}

#[tokio::test]
async fn drop_response_closes_the_connection_after_handling_the_call() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&json!({"kind":"drop_response","method":"POST","path":"/v2/orders","count":1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started = Instant::now();
    let sent = http
        .post(format!("{}/v2/orders", sim.base_url()))
        .header("APCA-API-KEY-ID", KEY)
        .header("APCA-API-SECRET-KEY", SECRET)
        .json(&order_body("lost-1"))
        .send()
        .await;
    // Either no answer at all or a head and then a broken body: the client
    // never gets an order back.
    let got_order = match sent {
        Err(e) => {
            assert!(!e.is_timeout() && !e.is_connect(), "{e:?}");
            false
        }
        Ok(res) => res.json::<serde_json::Value>().await.is_ok(),
    };
    assert!(!got_order);
    assert!(started.elapsed() < StdDuration::from_secs(2), "no waiting");
    assert_eq!(orders_with(&c, "lost-1").await, 1, "the order was stored");
    // Used up: the next order is answered.
    assert_eq!(
        c.order(order_body("lost-2")).await["client_order_id"],
        "lost-2"
    );
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_next_asks_for_a_short_wait() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    sim.control().set_fault(Fault::RateLimitNext {
        count: 2,
        retry_after_secs: 1,
    });
    for _ in 0..2 {
        let r = c.get("/v2/account").await;
        assert_eq!(r.status, 429);
        assert_eq!(r.body["code"], 42910000);
        assert_eq!(r.header("retry-after").as_deref(), Some("1"));
        assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
        let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!((now..=now + 2).contains(&reset), "{reset} vs {now}");
    }
    let r = c.get("/v2/account").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("retry-after"), None);
    assert!(sim.control().faults().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn request_log_counts_every_call_by_key_and_path() {
    let sim = start_at(wednesday_10am()).await;
    let c = Client::new(&sim);
    let other = Client::with_keys(&sim, "PKOTHER", "s");
    for _ in 0..3 {
        c.get("/v2/account").await;
    }
    other.get("/v2/account").await;
    c.get("/v2/stocks/bars?symbols=AAPL&timeframe=1Day").await;
    // Faulted, refused and unknown calls count too.
    sim.control().set_fault(Fault::ErrorNext {
        status: 500,
        count: 2,
    });
    assert_eq!(c.get("/v2/account").await.status, 500);
    assert_eq!(c.get("/v2/clock").await.status, 500);
    assert_eq!(
        Client::with_keys(&sim, KEY, "wrong")
            .get("/v2/account")
            .await
            .status,
        401
    );
    sim.control().set_fault(Fault::DelayResponse {
        millis: 10,
        method: None,
        path: None,
        count: Some(1),
    });
    assert_eq!(c.delete("/v2/orders").await.status, 207);

    let ctl = sim.control();
    assert_eq!(ctl.request_count(KEY, "GET", "/v2/account"), 5);
    assert_eq!(ctl.request_count(KEY, "get", "/v2/clock"), 1);
    assert_eq!(ctl.request_count(KEY, "DELETE", "/v2/orders"), 1);
    assert_eq!(ctl.request_count(KEY, "GET", "/v2/stocks/bars"), 1);
    assert_eq!(ctl.request_count("PKOTHER", "GET", "/v2/account"), 1);
    assert_eq!(ctl.request_count("PKNOBODY", "GET", "/v2/account"), 0);

    let http = reqwest::Client::new();
    let base = sim.base_url();
    let body: serde_json::Value = http
        .get(format!("{base}/_sim/requests?key_id={KEY}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"], 8);
    let list = body["requests"].as_array().unwrap();
    assert!(list.iter().all(|r| r["key_id"] == KEY));
    assert!(
        list.iter()
            .any(|r| r["method"] == "GET" && r["path"] == "/v2/account" && r["count"] == 5)
    );
    let all: serde_json::Value = http
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 9);
    assert_eq!(
        ctl.requests().len(),
        all["requests"].as_array().unwrap().len()
    );

    let r = http
        .delete(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(ctl.requests().is_empty());
    c.get("/v2/clock").await;
    assert_eq!(ctl.request_count(KEY, "GET", "/v2/clock"), 1);
    ctl.reset();
    assert!(ctl.requests().is_empty(), "reset empties the log");
    sim.stop().await;
}

#[tokio::test]
async fn response_faults_are_checked_by_the_control_api() {
    let sim = start_at(wednesday_10am()).await;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    for bad in [
        json!({"kind":"delay_response","millis":10,"count":0}),
        json!({"kind":"drop_response","count":0}),
        json!({"kind":"rate_limit_next","count":0,"retry_after_secs":1}),
        json!({"kind":"delay_response"}),
    ] {
        let r = http
            .post(format!("{base}/_sim/faults"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
    }
    let r = http
        .post(format!("{base}/_sim/faults"))
        .json(&json!({"kind":"delay_response","millis":50,"path":"/v2/orders"}))
        .send()
        .await
        .unwrap();
    let listed: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        listed,
        json!([{"kind":"delay_response","millis":50,"path":"/v2/orders"}])
    );
    let r = http
        .delete(format!("{base}/_sim/faults/delay_response"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(sim.control().faults().is_empty());
    sim.stop().await;
}
