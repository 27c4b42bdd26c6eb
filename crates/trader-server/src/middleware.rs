//! Middleware every response passes through: a request id on the response
//! and on every log line of the request, one access-log line, and the
//! security headers. Errors are turned into responses here, so the headers
//! are on error responses too.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use tracing::Instrument;

use crate::state::AppState;

/// The response header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The app's CSP. `'wasm-unsafe-eval'` lets the SPA's WebAssembly run (its
/// bootstrap is a same-origin file, frontend/post-build.py). The one
/// `style-src` hash is the `<style>` that the vendored lightweight-charts
/// adds for its TradingView attribution logo (its licence asks for the
/// logo); post-build.py fails the build when a new version of the library
/// changes that style, so the hash here is changed with it.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self' 'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'";

/// Swagger UI's CSP: as strict as it allows (it sets inline styles).
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'";

const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()";

/// Request id, access log, error-to-response and security headers.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    // The path only: a query string could hold something private.
    let path = req.path().to_owned();
    let (tls, metrics) = req
        .app_data::<web::Data<AppState>>()
        .map_or((false, false), |s| {
            (s.settings.tls, s.settings.metrics.enabled())
        });
    let span = tracing::info_span!("request", request_id = %request_id, %method, %path);
    let started = Instant::now();

    // Handlers' and extractors' errors are already responses here (in the
    // envelope). An error from an inner middleware (the session store with
    // the database down) cannot be: holding a clone of the request to build
    // one would break actix's routing, which needs the only reference.
    let result = next.call(req).instrument(span.clone()).await;
    let mut res = match result {
        Ok(res) => res.map_into_boxed_body(),
        Err(err) => {
            span.in_scope(|| tracing::error!(error = %err, "middleware failed"));
            return Err(err);
        }
    };

    let status = res.status().as_u16();
    if metrics {
        crate::prom::record_request(res.request(), &method, status, started.elapsed());
    }
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request finished"
        );
    });

    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static(REQUEST_ID), v);
    }
    let csp = if path == "/docs" || path.starts_with("/docs/") {
        DOCS_CSP
    } else {
        CSP
    };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if path == "/api" || path.starts_with("/api/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// Drops this instance's cache of verified sign-ins when a request that may
/// change something (any method but GET, HEAD and OPTIONS) ends, before its
/// answer leaves, or when it is abandoned midway: a logout, a revocation, a
/// password change or a deactivation made here holds at once for the next
/// request (see `auth::cache`).
pub async fn flush_auth_cache_after_changes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    use actix_web::http::Method;
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let state = changes
        .then(|| req.app_data::<web::Data<AppState>>().cloned())
        .flatten();
    let _flush = state
        .as_deref()
        .map(|s| crate::auth::cache::FlushOnDrop(&s.auth_cache));
    next.call(req).await
}
