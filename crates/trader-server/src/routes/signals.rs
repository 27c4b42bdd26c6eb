//! `GET /api/signals`: BUY/SELL/HOLD for every symbol of a watchlist, with
//! each rule's vote, reason and values, computed now from closed bars.

use actix_web::{get, web};
use serde::Deserialize;
use trader_api_types::ErrorBody;
use trader_api_types::signals::SignalList;
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::{broker, settings, signals, watchlists};
use crate::state::AppState;

/// `GET /api/signals` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SignalsQuery {
    /// One of your watchlist ids (default: the default list).
    pub watchlist: Option<i64>,
    /// One of your trading account ids for the market data (default: the
    /// active one).
    pub account: Option<i64>,
}

/// The signals of a watchlist: one row per symbol; a symbol the data source
/// does not know is reported in its own row and never fails the others.
#[utoipa::path(
    tag = "signals",
    operation_id = "list_signals",
    params(SignalsQuery),
    responses(
        (status = 200, body = SignalList),
        (status = 404, description = "No such watchlist or trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account (market data comes through it)", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/signals")]
pub(crate) async fn list_signals(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<SignalsQuery>,
) -> Result<web::Json<SignalList>, ApiError> {
    let list = watchlists::get(&state, caller.id(), query.watchlist).await?;
    let user_settings = settings::load(&state, caller.id()).await?;
    let target = broker::target(&state, caller.id(), query.account).await?;
    let engine =
        trader_indicators::SignalEngine::from_config(&settings::signal_config(&user_settings))
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored settings are invalid: {e}")))?;
    let symbols: Vec<String> = list.symbols.iter().map(|s| s.symbol.clone()).collect();
    let now = match target.client.clock().await {
        Ok(clock) => clock.timestamp,
        Err(_) => state.clock.now(),
    };
    let (bars, window) = if symbols.is_empty() {
        (Default::default(), signals::window(&user_settings, 0))
    } else {
        signals::closed_bars(&state, &target, &user_settings, &symbols, now).await?
    };
    let out = list
        .symbols
        .iter()
        .map(|s| {
            let empty = Vec::new();
            let symbol_bars = bars.get(&s.symbol).unwrap_or(&empty);
            signals::evaluate(
                &engine,
                &user_settings,
                &s.symbol,
                s.name.clone(),
                symbol_bars,
                window,
            )
        })
        .collect();
    Ok(web::Json(SignalList {
        watchlist_id: list.id,
        timeframe: user_settings.data.timeframe.clone(),
        window,
        signals: out,
    }))
}

/// `GET /api/chart/{symbol}` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChartQuery {
    /// One of Alpaca's timeframes (default: the settings' `data.timeframe`).
    pub timeframe: Option<String>,
    /// Bars to return, 1-1000 (default 200).
    pub limit: Option<u32>,
    /// One of your trading account ids for the market data (default: the
    /// active one).
    pub account: Option<i64>,
}

/// A symbol's chart: bars, the user's indicators aligned with them, and
/// the signal markers (replayed over the returned bars).
#[utoipa::path(
    tag = "signals",
    operation_id = "get_chart",
    params(("symbol" = String, Path, description = "The symbol"), ChartQuery),
    responses(
        (status = 200, body = trader_api_types::signals::ChartData),
        (status = 404, description = "No bars for this symbol, or no such trading account of yours", body = ErrorBody),
        (status = 409, description = "No active trading account", body = ErrorBody),
        (status = 422, description = "A parameter is not acceptable", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/chart/{symbol}")]
pub(crate) async fn get_chart(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<ChartQuery>,
) -> Result<web::Json<trader_api_types::signals::ChartData>, ApiError> {
    let symbol = broker::parse_symbol("symbol", &path.into_inner())?;
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 1000"));
    }
    let user_settings = settings::load(&state, caller.id()).await?;
    let timeframe = q
        .timeframe
        .unwrap_or_else(|| user_settings.data.timeframe.clone());
    if !settings::is_timeframe(&timeframe) {
        return Err(ApiError::field(
            "timeframe",
            "must be one of Alpaca's timeframes, e.g. 1Day or 15Min",
        ));
    }
    let target = broker::target(&state, caller.id(), q.account).await?;
    let now = match target.client.clock().await {
        Ok(clock) => clock.timestamp,
        Err(_) => state.clock.now(),
    };
    let limit = usize::try_from(limit).unwrap_or(200);
    Ok(web::Json(
        signals::chart(
            &state,
            &target,
            &user_settings,
            &symbol,
            &timeframe,
            limit,
            now,
        )
        .await?,
    ))
}
