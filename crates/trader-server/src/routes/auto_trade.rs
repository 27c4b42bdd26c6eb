//! Auto-trade's kill switch and decision log. Its settings are the
//! `auto_trade` group of `/api/indicators`.

use actix_web::{get, post, web};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use trader_api_types::ErrorBody;
use trader_api_types::auto_trade::{DecisionPage, StopReport};
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::meta::RequestMeta;
use crate::services::{auto_trade as service, broker};
use crate::state::AppState;

/// Stops auto-trade at once: "off" is saved before the broker is asked
/// anything, then every open order auto-trade sent on its account is
/// cancelled. Answers what was cancelled and what could not be. Needs no
/// confirmation; a `trade` token may call it.
#[utoipa::path(
    tag = "auto-trade",
    operation_id = "stop_auto_trade",
    responses(
        (status = 200, body = StopReport),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[post("/auto-trade/stop")]
pub(crate) async fn stop_auto_trade(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
) -> Result<web::Json<StopReport>, ApiError> {
    let report = service::stop(&state, caller.id()).await?;
    service::audit_stop(&state, &caller, &meta, &report).await?;
    Ok(web::Json(report))
}

/// `GET /api/auto-trade/log` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    pub symbol: Option<String>,
    /// One New York day's decisions (YYYY-MM-DD).
    pub date: Option<NaiveDate>,
    /// Decisions made at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Decisions made before this time.
    pub to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1-500 (default 100).
    pub limit: Option<i64>,
}

fn ny_midnight(date: NaiveDate) -> Option<DateTime<Utc>> {
    chrono_tz::America::New_York
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Auto-trade's decisions, newest first, a page at a time: placed (with
/// the order id), skipped and why, refused by the broker (its message),
/// failed, dry run, cancelled.
#[utoipa::path(
    tag = "auto-trade",
    operation_id = "list_auto_trade_log",
    params(LogQuery),
    responses(
        (status = 200, body = DecisionPage),
        (status = 422, description = "A parameter is not acceptable", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/auto-trade/log")]
pub(crate) async fn list_auto_trade_log(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<LogQuery>,
) -> Result<web::Json<DecisionPage>, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 500"));
    }
    let symbol = q
        .symbol
        .as_deref()
        .map(|s| broker::parse_symbol("symbol", s))
        .transpose()?;
    // Dates a database can hold (PostgreSQL's timestamps end in 294276).
    let in_range = |t: DateTime<Utc>| (1900..=9999).contains(&chrono::Datelike::year(&t));
    for (field, t) in [("from", q.from), ("to", q.to)] {
        if t.is_some_and(|t| !in_range(t)) {
            return Err(ApiError::field(
                field,
                "must be a time between the years 1900 and 9999",
            ));
        }
    }
    if q.date
        .is_some_and(|d| !(1900..=9999).contains(&chrono::Datelike::year(&d)))
    {
        return Err(ApiError::field(
            "date",
            "must be a date between the years 1900 and 9999",
        ));
    }
    let (mut from, mut to) = (q.from, q.to);
    if let Some(date) = q.date {
        let day = ny_midnight(date)
            .zip(date.succ_opt().and_then(ny_midnight))
            .ok_or_else(|| ApiError::field("date", "must be a date such as 2024-07-10"))?;
        from = Some(from.map_or(day.0, |f| f.max(day.0)));
        to = Some(to.map_or(day.1, |t| t.min(day.1)));
    }
    Ok(web::Json(
        service::decisions(&state, caller.id(), symbol, from, to, q.cursor, limit).await?,
    ))
}
