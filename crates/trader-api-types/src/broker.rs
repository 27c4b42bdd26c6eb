//! Trading accounts and the broker: accounts with sealed keys, the broker
//! account, positions, orders, fills, portfolio history, the market clock,
//! assets, and what the server offers (`GET /api/meta`).
//!
//! Money and quantities are decimal strings, exactly as Alpaca's trading
//! API sends them (`"cash": "100000.5"`, `"qty": "0.052587421"`): no
//! floating point on the way through. Portfolio history comes from Alpaca
//! as JSON numbers and stays numbers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Sensitive;

/// Where an account trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Alpaca paper trading.
    Paper,
    /// Alpaca live trading: real money.
    Live,
    /// The built-in simulator (demo mode).
    Sim,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Live => "live",
            Self::Sim => "sim",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "paper" => Some(Self::Paper),
            "live" => Some(Self::Live),
            "sim" => Some(Self::Sim),
            _ => None,
        }
    }
}

/// A trading account as listed. The keys are never returned: only the
/// last four characters of the key id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TradingAccount {
    pub id: i64,
    pub name: String,
    pub environment: Environment,
    /// The key id's last four characters.
    pub key_hint: String,
    pub active: bool,
    /// False once the broker refused the keys (until they are replaced).
    pub verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_verified_at: Option<DateTime<Utc>>,
}

/// `GET /api/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TradingAccountList {
    pub accounts: Vec<TradingAccount>,
}

/// `POST /api/accounts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTradingAccountRequest {
    /// 1-64 characters, unique among the user's accounts.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub name: String,
    pub environment: Environment,
    /// The Alpaca API key id.
    pub key_id: Sensitive,
    /// The Alpaca API secret key.
    pub secret_key: Sensitive,
    /// Must be `true` to add a `live` account (which also needs 2FA on and
    /// a recent confirmation).
    #[serde(default)]
    pub confirm_live: bool,
}

/// `PUT /api/accounts/{id}`: a new name, new keys (both), or both.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateTradingAccountRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub key_id: Option<Sensitive>,
    #[serde(default)]
    pub secret_key: Option<Sensitive>,
    /// Must be `true` to replace the keys of a `live` account.
    #[serde(default)]
    pub confirm_live: bool,
}

/// `GET /api/account`: the broker account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrokerAccount {
    /// The trading account (ours) this is.
    pub account_id: i64,
    pub environment: Environment,
    pub status: String,
    pub currency: String,
    pub cash: String,
    pub equity: String,
    pub buying_power: String,
    /// Equity at the previous close.
    pub last_equity: String,
    /// equity - last_equity.
    pub day_pl: String,
    /// day_pl / last_equity * 100, two decimals; null when last_equity is 0.
    pub day_pl_pct: Option<String>,
    pub pattern_day_trader: bool,
    pub trading_blocked: bool,
    pub account_blocked: bool,
    pub daytrade_count: i64,
}

/// A position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Position {
    pub symbol: String,
    pub asset_class: String,
    /// Negative for a short.
    pub qty: String,
    pub qty_available: Option<String>,
    /// `long` or `short`.
    pub side: String,
    pub avg_entry_price: String,
    pub current_price: Option<String>,
    pub lastday_price: Option<String>,
    pub market_value: Option<String>,
    pub cost_basis: Option<String>,
    pub unrealized_pl: Option<String>,
    /// A fraction (0.02 = 2 %).
    pub unrealized_plpc: Option<String>,
    pub unrealized_intraday_pl: Option<String>,
    pub change_today: Option<String>,
}

/// `GET /api/positions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PositionList {
    pub positions: Vec<Position>,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market`, `limit`, `stop`, `stop_limit`, ...
    #[serde(rename = "type")]
    pub order_type: String,
    pub time_in_force: String,
    pub qty: Option<String>,
    pub notional: Option<String>,
    pub filled_qty: String,
    pub filled_avg_price: Option<String>,
    pub limit_price: Option<String>,
    pub stop_price: Option<String>,
    /// `new`, `accepted`, `partially_filled`, `filled`, `canceled`, ...
    pub status: String,
    pub extended_hours: bool,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub filled_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
}

/// `GET /api/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderList {
    pub orders: Vec<Order>,
}

/// `buy` or `sell`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderSide {
    Buy,
    Sell,
}

/// The order types the API takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    Market,
    Limit,
    Stop,
    StopLimit,
}

/// Time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    Day,
    Gtc,
    Opg,
    Cls,
    Ioc,
    Fok,
}

/// `POST /api/orders`. Exactly one of `qty` and `notional`, as decimal
/// strings. `limit_price` for limit and stop-limit orders, `stop_price` for
/// stop and stop-limit orders.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// 1-10 characters: A-Z, digits and `.`, starting with a letter.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 10))]
    pub symbol: String,
    pub side: OrderSide,
    #[serde(rename = "type")]
    pub order_type: OrderKind,
    pub time_in_force: TimeInForce,
    #[serde(default)]
    pub qty: Option<String>,
    #[serde(default)]
    pub notional: Option<String>,
    #[serde(default)]
    pub limit_price: Option<String>,
    #[serde(default)]
    pub stop_price: Option<String>,
    #[serde(default)]
    pub extended_hours: bool,
    /// Your own id (1-48 characters) for idempotent scripts: sending the
    /// same id again answers 409 with the existing order.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 48))]
    #[serde(default)]
    pub client_order_id: Option<String>,
    /// Must be `true` for an order on a `live` account.
    #[serde(default)]
    pub confirm: bool,
}

/// One order a cancel-all touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CanceledOrder {
    pub id: String,
    /// The broker's HTTP status for this order (200 = canceled).
    pub status: u16,
}

/// `DELETE /api/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CanceledOrders {
    pub orders: Vec<CanceledOrder>,
}

/// One position a close-all touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClosedPosition {
    pub symbol: String,
    /// The broker's HTTP status for this position (200 = closing).
    pub status: u16,
    /// The closing order, when one was placed.
    pub order: Option<Order>,
}

/// `DELETE /api/positions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClosedPositions {
    pub positions: Vec<ClosedPosition>,
}

/// A fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fill {
    pub id: String,
    pub symbol: String,
    pub side: String,
    pub qty: String,
    pub price: String,
    pub order_id: String,
    pub transaction_time: DateTime<Utc>,
}

/// `GET /api/activities`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FillPage {
    pub fills: Vec<Fill>,
    /// Pass as `page_token` for the next page; null on the last.
    pub next_page_token: Option<String>,
}

/// `GET /api/portfolio-history` (numbers, as Alpaca sends them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortfolioHistory {
    pub period: String,
    pub timeframe: String,
    /// Unix seconds.
    pub timestamp: Vec<i64>,
    pub equity: Vec<Option<f64>>,
    pub profit_loss: Vec<Option<f64>>,
    pub profit_loss_pct: Vec<Option<f64>>,
    pub base_value: Option<f64>,
}

/// `GET /api/clock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarketClock {
    pub timestamp: DateTime<Utc>,
    pub is_open: bool,
    pub next_open: DateTime<Utc>,
    pub next_close: DateTime<Utc>,
}

/// A tradable asset, for the symbol picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Asset {
    pub symbol: String,
    pub name: String,
    pub exchange: String,
    pub fractionable: bool,
    pub shortable: bool,
}

/// `GET /api/assets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssetList {
    pub assets: Vec<Asset>,
}

/// `GET /api/meta`: what this server offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Meta {
    /// The package version.
    pub version: String,
    /// The environments a trading account may use here.
    pub environments: Vec<Environment>,
    /// The built-in simulator runs in this process.
    pub demo: bool,
}
