//! The one typed client of the server's JSON API: same-origin requests with
//! the session cookie, `X-CSRF-Token` on every state-changing call, and the
//! error envelope turned into [`ApiError`] with a friendly message per
//! `code`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use gloo_net::http::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use trader_api_types::auth::{
    AdminUser, AdminUserList, AuditPage, ChangePasswordRequest, CodeRequest, CreateTokenRequest,
    CreateUserRequest, CreatedToken, CurrentUser, LoginRequest, LoginResponse, MeResponse,
    ReauthRequest, ReauthResponse, RecoveryCodes, RegisterRequest, SessionList, SetupStatus,
    TokenList, TwoFactorSetup, UpdateProfileRequest, UpdateUserRequest, UserWithTemporaryPassword,
};
use trader_api_types::auto_trade::{DecisionPage, StopReport};
use trader_api_types::broker::{
    AssetList, BrokerAccount, CanceledOrders, ClosedPositions, CreateOrderRequest,
    CreateTradingAccountRequest, FillPage, Meta, Order, OrderList, PortfolioHistory, PositionList,
    TradingAccount, TradingAccountList, UpdateTradingAccountRequest,
};
use trader_api_types::signals::{
    AddSymbolRequest, ChartData, CreateWatchlistRequest, HistoryPage, SchedulerStatus, SignalList,
    UpdateWatchlistRequest, Watchlist, WatchlistList, WatchlistSymbol,
};
use trader_api_types::{ErrorBody, ErrorCode, UserId};
use web_sys::RequestCredentials;

thread_local! {
    /// The session's CSRF token, from sign-in or `GET /api/auth/me`.
    static CSRF: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Remembers (or forgets) the CSRF token sent on state-changing calls.
pub(crate) fn set_csrf(token: Option<String>) {
    CSRF.with(|c| *c.borrow_mut() = token);
}

/// A failed call: the server's error envelope, or no answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// 0 when the server could not be reached.
    pub(crate) status: u16,
    /// `None` when there was no envelope (network failure, odd answer).
    pub(crate) code: Option<ErrorCode>,
    pub(crate) message: String,
    /// Per-field problems, keyed by the request field's name.
    pub(crate) fields: BTreeMap<String, String>,
}

impl ApiError {
    fn network(what: impl fmt::Display) -> Self {
        Self {
            status: 0,
            code: None,
            message: format!(
                "Cannot reach the server ({what}). Check your connection and try again."
            ),
            fields: BTreeMap::new(),
        }
    }

    pub(crate) fn is(&self, code: ErrorCode) -> bool {
        self.code == Some(code)
    }

    /// What to tell people: a sentence per `code`, the server's own message
    /// where it says more than we could.
    pub(crate) fn friendly(&self) -> String {
        let Some(code) = self.code else {
            return self.message.clone();
        };
        match code {
            ErrorCode::InvalidCredentials => {
                "That did not match. Check what you typed and try again.".to_owned()
            }
            ErrorCode::Unauthenticated => "You are signed out. Sign in again.".to_owned(),
            ErrorCode::CsrfFailed => {
                "Your session changed. Reload the page and try again.".to_owned()
            }
            ErrorCode::RateLimited => "Too many attempts. Wait a little and try again.".to_owned(),
            ErrorCode::ReauthRequired => "Confirm it is you to continue.".to_owned(),
            ErrorCode::PasswordChangeRequired => "Change your password first.".to_owned(),
            ErrorCode::TwoFactorSetupRequired => {
                "Turn on two-factor authentication first (Security page).".to_owned()
            }
            ErrorCode::InsufficientScope => "This token may not do that.".to_owned(),
            ErrorCode::NotFound => "It is not there any more. Reload the page.".to_owned(),
            ErrorCode::Internal => {
                "Something went wrong on the server. Try again in a moment.".to_owned()
            }
            ErrorCode::Unavailable => {
                "The server is unavailable right now. Try again in a moment.".to_owned()
            }
            ErrorCode::ValidationFailed if !self.fields.is_empty() => {
                "Check the highlighted fields.".to_owned()
            }
            _ => capitalise(&self.message),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.friendly())
    }
}

