//! `GET /api/meta`: what this server offers, without signing in, so the
//! SPA can show the right choices.

use actix_web::{get, web};
use trader_api_types::ErrorBody;
use trader_api_types::broker::Meta;

use crate::state::AppState;

/// The version, the environments a trading account may use, and whether
/// the built-in simulator (demo mode) runs.
#[utoipa::path(
    tag = "meta",
    operation_id = "get_meta",
    responses((status = 200, body = Meta), (status = "default", description = "An error", body = ErrorBody))
)]
#[get("/meta")]
pub(crate) async fn get_meta(state: web::Data<AppState>) -> web::Json<Meta> {
    web::Json(Meta {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        environments: state.environments.clone(),
        demo: state.settings.demo,
    })
}
