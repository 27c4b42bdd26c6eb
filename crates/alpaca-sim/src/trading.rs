//! Trading API v2 handlers (ALPACA-API.md 2.1-2.7).

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Months, NaiveDate, NaiveTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::assets::Asset;
use crate::calendar::{self, Session};
use crate::engine::{self, Account, Ids, parse_time};
use crate::error::{ApiError, ApiResult};
use crate::market::Market;
use crate::server::{Shared, caller};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/account", web::get().to(get_account))
        .route(
            "/account/portfolio/history",
            web::get().to(get_portfolio_history),
        )
        .route("/account/activities", web::get().to(list_activities))
        .route(
            "/account/activities/{activity_type}",
            web::get().to(list_activities_of_type),
        )
        .route("/positions", web::get().to(list_positions))
        .route("/positions", web::delete().to(close_all_positions))
        .route("/positions/{symbol}", web::get().to(get_position))
        .route("/positions/{symbol}", web::delete().to(close_position))
        .route("/orders", web::get().to(list_orders))
        .route("/orders", web::post().to(create_order))
        .route("/orders", web::delete().to(cancel_all_orders))
        .route(
            "/orders:by_client_order_id",
            web::get().to(get_order_by_client_order_id),
        )
        .route("/orders/{id}", web::get().to(get_order))
        .route("/orders/{id}", web::patch().to(replace_order))
        .route("/orders/{id}", web::delete().to(cancel_order))
        .route("/clock", web::get().to(get_clock))
        .route("/calendar", web::get().to(list_calendar))
        .route("/assets", web::get().to(list_assets))
        .route("/assets/{symbol}", web::get().to(get_asset));
}

/// The query string as a map (the last value of a repeated key wins).
pub(crate) fn query(req: &HttpRequest) -> ApiResult<HashMap<String, String>> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .map(|v| v.into_iter().collect())
        .map_err(|_| ApiError::invalid("invalid query string"))
}

pub(crate) fn parse_bool(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<bool>> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid(format!("invalid {key}"))),
    }
}

fn parse_dec_param(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<Decimal>> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<Decimal>()
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid {key}"))),
    }
}

fn parse_time_param(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<DateTime<Utc>>> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(s) => parse_time(s)
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("invalid {key}"))),
    }
}

fn parse_date_param(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<NaiveDate>> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .or_else(|_| {
                DateTime::parse_from_rfc3339(s).map(|t| calendar::ny_date(t.with_timezone(&Utc)))
            })
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid {key}"))),
    }
}

/// Runs `f` on the caller's account after matching it up to now.
fn with_account<T>(
    shared: &Shared,
    req: &HttpRequest,
    f: impl FnOnce(
        &mut Account,
        &Market,
        &mut Ids,
        &BTreeMap<String, Asset>,
        DateTime<Utc>,
    ) -> ApiResult<T>,
) -> ApiResult<T> {
    let key = caller(req)?;
    let mut guard = shared.state();
    let st = &mut *guard;
    let now = st.clock.now();
    let account = st
        .accounts
        .get_mut(&key)
        .ok_or_else(ApiError::unauthorized)?;
    account.advance(&shared.market, &mut st.ids, now);
    f(account, &shared.market, &mut st.ids, &st.assets, now)
}

fn find_asset(assets: &BTreeMap<String, Asset>, symbol_or_id: &str) -> Option<Asset> {
    if let Some(a) = assets.get(symbol_or_id) {
        return Some(a.clone());
    }
    let id = Uuid::parse_str(symbol_or_id).ok()?;
    assets.values().find(|a| a.id == id).cloned()
}

fn asset_for_position(assets: &BTreeMap<String, Asset>, symbol: &str) -> Asset {
    find_asset(assets, symbol).unwrap_or_else(|| Asset::new(symbol, symbol, "NASDAQ"))
}

/// `GET /v2/account` (ALPACA-API.md 2.1).
async fn get_account(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    with_account(&shared, &req, |a, market, _, _, now| {
        Ok(HttpResponse::Ok().json(a.to_json(market, now)))
    })
}

/// `GET /v2/positions` (ALPACA-API.md 2.2).
async fn list_positions(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    with_account(&shared, &req, |a, market, _, assets, now| {
        let list: Vec<Value> = a
            .positions
            .keys()
            .filter_map(|s| a.position_json(s, &asset_for_position(assets, s), market, now))
            .collect();
        Ok(HttpResponse::Ok().json(list))
    })
}