impl std::error::Error for ApiError {}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Sends one request; `body` as JSON when given.
async fn send(
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> ApiResult<gloo_net::http::Response> {
    let mut builder = RequestBuilder::new(path)
        .method(method.clone())
        .credentials(RequestCredentials::SameOrigin)
        .header("accept", "application/json");
    if method != Method::GET
        && let Some(token) = CSRF.with(|c| c.borrow().clone())
    {
        builder = builder.header("x-csrf-token", &token);
    }
    let request = match body {
        Some(b) => builder.json(b).map_err(ApiError::network)?,
        None => builder.build().map_err(ApiError::network)?,
    };
    let res = request.send().await.map_err(ApiError::network)?;
    if res.ok() {
        return Ok(res);
    }
    let status = res.status();
    Err(match res.json::<ErrorBody>().await {
        Ok(body) => ApiError {
            status,
            code: Some(body.error.code),
            message: body.error.message,
            fields: body.error.fields,
        },
        Err(_) => ApiError {
            status,
            code: None,
            message: format!("The server answered {status}. Try again in a moment."),
            fields: BTreeMap::new(),
        },
    })
}

const NO_BODY: Option<&()> = None;

async fn json<T: DeserializeOwned>(res: gloo_net::http::Response) -> ApiResult<T> {
    res.json::<T>()
        .await
        .map_err(|e| ApiError::network(format!("unexpected answer: {e}")))
}

async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    json(send(Method::GET, path, NO_BODY).await?).await
}

async fn post<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> ApiResult<T> {
    json(send(Method::POST, path, Some(body)).await?).await
}

async fn post_empty<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    json(send(Method::POST, path, NO_BODY).await?).await
}

/// A call answered 204.
async fn call(method: Method, path: &str, body: Option<&impl Serialize>) -> ApiResult<()> {
    send(method, path, body).await.map(drop)
}

// --- auth -----------------------------------------------------------------

pub(crate) async fn setup_status() -> ApiResult<SetupStatus> {
    get("/api/auth/setup-status").await
}

