//! `/metrics`: behind its token or on its own address, in the Prometheus
//! text format (parsed here as Prometheus would), moving with traffic.

use std::collections::BTreeMap;
use std::sync::Arc;

use alpaca_sim::{SimConfig, Simulator};
use prometheus_parse::{Sample, Scrape, Value};
use reqwest::Client;
use trader_db::Backend;
use trader_server::Application;
use trader_server::clock::{Clock, TestClock};

use crate::support::TestApp;

const TOKEN: &str = "metrics-token-0123456789abcdef";

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

async fn scrape(client: &Client, url: &str) -> Scrape {
    let res = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    parse(&res.text().await.unwrap())
}

fn labels_match(s: &Sample, want: &[(&str, &str)]) -> bool {
    want.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
}

/// A counter's or gauge's value for the labels, 0 when absent.
fn value(scrape: &Scrape, name: &str, want: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels_match(s, want))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name} is not a counter or gauge: {other:?}"),
        })
        .sum()
}

/// A histogram's count for the labels, 0 when absent.
fn histogram_count(scrape: &Scrape, name: &str, want: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels_match(s, want))
        .map(|s| match &s.value {
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            other => panic!("{name} is not a histogram: {other:?}"),
        })
        .sum()
}

async fn metrics_move_with_traffic_behind_the_token(backend: Backend) {
    let sim = Simulator::start(
        SimConfig {
            rate_limit_per_min: 0,
            ..SimConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let sim_url = sim.base_url();
    let app = TestApp::spawn_with(backend, move |s| {
        s.metrics.token = Some(TOKEN.to_owned().into());
        s.broker_urls.sim = Some(sim_url);
    })
    .await;
    let client = Client::new();
    let url = format!("{}/metrics", app.base);

    // Without the token, or with another: 401 in the usual envelope.
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    let res = client
        .get(&url)
        .bearer_auth("metrics-token-0123456789abcdeX")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    for _ in 0..3 {
        assert_eq!(
            client
                .get(format!("{}/healthz", app.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let nothing = client
        .get(format!("{}/api/no-such-thing/4242", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(nothing.status(), 404);

    let first = scrape(&client, &url).await;
    let health = [("route", "/healthz"), ("status", "200"), ("method", "GET")];
    let h1 = value(&first, "http_requests_total", &health);
    assert!(h1 >= 3.0, "{h1}");
    assert!(
        value(
            &first,
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 1.0
    );
    // No label carries the path no route served.
    assert!(
        first
            .samples
            .iter()
            .all(|s| s.labels.values().all(|v| !v.contains("no-such-thing")))
    );
    assert!(
        value(
            &first,
            "http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        ) >= 2.0
    );
    assert!(
        histogram_count(
            &first,
            "http_request_duration_seconds",
            &[("route", "/healthz")]
        ) >= 3.0
    );
    assert!(value(&first, "db_pool_max_connections", &[]) >= 1.0);
    assert!(
        value(&first, "db_pool_connections", &[]) >= value(&first, "db_pool_idle_connections", &[])
    );
    assert!(histogram_count(&first, "db_pool_wait_seconds", &[]) >= 1.0);

    // Broker calls and the shared-read cache.
    let keys = trader_alpaca::BrokerKeys::new("PKMETRICS00000000001", "secret-metrics-0001");
    let broker = app
        .state
        .broker
        .for_account(
            trader_alpaca::AccountKey(9_999),
            trader_alpaca::Environment::Sim,
            &keys,
        )
        .unwrap();
    broker.verify_keys().await.unwrap();
    broker.account().await.unwrap();
    broker.account().await.unwrap();
    // A scheduler pass (nobody is due: it stores nothing, but it ran).
    trader_server::services::scheduler::run_pass(&app.state, "metrics-test", app.clock.now())
        .await
        .unwrap();

    for _ in 0..2 {
        client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
    }
    let second = scrape(&client, &url).await;
    assert!(value(&second, "http_requests_total", &health) >= h1 + 2.0);
    assert!(
        value(&second, "broker_calls_total", &[("outcome", "ok")])
            >= value(&first, "broker_calls_total", &[("outcome", "ok")]) + 2.0
    );
    assert!(value(&second, "broker_cache_requests_total", &[("result", "hit")]) >= 1.0);
    assert!(
        value(
            &second,
            "broker_cache_requests_total",
            &[("result", "miss")]
        ) >= 1.0
    );
    assert!(histogram_count(&second, "broker_call_duration_seconds", &[]) >= 2.0);
    assert!(value(&second, "scheduler_passes_total", &[("result", "ok")]) >= 1.0);
    assert!(histogram_count(&second, "scheduler_pass_duration_seconds", &[]) >= 1.0);
    // Every family has its HELP text.
    let helped: BTreeMap<_, _> = second.docs.iter().collect();
    for name in [
        "http_requests_total",
        "http_request_duration_seconds",
        "broker_calls_total",
        "db_pool_wait_seconds",
        "scheduler_passes_total",
    ] {
        assert!(helped.contains_key(&name.to_owned()), "{name}: {helped:?}");
    }
}

async fn metrics_bind_serves_them_only_on_their_own_address(backend: Backend) {
    let db = trader_db::test_support::TestDb::new(backend);
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = trader_server::Settings::for_tests(db.url().clone(), data_dir.path().into());
    settings.metrics.bind = Some("127.0.0.1:0".to_owned());
    let app = Application::build_with_clock(settings, Arc::new(TestClock::new()))
        .await
        .unwrap();
    let public = format!("http://127.0.0.1:{}", app.port());
    let private = format!("http://{}/metrics", app.metrics_address().unwrap());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = Client::new();

    client
        .get(format!("{public}/healthz"))
        .send()
        .await
        .unwrap();
    let res = client
        .get(format!("{public}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // No token is asked for on the private address (none is set).
    let res = client.get(&private).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let scrape = parse(&res.text().await.unwrap());
    assert!(value(&scrape, "http_requests_total", &[("route", "/healthz")]) >= 1.0);
    handle.stop(true).await;
}

async fn without_settings_there_are_no_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = Client::new()
        .get(format!("{}/metrics", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

crate::api_tests!(
    metrics_move_with_traffic_behind_the_token,
    metrics_bind_serves_them_only_on_their_own_address,
    without_settings_there_are_no_metrics,
);
