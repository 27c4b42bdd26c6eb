use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use trader_db::Backend;
use trader_server::rate_limit::Limit;

use crate::support::{TestApp, error_code};

fn strict(s: &mut trader_server::Settings) {
    s.auth_rate = Limit {
        burst: 5,
        period: Duration::from_secs(12),
    };
}

async fn login(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "nobody", "password": "whatever it is"}));
    if let Some(xff) = forwarded_for {
        req = req.header("X-Forwarded-For", xff);
    }
    req.send().await.unwrap()
}

async fn the_sixth_rapid_login_is_429_and_forged_forwarding_does_not_help(backend: Backend) {
    let app = TestApp::spawn_with(backend, strict).await;
    app.secret("whatever it is");
    for i in 1..=5 {
        assert_eq!(
            login(&app, None).await.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {i}"
        );
    }
    let sixth = login(&app, None).await;
    let retry_after: u64 = sixth.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    assert_eq!(
        error_code(sixth).await,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited".to_owned())
    );
    // 127.0.0.1 is not a trusted proxy here: X-Forwarded-For is ignored.
    let forged = login(&app, Some("198.51.100.23")).await;
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other API routes have their own, looser limit.
    let status = reqwest::get(app.url("/api/auth/setup-status"))
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
}

async fn a_trusted_proxy_passes_on_the_client_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        strict(s);
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.secret("whatever it is");
    for _ in 1..=5 {
        assert_eq!(
            login(&app, Some("198.51.100.23")).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&app, Some("198.51.100.23")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own bucket.
    assert_eq!(
        login(&app, Some("203.0.113.77")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // IPv6 clients share a bucket per /64.
    for _ in 1..=5 {
        assert_eq!(
            login(&app, Some("2001:db8:1:2::1")).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&app, Some("2001:db8:1:2::ffff")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn login_from(app: &TestApp, xff: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", xff)
        .json(&json!({"username": "alice", "password": password}))
        .send()
        .await
        .unwrap()
}

async fn ten_failures_lock_one_network_and_the_owner_elsewhere_signs_in(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.create_user("alice", trader_api_types::Role::User);
    app.secret("wrong password number");
    // Ten wrong passwords from addresses of one /24.
    for i in 0..10 {
        let res = login_from(&app, &format!("198.51.100.{i}"), "wrong password number").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // That network is locked: even the right password is refused there,
    // with the same answer as a wrong one.
    let right = login_from(&app, "198.51.100.200", crate::support::PASSWORD).await;
    assert_eq!(
        error_code(right).await,
        (StatusCode::UNAUTHORIZED, "invalid_credentials".to_owned())
    );
    let events = app.audit_events(None);
    assert_eq!(events.last().map(String::as_str), Some("login_failed"));
    // The owner, from another network, signs in at once.
    let owner = login_from(&app, "203.0.113.5", crate::support::PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK);
    // The lock lifts after its delay.
    app.clock.advance(chrono::Duration::minutes(2));
    let later = login_from(&app, "198.51.100.200", crate::support::PASSWORD).await;
    assert_eq!(later.status(), StatusCode::OK);
}

crate::api_tests!(
    the_sixth_rapid_login_is_429_and_forged_forwarding_does_not_help,
    a_trusted_proxy_passes_on_the_client_address,
    ten_failures_lock_one_network_and_the_owner_elsewhere_signs_in,
);