/// Resolves a symbol or asset id to a held symbol.
fn position_symbol(a: &Account, assets: &BTreeMap<String, Asset>, s: &str) -> Option<String> {
    if a.positions.contains_key(s) {
        return Some(s.to_string());
    }
    find_asset(assets, s)
        .map(|x| x.symbol)
        .filter(|x| a.positions.contains_key(x))
}

/// `GET /v2/positions/{symbol_or_asset_id}` (ALPACA-API.md 2.2).
async fn get_position(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    with_account(&shared, &req, |a, market, _, assets, now| {
        let symbol = position_symbol(a, assets, &path)
            .ok_or_else(|| ApiError::not_found("position does not exist"))?;
        let body = a
            .position_json(&symbol, &asset_for_position(assets, &symbol), market, now)
            .ok_or_else(|| ApiError::not_found("position does not exist"))?;
        Ok(HttpResponse::Ok().json(body))
    })
}

/// `DELETE /v2/positions/{symbol_or_asset_id}`: 200 with the closing order.
async fn close_position(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let qty = parse_dec_param(&q, "qty")?;
    let percentage = parse_dec_param(&q, "percentage")?;
    with_account(&shared, &req, |a, market, ids, assets, now| {
        let symbol = position_symbol(a, assets, &path)
            .ok_or_else(|| ApiError::not_found("position does not exist"))?;
        let order_req = a.close_request(asset_for_position(assets, &symbol), qty, percentage)?;
        let order = a.submit(order_req, market, ids, now, None)?;
        Ok(HttpResponse::Ok().json(order.to_json()))
    })
}

/// `DELETE /v2/positions?cancel_orders=`: 207 with one item per position.
async fn close_all_positions(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let cancel = parse_bool(&q, "cancel_orders")?.unwrap_or(false);
    with_account(&shared, &req, |a, market, ids, assets, now| {
        if cancel {
            let open: Vec<Uuid> = a
                .orders
                .iter()
                .filter(|o| o.status.is_open())
                .map(|o| o.id)
                .collect();
            for id in open {
                let _ = a.cancel(id, now);
            }
        }
        let symbols: Vec<String> = a.positions.keys().cloned().collect();
        let mut items = Vec::new();
        for symbol in symbols {
            let result = a
                .close_request(asset_for_position(assets, &symbol), None, None)
                .and_then(|r| a.submit(r, market, ids, now, None));
            items.push(match result {
                Ok(order) => json!({"symbol": symbol, "status": 200, "body": order.to_json()}),
                Err(e) => json!({"symbol": symbol, "status": e.status.as_u16(), "body": e.body()}),
            });
        }
        Ok(HttpResponse::build(StatusCode::MULTI_STATUS).json(items))
    })
}

/// `GET /v2/orders` (ALPACA-API.md 2.3, "List").
async fn list_orders(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let status = q.get("status").map_or("open", String::as_str);
    if !["open", "closed", "all"].contains(&status) {
        return Err(ApiError::invalid(format!("invalid status {status}")));
    }
    let limit = match q.get("limit").filter(|s| !s.is_empty()) {
        None => 50,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| ApiError::invalid("invalid limit"))?
            .min(500),
    };
    let after = parse_time_param(&q, "after")?;
    let until = parse_time_param(&q, "until")?;
    let direction = q.get("direction").map_or("desc", String::as_str);
    if !["asc", "desc"].contains(&direction) {
        return Err(ApiError::invalid(format!("invalid direction {direction}")));
    }
    parse_bool(&q, "nested")?;
    let side = q.get("side").filter(|s| !s.is_empty()).cloned();
    if side.as_deref().is_some_and(|s| s != "buy" && s != "sell") {
        return Err(ApiError::invalid("invalid side"));
    }
    let symbols: Vec<String> = q
        .get("symbols")
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    with_account(&shared, &req, |a, _, _, _, _| {
        let mut list: Vec<&engine::Order> = a
            .orders
            .iter()
            .filter(|o| match status {
                "open" => o.status.is_open(),
                "closed" => !o.status.is_open(),
                _ => true,
            })
            .filter(|o| after.is_none_or(|t| o.created_at > t))
            .filter(|o| until.is_none_or(|t| o.created_at < t))
            .filter(|o| symbols.is_empty() || symbols.contains(&o.symbol))
            .filter(|o| {
                side.as_deref().is_none_or(|s| match o.side {
                    engine::Side::Buy => s == "buy",
                    engine::Side::Sell => s == "sell",
                })
            })
            .collect();
        list.sort_by_key(|o| (o.created_at, o.seq));
        if direction == "desc" {
            list.reverse();
        }
        let body: Vec<Value> = list
            .into_iter()
            .take(limit)
            .map(engine::Order::to_json)
            .collect();
        Ok(HttpResponse::Ok().json(body))
    })
}

