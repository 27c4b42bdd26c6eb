//! The control API under `/_sim` (outside Alpaca's `/v2`): accounts, assets,
//! the clock, faults and reset, the same as [`crate::Control`] in Rust. It
//! answers only loopback peers unless the configuration says otherwise, and
//! is never rate-limited or faulted.
//!
//! | request | body | effect |
//! |---|---|---|
//! | `POST /_sim/accounts` | `{key_id, secret, cash?, multiplier?}` | creates an account |
//! | `POST /_sim/assets` | `{symbol, name, exchange?, shortable?, fractionable?, tradable?}` | adds an asset |
//! | `GET /_sim/clock` | | `{now, running}` |
//! | `POST /_sim/clock` | `{set?: RFC 3339, advance_seconds?: n}` | sets or moves the clock |
//! | `GET /_sim/faults` | | the faults switched on |
//! | `POST /_sim/faults` | a [`crate::Fault`], e.g. `{"kind":"error_next","status":500,"count":2}` | switches it on |
//! | `DELETE /_sim/faults` | | all off |
//! | `DELETE /_sim/faults/{kind}` | | one kind off |
//! | `GET /_sim/requests?key_id=` | | `{"requests":[{key_id, method, path, count}], "total": n}`: every `/v2` call so far, faulted and refused ones included; `key_id` narrows it to one key |
//! | `DELETE /_sim/requests` | | empties the request log |
//! | `POST /_sim/reset` | | back to the start |
//!
//! The fault kinds (the body's `kind`):
//!
//! | kind | fields | effect |
//! |---|---|---|
//! | `latency` | `millis` | every call waits first |
//! | `error_next` | `status`, `count` | the next calls answer `status` without being handled |
//! | `error_rate` | `status`, `rate` | each call answers `status` with probability `rate` |
//! | `hang` | | calls wait, unhandled, until the fault is cleared |
//! | `rate_limit_storm` | | every call answers 429 |
//! | `rate_limit_next` | `count`, `retry_after_secs` | the next calls answer 429 with `Retry-After` and `X-Ratelimit-Reset` that far ahead |
//! | `delay_response` | `millis`, `method?`, `path?`, `count?` | matching calls are handled (an order is stored), then the answer waits `millis` |
//! | `drop_response` | `method?`, `path?`, `count?` | matching calls are handled, then the connection closes without an answer |
//!
//! `method` and `path` (exact, without the query, e.g. `/v2/orders`) narrow
//! the response faults to some calls; `count` makes them fire that many
//! times, then switch off.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, Scope, web};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use crate::assets::Asset;
use crate::engine::{AccountOptions, ts};
use crate::error::{ApiError, ApiResult, CODE_FORBIDDEN};
use crate::server::{ControlError, Fault, FaultKind, RequestCount, Shared, control_allowed};

pub(crate) fn scope() -> Scope<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/_sim")
        .wrap(from_fn(loopback_only))
        .app_data(
            web::JsonConfig::default()
                .error_handler(|e, _| ApiError::invalid(e.to_string()).into()),
        )
        .route("/accounts", web::post().to(create_account))
        .route("/assets", web::post().to(add_asset))
        .route("/clock", web::get().to(get_clock))
        .route("/clock", web::post().to(set_clock))
        .route("/faults", web::get().to(list_faults))
        .route("/faults", web::post().to(set_fault))
        .route("/faults", web::delete().to(clear_faults))
        .route("/faults/{kind}", web::delete().to(clear_fault))
        .route("/requests", web::get().to(list_requests))
        .route("/requests", web::delete().to(clear_requests))
        .route("/reset", web::post().to(reset))
}

