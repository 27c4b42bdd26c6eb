//! Alpaca's objects (ALPACA-API.md 2.1-2.9) and the requests this crate
//! sends.
//!
//! Money and quantities stay the decimal strings Alpaca sends (`"cash":
//! "100000"`, `"qty": "0.052587421"`), never `f64`: a fractional position
//! has nine decimals and must close exactly. Market data and portfolio
//! history are JSON numbers in Alpaca's API and are `f64` here too. Enum-like
//! fields of answers (`status`, `side`, `type`) are strings so a value Alpaca
//! adds later does not break decoding; requests use the enums below.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// `GET /v2/account` (ALPACA-API.md 2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Account id (uuid).
    pub id: String,
    /// Account number, e.g. `PA3…` for paper.
    #[serde(default)]
    pub account_number: String,
    /// `ACTIVE`, `ACCOUNT_UPDATED`, …
    pub status: String,
    /// `USD`.
    pub currency: String,
    /// Cash.
    pub cash: String,
    /// Cash plus long and short market value.
    pub equity: String,
    /// Buying power.
    pub buying_power: String,
    /// Equity at the previous close.
    #[serde(default)]
    pub last_equity: String,
    /// Deprecated twin of equity.
    #[serde(default)]
    pub portfolio_value: Option<String>,
    /// Long market value.
    #[serde(default)]
    pub long_market_value: Option<String>,
    /// Short market value (negative).
    #[serde(default)]
    pub short_market_value: Option<String>,
    /// Initial margin.
    #[serde(default)]
    pub initial_margin: Option<String>,
    /// Maintenance margin.
    #[serde(default)]
    pub maintenance_margin: Option<String>,
    /// Buying power multiplier: "1", "2" or "4".
    #[serde(default)]
    pub multiplier: Option<String>,
    /// Day-trading buying power.
    #[serde(default)]
    pub daytrading_buying_power: Option<String>,
    /// Flagged as a pattern day trader.
    #[serde(default)]
    pub pattern_day_trader: bool,
    /// Trading is blocked.
    #[serde(default)]
    pub trading_blocked: bool,
    /// Transfers are blocked.
    #[serde(default)]
    pub transfers_blocked: bool,
    /// The account is blocked.
    #[serde(default)]
    pub account_blocked: bool,
    /// The user suspended trading.
    #[serde(default)]
    pub trade_suspended_by_user: bool,
    /// Shorting is enabled.
    #[serde(default)]
    pub shorting_enabled: bool,
    /// Day trades in the last five sessions.
    #[serde(default)]
    pub daytrade_count: i64,
    /// Opened at.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// A position (ALPACA-API.md 2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Asset id.
    pub asset_id: String,
    /// Symbol.
    pub symbol: String,
    /// Exchange.
    #[serde(default)]
    pub exchange: String,
    /// `us_equity`, `crypto`.
    #[serde(default)]
    pub asset_class: String,
    /// Average entry price.
    pub avg_entry_price: String,
    /// Quantity, negative for a short.
    pub qty: String,
    /// Quantity not held for open orders.
    #[serde(default)]
    pub qty_available: Option<String>,
    /// `long` or `short`.
    pub side: String,
    /// Market value.
    #[serde(default)]
    pub market_value: Option<String>,
    /// Cost basis.
    #[serde(default)]
    pub cost_basis: Option<String>,
    /// Unrealized profit or loss.
    #[serde(default)]
    pub unrealized_pl: Option<String>,
    /// Unrealized profit or loss as a fraction (0.2 = 20%).
    #[serde(default)]
    pub unrealized_plpc: Option<String>,
    /// Unrealized profit or loss today.
    #[serde(default)]
    pub unrealized_intraday_pl: Option<String>,
    /// Unrealized profit or loss today, as a fraction.
    #[serde(default)]
    pub unrealized_intraday_plpc: Option<String>,
    /// Current price.
    #[serde(default)]
    pub current_price: Option<String>,
    /// Previous close.
    #[serde(default)]
    pub lastday_price: Option<String>,
    /// Change since the previous close, as a fraction.
    #[serde(default)]
    pub change_today: Option<String>,
}

