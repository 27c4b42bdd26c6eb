//! The market clock and the tradable assets (for the symbol picker), through
//! the active trading account (or `?account=`).

use actix_web::{get, web};
use serde::Deserialize;
use trader_api_types::ErrorBody;
use trader_api_types::broker::{AssetList, MarketClock};
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::broker_account::AccountParam;
use crate::services::broker::{self, broker_error};
use crate::state::AppState;

/// The market clock: open now, next open and close.
#[utoipa::path(
    tag = "broker",
    operation_id = "get_clock",
    params(AccountParam),
    responses(
        (status = 200, body = MarketClock),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/clock")]
pub(crate) async fn get_clock(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<AccountParam>,
) -> Result<web::Json<MarketClock>, ApiError> {
    let target = broker::target_read(&state, caller.id(), query.account).await?;
    let c = target
        .client
        .clock()
        .await
        .map_err(|e| broker_error(&state, &target.account, e))?;
    Ok(web::Json(MarketClock {
        timestamp: c.timestamp,
        is_open: c.is_open,
        next_open: c.next_open,
        next_close: c.next_close,
    }))
}

/// `GET /api/assets` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AssetsQuery {
    /// One of your trading account ids (default: the active one).
    pub account: Option<i64>,
    /// The start of a symbol or a name, 1-32 characters.
    pub search: String,
}

/// Tradable assets whose symbol or name starts with `search`, at most 20.
#[utoipa::path(
    tag = "broker",
    operation_id = "search_assets",
    params(AssetsQuery),
    responses(
        (status = 200, body = AssetList),
        (status = 404, description = "No such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 422, description = "search is empty or too long", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/assets")]
pub(crate) async fn search_assets(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<AssetsQuery>,
) -> Result<web::Json<AssetList>, ApiError> {
    let q = query.into_inner();
    let search = q.search.trim();
    if search.is_empty() || search.chars().count() > 32 {
        return Err(ApiError::field("search", "must be 1 to 32 characters"));
    }
    let target = broker::target_read(&state, caller.id(), q.account).await?;
    Ok(web::Json(AssetList {
        assets: broker::search_assets(&state, &target, search).await?,
    }))
}
