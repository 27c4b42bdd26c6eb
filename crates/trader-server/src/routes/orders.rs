//! Orders of the active trading account (or `?account=`): list, get, place
//! (market, limit, stop, stop-limit; qty or notional), cancel one, cancel
//! all. Placing and cancelling take a session or a `trade` token.
//!
//! Every order carries a client_order_id (ours, or the caller's for
//! idempotent scripts), so the broker client can send it again after a
//! timeout without ever placing it twice.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use trader_alpaca::{ListOrders, NewOrder, OrderStatusFilter, OrderType, Side, TimeInForce};
use trader_api_types::ErrorBody;
use trader_api_types::broker::{
    CanceledOrder, CanceledOrders, CreateOrderRequest, Order, OrderKind, OrderList, OrderSide,
    TimeInForce as Tif,
};
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::meta::RequestMeta;
use crate::routes::broker_account::AccountParam;
use crate::routes::positions::audit_trade as audit_broker_action;
use crate::services::broker::{self, broker_error, parse_amount, parse_symbol, require_trading};
use crate::state::AppState;

/// `GET /api/orders` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OrdersQuery {
    /// One of your trading account ids (default: the active one).
    pub account: Option<i64>,
    /// open (default), closed or all.
    pub status: Option<String>,
    /// 1-500 (default 50).
    pub limit: Option<u32>,
    /// Submitted strictly after.
    pub after: Option<DateTime<Utc>>,
    /// Submitted strictly before.
    pub until: Option<DateTime<Utc>>,
    /// Comma-separated symbols.
    pub symbols: Option<String>,
}

/// Orders, newest first.
#[utoipa::path(
    tag = "broker",
    operation_id = "list_orders",
    params(OrdersQuery),
    responses(
        (status = 200, body = OrderList),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 422, description = "A parameter is not acceptable", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/orders")]
pub(crate) async fn list_orders(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<OrdersQuery>,
) -> Result<web::Json<OrderList>, ApiError> {
    let q = query.into_inner();
    let status = match q.status.as_deref().unwrap_or("open") {
        "open" => OrderStatusFilter::Open,
        "closed" => OrderStatusFilter::Closed,
        "all" => OrderStatusFilter::All,
        _ => return Err(ApiError::field("status", "must be open, closed or all")),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 500"));
    }
    let symbols = q
        .symbols
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_symbol("symbols", s))
        .collect::<Result<Vec<_>, _>>()?;
    if symbols.len() > 100 {
        return Err(ApiError::field("symbols", "at most 100 symbols"));
    }
    let target = broker::target_read(&state, caller.id(), q.account).await?;
    let orders = target
        .client
        .orders(&ListOrders {
            status: Some(status),
            limit: Some(limit),
            after: q.after,
            until: q.until,
            direction: None,
            symbols,
            side: None,
        })
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    Ok(web::Json(OrderList {
        orders: orders.iter().map(broker::order).collect(),
    }))
}

/// An order id as Alpaca makes them (a uuid); anything else is no order.
fn parse_order_id(id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| ApiError::NotFound)
}

/// One order.
#[utoipa::path(
    tag = "broker",
    operation_id = "get_order",
    params(("id" = String, Path, description = "The order's id"), AccountParam),
    responses(
        (status = 200, body = Order),
        (status = 404, description = "No such order, or no such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/orders/{id}")]
pub(crate) async fn get_order(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<AccountParam>,
) -> Result<web::Json<Order>, ApiError> {
    let id = parse_order_id(&path.into_inner())?;
    let target = broker::target_read(&state, caller.id(), query.account).await?;
    let order = target
        .client
        .order(&id)
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    Ok(web::Json(broker::order(&order)))
}

