//! Rate limits (actix-governor), keyed by client address
//! ([`crate::client_ip`]): a strict one on sign-in endpoints and a looser
//! one on the rest of `/api`. Past the limit: 429 in the API's error
//! envelope with `Retry-After`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{GovernorConfig, GovernorConfigBuilder, KeyExtractor};
use actix_web::dev::ServiceRequest;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use ipnet::IpNet;

use crate::error::ApiError;

/// Keys requests by client address (IPv6 by /64).
#[derive(Debug, Clone)]
pub struct ClientIpKey {
    trusted: Arc<Vec<IpNet>>,
    /// Warn (once) about X-Forwarded-For from untrusted peers.
    production: bool,
}

impl ClientIpKey {
    pub fn new(trusted: Arc<Vec<IpNet>>, production: bool) -> Self {
        Self {
            trusted,
            production,
        }
    }
}

/// No address could be found for the request (never on a TCP listener).
#[derive(Debug, thiserror::Error)]
#[error("no client address")]
pub struct NoClientAddress;

impl ResponseError for NoClientAddress {
    fn error_response(&self) -> HttpResponse {
        ApiError::BadRequest("the client address is unknown".to_owned()).error_response()
    }
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::BAD_REQUEST
    }
}

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;
    type KeyExtractionError = NoClientAddress;

    fn extract(&self, req: &ServiceRequest) -> Result<IpAddr, NoClientAddress> {
        crate::client_ip::of_service_request(req, &self.trusted, self.production)
            .map(crate::client_ip::rate_limit_key)
            .ok_or(NoClientAddress)
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now());
        // Round up: "retry after 0 s" would invite an immediate retry.
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::RateLimited {
            retry_after_secs: retry_after_secs.max(1),
        }
        .error_response()
    }
}

/// A limit: `burst` requests at once, then one per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub burst: u32,
    pub period: Duration,
}

/// A limiter's configuration (its state is shared by clones).
pub type GovernorConf = GovernorConfig<ClientIpKey, NoOpMiddleware<QuantaInstant>>;

/// The governor configuration for a limit.
pub fn config(limit: Limit, key: ClientIpKey) -> Option<GovernorConf> {
    GovernorConfigBuilder::default()
        .period(limit.period)
        .burst_size(limit.burst.max(1))
        .key_extractor(key)
        .finish()
}
