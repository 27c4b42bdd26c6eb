//! The HTTP server: shared state, the `/v2` middleware (rate limit, faults,
//! authentication), start and stop, and the control API's Rust face.

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::assets::{self, Asset};
use crate::clock::{ClockMode, SimClock};
use crate::engine::{Account, AccountOptions, Ids};
use crate::error::{ApiError, CODE_INTERNAL, CODE_RATE_LIMIT};
use crate::market::Market;
use crate::{control, data, trading};

/// Which of Alpaca's environments the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Paper trading: refuses live-style key ids (`AK…`).
    Paper,
    /// Live trading: refuses paper-style key ids (`PK…`).
    Live,
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of all prices and ids.
    pub seed: u64,
    /// The clock.
    pub clock: ClockMode,
    /// Paper or live key ids.
    pub mode: Mode,
    /// Requests a minute per key id; 0 turns the limit off.
    pub rate_limit_per_min: u32,
    /// Answer the control API only to loopback peers.
    pub control_on_loopback_only: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            clock: ClockMode::Real,
            mode: Mode::Paper,
            rate_limit_per_min: 200,
            control_on_loopback_only: true,
        }
    }
}

/// A fault to inject into `/v2` responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Every response waits this long first.
    Latency {
        /// Added delay.
        millis: u64,
    },
    /// The next `count` calls answer `status`.
    ErrorNext {
        /// HTTP status, e.g. 500 or 503.
        status: u16,
        /// How many calls.
        count: u32,
    },
    /// Each call answers `status` with probability `rate` (seeded).
    ErrorRate {
        /// HTTP status.
        status: u16,
        /// Probability, 0..=1.
        rate: f64,
    },
    /// Calls never answer until the fault is cleared (for client timeouts).
    Hang,
    /// Every call answers 429.
    RateLimitStorm,
    /// The next `count` calls answer 429 with `Retry-After: retry_after_secs`
    /// and `X-Ratelimit-Reset` that many seconds ahead (a short rate-limit
    /// wait a client may sit out).
    RateLimitNext {
        /// How many calls.
        count: u32,
        /// Seconds until the limit resets.
        retry_after_secs: u64,
    },
    /// The call is handled (an order is stored, a position closed) and only
    /// then does its answer wait `millis`: "accepted, then the answer came
    /// too late" for a client with a shorter timeout.
    DelayResponse {
        /// Delay after the handler ran.
        millis: u64,
        /// Only calls with this method (any when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// Only calls to exactly this path, e.g. `/v2/orders` (any when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// Only the next `count` matching calls (every one when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
    /// The call is handled and the connection is then closed without an
    /// answer: "accepted, then the answer was lost".
    DropResponse {
        /// Only calls with this method (any when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// Only calls to exactly this path (any when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// Only the next `count` matching calls (every one when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
}

/// The kinds of [`Fault`], for clearing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// [`Fault::Latency`].
    Latency,
    /// [`Fault::ErrorNext`].
    ErrorNext,
    /// [`Fault::ErrorRate`].
    ErrorRate,
    /// [`Fault::Hang`].
    Hang,
    /// [`Fault::RateLimitStorm`].
    RateLimitStorm,
    /// [`Fault::RateLimitNext`].
    RateLimitNext,
    /// [`Fault::DelayResponse`].
    DelayResponse,
    /// [`Fault::DropResponse`].
    DropResponse,
}

impl Fault {
    /// This fault's kind.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Latency { .. } => FaultKind::Latency,
            Fault::ErrorNext { .. } => FaultKind::ErrorNext,
            Fault::ErrorRate { .. } => FaultKind::ErrorRate,
            Fault::Hang => FaultKind::Hang,
            Fault::RateLimitStorm => FaultKind::RateLimitStorm,
            Fault::RateLimitNext { .. } => FaultKind::RateLimitNext,
            Fault::DelayResponse { .. } => FaultKind::DelayResponse,
            Fault::DropResponse { .. } => FaultKind::DropResponse,
        }
    }
}

/// What a response fault does to an answer once the handler has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterHandler {
    Delay(u64),
    Drop,
}

/// How many `/v2` calls one key id made to one method and path (the
/// simulator's request log; faulted and refused calls count too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    /// The `APCA-API-KEY-ID` header ("" when absent).
    pub key_id: String,
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path without the query, e.g. `/v2/account`.
    pub path: String,
    /// Calls seen.
    pub count: u64,
}

#[derive(Debug, Default)]
struct Faults {
    active: BTreeMap<u8, Fault>,
    rng: u64,
}

