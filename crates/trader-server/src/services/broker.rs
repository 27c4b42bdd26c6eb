//! The broker, as the API uses it: which trading account a request acts on
//! (the active one, or `?account=`; always the caller's own), its keys
//! opened from the secret box, who may trade on it, how a broker failure
//! is answered, and the broker's objects as API types.
//!
//! Broker failures never look like our own sign-in failures: rejected keys
//! are 400 `broker_keys_rejected` (a 401 would sign the browser out), a
//! refused order 422 with Alpaca's message, Alpaca's 429 a 503 with
//! `Retry-After`, 5xx 502, a timeout 504.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use trader_alpaca::{AccountClient, AccountKey, BrokerError, BrokerKeys};
use trader_api_types::broker::{self as dto, Environment};
use trader_api_types::{ErrorCode, UserId};
use trader_db::trading_accounts::{self, TradingAccount};
use trader_security::{Aad, ExposeSecret};

use crate::auth::{AuthUser, Via};
use crate::error::{ApiError, blocking};
use crate::state::AppState;

/// How long the asset list of an environment is kept.
const ASSETS_TTL: Duration = Duration::from_secs(3600);

/// The associated data of a sealed key field of a trading account: the
/// user, the row and the table-qualified field.
pub fn key_aad(user: UserId, row: i64, field: &str) -> Aad {
    Aad::new(user.0, row, &format!("trading_accounts.{field}"))
}

/// The broker crate's name for an environment.
pub fn broker_env(env: Environment) -> trader_alpaca::Environment {
    match env {
        Environment::Paper => trader_alpaca::Environment::Paper,
        Environment::Live => trader_alpaca::Environment::Live,
        Environment::Sim => trader_alpaca::Environment::Sim,
    }
}

/// The trading account a request acts on, with a client for it.
#[derive(Debug)]
pub struct Target {
    pub account: TradingAccount,
    pub env: Environment,
    pub client: AccountClient,
}

/// Opens an account's sealed keys.
pub fn open_keys(state: &AppState, account: &TradingAccount) -> Result<BrokerKeys, ApiError> {
    let open = |sealed: &str, field: &str| {
        state
            .keyring
            .open_str(sealed, &key_aad(account.user_id, account.id, field))
            .map_err(|e| {
                ApiError::internal(anyhow::anyhow!(
                    "cannot open {field} of trading account {}: {e}",
                    account.id
                ))
            })
    };
    let key_id = open(&account.key_id, "key_id")?;
    let secret = open(&account.secret_key, "secret_key")?;
    Ok(BrokerKeys::new(
        key_id.expose_secret(),
        secret.expose_secret(),
    ))
}

/// The name shared reads of an account are kept under: its row id and a
/// tag of its sealed key id, so reads made with replaced keys never answer
/// for the new ones. Row ids are never reused, so two accounts never share
/// a name.
pub fn account_key(account: &TradingAccount) -> AccountKey {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    account.key_id.hash(&mut h);
    let tag = i64::try_from(h.finish() & 0xFFFF).unwrap_or(0);
    AccountKey(account.id.saturating_mul(1 << 16) | tag)
}

/// The caller's account `account` (404 when it is not theirs), or their
/// active one (409 `no_active_account`), with a broker client.
pub async fn target(
    state: &AppState,
    user: UserId,
    account: Option<i64>,
) -> Result<Target, ApiError> {
    let row = account_row(state, user, account).await?;
    target_of(state, row)
}

/// As [`target`], for a read (GET): the account's row comes from the cache
/// when it holds it (see `auth::cache`). Orders and every other change take
/// [`target`], which reads the row afresh.
pub async fn target_read(
    state: &AppState,
    user: UserId,
    account: Option<i64>,
) -> Result<Target, ApiError> {
    let row = match state.auth_cache.account(user, account) {
        Some(row) => row,
        None => {
            let ticket = state.auth_cache.ticket();
            let row = account_row(state, user, account).await?;
            state
                .auth_cache
                .put_account(ticket, user, account, row.clone());
            row
        }
    };
    target_of(state, row)
}

