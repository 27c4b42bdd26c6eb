//! The route table: every path the server answers, in one place.
//!
//! `/api/...` handlers are registered through utoipa-actix-web, so the
//! routes and the OpenAPI document come from the same code. Framework
//! errors (bad JSON, a body too large, a wrong content type, an unknown
//! path, a wrong method) answer in the API's error envelope.

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod auto_trade;
pub(crate) mod broker_account;
pub(crate) mod events;
mod health;
pub(crate) mod indicators;
pub(crate) mod market;
pub(crate) mod orders;
pub(crate) mod positions;
pub(crate) mod profile;
pub(crate) mod server_meta;
pub(crate) mod sessions;
pub(crate) mod signals;
pub(crate) mod tokens;
pub(crate) mod trading_accounts;
pub(crate) mod two_factor;
pub(crate) mod watchlists;

use std::collections::BTreeMap;

use actix_governor::Governor;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, guard, web};
use trader_api_types::ErrorBody;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ApiError;
use crate::rate_limit::{self, ClientIpKey};
use crate::state::AppState;

/// The largest JSON body accepted.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// Endpoints that check a password or a code, under the strict rate limit.
const STRICT_PATHS: [&str; 8] = [
    "/api/auth/login",
    "/api/auth/verify-2fa",
    "/api/auth/reauth",
    "/api/auth/register",
    "/api/2fa/enable",
    "/api/2fa/disable",
    "/api/2fa/recovery-codes",
    "/api/profile/password",
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "alpaca-trader API",
        description = "The JSON API of alpaca-trader. Browser sessions use the session cookie and send `X-CSRF-Token` on state-changing requests; scripts send `Authorization: Bearer <token>`. Every error answers `{\"error\": {\"code\", \"message\", \"fields\"}}`.",
        license(name = "GPL-3.0-or-later")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign-in, sign-out and confirmation"),
        (name = "two-factor", description = "TOTP two-factor authentication and recovery codes"),
        (name = "profile", description = "The signed-in user's own account"),
        (name = "tokens", description = "Personal access tokens for scripts"),
        (name = "sessions", description = "The signed-in user's browser sessions"),
        (name = "audit", description = "The audit log"),
        (name = "admin", description = "User administration (admins with 2FA on)"),
        (name = "accounts", description = "Trading accounts (Alpaca paper, live, and the simulator) with sealed keys"),
        (name = "broker", description = "The broker account, positions, orders, fills, equity, clock and assets of the active trading account (or ?account=)"),
        (name = "meta", description = "What this server offers"),
        (name = "watchlists", description = "Watchlists (several, one the default) and the Python version's /api/watchlist routes"),
        (name = "settings", description = "Indicator, signal, execution, data and schedule settings (settings.yaml as JSON)"),
        (name = "signals", description = "BUY/SELL/HOLD signals with each rule's vote, reason and values"),
        (name = "events", description = "Live updates of the signed-in user as Server-Sent Events"),
        (name = "auto-trade", description = "Auto-trade's kill switch and decision log (its settings are the auto_trade group of /api/indicators)"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "alpaca_session",
                "The session cookie (`__Host-alpaca_session` over https).",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "Required with the session cookie on POST, PUT, PATCH and DELETE; GET /api/auth/me gives it.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A personal access token from POST /api/tokens. Scopes: `read` may only GET; `trade` may also place and cancel orders, close positions and change settings on paper and sim accounts; a `trade` token made with `\"live\": true` may also act on live accounts. No token manages tokens, sessions, 2FA, passwords, users, the email address or trading accounts."))
                    .build(),
            ),
        );
    }
}

/// The strict limiter's middleware.
type StrictGovernor = Governor<
    ClientIpKey,
    actix_governor::governor::middleware::NoOpMiddleware<
        actix_governor::governor::clock::QuantaInstant,
    >,
>;

/// The session middleware.
type Sessions = actix_session::SessionMiddleware<crate::auth::session_store::DbSessionStore>;

/// Endpoints that check a password or a code: under the strict limiter.
fn strict_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(
        scope::scope("/auth")
            .service(auth::register)
            .service(auth::login)
            .service(auth::verify_two_factor)
            .service(auth::reauth),
    )
    .service(
        scope::scope("/2fa")
            .service(two_factor::enable_two_factor)
            .service(two_factor::disable_two_factor)
            .service(two_factor::regenerate_recovery_codes),
    )
    .service(profile::change_password);
}