fn kind_key(k: FaultKind) -> u8 {
    k as u8
}

/// Errors of the control API.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    /// The key id already has an account.
    #[error("an account for key id {0} exists")]
    AccountExists(String),
    /// Invalid input.
    #[error("{0}")]
    Invalid(String),
}

/// Summary of a created account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountInfo {
    /// Account id.
    pub id: Uuid,
    /// Account number.
    pub account_number: String,
    /// Key id.
    pub key_id: String,
}

pub(crate) struct State {
    pub(crate) clock: SimClock,
    pub(crate) assets: BTreeMap<String, Asset>,
    pub(crate) accounts: HashMap<String, Account>,
    pub(crate) ids: Ids,
}

impl State {
    fn new(config: &SimConfig) -> State {
        State {
            clock: SimClock::new(config.clock),
            assets: assets::built_in()
                .into_iter()
                .map(|a| (a.symbol.clone(), a))
                .collect(),
            accounts: HashMap::new(),
            ids: Ids::new(config.seed),
        }
    }

    /// An asset by symbol or id.
    pub(crate) fn find_asset(&self, symbol_or_id: &str) -> Option<Asset> {
        if let Some(a) = self.assets.get(symbol_or_id) {
            return Some(a.clone());
        }
        let id = Uuid::parse_str(symbol_or_id).ok()?;
        self.assets.values().find(|a| a.id == id).cloned()
    }

    fn create_account(
        &mut self,
        mode: Mode,
        key_id: &str,
        secret: &str,
        opts: &AccountOptions,
    ) -> AccountInfo {
        let now = self.clock.now();
        let (_, id) = self.ids.next_id();
        let digits: String = id
            .as_simple()
            .to_string()
            .chars()
            .filter(char::is_ascii_digit)
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        let number = match mode {
            Mode::Paper => format!("PA{digits}"),
            Mode::Live => format!("9{digits}"),
        };
        let account = Account::new(id, number.clone(), secret.to_string(), now, opts);
        self.accounts.insert(key_id.to_string(), account);
        AccountInfo {
            id,
            account_number: number,
            key_id: key_id.to_string(),
        }
    }
}

struct Window {
    started: Instant,
    reset_epoch: u64,
    count: u32,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) market: Market,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    limiter: Mutex<HashMap<String, Window>>,
    /// (key id, method, path) -> calls.
    requests: Mutex<BTreeMap<(String, String, String), u64>>,
}

impl Shared {
    fn new(config: SimConfig) -> Shared {
        Shared {
            market: Market::new(config.seed),
            state: Mutex::new(State::new(&config)),
            faults: Mutex::new(Faults {
                active: BTreeMap::new(),
                rng: config.seed,
            }),
            limiter: Mutex::new(HashMap::new()),
            requests: Mutex::new(BTreeMap::new()),
            config,
        }
    }