async fn account_row(
    state: &AppState,
    user: UserId,
    account: Option<i64>,
) -> Result<TradingAccount, ApiError> {
    let pool = state.pool.clone();
    blocking(move || {
        let mut conn = pool.get()?;
        match account {
            Some(id) => trading_accounts::find(&mut conn, user, id)?.ok_or(ApiError::NotFound),
            None => {
                trading_accounts::find_active(&mut conn, user)?.ok_or(ApiError::NoActiveAccount)
            }
        }
    })
    .await
}

fn target_of(state: &AppState, row: TradingAccount) -> Result<Target, ApiError> {
    let env = Environment::parse(&row.environment).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "trading account {} has environment {:?}",
            row.id,
            row.environment
        ))
    })?;
    if !state.environments.contains(&env) {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            format!(
                "this server does not offer the {} environment now (start it with --demo or set ALPACA_SIM_URL)",
                env.as_str()
            ),
        ));
    }
    let keys = open_keys(state, &row)?;
    let client = state
        .broker
        .for_account(account_key(&row), broker_env(env), &keys)
        .map_err(|e| broker_error(state, &row, e))?;
    Ok(Target {
        account: row,
        env,
        client,
    })
}

/// Refuses order and position actions the caller may not take on `target`:
/// a `read` token never (the extractor already refuses its writes), a
/// `trade` token on a live account only when made with `live`; on a live
/// account, actions that take `confirm` (`Some`) need it `true`.
pub fn require_trading(
    caller: &AuthUser,
    target: &Target,
    confirm: Option<bool>,
) -> Result<(), ApiError> {
    if let Via::Token(token) = &caller.via {
        if token.scope != trader_api_types::auth::TokenScope::Trade {
            return Err(ApiError::forbidden(
                ErrorCode::InsufficientScope,
                "a read token may only read",
            ));
        }
        if target.env == Environment::Live && !token.live {
            return Err(ApiError::forbidden(
                ErrorCode::InsufficientScope,
                "this token may not act on live accounts; create a trade token with \"live\": true",
            ));
        }
    }
    if target.env == Environment::Live && confirm == Some(false) {
        return Err(ApiError::field(
            "confirm",
            "this is a live account (real money): send \"confirm\": true",
        ));
    }
    Ok(())
}

/// Records the broker's verdict on an account's keys, in the background
/// (the answer does not wait), only if the keys are still the ones judged.
pub fn mark_keys(state: &AppState, account: &TradingAccount, verified: bool) {
    let pool = state.pool.clone();
    let now = state.clock.now();
    let (id, sealed) = (account.id, account.key_id.clone());
    tokio::task::spawn_blocking(move || {
        if let Ok(mut conn) = pool.get()
            && let Err(e) = trading_accounts::mark_verified(&mut conn, id, &sealed, verified, now)
        {
            tracing::warn!(error = %e, account_id = id, "could not record whether the keys work");
        }
    });
}

/// How the API answers a broker failure on `account`. Rejected keys also
/// mark the account not verified.
pub fn broker_error(state: &AppState, account: &TradingAccount, e: BrokerError) -> ApiError {
    match e {
        BrokerError::KeysRejected => {
            mark_keys(state, account, false);
            ApiError::BrokerKeysRejected(
                "the broker refused this account's API keys: they may be wrong or revoked, or paper keys on a live account (or the other way round); replace them under trading accounts".to_owned(),
            )
        }
        other => map_error(other),
    }
}

/// A broker failure as an API error (rejected keys aside).
pub fn map_error(e: BrokerError) -> ApiError {
    match e {
        BrokerError::KeysRejected => {
            ApiError::BrokerKeysRejected("the broker refused these API keys".to_owned())
        }
        BrokerError::Forbidden { message }
        | BrokerError::Unprocessable { message }
        | BrokerError::BadRequest { message } => {
            ApiError::OrderRejected(format!("the broker refused: {message}"))
        }
        BrokerError::NotFound { .. } => ApiError::NotFound,
        BrokerError::RateLimited { retry_after_secs } => ApiError::BrokerRateLimited {
            retry_after_secs: retry_after_secs.max(1),
        },
        BrokerError::Timeout => ApiError::BrokerTimeout,
        BrokerError::DuplicateClientOrderId { existing } => {
            ApiError::DuplicateOrder(Box::new(order(&existing)))
        }
        BrokerError::InvalidRequest(message) => ApiError::BadRequest(message),
        e @ (BrokerError::Upstream { .. }
        | BrokerError::Unreachable
        | BrokerError::Decode(_)
        | BrokerError::UnexpectedStatus { .. }) => ApiError::BrokerFailed(e.to_string()),
    }
}