/// An order (ALPACA-API.md 2.3, "Order object").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Order id (uuid).
    pub id: String,
    /// The client's id for the order.
    pub client_order_id: String,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Submitted at.
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
    /// Filled at.
    #[serde(default)]
    pub filled_at: Option<DateTime<Utc>>,
    /// Expired at.
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
    /// Canceled at.
    #[serde(default)]
    pub canceled_at: Option<DateTime<Utc>>,
    /// Failed at.
    #[serde(default)]
    pub failed_at: Option<DateTime<Utc>>,
    /// Replaced at.
    #[serde(default)]
    pub replaced_at: Option<DateTime<Utc>>,
    /// The order that replaced this one.
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// The order this one replaced.
    #[serde(default)]
    pub replaces: Option<String>,
    /// Asset id.
    #[serde(default)]
    pub asset_id: String,
    /// Symbol.
    pub symbol: String,
    /// `us_equity`, …
    #[serde(default)]
    pub asset_class: String,
    /// Dollar amount, for notional orders.
    #[serde(default)]
    pub notional: Option<String>,
    /// Quantity, for quantity orders.
    #[serde(default)]
    pub qty: Option<String>,
    /// Filled quantity.
    pub filled_qty: String,
    /// Average fill price.
    #[serde(default)]
    pub filled_avg_price: Option<String>,
    /// `""` or `simple` for simple orders, `bracket`, `oco`, `oto`.
    #[serde(default)]
    pub order_class: String,
    /// `market`, `limit`, `stop`, `stop_limit`, `trailing_stop`.
    #[serde(rename = "type")]
    pub order_type: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `day`, `gtc`, `opg`, `cls`, `ioc`, `fok`.
    pub time_in_force: String,
    /// Limit price.
    #[serde(default)]
    pub limit_price: Option<String>,
    /// Stop price.
    #[serde(default)]
    pub stop_price: Option<String>,
    /// Trailing stop in dollars.
    #[serde(default)]
    pub trail_price: Option<String>,
    /// Trailing stop in percent.
    #[serde(default)]
    pub trail_percent: Option<String>,
    /// `new`, `accepted`, `partially_filled`, `filled`, `canceled`, …
    pub status: String,
    /// May fill in extended hours.
    #[serde(default)]
    pub extended_hours: bool,
    /// The legs of a bracket, OCO or OTO order.
    #[serde(default)]
    pub legs: Option<Vec<Order>>,
}

impl Order {
    /// Whether the order can still fill: any status but the terminal
    /// `filled`, `canceled`, `expired`, `replaced`, `rejected` (and `done_for_day`).
    pub fn is_open(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "filled" | "canceled" | "expired" | "replaced" | "rejected" | "done_for_day"
        )
    }
}

/// `buy` or `sell`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// `buy` or `sell`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// Order types this client submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// At the market.
    Market,
    /// At `limit_price` or better.
    Limit,
    /// A market order once `stop_price` trades.
    Stop,
    /// A limit order once `stop_price` trades.
    StopLimit,
}

/// How long an order works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Until the session's close.
    Day,
    /// Until canceled.
    Gtc,
    /// At the opening auction.
    Opg,
    /// At the closing auction.
    Cls,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// `POST /v2/orders` (ALPACA-API.md 2.3, "Submit").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Symbol.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Quantity (exactly one of `qty` and `notional`).
    pub qty: Option<String>,
    /// Dollar amount (exactly one of `qty` and `notional`).
    pub notional: Option<String>,
    /// Required for limit and stop-limit orders.
    pub limit_price: Option<String>,
    /// Required for stop and stop-limit orders.
    pub stop_price: Option<String>,
    /// May fill in extended hours (limit + day only).
    pub extended_hours: bool,
    /// The caller's id (at most 48 characters); a fresh uuid when `None`.
    /// Giving one makes a repeated submission of the same decision fail
    /// with [`BrokerError::DuplicateClientOrderId`] instead of trading twice.
    pub client_order_id: Option<String>,
}

impl NewOrder {
    /// A day market order for a quantity.
    pub fn market(symbol: impl Into<String>, side: Side, qty: impl Into<String>) -> NewOrder {
        NewOrder {
            symbol: symbol.into(),
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Day,
            qty: Some(qty.into()),
            notional: None,
            limit_price: None,
            stop_price: None,
            extended_hours: false,
            client_order_id: None,
        }
    }

    /// A day market order for a dollar amount.
    pub fn notional(symbol: impl Into<String>, side: Side, amount: impl Into<String>) -> NewOrder {
        NewOrder {
            notional: Some(amount.into()),
            qty: None,
            ..NewOrder::market(symbol, side, "")
        }
    }

