//! The broker account of the active trading account (or `?account=`): its
//! balances, its fills and its equity curve. Reads: a session or any token.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use trader_alpaca::{FillsQuery, PortfolioHistoryQuery};
use trader_api_types::ErrorBody;
use trader_api_types::broker::{BrokerAccount, Fill, FillPage, PortfolioHistory};
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::broker::{self, broker_error};
use crate::state::AppState;

/// Which trading account: the caller's active one unless `account` names
/// another of theirs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AccountParam {
    /// One of your trading account ids (default: the active one).
    pub account: Option<i64>,
}

/// The broker account: balances, today's P&L and flags.
#[utoipa::path(
    tag = "broker",
    operation_id = "get_account",
    params(AccountParam),
    responses(
        (status = 200, body = BrokerAccount),
        (status = 400, description = "The broker refused the keys (broker_keys_rejected)", body = ErrorBody),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account (no_active_account)", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit (Retry-After)", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/account")]
pub(crate) async fn get_account(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<AccountParam>,
) -> Result<web::Json<BrokerAccount>, ApiError> {
    let target = broker::target_read(&state, caller.id(), query.account).await?;
    let account = target
        .client
        .account()
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    if !target.account.verified {
        // The keys work again (a passing outage, or they were fixed).
        broker::mark_keys(&state, &target.account, true);
    }
    Ok(web::Json(broker::account(&target, &account)))
}

/// `GET /api/activities` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActivitiesQuery {
    /// One of your trading account ids (default: the active one).
    pub account: Option<i64>,
    /// Only `FILL` is offered.
    pub types: Option<String>,
    /// Fills strictly after this time.
    pub after: Option<DateTime<Utc>>,
    /// Fills strictly before this time.
    pub until: Option<DateTime<Utc>>,
    /// 1-100 (default 50).
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Fill history, newest first, a page at a time.
#[utoipa::path(
    tag = "broker",
    operation_id = "list_activities",
    params(ActivitiesQuery),
    responses(
        (status = 200, body = FillPage),
        (status = 400, description = "A parameter is not acceptable", body = ErrorBody),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/activities")]
pub(crate) async fn list_activities(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<ActivitiesQuery>,
) -> Result<web::Json<FillPage>, ApiError> {
    let q = query.into_inner();
    if q.types
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("FILL"))
    {
        return Err(ApiError::field("types", "only FILL is offered"));
    }
    let page_size = q.page_size.unwrap_or(50);
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::field("page_size", "must be 1 to 100"));
    }
    if q.page_token.as_deref().is_some_and(|t| t.len() > 128) {
        return Err(ApiError::field("page_token", "is not a page token"));
    }
    let target = broker::target_read(&state, caller.id(), q.account).await?;
    let page = target
        .client
        .fills(&FillsQuery {
            after: q.after,
            until: q.until,
            direction: None,
            page_size: Some(page_size),
            page_token: q.page_token,
        })
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    Ok(web::Json(FillPage {
        fills: page
            .fills
            .iter()
            .map(|f| Fill {
                id: f.id.clone(),
                symbol: f.symbol.clone(),
                side: f.side.clone(),
                qty: f.qty.clone(),
                price: f.price.clone(),
                order_id: f.order_id.clone(),
                transaction_time: f.transaction_time,
            })
            .collect(),
        next_page_token: page.next_page_token,
    }))
}

/// `GET /api/portfolio-history` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// One of your trading account ids (default: the active one).
    pub account: Option<i64>,
    /// 1D, 1W, 1M (default), 3M, 6M or 1A.
    pub period: Option<String>,
}

/// The timeframe the Python version chose for a period: 1D -> 15Min,
/// 1W -> 1H, longer -> 1D.
fn timeframe_for(period: &str) -> Option<&'static str> {
    match period {
        "1D" => Some("15Min"),
        "1W" => Some("1H"),
        "1M" | "3M" | "6M" | "1A" => Some("1D"),
        _ => None,
    }
}

/// The equity curve (numbers, as Alpaca sends them), regular hours only.
#[utoipa::path(
    tag = "broker",
    operation_id = "get_portfolio_history",
    params(HistoryQuery),
    responses(
        (status = 200, body = PortfolioHistory),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 422, description = "Not a period this offers", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/portfolio-history")]
pub(crate) async fn get_portfolio_history(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<HistoryQuery>,
) -> Result<web::Json<PortfolioHistory>, ApiError> {
    let q = query.into_inner();
    let period = q.period.unwrap_or_else(|| "1M".to_owned());
    let timeframe = timeframe_for(&period)
        .ok_or_else(|| ApiError::field("period", "must be 1D, 1W, 1M, 3M, 6M or 1A"))?;
    let target = broker::target_read(&state, caller.id(), q.account).await?;
    let history = target
        .client
        .portfolio_history(&PortfolioHistoryQuery {
            period: Some(period.clone()),
            timeframe: Some(timeframe.to_owned()),
            extended_hours: Some(false),
            date_end: None,
        })
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    Ok(web::Json(PortfolioHistory {
        period,
        timeframe: timeframe.to_owned(),
        timestamp: history.timestamp,
        equity: history.equity,
        profit_loss: history.profit_loss,
        profit_loss_pct: history.profit_loss_pct,
        base_value: history.base_value,
    }))
}
