//! `/api/accounts`: the user's trading accounts. Listing takes a session
//! or a token; managing them takes a browser session. Keys are never
//! returned, only the key id's last four characters.

use actix_web::{HttpResponse, delete, get, post, put, web};
use trader_api_types::ErrorBody;
use trader_api_types::broker::{
    CreateTradingAccountRequest, TradingAccount, TradingAccountList, UpdateTradingAccountRequest,
};
use trader_db::trading_accounts;

use crate::auth::{AuthUser, SessionUser};
use crate::error::{ApiError, blocking};
use crate::json::ApiJson;
use crate::meta::RequestMeta;
use crate::services::trading_accounts as service;
use crate::state::AppState;

/// The user's trading accounts, oldest first.
#[utoipa::path(
    tag = "accounts",
    operation_id = "list_accounts",
    responses(
        (status = 200, body = TradingAccountList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = []), ("bearer" = []))
)]
#[get("/accounts")]
pub(crate) async fn list_accounts(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<web::Json<TradingAccountList>, ApiError> {
    let st = state.clone();
    let user = caller.id();
    let rows =
        blocking(move || Ok(trading_accounts::list_for_user(&mut *st.pool.get()?, user)?)).await?;
    Ok(web::Json(TradingAccountList {
        accounts: rows.iter().map(service::dto).collect(),
    }))
}

/// Adds an account. The keys are checked against the broker first and
/// nothing is stored when it refuses them; a `live` account needs
/// `confirm_live`, 2FA on and a recent confirmation.
#[utoipa::path(
    tag = "accounts",
    operation_id = "create_account",
    request_body = CreateTradingAccountRequest,
    responses(
        (status = 201, body = TradingAccount),
        (status = 400, description = "The broker refused the keys (broker_keys_rejected)", body = ErrorBody),
        (status = 403, description = "Live keys need 2FA and a recent confirmation", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 503, description = "The broker's rate limit", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/accounts")]
pub(crate) async fn create_account(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    body: ApiJson<CreateTradingAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let created = service::create(&state, &caller, &meta, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Renames an account and/or replaces its keys (checked again).
#[utoipa::path(
    tag = "accounts",
    operation_id = "update_account",
    params(("id" = i64, Path, description = "The trading account's id")),
    request_body = UpdateTradingAccountRequest,
    responses(
        (status = 200, body = TradingAccount),
        (status = 400, description = "The broker refused the keys (broker_keys_rejected)", body = ErrorBody),
        (status = 403, description = "Live keys need 2FA and a recent confirmation", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
        (status = 502, description = "The broker failed", body = ErrorBody),
        (status = 504, description = "The broker did not answer in time", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[put("/accounts/{id}")]
pub(crate) async fn update_account(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    path: web::Path<i64>,
    body: ApiJson<UpdateTradingAccountRequest>,
) -> Result<web::Json<TradingAccount>, ApiError> {
    Ok(web::Json(
        service::update(&state, &caller, &meta, path.into_inner(), body.into_inner()).await?,
    ))
}

/// Deletes an account; its audit entries stay.
#[utoipa::path(
    tag = "accounts",
    operation_id = "delete_account",
    params(("id" = i64, Path, description = "The trading account's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[delete("/accounts/{id}")]
pub(crate) async fn delete_account(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    service::delete(&state, &caller, &meta, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Makes an account the active one.
#[utoipa::path(
    tag = "accounts",
    operation_id = "activate_account",
    params(("id" = i64, Path, description = "The trading account's id")),
    responses(
        (status = 200, body = TradingAccount),
        (status = 404, body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/accounts/{id}/activate")]
pub(crate) async fn activate_account(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<web::Json<TradingAccount>, ApiError> {
    Ok(web::Json(
        service::activate(&state, &caller, &meta, path.into_inner()).await?,
    ))
}
