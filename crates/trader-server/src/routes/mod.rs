//! The route table: every path the server answers, in one place.

mod health;

use actix_web::{HttpResponse, web};
use trader_api_types::{ErrorBody, ErrorCode};

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .default_service(web::to(not_found));
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody::new(
        ErrorCode::NotFound,
        "there is nothing at this path",
    ))
}