fn decimal(s: &str) -> Option<Decimal> {
    s.trim().parse::<Decimal>().ok()
}

/// The broker account as the API shows it, with the day's P&L computed in
/// decimals.
pub fn account(target: &Target, a: &trader_alpaca::Account) -> dto::BrokerAccount {
    let (day_pl, day_pl_pct) = match (decimal(&a.equity), decimal(&a.last_equity)) {
        (Some(equity), Some(last)) => {
            let pl = equity.checked_sub(last).unwrap_or_default();
            let pct = pl
                .checked_div(last)
                .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
                .map(|p| p.round_dp(2));
            (pl.normalize().to_string(), pct.map(|p| p.to_string()))
        }
        _ => ("0".to_owned(), None),
    };
    dto::BrokerAccount {
        account_id: target.account.id,
        environment: target.env,
        status: a.status.clone(),
        currency: a.currency.clone(),
        cash: a.cash.clone(),
        equity: a.equity.clone(),
        buying_power: a.buying_power.clone(),
        last_equity: a.last_equity.clone(),
        day_pl,
        day_pl_pct,
        pattern_day_trader: a.pattern_day_trader,
        trading_blocked: a.trading_blocked,
        account_blocked: a.account_blocked,
        daytrade_count: a.daytrade_count,
    }
}

pub fn position(p: &trader_alpaca::Position) -> dto::Position {
    dto::Position {
        symbol: p.symbol.clone(),
        asset_class: p.asset_class.clone(),
        qty: p.qty.clone(),
        qty_available: p.qty_available.clone(),
        side: p.side.clone(),
        avg_entry_price: p.avg_entry_price.clone(),
        current_price: p.current_price.clone(),
        lastday_price: p.lastday_price.clone(),
        market_value: p.market_value.clone(),
        cost_basis: p.cost_basis.clone(),
        unrealized_pl: p.unrealized_pl.clone(),
        unrealized_plpc: p.unrealized_plpc.clone(),
        unrealized_intraday_pl: p.unrealized_intraday_pl.clone(),
        change_today: p.change_today.clone(),
    }
}

pub fn order(o: &trader_alpaca::Order) -> dto::Order {
    dto::Order {
        id: o.id.clone(),
        client_order_id: o.client_order_id.clone(),
        symbol: o.symbol.clone(),
        side: o.side.clone(),
        order_type: o.order_type.clone(),
        time_in_force: o.time_in_force.clone(),
        qty: o.qty.clone(),
        notional: o.notional.clone(),
        filled_qty: o.filled_qty.clone(),
        filled_avg_price: o.filled_avg_price.clone(),
        limit_price: o.limit_price.clone(),
        stop_price: o.stop_price.clone(),
        status: o.status.clone(),
        extended_hours: o.extended_hours,
        created_at: o.created_at,
        submitted_at: o.submitted_at,
        filled_at: o.filled_at,
        canceled_at: o.canceled_at,
    }
}

/// Each environment's asset list, kept for an hour: the list is the same
/// for every account of an environment and large, and the symbol picker
/// searches it on every keystroke.
#[derive(Debug, Default)]
pub struct AssetCache {
    lists: Mutex<HashMap<Environment, CachedAssets>>,
}

/// An asset list and when it was fetched.
type CachedAssets = (Instant, Arc<Vec<trader_alpaca::Asset>>);

impl AssetCache {
    fn get(&self, env: Environment) -> Option<Arc<Vec<trader_alpaca::Asset>>> {
        let lists = self.lists.lock().ok()?;
        lists
            .get(&env)
            .filter(|(at, _)| at.elapsed() < ASSETS_TTL)
            .map(|(_, list)| list.clone())
    }

    fn put(&self, env: Environment, list: Arc<Vec<trader_alpaca::Asset>>) {
        if let Ok(mut lists) = self.lists.lock() {
            lists.insert(env, (Instant::now(), list));
        }
    }
}

