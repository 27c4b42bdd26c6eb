//! `GET /healthz` (the process answers) and `GET /readyz` (and it can reach
//! its database), for load balancers and orchestrators.

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;
use trader_api_types::{ErrorBody, ErrorCode, Health};

use crate::state::AppState;

pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".to_owned(),
    })
}

pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let reachable = web::block(move || -> Result<(), trader_db::DbError> {
        let mut conn = pool.get()?;
        diesel::sql_query("SELECT 1").execute(&mut *conn)?;
        Ok(())
    })
    .await;
    match reachable {
        Ok(Ok(())) => HttpResponse::Ok().json(Health {
            status: "ok".to_owned(),
        }),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            unavailable()
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness check task failed");
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(ErrorBody::new(
        ErrorCode::Unavailable,
        "the database is unreachable",
    ))
}