/// The signed-in user, or `None` when nobody is; remembers the CSRF token.
pub(crate) async fn me() -> ApiResult<Option<CurrentUser>> {
    match get::<MeResponse>("/api/auth/me").await {
        Ok(me) => {
            set_csrf(me.csrf_token);
            Ok(Some(me.user))
        }
        Err(e) if e.status == 401 => {
            set_csrf(None);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

pub(crate) async fn register(req: &RegisterRequest) -> ApiResult<CurrentUser> {
    post("/api/auth/register", req).await
}

fn remember(res: LoginResponse) -> LoginResponse {
    if res.csrf_token.is_some() {
        set_csrf(res.csrf_token.clone());
    }
    res
}

pub(crate) async fn login(req: &LoginRequest) -> ApiResult<LoginResponse> {
    post("/api/auth/login", req).await.map(remember)
}

pub(crate) async fn verify_two_factor(req: &CodeRequest) -> ApiResult<LoginResponse> {
    post("/api/auth/verify-2fa", req).await.map(remember)
}

pub(crate) async fn logout() -> ApiResult<()> {
    let res = call(Method::POST, "/api/auth/logout", NO_BODY).await;
    set_csrf(None);
    res
}

pub(crate) async fn reauth(req: &ReauthRequest) -> ApiResult<ReauthResponse> {
    post("/api/auth/reauth", req).await
}

// --- two-factor -----------------------------------------------------------

pub(crate) async fn setup_two_factor() -> ApiResult<TwoFactorSetup> {
    post_empty("/api/2fa/setup").await
}

pub(crate) async fn enable_two_factor(req: &CodeRequest) -> ApiResult<RecoveryCodes> {
    post("/api/2fa/enable", req).await
}

pub(crate) async fn disable_two_factor(req: &CodeRequest) -> ApiResult<()> {
    call(Method::POST, "/api/2fa/disable", Some(req)).await
}

pub(crate) async fn regenerate_recovery_codes(req: &CodeRequest) -> ApiResult<RecoveryCodes> {
    post("/api/2fa/recovery-codes", req).await
}

// --- profile, tokens, sessions, audit --------------------------------------

pub(crate) async fn update_profile(req: &UpdateProfileRequest) -> ApiResult<CurrentUser> {
    json(send(Method::PATCH, "/api/profile", Some(req)).await?).await
}

pub(crate) async fn change_password(req: &ChangePasswordRequest) -> ApiResult<()> {
    call(Method::POST, "/api/profile/password", Some(req)).await
}

pub(crate) async fn list_tokens() -> ApiResult<TokenList> {
    get("/api/tokens").await
}

pub(crate) async fn create_token(req: &CreateTokenRequest) -> ApiResult<CreatedToken> {
    post("/api/tokens", req).await
}

pub(crate) async fn delete_token(id: i64) -> ApiResult<()> {
    call(Method::DELETE, &format!("/api/tokens/{id}"), NO_BODY).await
}

pub(crate) async fn list_sessions() -> ApiResult<SessionList> {
    get("/api/sessions").await
}

pub(crate) async fn delete_session(id: i64) -> ApiResult<()> {
    call(Method::DELETE, &format!("/api/sessions/{id}"), NO_BODY).await
}

fn audit_path(base: &str, before: Option<i64>) -> String {
    match before {
        Some(b) => format!("{base}?limit=50&before={b}"),
        None => format!("{base}?limit=50"),
    }
}

pub(crate) async fn list_audit(before: Option<i64>) -> ApiResult<AuditPage> {
    get(&audit_path("/api/audit", before)).await
}

// --- admin ------------------------------------------------------------------

pub(crate) async fn list_users() -> ApiResult<AdminUserList> {
    get("/api/admin/users").await
}

pub(crate) async fn create_user(req: &CreateUserRequest) -> ApiResult<UserWithTemporaryPassword> {
    post("/api/admin/users", req).await
}

pub(crate) async fn update_user(id: UserId, req: &UpdateUserRequest) -> ApiResult<AdminUser> {
    json(send(Method::PATCH, &format!("/api/admin/users/{id}"), Some(req)).await?).await
}

pub(crate) async fn reset_user_password(id: UserId) -> ApiResult<UserWithTemporaryPassword> {
    post_empty(&format!("/api/admin/users/{id}/reset-password")).await
}

pub(crate) async fn reset_user_two_factor(id: UserId) -> ApiResult<AdminUser> {
    post_empty(&format!("/api/admin/users/{id}/reset-2fa")).await
}

pub(crate) async fn delete_user(id: UserId) -> ApiResult<()> {
    call(Method::DELETE, &format!("/api/admin/users/{id}"), NO_BODY).await
}

pub(crate) async fn list_all_audit(before: Option<i64>) -> ApiResult<AuditPage> {
    get(&audit_path("/api/admin/audit", before)).await
}

// --- meta, trading accounts --------------------------------------------------

pub(crate) async fn meta() -> ApiResult<Meta> {
    get("/api/meta").await
}

pub(crate) async fn list_accounts() -> ApiResult<TradingAccountList> {
    get("/api/accounts").await
}

pub(crate) async fn create_account(req: &CreateTradingAccountRequest) -> ApiResult<TradingAccount> {
    post("/api/accounts", req).await
}

pub(crate) async fn update_account(
    id: i64,
    req: &UpdateTradingAccountRequest,
) -> ApiResult<TradingAccount> {
    json(send(Method::PUT, &format!("/api/accounts/{id}"), Some(req)).await?).await
}

pub(crate) async fn delete_account(id: i64) -> ApiResult<()> {
    call(Method::DELETE, &format!("/api/accounts/{id}"), NO_BODY).await
}

pub(crate) async fn activate_account(id: i64) -> ApiResult<TradingAccount> {
    post_empty(&format!("/api/accounts/{id}/activate")).await
}

// --- the broker (the active account) ------------------------------------------

pub(crate) async fn broker_account() -> ApiResult<BrokerAccount> {
    get("/api/account").await
}

pub(crate) async fn list_positions() -> ApiResult<PositionList> {
    get("/api/positions").await
}

pub(crate) async fn close_position(symbol: &str) -> ApiResult<Order> {
    json(
        send(
            Method::DELETE,
            &format!("/api/positions/{}", enc(symbol)),
            NO_BODY,
        )
        .await?,
    )
    .await
}

pub(crate) async fn close_all_positions(confirm: bool) -> ApiResult<ClosedPositions> {
    json(
        send(
            Method::DELETE,
            &format!("/api/positions?confirm={confirm}"),
            NO_BODY,
        )
        .await?,
    )
    .await
}

/// `status`: `open`, `closed` or `all`.
pub(crate) async fn list_orders(status: &str, limit: u32) -> ApiResult<OrderList> {
    get(&format!("/api/orders?status={status}&limit={limit}")).await
}

/// Places `req` on the trading account `account` (the one the page shows,
/// not whichever is active at the server by then).
pub(crate) async fn create_order(req: &CreateOrderRequest, account: i64) -> ApiResult<Order> {
    post(&format!("/api/orders?account={account}"), req).await
}

pub(crate) async fn cancel_order(id: &str) -> ApiResult<()> {
    call(Method::DELETE, &format!("/api/orders/{}", enc(id)), NO_BODY).await
}

pub(crate) async fn cancel_all_orders() -> ApiResult<CanceledOrders> {
    json(send(Method::DELETE, "/api/orders", NO_BODY).await?).await
}

pub(crate) async fn list_fills() -> ApiResult<FillPage> {
    get("/api/activities?types=FILL&page_size=50").await
}

/// `period`: 1D, 1W, 1M, 3M, 6M or 1A.
pub(crate) async fn portfolio_history(period: &str) -> ApiResult<PortfolioHistory> {
    get(&format!("/api/portfolio-history?period={period}")).await
}

pub(crate) async fn search_assets(search: &str) -> ApiResult<AssetList> {
    get(&format!("/api/assets?search={}", enc(search))).await
}

// --- watchlists, settings, signals ------------------------------------------------

pub(crate) async fn list_watchlists() -> ApiResult<WatchlistList> {
    get("/api/watchlists").await
}

pub(crate) async fn create_watchlist(req: &CreateWatchlistRequest) -> ApiResult<Watchlist> {
    post("/api/watchlists", req).await
}

pub(crate) async fn update_watchlist(
    id: i64,
    req: &UpdateWatchlistRequest,
) -> ApiResult<Watchlist> {
    json(send(Method::PUT, &format!("/api/watchlists/{id}"), Some(req)).await?).await
}

pub(crate) async fn delete_watchlist(id: i64) -> ApiResult<()> {
    call(Method::DELETE, &format!("/api/watchlists/{id}"), NO_BODY).await
}

pub(crate) async fn add_symbol(id: i64, req: &AddSymbolRequest) -> ApiResult<WatchlistSymbol> {
    post(&format!("/api/watchlists/{id}/symbols"), req).await
}

pub(crate) async fn remove_symbol(id: i64, symbol: &str) -> ApiResult<()> {
    call(
        Method::DELETE,
        &format!("/api/watchlists/{id}/symbols/{}", enc(symbol)),
        NO_BODY,
    )
    .await
}

/// The settings as JSON (the form walks its groups).
pub(crate) async fn get_settings() -> ApiResult<serde_json::Value> {
    get("/api/indicators").await
}

/// An RFC 7396 merge patch of the settings.
pub(crate) async fn patch_settings(patch: &serde_json::Value) -> ApiResult<serde_json::Value> {
    json(send(Method::PATCH, "/api/indicators", Some(patch)).await?).await
}

pub(crate) async fn list_signals(watchlist: Option<i64>) -> ApiResult<SignalList> {
    match watchlist {
        Some(id) => get(&format!("/api/signals?watchlist={id}")).await,
        None => get("/api/signals").await,
    }
}

pub(crate) async fn chart(symbol: &str, limit: u32) -> ApiResult<ChartData> {
    get(&format!("/api/chart/{}?limit={limit}", enc(symbol))).await
}

pub(crate) async fn signal_history(symbol: Option<&str>) -> ApiResult<HistoryPage> {
    match symbol {
        Some(s) => get(&format!("/api/signals/history?limit=100&symbol={}", enc(s))).await,
        None => get("/api/signals/history?limit=100").await,
    }
}

// --- auto-trade, scheduler ---------------------------------------------------------

pub(crate) async fn auto_trade_log() -> ApiResult<DecisionPage> {
    get("/api/auto-trade/log?limit=100").await
}

pub(crate) async fn stop_auto_trade() -> ApiResult<StopReport> {
    post_empty("/api/auto-trade/stop").await
}

pub(crate) async fn scheduler_status() -> ApiResult<SchedulerStatus> {
    get("/api/scheduler-status").await
}

/// A path or query segment, percent-encoded.
fn enc(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}
