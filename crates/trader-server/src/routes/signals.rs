//! `GET /api/signals`: BUY/SELL/HOLD for every symbol of a watchlist, with
//! each rule's vote, reason and values, computed now from closed bars.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use trader_api_types::ErrorBody;
use trader_api_types::signals::SignalList;
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::services::{broker, settings, signals};
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
/// does not know is reported in its own row and never fails the others. A
/// result is reused until a newer bar can exist.
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
) -> Result<HttpResponse, ApiError> {
    let body = signals::list(&state, caller.id(), query.watchlist, query.account).await?;
    Ok(HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(body))
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
    let user_settings = settings::load_read(&state, caller.id()).await?;
    let timeframe = q
        .timeframe
        .unwrap_or_else(|| user_settings.data.timeframe.clone());
    if !settings::is_timeframe(&timeframe) {
        return Err(ApiError::field(
            "timeframe",
            "must be one of Alpaca's timeframes, e.g. 1Day or 15Min",
        ));
    }
    let target = broker::target_read(&state, caller.id(), q.account).await?;
    let now = signals::broker_now(&state, &target).await;
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

/// `GET /api/signals/history` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    pub symbol: Option<String>,
    /// `buy`, `sell` or `hold`.
    pub action: Option<String>,
    /// Bars at or after this time.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Bars at or before this time.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1-500 (default 100).
    pub limit: Option<i64>,
}

/// The signals the scheduler stored, newest first, a page at a time.
#[utoipa::path(
    tag = "signals",
    operation_id = "list_signal_history",
    params(HistoryQuery),
    responses(
        (status = 200, body = trader_api_types::signals::HistoryPage),
        (status = 422, description = "A parameter is not acceptable", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/signals/history")]
pub(crate) async fn list_signal_history(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<HistoryQuery>,
) -> Result<web::Json<trader_api_types::signals::HistoryPage>, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 500"));
    }
    if q.action
        .as_deref()
        .is_some_and(|a| !matches!(a, "buy" | "sell" | "hold"))
    {
        return Err(ApiError::field("action", "must be buy, sell or hold"));
    }
    let symbol = q
        .symbol
        .as_deref()
        .map(|s| broker::parse_symbol("symbol", s))
        .transpose()?;
    let pool = state.pool.clone();
    let user = caller.id();
    let rows = crate::error::blocking(move || {
        Ok(trader_db::signal_history::list(
            &mut *pool.get()?,
            user,
            &trader_db::signal_history::HistoryQuery {
                symbol: symbol.as_deref(),
                action: q.action.as_deref(),
                from: q.from,
                to: q.to,
                before_id: q.cursor,
                limit: limit + 1,
            },
        )?)
    })
    .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(100);
    let signals: Vec<_> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(100))
        .map(|r| trader_api_types::signals::HistoryEntry {
            id: r.id,
            symbol: r.symbol,
            timeframe: r.timeframe,
            bar_time: r.bar_time,
            action: r.action,
            strength_pct: r.strength,
            price: r.price,
            votes: serde_json::from_str(&r.votes).unwrap_or_default(),
            created_at: r.created_at,
        })
        .collect();
    let next_cursor = if more {
        signals.last().map(|s| s.id)
    } else {
        None
    };
    Ok(web::Json(trader_api_types::signals::HistoryPage {
        signals,
        next_cursor,
    }))
}

/// The scheduler: whether it runs, its last pass, the caller's schedule
/// (admins also see everyone's).
#[utoipa::path(
    tag = "signals",
    operation_id = "get_scheduler_status",
    responses(
        (status = 200, body = trader_api_types::signals::SchedulerStatus),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/scheduler-status")]
pub(crate) async fn get_scheduler_status(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<web::Json<trader_api_types::signals::SchedulerStatus>, ApiError> {
    use trader_api_types::signals::{SchedulerPass, SchedulerStatus, UserSchedule};
    let pool = state.pool.clone();
    let user = caller.id();
    let admin = caller.user.role == trader_api_types::Role::Admin;
    let now = state.clock.now();
    let tick = chrono::Duration::from_std(state.settings.scheduler_tick * 3)
        .unwrap_or(chrono::Duration::minutes(1));
    let status = crate::error::blocking(move || {
        let mut conn = pool.get()?;
        let last = trader_db::scheduler::recent_runs(&mut conn, 1)?
            .into_iter()
            .next();
        let own = trader_db::scheduler::user_state(&mut conn, user)?;
        let schedule = |u: i64, s: Option<trader_db::scheduler::UserState>| {
            let (last_run_at, next_run_at, last_error) = s.unwrap_or((None, None, None));
            UserSchedule {
                user_id: u,
                last_run_at,
                next_run_at,
                last_error,
            }
        };
        let users = if admin {
            let mut all = Vec::new();
            for u in trader_db::users::list_users(&mut conn)? {
                all.push(schedule(
                    u.id.0,
                    trader_db::scheduler::user_state(&mut conn, u.id)?,
                ));
            }
            Some(all)
        } else {
            None
        };
        Ok(SchedulerStatus {
            enabled: false,
            running: last
                .as_ref()
                .and_then(|r| r.finished_at)
                .is_some_and(|f| now - f <= tick),
            last_pass: last.map(|r| SchedulerPass {
                duration_ms: r.finished_at.map(|f| (f - r.started_at).num_milliseconds()),
                started_at: r.started_at,
                finished_at: r.finished_at,
                users: r.users,
                symbols: r.symbols,
                signals: r.signals,
                errors: r.errors,
            }),
            you: schedule(user.0, own),
            users,
        })
    })
    .await?;
    Ok(web::Json(SchedulerStatus {
        enabled: state.settings.scheduler,
        ..status
    }))
}