fn parse_order_id(s: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found("order not found"))
}

/// `GET /v2/orders/{order_id}` (apca sends the id without hyphens).
async fn get_order(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_order_id(&path)?;
    with_account(&shared, &req, |a, _, _, _, _| {
        let o = a
            .order(id)
            .ok_or_else(|| ApiError::not_found("order not found"))?;
        Ok(HttpResponse::Ok().json(o.to_json()))
    })
}

/// `GET /v2/orders:by_client_order_id?client_order_id=`.
async fn get_order_by_client_order_id(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let cid = q
        .get("client_order_id")
        .cloned()
        .ok_or_else(|| ApiError::invalid("client_order_id is required"))?;
    with_account(&shared, &req, |a, _, _, _, _| {
        let o = a
            .orders
            .iter()
            .find(|o| o.client_order_id == cid)
            .ok_or_else(|| ApiError::not_found("order not found"))?;
        Ok(HttpResponse::Ok().json(o.to_json()))
    })
}

fn parse_body(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::error::CODE_BAD_BODY,
            "request body format is invalid",
        )
    })
}

/// `POST /v2/orders`: 200 with the order (ALPACA-API.md 2.3, "Submit").
async fn create_order(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body = parse_body(&body)?;
    with_account(&shared, &req, |a, market, ids, assets, now| {
        let order_req = engine::parse_order(&body, |s| find_asset(assets, s))?;
        let order = a.submit(order_req, market, ids, now, None)?;
        Ok(HttpResponse::Ok().json(order.to_json()))
    })
}

/// `PATCH /v2/orders/{order_id}`: a new order replaces the old one.
async fn replace_order(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let id = parse_order_id(&path)?;
    let changes = parse_body(&body)?;
    if !changes.is_object() {
        return Err(ApiError::invalid("request body format is invalid"));
    }
    with_account(&shared, &req, |a, market, ids, assets, now| {
        let old = a
            .order(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("order not found"))?;
        if !old.status.is_open() {
            return Err(ApiError::unprocessable("order is not replaceable"));
        }
        if old.notional.is_some() {
            return Err(ApiError::invalid("notional orders cannot be replaced"));
        }
        if changes.get("trail").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::invalid("trail is not supported by the simulator"));
        }
        let mut merged = old.to_json();
        for key in [
            "qty",
            "time_in_force",
            "limit_price",
            "stop_price",
            "client_order_id",
        ] {
            if let Some(v) = changes.get(key).filter(|v| !v.is_null()) {
                merged[key] = v.clone();
            }
        }
        if changes.get("client_order_id").is_none_or(Value::is_null) {
            merged["client_order_id"] = Value::Null;
        }
        merged["notional"] = Value::Null;
        let new_req = engine::parse_order(&merged, |s| find_asset(assets, s))?;
        let order = a.submit(new_req, market, ids, now, Some(id))?;
        Ok(HttpResponse::Ok().json(order.to_json()))
    })
}

/// `DELETE /v2/orders/{order_id}`: 204, or 422 when not cancelable.
async fn cancel_order(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_order_id(&path)?;
    with_account(&shared, &req, |a, _, _, _, now| {
        a.cancel(id, now)?;
        Ok(HttpResponse::NoContent().finish())
    })
}

/// `DELETE /v2/orders`: 207 with `[{id, status, body}]`.
async fn cancel_all_orders(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    with_account(&shared, &req, |a, _, _, _, now| {
        let open: Vec<Uuid> = a
            .orders
            .iter()
            .filter(|o| o.status.is_open())
            .map(|o| o.id)
            .collect();
        let items: Vec<Value> = open
            .into_iter()
            .map(|id| match a.cancel(id, now) {
                Ok(o) => json!({"id": id.to_string(), "status": 200, "body": o.to_json()}),
                Err(e) => {
                    json!({"id": id.to_string(), "status": e.status.as_u16(), "body": e.body()})
                }
            })
            .collect();
        Ok(HttpResponse::build(StatusCode::MULTI_STATUS).json(items))
    })
}

