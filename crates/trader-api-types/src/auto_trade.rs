//! Auto-trade: its decision log and the kill switch. Its settings are the
//! `auto_trade` group of the user's settings ([`crate::signals::AutoTradeSettings`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One decision auto-trade made on a BUY or SELL signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    pub id: i64,
    /// The trading account it was made for.
    pub account_id: i64,
    pub symbol: String,
    pub timeframe: String,
    /// The start of the signal's bar.
    pub bar_time: DateTime<Utc>,
    /// The signal: `buy` or `sell`.
    pub action: String,
    /// `placed`, `skipped`, `refused` (by the broker), `failed` (not sent
    /// or not known to have arrived; a later pass may try again),
    /// `dry_run`, `cancelled` (auto-trade was stopped as it was sent) or
    /// `submitting` (being sent).
    pub outcome: String,
    /// Why, in words (for `refused`, the broker's message).
    pub reason: String,
    /// The order's id at the broker is derived from the decision, so a
    /// repeated pass can never place it twice.
    pub client_order_id: String,
    pub order_id: Option<String>,
    /// The order it sized: side, and quantity or notional.
    pub side: Option<String>,
    pub qty: Option<String>,
    pub notional: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/auto-trade/log`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionPage {
    pub decisions: Vec<Decision>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<i64>,
}

/// An order the kill switch cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelledOrder {
    pub order_id: String,
    pub client_order_id: String,
    pub symbol: String,
}

/// An order the kill switch could not cancel, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UncancelledOrder {
    /// Null when the open orders could not be listed at all.
    pub order_id: Option<String>,
    pub symbol: Option<String>,
    pub message: String,
}

/// `POST /api/auto-trade/stop`: auto-trade is off (saved before the
/// broker was asked anything), and what became of its open orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StopReport {
    /// Always false: auto-trade is off.
    pub enabled: bool,
    /// Whether it was on before this call.
    pub was_enabled: bool,
    /// The account whose orders were cancelled (null when none was set).
    pub account_id: Option<i64>,
    pub cancelled: Vec<CancelledOrder>,
    pub failed: Vec<UncancelledOrder>,
}