/// Checks an order request field by field; answers every bad field at once.
fn parse_order(body: &CreateOrderRequest) -> Result<NewOrder, ApiError> {
    let mut fields = std::collections::BTreeMap::new();
    let mut check = |r: Result<String, ApiError>| match r {
        Ok(v) => Some(v),
        Err(ApiError::Validation { fields: f, .. }) => {
            fields.extend(f);
            None
        }
        Err(_) => None,
    };
    let symbol = check(parse_symbol("symbol", &body.symbol));
    let qty = body
        .qty
        .as_deref()
        .and_then(|q| check(parse_amount("qty", q)));
    let notional = body
        .notional
        .as_deref()
        .and_then(|n| check(parse_amount("notional", n)));
    let limit = body
        .limit_price
        .as_deref()
        .and_then(|p| check(parse_amount("limit_price", p)));
    let stop = body
        .stop_price
        .as_deref()
        .and_then(|p| check(parse_amount("stop_price", p)));
    let mut problem = |f: &str, m: &str| {
        fields.insert(f.to_owned(), m.to_owned());
    };
    match (&body.qty, &body.notional) {
        (None, None) => problem("qty", "give qty or notional"),
        (Some(_), Some(_)) => problem("notional", "give qty or notional, not both"),
        _ => {}
    }
    let needs_limit = matches!(body.order_type, OrderKind::Limit | OrderKind::StopLimit);
    let needs_stop = matches!(body.order_type, OrderKind::Stop | OrderKind::StopLimit);
    if needs_limit && body.limit_price.is_none() {
        problem("limit_price", "is required for limit and stop_limit orders");
    }
    if !needs_limit && body.limit_price.is_some() {
        problem("limit_price", "only limit and stop_limit orders take it");
    }
    if needs_stop && body.stop_price.is_none() {
        problem("stop_price", "is required for stop and stop_limit orders");
    }
    if !needs_stop && body.stop_price.is_some() {
        problem("stop_price", "only stop and stop_limit orders take it");
    }
    if body.notional.is_some()
        && (body.order_type != OrderKind::Market || body.time_in_force != Tif::Day)
    {
        problem(
            "notional",
            "notional orders must be market orders with time_in_force day",
        );
    }
    if body.extended_hours
        && (body.order_type != OrderKind::Limit || body.time_in_force != Tif::Day)
    {
        problem(
            "extended_hours",
            "only limit orders with time_in_force day may trade in extended hours",
        );
    }
    if let Some(id) = &body.client_order_id
        && (id.is_empty() || id.len() > 48 || !id.bytes().all(|b| b.is_ascii_graphic()))
    {
        problem(
            "client_order_id",
            "must be 1 to 48 visible ASCII characters",
        );
    }
    if !fields.is_empty() {
        return Err(ApiError::Validation {
            message: "the order is not acceptable".to_owned(),
            fields,
        });
    }
    Ok(NewOrder {
        symbol: symbol.unwrap_or_default(),
        side: match body.side {
            OrderSide::Buy => Side::Buy,
            OrderSide::Sell => Side::Sell,
        },
        order_type: match body.order_type {
            OrderKind::Market => OrderType::Market,
            OrderKind::Limit => OrderType::Limit,
            OrderKind::Stop => OrderType::Stop,
            OrderKind::StopLimit => OrderType::StopLimit,
        },
        time_in_force: match body.time_in_force {
            Tif::Day => TimeInForce::Day,
            Tif::Gtc => TimeInForce::Gtc,
            Tif::Opg => TimeInForce::Opg,
            Tif::Cls => TimeInForce::Cls,
            Tif::Ioc => TimeInForce::Ioc,
            Tif::Fok => TimeInForce::Fok,
        },
        qty,
        notional,
        limit_price: limit,
        stop_price: stop,
        extended_hours: body.extended_hours,
        client_order_id: Some(
            body.client_order_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ),
    })
}