/// `GET /v2/clock` (ALPACA-API.md 2.5): times with New York's offset.
async fn get_clock(shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let now = shared.now();
    let ny = |t: DateTime<Utc>| {
        let s = calendar::to_ny(t).to_rfc3339_opts(SecondsFormat::Nanos, false);
        // Go's RFC3339Nano drops trailing zeros of the fraction.
        match s.split_once('.') {
            Some((whole, rest)) if rest.len() > 9 => {
                let (frac, offset) = rest.split_at(9);
                let frac = frac.trim_end_matches('0');
                if frac.is_empty() {
                    format!("{whole}{offset}")
                } else {
                    format!("{whole}.{frac}{offset}")
                }
            }
            _ => s,
        }
    };
    let next_open = calendar::next_open(now).unwrap_or(now);
    let next_close = calendar::next_close(now).unwrap_or(now);
    Ok(HttpResponse::Ok().json(json!({
        "timestamp": ny(now),
        "is_open": calendar::session_at(now).is_some(),
        "next_open": ny(next_open),
        "next_close": ny(next_close),
    })))
}

/// Settlement: T+2 before 2024-05-28, T+1 from then on.
fn settlement_date(date: NaiveDate) -> NaiveDate {
    let days = if date >= NaiveDate::from_ymd_opt(2024, 5, 28).unwrap_or(date) {
        1
    } else {
        2
    };
    let mut d = date;
    let mut n = 0;
    while n < days {
        d = d.succ_opt().unwrap_or(d);
        if calendar::is_trading_day(d) {
            n += 1;
        }
    }
    d
}