    /// A limit order for a quantity.
    pub fn limit(
        symbol: impl Into<String>,
        side: Side,
        qty: impl Into<String>,
        limit_price: impl Into<String>,
        time_in_force: TimeInForce,
    ) -> NewOrder {
        NewOrder {
            order_type: OrderType::Limit,
            time_in_force,
            limit_price: Some(limit_price.into()),
            ..NewOrder::market(symbol, side, qty)
        }
    }

    /// Whether `placed` is this order as the broker stored it (symbol, side,
    /// type and amount), to tell our own earlier try from an older order
    /// that happens to carry the same client_order_id.
    pub fn is_same_as(&self, placed: &Order) -> bool {
        fn same_amount(ours: Option<&str>, theirs: Option<&str>) -> bool {
            let norm = |s: &str| {
                let s = s.trim();
                if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.').to_owned()
                } else {
                    s.to_owned()
                }
            };
            match (ours, theirs) {
                (None, None) => true,
                (Some(a), Some(b)) => norm(a) == norm(b),
                _ => false,
            }
        }
        let order_type = match self.order_type {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
            OrderType::Stop => "stop",
            OrderType::StopLimit => "stop_limit",
        };
        placed.symbol.eq_ignore_ascii_case(&self.symbol)
            && placed.side == self.side.as_str()
            && placed.order_type == order_type
            && same_amount(self.qty.as_deref(), placed.qty.as_deref())
            && same_amount(self.notional.as_deref(), placed.notional.as_deref())
    }

    /// The same order with the caller's client_order_id.
    pub fn with_client_order_id(mut self, id: impl Into<String>) -> NewOrder {
        self.client_order_id = Some(id.into());
        self
    }

    /// Refuses what Alpaca would refuse for its shape alone, before any call.
    pub(crate) fn check(&self) -> Result<(), BrokerError> {
        let invalid = |m: &str| Err(BrokerError::InvalidRequest(m.to_string()));
        check_symbol(&self.symbol)?;
        match (&self.qty, &self.notional) {
            (Some(q), None) if is_positive_decimal(q) => {}
            (None, Some(n)) if is_positive_decimal(n) => {}
            (Some(_), None) => return invalid("qty must be a positive decimal"),
            (None, Some(_)) => return invalid("notional must be a positive decimal"),
            _ => return invalid("give exactly one of qty and notional"),
        }
        for (name, value) in [
            ("limit_price", &self.limit_price),
            ("stop_price", &self.stop_price),
        ] {
            if value.as_deref().is_some_and(|v| !is_positive_decimal(v)) {
                return Err(BrokerError::InvalidRequest(format!(
                    "{name} must be a positive decimal"
                )));
            }
        }
        let needs_limit = matches!(self.order_type, OrderType::Limit | OrderType::StopLimit);
        let needs_stop = matches!(self.order_type, OrderType::Stop | OrderType::StopLimit);
        if needs_limit != self.limit_price.is_some() {
            return invalid(if needs_limit {
                "limit_price is required for limit and stop_limit orders"
            } else {
                "limit_price is only for limit and stop_limit orders"
            });
        }
        if needs_stop != self.stop_price.is_some() {
            return invalid(if needs_stop {
                "stop_price is required for stop and stop_limit orders"
            } else {
                "stop_price is only for stop and stop_limit orders"
            });
        }
        if let Some(id) = &self.client_order_id
            && (id.is_empty() || id.chars().count() > 48)
        {
            return invalid("client_order_id must be 1 to 48 characters");
        }
        Ok(())
    }
}

/// The JSON body of `POST /v2/orders`, always with a client_order_id.
#[derive(Debug, Serialize)]
pub(crate) struct OrderBody<'a> {
    pub(crate) symbol: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) qty: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) notional: Option<&'a str>,
    pub(crate) side: Side,
    #[serde(rename = "type")]
    pub(crate) order_type: OrderType,
    pub(crate) time_in_force: TimeInForce,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit_price: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stop_price: Option<&'a str>,
    pub(crate) extended_hours: bool,
    pub(crate) client_order_id: &'a str,
}

impl<'a> OrderBody<'a> {
    pub(crate) fn new(o: &'a NewOrder, client_order_id: &'a str) -> OrderBody<'a> {
        OrderBody {
            symbol: &o.symbol,
            qty: o.qty.as_deref(),
            notional: o.notional.as_deref(),
            side: o.side,
            order_type: o.order_type,
            time_in_force: o.time_in_force,
            limit_price: o.limit_price.as_deref(),
            stop_price: o.stop_price.as_deref(),
            extended_hours: o.extended_hours,
            client_order_id,
        }
    }
}

