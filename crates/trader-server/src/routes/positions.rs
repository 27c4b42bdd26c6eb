//! Positions of the active trading account (or `?account=`): list, close
//! one (all of it, a quantity or a percentage), close all.

use actix_web::{delete, get, web};
use serde::Deserialize;
use trader_alpaca::CloseAmount;
use trader_api_types::ErrorBody;
use trader_api_types::broker::{ClosedPosition, ClosedPositions, Order, PositionList};
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::meta::{RequestMeta, audit_user};
use crate::routes::broker_account::AccountParam;
use crate::services::broker::{self, broker_error, parse_amount, parse_symbol, require_trading};
use crate::state::AppState;

/// The open positions.
#[utoipa::path(
    tag = "broker",
    operation_id = "list_positions",
    params(AccountParam),
    responses(
        (status = 200, body = PositionList),
        (status = 400, description = "The broker refused the keys (broker_keys_rejected)", body = ErrorBody),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/positions")]
pub(crate) async fn list_positions(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<AccountParam>,
) -> Result<web::Json<PositionList>, ApiError> {
    let target = broker::target_read(&state, caller.id(), query.account).await?;
    let positions = target
        .client
        .positions()
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    Ok(web::Json(PositionList {
        positions: positions.iter().map(broker::position).collect(),
    }))
}

/// `DELETE /api/positions/{symbol}` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CloseQuery {
    /// One of your trading account ids (default: the active one).
    pub account: Option<i64>,
    /// Close this many shares (a decimal string).
    pub qty: Option<String>,
    /// Close this percentage, 0-100 (a decimal string).
    pub percentage: Option<String>,
}

/// Audits a broker action that has happened. Never fails the request: the
/// broker acted, and an error answer would invite a second order.
pub(crate) async fn audit_trade(
    state: &AppState,
    caller: &AuthUser,
    meta: &RequestMeta,
    event: &'static str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    if let Err(e) = audit_user(state, &caller.user, meta, event, Some(detail)).await {
        tracing::error!(error = %e, event, "could not audit a broker action that succeeded");
    }
    Ok(())
}

/// Closes a position: all of it, `qty` shares or `percentage` %. Answers
/// the closing order. A session or a `trade` token.
#[utoipa::path(
    tag = "broker",
    operation_id = "close_position",
    params(("symbol" = String, Path, description = "The position's symbol"), CloseQuery),
    responses(
        (status = 200, body = Order),
        (status = 403, description = "A read token, or a token not made for live accounts", body = ErrorBody),
        (status = 404, description = "No such position, or no such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 422, description = "A bad amount, or the broker refused", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[delete("/positions/{symbol}")]
pub(crate) async fn close_position(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    path: web::Path<String>,
    query: web::Query<CloseQuery>,
) -> Result<web::Json<Order>, ApiError> {
    let symbol = parse_symbol("symbol", &path.into_inner())?;
    let q = query.into_inner();
    let amount = match (&q.qty, &q.percentage) {
        (None, None) => CloseAmount::All,
        (Some(qty), None) => CloseAmount::Qty(parse_amount("qty", qty)?),
        (None, Some(pct)) => {
            let p = parse_amount("percentage", pct)?;
            if p.parse::<rust_decimal::Decimal>().unwrap_or_default()
                > rust_decimal::Decimal::ONE_HUNDRED
            {
                return Err(ApiError::field("percentage", "must be at most 100"));
            }
            CloseAmount::Percentage(p)
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::field("qty", "give qty or percentage, not both"));
        }
    };
    let target = broker::target(&state, caller.id(), q.account).await?;
    require_trading(&caller, &target, None)?;
    let order = target
        .client
        .close_position(&symbol, &amount)
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    let detail = serde_json::json!({
        "account_id": target.account.id, "symbol": symbol, "qty": q.qty,
        "percentage": q.percentage, "order_id": order.id,
    });
    audit_trade(&state, &caller, &meta, "position_closed", detail).await?;
    Ok(web::Json(broker::order(&order)))
}

/// `DELETE /api/positions` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CloseAllQuery {
    /// One of your trading account ids (default: the active one).
    pub account: Option<i64>,
    /// Must be `true` on a live account.
    #[serde(default)]
    pub confirm: bool,
}

/// Closes every position (and cancels open orders first). On a live
/// account it needs `confirm=true`.
#[utoipa::path(
    tag = "broker",
    operation_id = "close_all_positions",
    params(CloseAllQuery),
    responses(
        (status = 200, body = ClosedPositions),
        (status = 403, description = "A read token, or a token not made for live accounts", body = ErrorBody),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 422, description = "A live account without confirm=true", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[delete("/positions")]
pub(crate) async fn close_all_positions(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    query: web::Query<CloseAllQuery>,
) -> Result<web::Json<ClosedPositions>, ApiError> {
    let target = broker::target(&state, caller.id(), query.account).await?;
    require_trading(&caller, &target, Some(query.confirm))?;
    let closed = target
        .client
        .close_all_positions(true)
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    let detail = serde_json::json!({
        "account_id": target.account.id,
        "closed": closed.iter().map(|c| serde_json::json!({"symbol": c.symbol, "status": c.status, "order_id": c.order.as_ref().map(|o| o.id.clone())})).collect::<Vec<_>>(),
    });
    audit_trade(&state, &caller, &meta, "positions_closed", detail).await?;
    Ok(web::Json(ClosedPositions {
        positions: closed
            .iter()
            .map(|c| ClosedPosition {
                symbol: c.symbol.clone(),
                status: c.status,
                order: c.order.as_ref().map(broker::order),
            })
            .collect(),
    }))
}