/// Every other `/api` endpoint.
fn other_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(
        scope::scope("/auth")
            .service(auth::setup_status)
            .service(auth::logout)
            .service(auth::logout_all)
            .service(auth::me),
    )
    .service(
        scope::scope("/2fa")
            .service(two_factor::setup_two_factor)
            .service(two_factor::two_factor_qrcode),
    )
    .service(profile::update_profile)
    .service(tokens::list_tokens)
    .service(tokens::create_token)
    .service(tokens::delete_token)
    .service(sessions::list_sessions)
    .service(sessions::delete_session)
    .service(audit::list_audit)
    .service(server_meta::get_meta)
    .service(trading_accounts::list_accounts)
    .service(trading_accounts::create_account)
    .service(trading_accounts::update_account)
    .service(trading_accounts::delete_account)
    .service(trading_accounts::activate_account)
    .service(broker_account::get_account)
    .service(broker_account::list_activities)
    .service(broker_account::get_portfolio_history)
    .service(positions::list_positions)
    .service(positions::close_all_positions)
    .service(positions::close_position)
    .service(orders::list_orders)
    .service(orders::create_order)
    .service(orders::cancel_all_orders)
    .service(orders::get_order)
    .service(orders::cancel_order)
    .service(market::get_clock)
    .service(market::search_assets)
    .service(watchlists::list_watchlists)
    .service(watchlists::create_watchlist)
    .service(watchlists::update_watchlist)
    .service(watchlists::delete_watchlist)
    .service(watchlists::list_watchlist_symbols)
    .service(watchlists::add_watchlist_symbol)
    .service(watchlists::remove_watchlist_symbol)
    .service(watchlists::get_default_watchlist)
    .service(watchlists::add_default_watchlist_symbol)
    .service(watchlists::remove_default_watchlist_symbol)
    .service(indicators::get_indicators)
    .service(indicators::put_indicators)
    .service(indicators::patch_indicators)
    .service(signals::list_signals)
    .service(signals::list_signal_history)
    .service(signals::get_scheduler_status)
    .service(signals::get_chart)
    .service(auto_trade::stop_auto_trade)
    .service(auto_trade::list_auto_trade_log)
    .service(events::stream_events)
    .service(
        scope::scope("/admin")
            .service(admin::list_users)
            .service(admin::create_user)
            .service(admin::update_user)
            .service(admin::reset_user_password)
            .service(admin::reset_user_two_factor)
            .service(admin::delete_user)
            .service(admin::list_all_audit),
    );
}

/// Registers the `/api` routes on a utoipa app. The limiters run before
/// the session middleware, so a refused request costs no database work.
fn api(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    strict: Option<StrictGovernor>,
    sessions: Option<Sessions>,
) {
    let strict_scope = scope::scope("")
        .guard(guard::fn_guard(|ctx| {
            STRICT_PATHS.contains(&ctx.head().uri.path())
        }))
        .configure(strict_routes);
    let rest = scope::scope("").configure(other_routes);
    match (strict, sessions) {
        (Some(g), Some(s)) => cfg
            .service(strict_scope.wrap(s.clone()).wrap(g))
            .service(rest.wrap(s)),
        (None, Some(s)) => cfg
            .service(strict_scope.wrap(s.clone()))
            .service(rest.wrap(s)),
        (Some(g), None) => cfg.service(strict_scope.wrap(g)).service(rest),
        (None, None) => cfg.service(strict_scope).service(rest),
    };
}

/// The OpenAPI document, as the routes describe it.
pub fn openapi_document() -> OpenApiDoc {
    let (_, doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(scope::scope("/api").configure(|cfg| api(cfg, None, None)))
        .split_for_parts();
    doc
}

/// The rate limiters, made once and shared by every worker (a limiter per
/// worker would multiply the limit by the number of workers).
#[derive(Clone)]
pub struct Limiters {
    strict: Option<rate_limit::GovernorConf>,
    loose: Option<rate_limit::GovernorConf>,
}

impl Limiters {
    pub fn new(state: &AppState) -> Self {
        let key = ClientIpKey::new(
            std::sync::Arc::new(state.settings.trusted_proxies.clone()),
            state.settings.app_env == crate::settings::AppEnv::Production,
        );
        Self {
            strict: rate_limit::config(state.settings.auth_rate, key.clone()),
            loose: rate_limit::config(state.settings.api_rate, key),
        }
    }
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiters")
    }
}