    /// The state, even if a panicking handler poisoned the lock.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.state().clock.now()
    }

    /// Counts a request against the key's window: (limit, remaining, reset, allowed).
    fn count_request(&self, key: &str) -> (u32, u32, u64, bool) {
        let limit = self.config.rate_limit_per_min;
        let mut map = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let w = map.entry(key.to_string()).or_insert(Window {
            started: now,
            reset_epoch: epoch + 60,
            count: 0,
        });
        if now.duration_since(w.started) >= StdDuration::from_secs(60) {
            *w = Window {
                started: now,
                reset_epoch: epoch + 60,
                count: 0,
            };
        }
        if limit == 0 {
            return (0, 0, w.reset_epoch, true);
        }
        if w.count >= limit {
            return (limit, 0, w.reset_epoch, false);
        }
        w.count += 1;
        (limit, limit - w.count, w.reset_epoch, true)
    }

    pub(crate) fn set_fault(&self, fault: Fault) {
        self.faults().active.insert(kind_key(fault.kind()), fault);
    }

    pub(crate) fn clear_fault(&self, kind: FaultKind) {
        self.faults().active.remove(&kind_key(kind));
    }

    pub(crate) fn clear_faults(&self) {
        self.faults().active.clear();
    }

    pub(crate) fn faults_list(&self) -> Vec<Fault> {
        self.faults().active.values().cloned().collect()
    }

    fn hanging(&self) -> bool {
        self.faults()
            .active
            .contains_key(&kind_key(FaultKind::Hang))
    }

    pub(crate) fn create_account(
        &self,
        key_id: &str,
        secret: &str,
        opts: &AccountOptions,
    ) -> Result<AccountInfo, ControlError> {
        if key_id.is_empty() || secret.is_empty() {
            return Err(ControlError::Invalid(
                "key_id and secret must not be empty".into(),
            ));
        }
        if ![1, 2, 4].contains(&opts.multiplier) {
            return Err(ControlError::Invalid("multiplier must be 1, 2 or 4".into()));
        }
        let mut st = self.state();
        if st.accounts.contains_key(key_id) {
            return Err(ControlError::AccountExists(key_id.to_string()));
        }
        Ok(st.create_account(self.config.mode, key_id, secret, opts))
    }

    pub(crate) fn add_asset(&self, asset: Asset) -> Result<(), ControlError> {
        let ok = !asset.symbol.is_empty()
            && asset
                .symbol
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.');
        if !ok {
            return Err(ControlError::Invalid(format!(
                "invalid symbol {:?}",
                asset.symbol
            )));
        }
        self.state().assets.insert(asset.symbol.clone(), asset);
        Ok(())
    }

    pub(crate) fn reset(&self) {
        *self.state() = State::new(&self.config);
        let mut f = self.faults();
        f.active.clear();
        f.rng = self.config.seed;
        drop(f);
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.clear_requests();
    }

    fn request_log(&self) -> MutexGuard<'_, BTreeMap<(String, String, String), u64>> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a `/v2` call in the request log.
    fn log_request(&self, key_id: &str, method: &str, path: &str) {
        *self
            .request_log()
            .entry((key_id.to_string(), method.to_string(), path.to_string()))
            .or_insert(0) += 1;
    }

    pub(crate) fn requests(&self) -> Vec<RequestCount> {
        self.request_log()
            .iter()
            .map(|((key_id, method, path), count)| RequestCount {
                key_id: key_id.clone(),
                method: method.clone(),
                path: path.clone(),
                count: *count,
            })
            .collect()
    }

    pub(crate) fn request_count(&self, key_id: &str, method: &str, path: &str) -> u64 {
        self.request_log()
            .get(&(
                key_id.to_string(),
                method.to_ascii_uppercase(),
                path.to_string(),
            ))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn clear_requests(&self) {
        self.request_log().clear();
    }

    /// A short 429 for this call, if [`Fault::RateLimitNext`] fires: the
    /// seconds to wait.
    fn short_rate_limit(&self) -> Option<u64> {
        let mut f = self.faults();
        let key = kind_key(FaultKind::RateLimitNext);
        let Some(Fault::RateLimitNext {
            count,
            retry_after_secs,
        }) = f.active.get_mut(&key)
        else {
            return None;
        };
        let secs = *retry_after_secs;
        *count = count.saturating_sub(1);
        if *count == 0 {
            f.active.remove(&key);
        }
        Some(secs)
    }

    /// What happens to a handled call's answer, if a response fault matches
    /// it (and uses up one of its `count`).
    fn after_handler(&self, method: &str, path: &str) -> Option<AfterHandler> {
        let mut f = self.faults();
        for kind in [FaultKind::DelayResponse, FaultKind::DropResponse] {
            let key = kind_key(kind);
            let (effect, filter_method, filter_path, count) = match f.active.get_mut(&key) {
                Some(Fault::DelayResponse {
                    millis,
                    method,
                    path,
                    count,
                }) => (AfterHandler::Delay(*millis), method, path, count),
                Some(Fault::DropResponse {
                    method,
                    path,
                    count,
                }) => (AfterHandler::Drop, method, path, count),
                _ => continue,
            };
            let matches = filter_method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && filter_path.as_deref().is_none_or(|p| p == path);
            if !matches {
                continue;
            }
            if let Some(n) = count {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    f.active.remove(&key);
                }
            }
            return Some(effect);
        }
        None
    }

    /// Checks the key pair; creates the account on a key id's first use.
    fn authenticate(&self, key_id: &str, secret: &str) -> Result<(), ApiError> {
        if key_id.is_empty() || secret.is_empty() {
            return Err(ApiError::unauthorized());
        }
        let refused = match self.config.mode {
            Mode::Paper => key_id.starts_with("AK"),
            Mode::Live => key_id.starts_with("PK"),
        };
        if refused {
            return Err(ApiError::unauthorized());
        }
        let mut st = self.state();
        match st.accounts.get(key_id) {
            Some(a) if a.secret == secret => Ok(()),
            Some(_) => Err(ApiError::unauthorized()),
            None => {
                st.create_account(self.config.mode, key_id, secret, &AccountOptions::default());
                Ok(())
            }
        }
    }

    /// A fault's error for this call, if one fires.
    fn injected_error(&self) -> Option<u16> {
        let mut f = self.faults();
        let key = kind_key(FaultKind::ErrorNext);
        if let Some(Fault::ErrorNext { status, count }) = f.active.get_mut(&key) {
            let status = *status;
            *count = count.saturating_sub(1);
            if *count == 0 {
                f.active.remove(&key);
            }
            return Some(status);
        }
        if let Some(Fault::ErrorRate { status, rate }) =
            f.active.get(&kind_key(FaultKind::ErrorRate)).cloned()
        {
            f.rng = f.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = f.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 11) as f64 / (1u64 << 53) as f64;
            if u < rate {
                return Some(status);
            }
        }
        None
    }
}

