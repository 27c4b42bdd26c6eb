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