/// Places an order. On a live account it needs `"confirm": true` (and a
/// token made with `live`). Sending your own `client_order_id` again
/// answers 409 with the existing order.
#[utoipa::path(
    tag = "broker",
    operation_id = "create_order",
    params(AccountParam),
    request_body = CreateOrderRequest,
    responses(
        (status = 201, body = Order),
        (status = 400, description = "The broker refused the keys (broker_keys_rejected)", body = ErrorBody),
        (status = 403, description = "A read token, or a token not made for live accounts", body = ErrorBody),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account, or the client_order_id is taken (the body's `order` is the existing order)", body = ErrorBody),
        (status = 422, description = "A field is not acceptable (per field), or the broker refused the order (order_rejected)", body = ErrorBody),
        (status = 502, description = "The broker failed; the order may have been placed (the message and `fields.client_order_id` name the id to look for)", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time; the order may have been placed (look for `fields.client_order_id` before sending again)", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[post("/orders")]
pub(crate) async fn create_order(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    query: web::Query<AccountParam>,
    body: ApiJson<CreateOrderRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = parse_order(&body)?;
    let target = broker::target(&state, caller.id(), query.account).await?;
    require_trading(&caller, &target, Some(body.confirm))?;
    let client_order_id = new.client_order_id.clone().unwrap_or_default();
    let order = target
        .client
        .submit_order(&new)
        .await
        .map_err(|e| broker::order_error(&state, &target.account, &client_order_id, e))?;
    metrics::counter!(crate::prom::ORDERS_SUBMITTED, "source" => "api").increment(1);
    let detail = serde_json::json!({
        "account_id": target.account.id, "symbol": new.symbol, "side": order.side,
        "qty": new.qty, "notional": new.notional, "type": order.order_type, "order_id": order.id,
    });
    audit_broker_action(&state, &caller, &meta, "order_submitted", detail).await?;
    Ok(HttpResponse::Created().json(broker::order(&order)))
}

/// Cancels an order.
#[utoipa::path(
    tag = "broker",
    operation_id = "cancel_order",
    params(("id" = String, Path, description = "The order's id"), AccountParam),
    responses(
        (status = 204, description = "Cancel requested"),
        (status = 403, description = "A read token, or a token not made for live accounts", body = ErrorBody),
        (status = 404, description = "No such order, or no such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 422, description = "The order can no longer be canceled", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[delete("/orders/{id}")]
pub(crate) async fn cancel_order(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    path: web::Path<String>,
    query: web::Query<AccountParam>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_order_id(&path.into_inner())?;
    let target = broker::target(&state, caller.id(), query.account).await?;
    require_trading(&caller, &target, None)?;
    target
        .client
        .cancel_order(&id)
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    let detail = serde_json::json!({"account_id": target.account.id, "order_id": id});
    audit_broker_action(&state, &caller, &meta, "order_canceled", detail).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Cancels every open order; answers what each cancel did.
#[utoipa::path(
    tag = "broker",
    operation_id = "cancel_all_orders",
    params(AccountParam),
    responses(
        (status = 200, body = CanceledOrders),
        (status = 403, description = "A read token, or a token not made for live accounts", body = ErrorBody),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[delete("/orders")]
pub(crate) async fn cancel_all_orders(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    query: web::Query<AccountParam>,
) -> Result<web::Json<CanceledOrders>, ApiError> {
    let target = broker::target(&state, caller.id(), query.account).await?;
    require_trading(&caller, &target, None)?;
    let canceled = target
        .client
        .cancel_all_orders()
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    let detail = serde_json::json!({
        "account_id": target.account.id,
        "orders": canceled.iter().map(|c| serde_json::json!({"order_id": c.id, "status": c.status})).collect::<Vec<_>>(),
    });
    audit_broker_action(&state, &caller, &meta, "orders_canceled", detail).await?;
    Ok(web::Json(CanceledOrders {
        orders: canceled
            .iter()
            .map(|c| CanceledOrder {
                id: c.id.clone(),
                status: c.status,
            })
            .collect(),
    }))
}