/// The authenticated caller's key id, put in request extensions by the
/// middleware.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub String);

fn header(req: &ServiceRequest, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn error_for_status(status: u16) -> ApiError {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match code.as_u16() {
        429 => "too many requests",
        502 => "bad gateway",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ => code.canonical_reason().unwrap_or("internal server error"),
    };
    let app_code = if code.as_u16() == 429 {
        CODE_RATE_LIMIT
    } else if code.is_server_error() {
        CODE_INTERNAL
    } else {
        u32::from(code.as_u16()) * 100_000
    };
    ApiError::new(code, app_code, message.to_lowercase())
}

/// Rate limit headers, faults and authentication for everything under `/v2`
/// (ALPACA-API.md 2.0: authentication headers, rate limits, error body).
async fn v2_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(shared) = req.app_data::<web::Data<Shared>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key_id = header(&req, "APCA-API-KEY-ID");
    let secret = header(&req, "APCA-API-SECRET-KEY");
    let bucket = if key_id.is_empty() {
        req.peer_addr()
            .map_or_else(|| "anonymous".to_string(), |a| a.ip().to_string())
    } else {
        key_id.clone()
    };
    let method = req.method().as_str().to_string();
    let path = req.path().to_string();
    // Every call counts, including those a fault or the rate limit answers.
    shared.log_request(&key_id, &method, &path);
    let (limit, remaining, mut reset, allowed) = shared.count_request(&bucket);
    let storm = shared
        .faults()
        .active
        .contains_key(&kind_key(FaultKind::RateLimitStorm));
    let short_limit = if allowed && !storm {
        shared.short_rate_limit()
    } else {
        None
    };
    let result: Result<ServiceResponse<BoxBody>, actix_web::Error> = async move {
        if !allowed || storm || short_limit.is_some() {
            return Ok(req.error_response(error_for_status(429)));
        }
        let latency = match shared.faults().active.get(&kind_key(FaultKind::Latency)) {
            Some(Fault::Latency { millis }) => Some(*millis),
            _ => None,
        };
        if let Some(ms) = latency {
            tokio::time::sleep(StdDuration::from_millis(ms)).await;
        }
        while shared.hanging() {
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        if let Some(status) = shared.injected_error() {
            return Ok(req.error_response(error_for_status(status)));
        }
        if let Err(e) = shared.authenticate(&key_id, &secret) {
            return Ok(req.error_response(e));
        }
        req.extensions_mut().insert(Caller(key_id.clone()));
        let res = next.call(req).await?.map_into_boxed_body();
        // Response faults act only once the handler has done its work.
        match shared.after_handler(&method, &path) {
            Some(AfterHandler::Delay(ms)) => {
                tokio::time::sleep(StdDuration::from_millis(ms)).await;
                Ok(res)
            }
            Some(AfterHandler::Drop) => Ok(res.map_body(|_, _| BoxBody::new(DroppedAnswer))),
            None => Ok(res),
        }
    }
    .await;
    let mut res = result?;
    let headers = res.headers_mut();
    let shown_remaining = if storm || !allowed || short_limit.is_some() {
        0
    } else {
        remaining
    };
    if let Some(secs) = short_limit {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        reset = epoch + secs;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            headers.insert(actix_web::http::header::RETRY_AFTER, v);
        }
    }
    for (name, value) in [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", shown_remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    Ok(res)
}

/// A body that fails at once, so the server closes the connection instead
/// of answering ([`Fault::DropResponse`]).
struct DroppedAnswer;

impl MessageBody for DroppedAnswer {
    type Error = std::io::Error;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Stream
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<web::Bytes, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "answer dropped by a fault",
        ))))
    }
}

/// Turns actix's own errors (bad query, bad path) into Alpaca's body.
async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "code": crate::error::CODE_NOT_FOUND,
        "message": "endpoint not found",
    }))
}