/// Registers every route; `sessions` wraps the `/api` endpoints inside the
/// rate limiters.
pub fn configure(cfg: &mut web::ServiceConfig, limiters: &Limiters, sessions: Sessions) {
    let strict = limiters.strict.as_ref().map(Governor::new);
    let loose = limiters.loose.as_ref().map(Governor::new);
    cfg.app_data(json_config())
        .app_data(web::PathConfig::default().error_handler(|err, _| {
            tracing::debug!(error = %err, "bad path parameter");
            ApiError::NotFound.into()
        }))
        .app_data(web::QueryConfig::default().error_handler(|err, _| {
            ApiError::BadRequest(format!(
                "bad query string: {}",
                sanitize_serde_message(&err.to_string())
            ))
            .into()
        }))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/api/openapi.json", web::get().to(openapi_json))
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, "/docs/"))
                    .finish()
            }),
        )
        .service(SwaggerUi::new("/docs/{_:.*}").config(Config::from("/api/openapi.json")));

    let api_scope = scope::scope("/api").configure(move |c| api(c, strict, Some(sessions)));
    match loose {
        Some(g) => cfg.service(api_scope.wrap(g)),
        None => cfg.service(api_scope),
    };
    cfg.default_service(web::to(fallback));
}

async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// The OpenAPI document serialised once at start-up.
#[derive(Debug)]
pub struct OpenApiJson(pub String);

/// JSON bodies: at most 64 KiB, `Content-Type: application/json` required,
/// errors in the envelope.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY)
        .content_type_required(true)
        .content_type(|mime| mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        .error_handler(|err, _req| json_error(&err).into())
}

fn json_error(err: &actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge,
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Deserialize(e) => body_error(e),
        other => ApiError::BadRequest(format!("the request body could not be read: {other}")),
    }
}

/// A body that is JSON but does not fit the request type (422, naming a
/// missing or unknown field), or is not JSON at all (400).
pub(crate) fn body_error(e: &serde_json::Error) -> ApiError {
    let message = sanitize_serde_message(&e.to_string());
    if e.is_data() {
        let mut fields = BTreeMap::new();
        for marker in ["missing field `", "unknown field `"] {
            if let Some(rest) = message.split(marker).nth(1)
                && let Some(name) = rest.split('`').next()
            {
                let what = if marker.starts_with("missing") {
                    "is required"
                } else {
                    "is not a field of this request"
                };
                fields.insert(name.to_owned(), what.to_owned());
            }
        }
        ApiError::Validation {
            message: format!("the request body does not fit: {message}"),
            fields,
        }
    } else {
        ApiError::BadRequest(format!("the request body is not valid JSON: {message}"))
    }
}

/// serde's messages quote the offending value ("invalid type: string
/// \"hunter2\", expected ..."); a value may be a secret, so it is cut out.
pub fn sanitize_serde_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let keep_names = message.starts_with("missing field") || message.starts_with("unknown field");
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' | '"' if !keep_names => {
                // Skip the quoted value.
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                out.push_str("(value)");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Paths and methods of the API, to tell a wrong method (405) from an
/// unknown path (404).
#[derive(Debug, Default)]
pub struct RouteIndex {
    routes: Vec<(Vec<String>, Vec<String>)>,
}

impl RouteIndex {
    pub fn from_openapi(doc: &OpenApiDoc) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let methods = serde_json::to_value(item)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .map(|o| {
                        o.keys()
                            .filter(|k| {
                                matches!(k.as_str(), "get" | "post" | "put" | "patch" | "delete")
                            })
                            .map(|k| k.to_ascii_uppercase())
                            .collect()
                    })
                    .unwrap_or_default();
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods `path` answers to, if it is an API path at all.
    pub fn methods(&self, path: &str) -> Option<Vec<String>> {
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let mut found: Option<Vec<String>> = None;
        for (segments, methods) in &self.routes {
            if segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| s == p || (s.starts_with('{') && !p.is_empty()))
            {
                found
                    .get_or_insert_with(Vec::new)
                    .extend(methods.iter().cloned());
            }
        }
        found
    }
}

async fn fallback(req: HttpRequest, index: web::Data<RouteIndex>) -> HttpResponse {
    // No route served it: the metrics label it `unmatched`.
    actix_web::HttpMessage::extensions_mut(&req).insert(crate::prom::Unmatched);
    if let Some(methods) = index.methods(req.path())
        && !methods.iter().any(|m| m == req.method().as_str())
    {
        let allow = methods.join(", ");
        let mut response = ApiError::MethodNotAllowed(allow.clone()).error_response();
        if let Ok(v) = header::HeaderValue::from_str(&allow) {
            response.headers_mut().insert(header::ALLOW, v);
        }
        return response;
    }
    HttpResponse::NotFound().json(ErrorBody::new(
        trader_api_types::ErrorCode::NotFound,
        "there is nothing at this path",
    ))
}