/// A decimal string Alpaca takes: digits, at most one point, above zero.
fn is_positive_decimal(s: &str) -> bool {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && digits(whole)
        && digits(frac)
        && (!s.contains('.') || !frac.is_empty())
        && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// A symbol or asset id that is safe as one path segment.
pub(crate) fn check_symbol(s: &str) -> Result<(), BrokerError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && s.bytes().any(|b| b != b'.');
    if ok {
        Ok(())
    } else {
        Err(BrokerError::InvalidRequest(format!("invalid symbol {s:?}")))
    }
}

/// `GET /v2/orders` filters (ALPACA-API.md 2.3, "List").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOrders {
    /// open (Alpaca's default), closed or all.
    pub status: Option<OrderStatusFilter>,
    /// At most this many (Alpaca: default 50, max 500).
    pub limit: Option<u32>,
    /// Submitted strictly after.
    pub after: Option<DateTime<Utc>>,
    /// Submitted strictly before.
    pub until: Option<DateTime<Utc>>,
    /// Newest first (Alpaca's default) or oldest first.
    pub direction: Option<Direction>,
    /// Only these symbols.
    pub symbols: Vec<String>,
    /// Only this side.
    pub side: Option<Side>,
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatusFilter {
    /// Still working.
    Open,
    /// Done.
    Closed,
    /// Both.
    All,
}

impl OrderStatusFilter {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OrderStatusFilter::Open => "open",
            OrderStatusFilter::Closed => "closed",
            OrderStatusFilter::All => "all",
        }
    }
}

/// Sort order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

impl Direction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}

/// How much of a position to close (`DELETE /v2/positions/{symbol}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseAmount {
    /// The whole position.
    All,
    /// This many shares.
    Qty(String),
    /// This percentage, 0-100 (up to nine decimals).
    Percentage(String),
}

/// One item of `DELETE /v2/orders` (207 Multi-Status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanceledOrder {
    /// The order's id.
    pub id: String,
    /// 200 when the cancel request was taken, else the failure's status.
    pub status: u16,
    /// The order, when the broker sent it.
    pub order: Option<Order>,
    /// The broker's message for a failure.
    pub message: Option<String>,
}

/// One item of `DELETE /v2/positions` (207 Multi-Status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPosition {
    /// The position's symbol.
    pub symbol: String,
    /// 200 when a closing order was placed, else the failure's status.
    pub status: u16,
    /// The closing order.
    pub order: Option<Order>,
    /// The broker's message for a failure.
    pub message: Option<String>,
}

/// A 207 item as Alpaca sends it.
#[derive(Debug, Deserialize)]
pub(crate) struct MultiStatusItem {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) symbol: Option<String>,
    pub(crate) status: u16,
    #[serde(default)]
    pub(crate) body: serde_json::Value,
}

impl MultiStatusItem {
    /// (order, message) from the item's body.
    pub(crate) fn split(&self) -> (Option<Order>, Option<String>) {
        if (200..300).contains(&self.status) {
            (Order::deserialize(&self.body).ok(), None)
        } else {
            let message = self
                .body
                .get("message")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string);
            (None, message)
        }
    }
}

/// `GET /v2/clock` (ALPACA-API.md 2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// The broker's time.
    pub timestamp: DateTime<Utc>,
    /// The market is open.
    pub is_open: bool,
    /// Next open.
    pub next_open: DateTime<Utc>,
    /// Next close.
    pub next_close: DateTime<Utc>,
}

/// One day of `GET /v2/calendar` (New York times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDay {
    /// Session date.
    pub date: NaiveDate,
    /// Opening time, New York.
    pub open: NaiveTime,
    /// Closing time, New York (13:00 on early closes).
    pub close: NaiveTime,
}

/// An asset (ALPACA-API.md 2.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// Asset id.
    pub id: String,
    /// `us_equity`, `crypto`, … (Alpaca's key is `class`).
    pub class: String,
    /// Exchange.
    pub exchange: String,
    /// Symbol.
    pub symbol: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// `active` or `inactive`.
    pub status: String,
    /// Tradable at Alpaca.
    pub tradable: bool,
    /// Marginable.
    #[serde(default)]
    pub marginable: bool,
    /// Shortable.
    #[serde(default)]
    pub shortable: bool,
    /// Easy to borrow.
    #[serde(default)]
    pub easy_to_borrow: bool,
    /// Fractional orders allowed.
    #[serde(default)]
    pub fractionable: bool,
}