/// The simulator; see [`Simulator::start`].
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds `addr` (use port 0 for any free port), starts serving on the
    /// current Tokio runtime and returns a handle.
    pub async fn start(config: SimConfig, addr: &str) -> anyhow::Result<SimHandle> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|e, _| ApiError::invalid(e.to_string()).into()),
                )
                .service(
                    web::scope("/v2")
                        .wrap(from_fn(v2_middleware))
                        .configure(trading::routes)
                        .configure(data::routes)
                        .default_service(web::to(not_found)),
                )
                .service(control::scope())
                .default_service(web::to(not_found))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let server_handle = server.handle();
        let task = tokio::spawn(server);
        Ok(SimHandle {
            addr: local,
            control: Control { shared },
            server: server_handle,
            task,
        })
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    control: Control,
    server: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL for both the trading and the data API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The control API.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.server.stop(false).await;
        let _ = self.task.await;
    }
}

/// Control of a running simulator from Rust (the same as `/_sim/...`).
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    /// Creates an account for a key pair (instead of on its first use).
    pub fn create_account(
        &self,
        key_id: &str,
        secret: &str,
        opts: AccountOptions,
    ) -> Result<AccountInfo, ControlError> {
        self.shared.create_account(key_id, secret, &opts)
    }

    /// Adds (or replaces) an asset.
    pub fn add_asset(&self, asset: Asset) -> Result<(), ControlError> {
        self.shared.add_asset(asset)
    }

    /// The simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// Stops the clock at `t`.
    pub fn set_clock(&self, t: DateTime<Utc>) {
        self.shared.state().clock.set(t);
    }

    /// Moves the clock on.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.shared.state().clock.advance(by);
    }

    /// Switches a fault on (replacing one of the same kind).
    pub fn set_fault(&self, fault: Fault) {
        self.shared.set_fault(fault);
    }

    /// Switches one kind of fault off.
    pub fn clear_fault(&self, kind: FaultKind) {
        self.shared.clear_fault(kind);
    }

    /// Switches all faults off.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// The faults switched on.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.faults_list()
    }

    /// The request log: calls per key id, method and path, since the start
    /// or the last [`Control::clear_requests`].
    pub fn requests(&self) -> Vec<RequestCount> {
        self.shared.requests()
    }

    /// Calls one key id made with `method` (any case) to `path` (without the
    /// query), e.g. `("PK…", "GET", "/v2/account")`.
    pub fn request_count(&self, key_id: &str, method: &str, path: &str) -> u64 {
        self.shared.request_count(key_id, method, path)
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Back to the start: no accounts, built-in assets, the configured
    /// clock, no faults, fresh rate-limit windows, an empty request log.
    pub fn reset(&self) {
        self.shared.reset();
    }
}

/// Whether a peer may use the control API.
pub(crate) fn control_allowed(shared: &Shared, peer: Option<SocketAddr>) -> bool {
    !shared.config.control_on_loopback_only || peer.is_some_and(|p| p.ip().is_loopback())
}

pub(crate) fn caller(req: &actix_web::HttpRequest) -> Result<String, ApiError> {
    req.extensions()
        .get::<Caller>()
        .map(|c| c.0.clone())
        .ok_or_else(ApiError::unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_answers_only_loopback_unless_told() {
        let shared = Shared::new(SimConfig::default());
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let lo6: SocketAddr = "[::1]:5000".parse().unwrap();
        let lan: SocketAddr = "192.168.1.20:5000".parse().unwrap();
        assert!(control_allowed(&shared, Some(lo)));
        assert!(control_allowed(&shared, Some(lo6)));
        assert!(!control_allowed(&shared, Some(lan)));
        assert!(!control_allowed(&shared, None));
        let open = Shared::new(SimConfig {
            control_on_loopback_only: false,
            ..SimConfig::default()
        });
        assert!(control_allowed(&open, Some(lan)));
    }

    #[test]
    fn key_ids_follow_the_mode() {
        let paper = Shared::new(SimConfig::default());
        assert!(paper.authenticate("AKLIVE", "s").is_err());
        assert!(paper.authenticate("PKPAPER", "s").is_ok());
        assert!(paper.authenticate("PKPAPER", "other").is_err());
        assert!(paper.authenticate("PKPAPER", "s").is_ok());
        assert!(paper.authenticate("", "s").is_err());
        let live = Shared::new(SimConfig {
            mode: Mode::Live,
            ..SimConfig::default()
        });
        assert!(live.authenticate("PKPAPER", "s").is_err());
        assert!(live.authenticate("AKLIVE", "s").is_ok());
    }
}
