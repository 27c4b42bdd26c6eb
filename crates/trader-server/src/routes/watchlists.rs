//! Watchlists: `/api/watchlists` (several named lists, one the default)
//! and the Python version's routes on the default list (`/api/watchlist`).
//! Reading takes a session or any token; changing takes a session or a
//! `trade` token.

use actix_web::{HttpResponse, delete, get, post, put, web};
use trader_api_types::ErrorBody;
use trader_api_types::signals::{
    AddSymbolRequest, CreateWatchlistRequest, UpdateWatchlistRequest, Watchlist, WatchlistList,
    WatchlistSymbol,
};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::meta::RequestMeta;
use crate::services::watchlists as service;
use crate::state::AppState;

/// The user's watchlists with their symbols, the default first.
#[utoipa::path(
    tag = "watchlists",
    operation_id = "list_watchlists",
    responses((status = 200, body = WatchlistList), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []), ("bearer" = []))
)]
#[get("/watchlists")]
pub(crate) async fn list_watchlists(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<web::Json<WatchlistList>, ApiError> {
    Ok(web::Json(WatchlistList {
        watchlists: service::list_read(&state, caller.id()).await?.to_vec(),
    }))
}

/// Creates a watchlist (at most 20 a user).
#[utoipa::path(
    tag = "watchlists",
    operation_id = "create_watchlist",
    request_body = CreateWatchlistRequest,
    responses(
        (status = 201, body = Watchlist),
        (status = 409, description = "The name is taken, or 20 lists exist", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[post("/watchlists")]
pub(crate) async fn create_watchlist(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    body: ApiJson<CreateWatchlistRequest>,
) -> Result<HttpResponse, ApiError> {
    let created = service::create(&state, &caller, &meta, &body.name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Renames a watchlist and/or makes it the default.
#[utoipa::path(
    tag = "watchlists",
    operation_id = "update_watchlist",
    params(("id" = i64, Path, description = "The watchlist's id")),
    request_body = UpdateWatchlistRequest,
    responses(
        (status = 200, body = Watchlist),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[put("/watchlists/{id}")]
pub(crate) async fn update_watchlist(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    path: web::Path<i64>,
    body: ApiJson<UpdateWatchlistRequest>,
) -> Result<web::Json<Watchlist>, ApiError> {
    let body = body.into_inner();
    Ok(web::Json(
        service::update(
            &state,
            &caller,
            &meta,
            path.into_inner(),
            body.name.as_deref(),
            body.is_default,
        )
        .await?,
    ))
}

/// Deletes a watchlist (the default only when it is the last).
#[utoipa::path(
    tag = "watchlists",
    operation_id = "delete_watchlist",
    params(("id" = i64, Path, description = "The watchlist's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The default cannot go while others exist", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[delete("/watchlists/{id}")]
pub(crate) async fn delete_watchlist(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    service::delete(&state, &caller, &meta, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A watchlist's symbols.
#[utoipa::path(
    tag = "watchlists",
    operation_id = "list_watchlist_symbols",
    params(("id" = i64, Path, description = "The watchlist's id")),
    responses((status = 200, body = Watchlist), (status = 404, body = ErrorBody), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []), ("bearer" = []))
)]
#[get("/watchlists/{id}/symbols")]
pub(crate) async fn list_watchlist_symbols(
    state: web::Data<AppState>,
    caller: AuthUser,
    path: web::Path<i64>,
) -> Result<web::Json<Watchlist>, ApiError> {
    Ok(web::Json(
        service::get_read(&state, caller.id(), Some(path.into_inner())).await?,
    ))
}

/// Adds a symbol (at most 200 a list).
#[utoipa::path(
    tag = "watchlists",
    operation_id = "add_watchlist_symbol",
    params(("id" = i64, Path, description = "The watchlist's id")),
    request_body = AddSymbolRequest,
    responses(
        (status = 201, body = WatchlistSymbol),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already there, or 200 symbols", body = ErrorBody),
        (status = 422, description = "Not a symbol, or not tradable at the broker", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[post("/watchlists/{id}/symbols")]
pub(crate) async fn add_watchlist_symbol(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    path: web::Path<i64>,
    body: ApiJson<AddSymbolRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let added = service::add_symbol(
        &state,
        &caller,
        &meta,
        Some(path.into_inner()),
        &body.symbol,
        body.name.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created().json(added))
}

/// Removes a symbol.
#[utoipa::path(
    tag = "watchlists",
    operation_id = "remove_watchlist_symbol",
    params(("id" = i64, Path, description = "The watchlist's id"), ("symbol" = String, Path, description = "The symbol")),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[delete("/watchlists/{id}/symbols/{symbol}")]
pub(crate) async fn remove_watchlist_symbol(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, symbol) = path.into_inner();
    service::remove_symbol(&state, &caller, &meta, Some(id), &symbol).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The default watchlist (the Python version's route).
#[utoipa::path(
    tag = "watchlists",
    operation_id = "get_default_watchlist",
    responses((status = 200, body = Watchlist), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []), ("bearer" = []))
)]
#[get("/watchlist")]
pub(crate) async fn get_default_watchlist(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<web::Json<Watchlist>, ApiError> {
    Ok(web::Json(
        service::get_read(&state, caller.id(), None).await?,
    ))
}

/// Adds a symbol to the default watchlist (the Python version's route).
#[utoipa::path(
    tag = "watchlists",
    operation_id = "add_default_watchlist_symbol",
    request_body = AddSymbolRequest,
    responses(
        (status = 201, body = WatchlistSymbol),
        (status = 409, description = "Already there, or 200 symbols", body = ErrorBody),
        (status = 422, description = "Not a symbol, or not tradable at the broker", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[post("/watchlist")]
pub(crate) async fn add_default_watchlist_symbol(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    body: ApiJson<AddSymbolRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let added = service::add_symbol(
        &state,
        &caller,
        &meta,
        None,
        &body.symbol,
        body.name.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created().json(added))
}

/// Removes a symbol from the default watchlist (the Python version's route).
#[utoipa::path(
    tag = "watchlists",
    operation_id = "remove_default_watchlist_symbol",
    params(("symbol" = String, Path, description = "The symbol")),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = [], "csrf" = []), ("bearer" = []))
)]
#[delete("/watchlist/{symbol}")]
pub(crate) async fn remove_default_watchlist_symbol(
    state: web::Data<AppState>,
    caller: AuthUser,
    meta: RequestMeta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    service::remove_symbol(&state, &caller, &meta, None, &path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