/// A FILL activity (ALPACA-API.md 2.7, TradeActivity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillActivity {
    /// `<time>::<uuid>`; the page token for the next page.
    pub id: String,
    /// `FILL`.
    pub activity_type: String,
    /// Execution time.
    pub transaction_time: DateTime<Utc>,
    /// `fill` or `partial_fill`.
    #[serde(rename = "type")]
    pub fill_type: String,
    /// Price.
    pub price: String,
    /// Quantity of this fill.
    pub qty: String,
    /// `buy`, `sell` or `sell_short`.
    pub side: String,
    /// Symbol.
    pub symbol: String,
    /// Quantity still open on the order.
    #[serde(default)]
    pub leaves_qty: Option<String>,
    /// Quantity filled so far on the order.
    #[serde(default)]
    pub cum_qty: Option<String>,
    /// The order.
    pub order_id: String,
    /// The order's status after the fill.
    #[serde(default)]
    pub order_status: Option<String>,
}

/// `GET /v2/account/activities/FILL` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FillsQuery {
    /// Strictly after.
    pub after: Option<DateTime<Utc>>,
    /// Strictly before.
    pub until: Option<DateTime<Utc>>,
    /// Newest first (Alpaca's default) or oldest first.
    pub direction: Option<Direction>,
    /// Page size, 1-100 (Alpaca's default and maximum: 100).
    pub page_size: Option<u32>,
    /// The last id of the previous page.
    pub page_token: Option<String>,
}

/// One page of fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillsPage {
    /// The fills.
    pub fills: Vec<FillActivity>,
    /// The token of the next page, when this page was full.
    pub next_page_token: Option<String>,
}

/// `GET /v2/account/portfolio/history` parameters (ALPACA-API.md 2.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortfolioHistoryQuery {
    /// `<n>D|W|M|A`; Alpaca's default is 1M.
    pub period: Option<String>,
    /// `1Min`, `5Min`, `15Min`, `1H`, `1D`.
    pub timeframe: Option<String>,
    /// Include extended hours (timeframes under 1D).
    pub extended_hours: Option<bool>,
    /// The last day; defaults to the current market date.
    pub date_end: Option<NaiveDate>,
}

/// Equity over time (ALPACA-API.md 2.4): parallel arrays of numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioHistory {
    /// Epoch seconds, left-labelled.
    pub timestamp: Vec<i64>,
    /// Equity at each point.
    pub equity: Vec<Option<f64>>,
    /// Profit or loss against `base_value`.
    #[serde(default)]
    pub profit_loss: Vec<Option<f64>>,
    /// Profit or loss as a fraction.
    #[serde(default)]
    pub profit_loss_pct: Vec<Option<f64>>,
    /// Equity the profit is measured against.
    #[serde(default)]
    pub base_value: Option<f64>,
    /// The points' spacing.
    #[serde(default)]
    pub timeframe: String,
}

/// A bar (ALPACA-API.md 2.9): prices are numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Start of the bar.
    pub t: DateTime<Utc>,
    /// Open.
    pub o: f64,
    /// High.
    pub h: f64,
    /// Low.
    pub l: f64,
    /// Close.
    pub c: f64,
    /// Volume.
    pub v: f64,
    /// Trades.
    #[serde(default)]
    pub n: u64,
    /// Volume-weighted average price.
    #[serde(default)]
    pub vw: f64,
}

/// `GET /v2/stocks/bars` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarsQuery {
    /// Symbols (at least one).
    pub symbols: Vec<String>,
    /// `1Min`…`59Min`, `1Hour`…`23Hour`, `1Day`, `1Week`, `1Month`….
    pub timeframe: String,
    /// First bar at or after (Alpaca's default: the start of today).
    pub start: Option<DateTime<Utc>>,
    /// Last bar at or before (default: now).
    pub end: Option<DateTime<Utc>>,
    /// Bars per page, all symbols together (1-10000; Alpaca's default 1000).
    pub limit: Option<u32>,
    /// `iex`, `sip`, …
    pub feed: Option<String>,
    /// `raw`, `split`, `dividend`, `all`.
    pub adjustment: Option<String>,
}