/// `GET /v2/calendar?start=&end=` (ALPACA-API.md 2.5): `open`/`close` as `%H:%M`.
async fn list_calendar(req: HttpRequest) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let start = parse_date_param(&q, "start")?.unwrap_or(calendar::FIRST_DATE);
    let end = parse_date_param(&q, "end")?
        .unwrap_or_else(|| NaiveDate::from_ymd_opt(2027, 12, 31).unwrap_or(calendar::LAST_DATE));
    let list: Vec<Value> = calendar::sessions_between(start, end)
        .into_iter()
        .map(|s: Session| {
            json!({
                "date": s.date.to_string(),
                "open": s.open.format("%H:%M").to_string(),
                "close": s.close.format("%H:%M").to_string(),
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": settlement_date(s.date).to_string(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// The Asset object (ALPACA-API.md 2.6): the key is `class`.
pub(crate) fn asset_json(a: &Asset) -> Value {
    json!({
        "id": a.id.to_string(),
        "class": "us_equity",
        "exchange": a.exchange,
        "symbol": a.symbol,
        "name": a.name,
        "status": if a.active { "active" } else { "inactive" },
        "tradable": a.tradable,
        "marginable": a.marginable,
        "maintenance_margin_requirement": 30,
        "margin_requirement_long": "50",
        "margin_requirement_short": "50",
        "shortable": a.shortable,
        "easy_to_borrow": a.easy_to_borrow,
        "fractionable": a.fractionable,
        "attributes": if a.fractionable { json!(["fractional_eh_enabled"]) } else { json!([]) },
    })
}

/// `GET /v2/assets?status=&asset_class=&exchange=`.
async fn list_assets(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let status = q.get("status").filter(|s| !s.is_empty()).cloned();
    if status
        .as_deref()
        .is_some_and(|s| s != "active" && s != "inactive")
    {
        return Err(ApiError::invalid("invalid status"));
    }
    let class = q.get("asset_class").map_or("us_equity", String::as_str);
    if !["us_equity", "crypto", "us_option"].contains(&class) {
        return Err(ApiError::invalid("invalid asset_class"));
    }
    let exchange = q.get("exchange").filter(|s| !s.is_empty()).cloned();
    let st = shared.state();
    let list: Vec<Value> = st
        .assets
        .values()
        .filter(|_| class == "us_equity")
        .filter(|a| {
            status
                .as_deref()
                .is_none_or(|s| (s == "active") == a.active)
        })
        .filter(|a| exchange.as_deref().is_none_or(|e| e == a.exchange))
        .map(asset_json)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// `GET /v2/assets/{symbol_or_asset_id}`; 404 if unknown.
async fn get_asset(shared: web::Data<Shared>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let st = shared.state();
    let a = st
        .find_asset(&path)
        .ok_or_else(|| ApiError::not_found("asset not found"))?;
    Ok(HttpResponse::Ok().json(asset_json(&a)))
}

const ACTIVITY_TYPES: &[&str] = &[
    "FILL", "TRANS", "MISC", "ACATC", "ACATS", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS", "DIVFEE",
    "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX", "INT", "INTNRA", "INTTW", "JNL", "JNLC",
    "JNLS", "MA", "NC", "OPASN", "OPEXP", "OPXRC", "PTC", "PTR", "FEE", "REORG", "SC", "SPIN",
    "SPLIT",
];

/// `GET /v2/account/activities` (ALPACA-API.md 2.7). Only FILL activities
/// happen in the simulator; other types answer an empty list.
async fn list_activities(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let types: Vec<String> = q
        .get("activity_types")
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    activities(&req, &shared, &q, &types)
}

/// `GET /v2/account/activities/{activity_type}`.
async fn list_activities_of_type(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    activities(&req, &shared, &q, &[path.into_inner()])
}

fn activities(
    req: &HttpRequest,
    shared: &Shared,
    q: &HashMap<String, String>,
    types: &[String],
) -> ApiResult<HttpResponse> {
    if let Some(bad) = types.iter().find(|t| !ACTIVITY_TYPES.contains(&t.as_str())) {
        return Err(ApiError::invalid(format!("invalid activity type {bad}")));
    }
    let date = parse_date_param(q, "date")?;
    let after = parse_time_param(q, "after")?;
    let until = parse_time_param(q, "until")?;
    if date.is_some() && (after.is_some() || until.is_some()) {
        return Err(ApiError::invalid(
            "date cannot be combined with after or until",
        ));
    }
    let direction = q.get("direction").map_or("desc", String::as_str);
    if !["asc", "desc"].contains(&direction) {
        return Err(ApiError::invalid("invalid direction"));
    }
    let page_size = match q.get("page_size").filter(|s| !s.is_empty()) {
        None => 100,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid("invalid page_size"))?,
    };
    let page_token = q.get("page_token").filter(|s| !s.is_empty()).cloned();
    let want_fills = types.is_empty() || types.iter().any(|t| t == "FILL");
    with_account(shared, req, |a, _, _, _, _| {
        if !want_fills {
            return Ok(HttpResponse::Ok().json(Vec::<Value>::new()));
        }
        let mut list: Vec<&engine::Fill> = a
            .fills
            .iter()
            .filter(|f| date.is_none_or(|d| calendar::ny_date(f.time) == d))
            .filter(|f| after.is_none_or(|t| f.time > t))
            .filter(|f| until.is_none_or(|t| f.time < t))
            .collect();
        if direction == "desc" {
            list.reverse();
        }
        if let Some(token) = &page_token {
            match list.iter().position(|f| &f.id == token) {
                Some(i) => {
                    list.drain(..=i);
                }
                None => return Err(ApiError::invalid("invalid page_token")),
            }
        }
        let body: Vec<Value> = list
            .into_iter()
            .take(page_size)
            .map(engine::Fill::to_json)
            .collect();
        Ok(HttpResponse::Ok().json(body))
    })
}

/// Parses `<n>D|W|M|A`.
fn parse_period(s: &str) -> Option<(u32, char)> {
    let unit = s.chars().last()?;
    let n: u32 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    (n >= 1 && "DWMA".contains(unit)).then_some((n, unit))
}

/// `GET /v2/account/portfolio/history` (ALPACA-API.md 2.4): arrays of
/// numbers, timestamps in epoch seconds, left-labelled.
async fn get_portfolio_history(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let period = q
        .get("period")
        .filter(|s| !s.is_empty())
        .map_or("1M", String::as_str);
    let (n, unit) = parse_period(period).ok_or_else(|| ApiError::invalid("invalid period"))?;
    let period_days = match unit {
        'D' => n,
        'W' => 7 * n,
        'M' => 30 * n,
        _ => 365 * n,
    };
    let default_tf = if period_days < 7 {
        "1Min"
    } else if period_days < 30 {
        "15Min"
    } else {
        "1D"
    };
    let timeframe = q
        .get("timeframe")
        .filter(|s| !s.is_empty())
        .map_or(default_tf, String::as_str);
    let step = match timeframe {
        "1Min" => Some(1),
        "5Min" => Some(5),
        "15Min" => Some(15),
        "1H" => Some(60),
        "1D" => None,
        _ => return Err(ApiError::invalid("invalid timeframe")),
    };
    let extended = parse_bool(&q, "extended_hours")?.unwrap_or(false);
    let date_end = parse_date_param(&q, "date_end")?;
    with_account(&shared, &req, |a, market, _, _, now| {
        let end_date = date_end.unwrap_or_else(|| {
            calendar::session_on_or_before(calendar::ny_date(now))
                .map_or(calendar::ny_date(now), |s| s.date)
        });
        let start_date = match unit {
            'D' => {
                let sessions = market.sessions(calendar::FIRST_DATE, end_date);
                let k = sessions.len().saturating_sub(n as usize);
                sessions.get(k).map_or(end_date, |s| s.date)
            }
            'W' => end_date - Duration::days(i64::from(7 * n) - 1),
            'M' => end_date
                .checked_sub_months(Months::new(n))
                .map_or(end_date, |d| d + Duration::days(1)),
            _ => end_date
                .checked_sub_months(Months::new(12 * n))
                .map_or(end_date, |d| d + Duration::days(1)),
        };
        let created_date = calendar::ny_date(a.created_at);
        let sessions: Vec<Session> = market
            .sessions(start_date.max(created_date), end_date)
            .iter()
            .copied()
            .filter(|s| s.open_at() <= now)
            .collect();
        // (label, instant at which equity is measured)
        let mut points: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for s in &sessions {
            match step {
                None => points.push((calendar::ny_midnight(s.date), s.close_at().min(now))),
                Some(minutes) => {
                    let (from, to) = if extended {
                        (
                            calendar::ny_to_utc(
                                s.date,
                                NaiveTime::from_hms_opt(4, 0, 0).unwrap_or_default(),
                            ),
                            calendar::ny_to_utc(
                                s.date,
                                NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
                            ),
                        )
                    } else {
                        (s.open_at(), s.close_at())
                    };
                    let mut t = from;
                    while t < to && t < now {
                        let end = (t + Duration::minutes(minutes)).min(to).min(now);
                        if end >= a.created_at {
                            points.push((t, end));
                        }
                        t += Duration::minutes(minutes);
                    }
                }
            }
        }
        let instants: Vec<DateTime<Utc>> = points.iter().map(|p| p.1).collect();
        let equity = a.equity_series(market, &instants);
        let base_at = sessions
            .first()
            .and_then(|s| calendar::session_on_or_before(s.date.pred_opt()?))
            .map(|s| s.close_at());
        let (base, base_date) = match base_at {
            Some(t) if t >= a.created_at => (
                a.equity_series(market, &[t])
                    .first()
                    .copied()
                    .unwrap_or(a.initial_cash),
                calendar::ny_date(t),
            ),
            _ => (a.initial_cash, created_date),
        };
        let f = |d: Decimal| d.to_f64().unwrap_or(0.0);
        let pl: Vec<f64> = equity.iter().map(|e| f(*e - base)).collect();
        let plpc: Vec<Value> = equity
            .iter()
            .map(|e| {
                if base.is_zero() {
                    Value::Null
                } else {
                    json!(f(((*e - base) / base).round_dp(10)))
                }
            })
            .collect();
        Ok(HttpResponse::Ok().json(json!({
            "timestamp": points.iter().map(|p| p.0.timestamp()).collect::<Vec<i64>>(),
            "equity": equity.iter().map(|e| f(*e)).collect::<Vec<f64>>(),
            "profit_loss": pl,
            "profit_loss_pct": plpc,
            "base_value": f(base),
            "base_value_asof": base_date.to_string(),
            "timeframe": timeframe,
        })))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_period("1M"), Some((1, 'M')));
        assert_eq!(parse_period("10D"), Some((10, 'D')));
        assert_eq!(parse_period("1A"), Some((1, 'A')));
        assert_eq!(parse_period("0D"), None);
        assert_eq!(parse_period("1Y"), None);
        assert_eq!(parse_period("M"), None);
    }

    #[test]
    fn settlement() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(settlement_date(d(2024, 7, 12)), d(2024, 7, 15));
        assert_eq!(settlement_date(d(2023, 7, 13)), d(2023, 7, 17));
    }
}