/// The environment's asset list, from the hour-long cache or the broker.
async fn asset_list(
    state: &AppState,
    target: &Target,
) -> Result<Arc<Vec<trader_alpaca::Asset>>, ApiError> {
    if let Some(list) = state.assets.get(target.env) {
        return Ok(list);
    }
    let fetched = Arc::new(
        target
            .client
            .assets()
            .await
            .map_err(|e| broker_error(state, &target.account, e))?,
    );
    state.assets.put(target.env, fetched.clone());
    Ok(fetched)
}

/// The tradable asset with exactly this symbol, if the broker has one.
pub async fn find_asset(
    state: &AppState,
    target: &Target,
    symbol: &str,
) -> Result<Option<dto::Asset>, ApiError> {
    Ok(asset_list(state, target)
        .await?
        .iter()
        .find(|a| a.tradable && a.symbol == symbol)
        .map(|a| dto::Asset {
            symbol: a.symbol.clone(),
            name: a.name.clone(),
            exchange: a.exchange.clone(),
            fractionable: a.fractionable,
            shortable: a.shortable,
        }))
}

/// Tradable assets whose symbol or name starts with `search` (any case),
/// symbol matches first, at most 20.
pub async fn search_assets(
    state: &AppState,
    target: &Target,
    search: &str,
) -> Result<Vec<dto::Asset>, ApiError> {
    let list = asset_list(state, target).await?;
    let needle = search.trim().to_ascii_uppercase();
    let by_symbol = list
        .iter()
        .filter(|a| a.tradable && a.symbol.starts_with(&needle));
    let by_name = list.iter().filter(|a| {
        a.tradable
            && !a.symbol.starts_with(&needle)
            && !needle.is_empty()
            && a.name.to_ascii_uppercase().starts_with(&needle)
    });
    Ok(by_symbol
        .chain(by_name)
        .take(20)
        .map(|a| dto::Asset {
            symbol: a.symbol.clone(),
            name: a.name.clone(),
            exchange: a.exchange.clone(),
            fractionable: a.fractionable,
            shortable: a.shortable,
        })
        .collect())
}

/// A symbol as Alpaca writes it: upper case, `^[A-Z][A-Z0-9.]{0,9}$`.
pub fn parse_symbol(field: &str, s: &str) -> Result<String, ApiError> {
    let upper = s.trim().to_ascii_uppercase();
    let mut chars = upper.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && upper.len() <= 10
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.');
    if ok {
        Ok(upper)
    } else {
        Err(ApiError::field(
            field,
            "must be a symbol: a letter, then up to 9 letters, digits or dots",
        ))
    }
}

/// A positive decimal string (no sign, no exponent, at most 9 decimals),
/// as Alpaca takes money and quantities.
pub fn parse_amount(field: &str, s: &str) -> Result<String, ApiError> {
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let shaped = !int.is_empty()
        && int.len() <= 12
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 9
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(t.contains('.') && frac.is_empty());
    match t.parse::<Decimal>() {
        Ok(d) if shaped && d > Decimal::ZERO => Ok(t.to_owned()),
        _ => Err(ApiError::field(
            field,
            "must be a positive decimal such as \"10\" or \"2.5\" (at most 9 decimals)",
        )),
    }
}

/// How a failed order submission is answered: when the broker may have
/// placed it (a timeout, a failure after sending), the answer says so and
/// names the client_order_id to look for, instead of inviting a retry that
/// could place it twice.
pub fn order_error(
    state: &AppState,
    account: &TradingAccount,
    client_order_id: &str,
    e: BrokerError,
) -> ApiError {
    match e {
        BrokerError::Timeout => ApiError::OrderUncertain {
            timeout: true,
            client_order_id: client_order_id.to_owned(),
        },
        BrokerError::Upstream { .. }
        | BrokerError::Unreachable
        | BrokerError::Decode(_)
        | BrokerError::UnexpectedStatus { .. } => ApiError::OrderUncertain {
            timeout: false,
            client_order_id: client_order_id.to_owned(),
        },
        other => broker_error(state, account, other),
    }
}