impl BarsQuery {
    /// Bars of `timeframe` for `symbols`, other parameters at Alpaca's defaults.
    pub fn new(symbols: &[&str], timeframe: impl Into<String>) -> BarsQuery {
        BarsQuery {
            symbols: symbols.iter().map(|s| (*s).to_string()).collect(),
            timeframe: timeframe.into(),
            start: None,
            end: None,
            limit: None,
            feed: None,
            adjustment: None,
        }
    }
}

/// One page of `GET /v2/stocks/bars`.
#[derive(Debug, Deserialize)]
pub(crate) struct BarsPage {
    #[serde(default)]
    pub(crate) bars: Option<std::collections::BTreeMap<String, Vec<Bar>>>,
    #[serde(default)]
    pub(crate) next_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for ok in ["1", "0.5", "10.25", "0.000000001", "100"] {
            assert!(is_positive_decimal(ok), "{ok}");
        }
        for bad in [
            "", "0", "0.0", "-1", "1.", ".5", "1e3", "1,5", "1.2.3", " 1",
        ] {
            assert!(!is_positive_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn symbols_are_one_safe_path_segment() {
        for ok in ["AAPL", "BRK.B", "904837e3-3b76-47ec-b432-046db621571b"] {
            assert!(check_symbol(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "A/B", "A?B", "A B", "%2e"] {
            assert!(check_symbol(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_orders_are_checked() {
        assert!(NewOrder::market("AAPL", Side::Buy, "1").check().is_ok());
        assert!(
            NewOrder::notional("AAPL", Side::Buy, "10.5")
                .check()
                .is_ok()
        );
        assert!(
            NewOrder::limit("AAPL", Side::Sell, "2", "190.5", TimeInForce::Gtc)
                .check()
                .is_ok()
        );
        let both = NewOrder {
            notional: Some("5".into()),
            ..NewOrder::market("AAPL", Side::Buy, "1")
        };
        assert!(both.check().is_err());
        let no_limit = NewOrder {
            order_type: OrderType::Limit,
            ..NewOrder::market("AAPL", Side::Buy, "1")
        };
        assert!(no_limit.check().is_err());
        let long_id = NewOrder::market("AAPL", Side::Buy, "1").with_client_order_id("x".repeat(49));
        assert!(long_id.check().is_err());
        assert!(NewOrder::market("AAPL", Side::Buy, "0").check().is_err());
        assert!(NewOrder::market("../x", Side::Buy, "1").check().is_err());
    }

    #[test]
    fn order_body_always_names_the_client_order_id() {
        let o = NewOrder::limit("AAPL", Side::Buy, "0.123456789", "190.5", TimeInForce::Day);
        let body = serde_json::to_value(OrderBody::new(&o, "cid-1")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "symbol": "AAPL", "qty": "0.123456789", "side": "buy", "type": "limit",
                "time_in_force": "day", "limit_price": "190.5", "extended_hours": false,
                "client_order_id": "cid-1",
            })
        );
    }

    #[test]
    fn alpaca_order_decodes_with_exact_decimals() {
        let json = r#"{
            "id":"61e69015-8549-4bfd-b9c3-01e75843f47d","client_order_id":"eb9e2aaa",
            "created_at":"2021-03-16T18:38:01.942282Z","updated_at":"2021-03-16T18:38:01.942282Z",
            "submitted_at":"2021-03-16T18:38:01.937734Z","filled_at":null,"expired_at":null,
            "canceled_at":null,"failed_at":null,"replaced_at":null,"replaced_by":null,"replaces":null,
            "asset_id":"b0b6dd9d-8b9b-48a9-ba46-b9d54906e415","symbol":"AAPL","asset_class":"us_equity",
            "notional":"500","qty":null,"filled_qty":"3.844266155","filled_avg_price":null,
            "order_class":"","order_type":"market","type":"market","side":"buy","time_in_force":"day",
            "limit_price":null,"stop_price":null,"status":"accepted","extended_hours":false,
            "legs":null,"trail_percent":null,"trail_price":null,"hwm":null}"#;
        let o: Order = serde_json::from_str(json).unwrap();
        assert_eq!(o.filled_qty, "3.844266155");
        assert_eq!(o.notional.as_deref(), Some("500"));
        assert_eq!(o.order_type, "market");
        assert!(o.is_open());
    }
}