async fn loopback_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let allowed = req
        .app_data::<web::Data<Shared>>()
        .is_some_and(|s| control_allowed(s, req.peer_addr()));
    if !allowed {
        return Ok(req.error_response(ApiError::new(
            StatusCode::FORBIDDEN,
            CODE_FORBIDDEN,
            "the control API answers only on loopback",
        )));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn control_error(e: ControlError) -> ApiError {
    match e {
        ControlError::AccountExists(_) => {
            ApiError::new(StatusCode::CONFLICT, 40_910_000, e.to_string())
        }
        ControlError::Invalid(m) => ApiError::invalid(m),
    }
}

#[derive(Debug, Deserialize)]
struct NewAccount {
    key_id: String,
    secret: String,
    cash: Option<Decimal>,
    multiplier: Option<u32>,
}

async fn create_account(
    shared: web::Data<Shared>,
    body: web::Json<NewAccount>,
) -> ApiResult<HttpResponse> {
    let defaults = AccountOptions::default();
    let opts = AccountOptions {
        cash: body.cash.unwrap_or(defaults.cash),
        multiplier: body.multiplier.unwrap_or(defaults.multiplier),
    };
    let info = shared
        .create_account(&body.key_id, &body.secret, &opts)
        .map_err(control_error)?;
    Ok(HttpResponse::Created().json(info))
}

#[derive(Debug, Deserialize)]
struct NewAsset {
    symbol: String,
    name: String,
    exchange: Option<String>,
    tradable: Option<bool>,
    shortable: Option<bool>,
    fractionable: Option<bool>,
    marginable: Option<bool>,
}

async fn add_asset(
    shared: web::Data<Shared>,
    body: web::Json<NewAsset>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let mut asset = Asset::new(
        &b.symbol,
        &b.name,
        b.exchange.as_deref().unwrap_or("NASDAQ"),
    );
    asset.tradable = b.tradable.unwrap_or(true);
    asset.shortable = b.shortable.unwrap_or(true);
    asset.easy_to_borrow = asset.shortable;
    asset.fractionable = b.fractionable.unwrap_or(true);
    asset.marginable = b.marginable.unwrap_or(true);
    shared.add_asset(asset.clone()).map_err(control_error)?;
    Ok(HttpResponse::Created().json(crate::trading::asset_json(&asset)))
}

fn clock_body(shared: &Shared) -> serde_json::Value {
    let st = shared.state();
    json!({"now": ts(st.clock.now()), "running": st.clock.is_running()})
}

async fn get_clock(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(clock_body(&shared))
}

#[derive(Debug, Deserialize)]
struct ClockChange {
    set: Option<DateTime<Utc>>,
    advance_seconds: Option<i64>,
}

async fn set_clock(
    shared: web::Data<Shared>,
    body: web::Json<ClockChange>,
) -> ApiResult<HttpResponse> {
    if body.set.is_none() && body.advance_seconds.is_none() {
        return Err(ApiError::invalid("give set or advance_seconds"));
    }
    {
        let mut st = shared.state();
        if let Some(t) = body.set {
            st.clock.set(t);
        }
        if let Some(s) = body.advance_seconds {
            st.clock.advance(Duration::seconds(s));
        }
    }
    Ok(HttpResponse::Ok().json(clock_body(&shared)))
}

async fn list_faults(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(shared.faults_list())
}

async fn set_fault(shared: web::Data<Shared>, body: web::Json<Fault>) -> ApiResult<HttpResponse> {
    let fault = body.into_inner();
    match &fault {
        Fault::ErrorNext { status, .. } | Fault::ErrorRate { status, .. }
            if !(400..=599).contains(status) =>
        {
            return Err(ApiError::invalid("status must be 400-599"));
        }
        Fault::ErrorRate { rate, .. } if !(0.0..=1.0).contains(rate) => {
            return Err(ApiError::invalid("rate must be between 0 and 1"));
        }
        Fault::RateLimitNext { count: 0, .. }
        | Fault::DelayResponse { count: Some(0), .. }
        | Fault::DropResponse { count: Some(0), .. } => {
            return Err(ApiError::invalid("count must be at least 1"));
        }
        _ => {}
    }
    shared.set_fault(fault);
    Ok(HttpResponse::Ok().json(shared.faults_list()))
}

async fn clear_faults(shared: web::Data<Shared>) -> HttpResponse {
    shared.clear_faults();
    HttpResponse::NoContent().finish()
}

async fn clear_fault(
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let kind: FaultKind = serde_json::from_value(json!(path.into_inner()))
        .map_err(|_| ApiError::invalid("unknown fault kind"))?;
    shared.clear_fault(kind);
    Ok(HttpResponse::NoContent().finish())
}

async fn list_requests(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let q = crate::trading::query(&req)?;
    let key_id = q.get("key_id");
    let list: Vec<RequestCount> = shared
        .requests()
        .into_iter()
        .filter(|r| key_id.is_none_or(|k| &r.key_id == k))
        .collect();
    let total: u64 = list.iter().map(|r| r.count).sum();
    Ok(HttpResponse::Ok().json(json!({"requests": list, "total": total})))
}

async fn clear_requests(shared: web::Data<Shared>) -> HttpResponse {
    shared.clear_requests();
    HttpResponse::NoContent().finish()
}

async fn reset(shared: web::Data<Shared>) -> HttpResponse {
    shared.reset();
    HttpResponse::NoContent().finish()
}
