//! Prometheus metrics at `/metrics`: off unless `METRICS_TOKEN` (bearer)
//! or `METRICS_BIND` (a separate address) is set.
//!
//! Everything is recorded through the `metrics` facade, a no-op until
//! [`install`] sets the Prometheus recorder (once per process); recording
//! takes no lock shared by requests. What is recorded:
//!
//! - `http_requests_total{method, route, status}` and
//!   `http_request_duration_seconds{method, route}`: `route` is the route
//!   template (`/api/trading-accounts/{id}`), `unmatched` for a path no
//!   route serves (so scanners cannot blow up the label set);
//! - `broker_calls_total{outcome}`, `broker_call_duration_seconds` and
//!   `broker_cache_requests_total{result}` (trader-alpaca);
//! - `scheduler_passes_total{result}`, `scheduler_pass_duration_seconds`,
//!   `signals_stored_total`, `auto_trade_decisions_total`,
//!   `orders_submitted_total{source}` (`api` or `auto_trade`);
//! - `db_pool_connections`, `db_pool_idle_connections`,
//!   `db_pool_max_connections` (read at each scrape) and
//!   `db_pool_wait_seconds`, the time spent waiting in `pool.get()`
//!   (trader-db).

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_SECONDS: &str = "http_request_duration_seconds";
pub const SCHEDULER_PASSES: &str = "scheduler_passes_total";
pub const SCHEDULER_SECONDS: &str = "scheduler_pass_duration_seconds";
pub const SIGNALS_STORED: &str = "signals_stored_total";
pub const AUTO_TRADE_DECISIONS: &str = "auto_trade_decisions_total";
pub const ORDERS_SUBMITTED: &str = "orders_submitted_total";
const POOL_CONNECTIONS: &str = "db_pool_connections";
const POOL_IDLE: &str = "db_pool_idle_connections";
const POOL_MAX: &str = "db_pool_max_connections";

/// Histogram buckets, in seconds: from half a millisecond (a pool
/// checkout) to 30 s (a long scheduler pass).
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (the first call in the process does;
/// later calls answer the same handle). `None` when another recorder was
/// installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    // Histograms are kept in buckets that need draining now
                    // and then; a scrape does it too.
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".to_owned())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(Duration::from_secs(5));
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the metrics recorder");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    describe_counter!(
        trader_alpaca::metrics::BROKER_CALLS,
        "Broker calls (after retries) by outcome"
    );
    describe_histogram!(
        trader_alpaca::metrics::BROKER_CALL_SECONDS,
        Unit::Seconds,
        "Broker call durations, retries included"
    );
    describe_counter!(
        trader_alpaca::metrics::BROKER_CACHE,
        "Shared broker reads: hit (answered without a new call) or miss"
    );
    describe_counter!(SCHEDULER_PASSES, "Scheduler passes by result");
    describe_histogram!(SCHEDULER_SECONDS, Unit::Seconds, "Scheduler pass durations");
    describe_counter!(SIGNALS_STORED, "Signals computed and stored");
    describe_counter!(AUTO_TRADE_DECISIONS, "Auto-trade decisions made");
    describe_counter!(
        ORDERS_SUBMITTED,
        "Orders the broker accepted, by source (api, auto_trade)"
    );
    describe_gauge!(POOL_CONNECTIONS, "Database connections open");
    describe_gauge!(POOL_IDLE, "Database connections open and idle");
    describe_gauge!(POOL_MAX, "The database pool's maximum size");
    describe_histogram!(
        trader_db::POOL_WAIT_SECONDS,
        Unit::Seconds,
        "Time spent waiting for a database connection"
    );
}

/// Put in a request's extensions by the fallback handler: no route served
/// it.
#[derive(Debug, Clone, Copy)]
pub struct Unmatched;

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Records one finished request.
pub fn record_request(req: &HttpRequest, method: &Method, status: u16, elapsed: Duration) {
    let route = if req.extensions().get::<Unmatched>().is_some() {
        None
    } else {
        req.match_pattern()
    };
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(method);
    metrics::counter!(
        HTTP_REQUESTS,
        "method" => method,
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(HTTP_SECONDS, "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
}

/// Whether the request carries `Authorization: Bearer <token>`.
fn has_token(req: &HttpRequest, token: &str) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(token.as_bytes())))
}

/// `GET /metrics`: the Prometheus text format.
pub async fn serve_metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(token) = &state.settings.metrics.token
        && !has_token(&req, token.expose_secret())
    {
        let mut res = ApiError::Unauthenticated(
            "metrics need the token: send Authorization: Bearer <METRICS_TOKEN>",
        )
        .error_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return res;
    }
    let Some(handle) = install() else {
        return ApiError::internal(anyhow::anyhow!("no metrics recorder")).error_response();
    };
    let pool = state.pool.state();
    metrics::gauge!(POOL_CONNECTIONS).set(f64::from(pool.connections));
    metrics::gauge!(POOL_IDLE).set(f64::from(pool.idle));
    metrics::gauge!(POOL_MAX).set(f64::from(pool.max_size));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(handle.render())
}
