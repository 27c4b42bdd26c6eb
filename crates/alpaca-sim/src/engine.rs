//! Accounts, orders and the matching engine.
//!
//! Matching is lazy and deterministic: before any request touches an
//! account, [`Account::advance`] walks every open order through the
//! 1-minute bars that completed since it last looked, so the result does not
//! depend on when requests arrive. Rules (ALPACA-API.md 2.3 and 2.13):
//! - a market order fills at the current price (the open of the minute in
//!   progress) during a session; outside it waits for the open and fills at
//!   the opening price;
//! - limit and stop orders are checked against each minute bar's high and
//!   low; a buy limit fills at `min(limit, bar open)`, a sell limit at
//!   `max(limit, bar open)`, a stop becomes a market order at
//!   `max(stop, open)` (buy) or `min(stop, open)` (sell);
//! - day orders expire at the session's close; ioc and fok orders fill at
//!   once (the simulated book is deep) or are canceled.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound, NaiveDate, SecondsFormat, Utc};

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::assets::Asset;
use crate::calendar;
use crate::error::{ApiError, ApiResult};
use crate::market::Market;

/// Cash a new account starts with, as Alpaca's paper accounts do.
pub const STARTING_CASH: i64 = 100_000;

/// RFC 3339 in UTC as Alpaca's trading API (Go's `RFC3339Nano`) writes
/// times: up to nine fraction digits, trailing zeros dropped.
pub fn ts(t: DateTime<Utc>) -> String {
    let s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    match s.strip_suffix('Z').and_then(|x| x.split_once('.')) {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{whole}Z")
            } else {
                format!("{whole}.{frac}Z")
            }
        }
        None => s,
    }
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(ts(t)))
}

/// A decimal as Alpaca writes it: a string without trailing zeros.
pub fn dec(d: Decimal) -> String {
    let n = d.normalize();
    if n.is_zero() {
        "0".to_string()
    } else {
        n.to_string()
    }
}

fn opt_dec(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, |d| Value::String(dec(d)))
}

fn money(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn ratio(d: Decimal) -> Decimal {
    d.round_dp(16)
}

/// Cents as a decimal price.
pub fn price_dec(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// Order types the simulator supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderType {
    /// Market.
    Market,
    /// Limit.
    Limit,
    /// Stop (market once triggered).
    Stop,
    /// Stop limit.
    StopLimit,
}

impl OrderType {
    fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
            OrderType::Stop => "stop",
            OrderType::StopLimit => "stop_limit",
        }
    }
}

/// Time in force values the simulator supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tif {
    /// Until the session's close.
    Day,
    /// Until canceled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

impl Tif {
    fn as_str(self) -> &'static str {
        match self {
            Tif::Day => "day",
            Tif::Gtc => "gtc",
            Tif::Ioc => "ioc",
            Tif::Fok => "fok",
        }
    }
}

/// Order status (the subset the simulator reaches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Received outside the session, not yet routed.
    Accepted,
    /// Routed, working.
    New,
    /// Filled.
    Filled,
    /// Canceled.
    Canceled,
    /// Expired (day orders at the close).
    Expired,
    /// Replaced by another order.
    Replaced,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::New => "new",
            Status::Filled => "filled",
            Status::Canceled => "canceled",
            Status::Expired => "expired",
            Status::Replaced => "replaced",
        }
    }

    /// Whether the order can still fill.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Accepted | Status::New)
    }
}

/// One order.
#[derive(Debug, Clone)]
pub struct Order {
    /// Sequence number (tie-break for equal timestamps).
    pub seq: u64,
    /// Order id.
    pub id: Uuid,
    /// Client order id.
    pub client_order_id: String,
    /// Symbol.
    pub symbol: String,
    /// Asset id.
    pub asset_id: Uuid,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: Tif,
    /// Quantity, when given as a quantity.
    pub qty: Option<Decimal>,
    /// Dollar amount, when given as notional.
    pub notional: Option<Decimal>,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// Stop price.
    pub stop_price: Option<Decimal>,
    /// Extended hours flag.
    pub extended_hours: bool,
    /// Status.
    pub status: Status,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Fill time.
    pub filled_at: Option<DateTime<Utc>>,
    /// Expiry time, once expired.
    pub expired_at: Option<DateTime<Utc>>,
    /// Cancel time.
    pub canceled_at: Option<DateTime<Utc>>,
    /// Replace time.
    pub replaced_at: Option<DateTime<Utc>>,
    /// The order that replaced this one.
    pub replaced_by: Option<Uuid>,
    /// The order this one replaces.
    pub replaces: Option<Uuid>,
    /// When a day order will expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// Filled quantity.
    pub filled_qty: Decimal,
    /// Average fill price.
    pub filled_avg_price: Option<Decimal>,
    /// Whether this sell opens or extends a short.
    pub opens_short: bool,
    first_look_done: bool,
    stop_triggered: bool,
    checked_until: DateTime<Utc>,
}

impl Order {
    /// The order as Alpaca's Order object (ALPACA-API.md 2.3).
    pub fn to_json(&self) -> Value {
        let position_intent = match (self.side, self.opens_short) {
            (Side::Buy, _) => "buy_to_open",
            (Side::Sell, true) => "sell_to_open",
            (Side::Sell, false) => "sell_to_close",
        };
        json!({
            "id": self.id.to_string(),
            "client_order_id": self.client_order_id,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at),
            "submitted_at": ts(self.created_at),
            "filled_at": opt_ts(self.filled_at),
            "expired_at": opt_ts(self.expired_at),
            "expires_at": opt_ts(self.expires_at),
            "canceled_at": opt_ts(self.canceled_at),
            "failed_at": null,
            "replaced_at": opt_ts(self.replaced_at),
            "replaced_by": self.replaced_by.map(|u| u.to_string()),
            "replaces": self.replaces.map(|u| u.to_string()),
            "asset_id": self.asset_id.to_string(),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": opt_dec(self.notional),
            "qty": opt_dec(self.qty),
            "filled_qty": dec(self.filled_qty),
            "filled_avg_price": opt_dec(self.filled_avg_price),
            "order_class": "",
            "order_type": self.order_type.as_str(),
            "type": self.order_type.as_str(),
            "side": self.side.as_str(),
            "position_intent": position_intent,
            "time_in_force": self.tif.as_str(),
            "limit_price": opt_dec(self.limit_price),
            "stop_price": opt_dec(self.stop_price),
            "status": self.status.as_str(),
            "extended_hours": self.extended_hours,
            "legs": null,
            "trail_percent": null,
            "trail_price": null,
            "hwm": null,
            "subtag": null,
            "source": null,
        })
    }

    /// The price used to reserve buying power for the unfilled part.
    fn reserve(&self, current: Decimal) -> Decimal {
        if !self.status.is_open() {
            return Decimal::ZERO;
        }
        if let Some(n) = self.notional {
            return n;
        }
        let px = self.limit_price.or(self.stop_price).unwrap_or(current);
        self.qty.unwrap_or_default() * px
    }
}

/// One fill (a FILL activity).
#[derive(Debug, Clone)]
pub struct Fill {
    /// Activity id, `<yyyymmddhhmmssmmm>::<uuid>`.
    pub id: String,
    /// Order id.
    pub order_id: Uuid,
    /// Symbol.
    pub symbol: String,
    /// Side as an activity: buy, sell or sell_short.
    pub side: &'static str,
    /// Signed quantity change of the position.
    pub signed_qty: Decimal,
    /// Price.
    pub price: Decimal,
    /// Execution time.
    pub time: DateTime<Utc>,
    /// Sequence number.
    pub seq: u64,
}

impl Fill {
    /// The fill as Alpaca's TradeActivity (ALPACA-API.md 2.7).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "activity_type": "FILL",
            "transaction_time": ts(self.time),
            "type": "fill",
            "price": dec(self.price),
            "qty": dec(self.signed_qty.abs()),
            "side": self.side,
            "symbol": self.symbol,
            "leaves_qty": "0",
            "order_id": self.order_id.to_string(),
            "cum_qty": dec(self.signed_qty.abs()),
            "order_status": "filled",
        })
    }
}

/// A position in one symbol.
#[derive(Debug, Clone, Default)]
pub struct Position {
    /// Signed quantity (negative for short).
    pub qty: Decimal,
    /// Average entry price.
    pub avg_entry: Decimal,
    /// When the position was opened.
    pub opened_at: Option<DateTime<Utc>>,
}

/// Options for creating an account.
#[derive(Debug, Clone)]
pub struct AccountOptions {
    /// Starting cash.
    pub cash: Decimal,
    /// Buying power multiplier: 1, 2 or 4.
    pub multiplier: u32,
}

impl Default for AccountOptions {
    fn default() -> Self {
        AccountOptions {
            cash: Decimal::from(STARTING_CASH),
            multiplier: 2,
        }
    }
}

/// One account, by key id.
#[derive(Debug, Clone)]
pub struct Account {
    /// Account id.
    pub id: Uuid,
    /// Account number, `PA…` for paper.
    pub number: String,
    /// The secret the key id first came with.
    pub secret: String,
    /// Creation time (simulated clock).
    pub created_at: DateTime<Utc>,
    /// Starting cash.
    pub initial_cash: Decimal,
    /// Current cash.
    pub cash: Decimal,
    /// Multiplier, 1, 2 or 4.
    pub multiplier: u32,
    /// Orders in submission order.
    pub orders: Vec<Order>,
    /// Fills in time order.
    pub fills: Vec<Fill>,
    /// Open positions by symbol.
    pub positions: BTreeMap<String, Position>,
}

/// Account figures at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Cash.
    pub cash: Decimal,
    /// Sum of long market values.
    pub long_mv: Decimal,
    /// Sum of short market values (negative).
    pub short_mv: Decimal,
    /// Sum of 50% of absolute market values.
    pub initial_margin: Decimal,
    /// Sum of 30% of absolute market values.
    pub maintenance_margin: Decimal,
}

impl Figures {
    /// cash + long + short.
    pub fn equity(&self) -> Decimal {
        self.cash + self.long_mv + self.short_mv
    }
}

/// Deterministic ids from the seed and a counter.
#[derive(Debug, Clone)]
pub struct Ids {
    seed: u64,
    counter: u64,
}

impl Ids {
    /// Ids for a seed.
    pub fn new(seed: u64) -> Ids {
        Ids { seed, counter: 0 }
    }

    /// The next id (UUID version 4 layout).
    pub fn next_id(&mut self) -> (u64, Uuid) {
        self.counter += 1;
        let mut z = self.seed ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut mix = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        let hi = mix();
        let lo = mix();
        let bytes = ((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes();
        (
            self.counter,
            uuid::Builder::from_random_bytes(bytes).into_uuid(),
        )
    }
}

/// A parsed, validated order request.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// Asset.
    pub asset: Asset,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: Tif,
    /// Quantity.
    pub qty: Option<Decimal>,
    /// Notional.
    pub notional: Option<Decimal>,
    /// Limit price.
    pub limit_price: Option<Decimal>,
    /// Stop price.
    pub stop_price: Option<Decimal>,
    /// Extended hours.
    pub extended_hours: bool,
    /// Client order id (generated when absent).
    pub client_order_id: Option<String>,
}

fn field_decimal(body: &Value, key: &str) -> ApiResult<Option<Decimal>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Decimal::from_str_exact(s.trim())
            .or_else(|_| Decimal::from_scientific(s.trim()))
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid {key}"))),
        Some(Value::Number(n)) => Decimal::from_str_exact(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid {key}"))),
        Some(_) => Err(ApiError::invalid(format!("invalid {key}"))),
    }
}

fn field_str<'a>(body: &'a Value, key: &str) -> ApiResult<Option<&'a str>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ApiError::invalid(format!("invalid {key}"))),
    }
}

fn check_price(key: &str, p: Decimal) -> ApiResult<Decimal> {
    if p <= Decimal::ZERO {
        return Err(ApiError::invalid(format!("{key} must be > 0")));
    }
    let scale = p.normalize().scale();
    if (p >= Decimal::ONE && scale > 2) || scale > 4 {
        return Err(ApiError::invalid(format!(
            "invalid {key} {}. sub-penny increment does not fulfill minimum pricing criteria",
            dec(p)
        )));
    }
    Ok(p)
}

/// Unsupported feature: 422 saying so.
fn unsupported(what: &str) -> ApiError {
    ApiError::invalid(format!("{what} is not supported by the simulator"))
}

/// Parses a `POST /v2/orders` body (ALPACA-API.md 2.3, "Submit").
pub fn parse_order(
    body: &Value,
    find_asset: impl Fn(&str) -> Option<Asset>,
) -> ApiResult<NewOrder> {
    if !body.is_object() {
        return Err(ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            crate::error::CODE_BAD_BODY,
            "request body format is invalid",
        ));
    }
    match field_str(body, "order_class")? {
        None | Some("") | Some("simple") => {}
        Some(c @ ("bracket" | "oco" | "oto" | "mleg")) => {
            return Err(unsupported(&format!("order_class {c}")));
        }
        Some(c) => return Err(ApiError::invalid(format!("invalid order_class {c}"))),
    }
    for key in [
        "take_profit",
        "stop_loss",
        "legs",
        "trail_price",
        "trail_percent",
    ] {
        if body.get(key).is_some_and(|v| !v.is_null()) {
            return Err(unsupported(key));
        }
    }
    let symbol = field_str(body, "symbol")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("symbol is required"))?;
    let asset = find_asset(symbol)
        .ok_or_else(|| ApiError::invalid(format!("asset \"{symbol}\" not found")))?;
    let side = match field_str(body, "side")? {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        Some(s) => return Err(ApiError::invalid(format!("invalid side {s}"))),
        None => return Err(ApiError::invalid("side is required")),
    };
    let order_type = match field_str(body, "type")?.or(field_str(body, "order_type")?) {
        Some("market") => OrderType::Market,
        Some("limit") => OrderType::Limit,
        Some("stop") => OrderType::Stop,
        Some("stop_limit") => OrderType::StopLimit,
        Some("trailing_stop") => return Err(unsupported("order type trailing_stop")),
        Some(t) => return Err(ApiError::invalid(format!("invalid order type {t}"))),
        None => return Err(ApiError::invalid("type is required")),
    };
    let tif = match field_str(body, "time_in_force")? {
        Some("day") => Tif::Day,
        Some("gtc") => Tif::Gtc,
        Some("ioc") => Tif::Ioc,
        Some("fok") => Tif::Fok,
        Some(t @ ("opg" | "cls")) => return Err(unsupported(&format!("time_in_force {t}"))),
        Some(t) => return Err(ApiError::invalid(format!("invalid time_in_force {t}"))),
        None => return Err(ApiError::invalid("time_in_force is required")),
    };
    let qty = field_decimal(body, "qty")?;
    let notional = field_decimal(body, "notional")?;
    match (qty, notional) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("qty and notional are mutually exclusive"));
        }
        (None, None) => return Err(ApiError::invalid("qty or notional is required")),
        (Some(q), None) if q <= Decimal::ZERO => {
            return Err(ApiError::invalid("qty must be > 0"));
        }
        (None, Some(n)) if n <= Decimal::ZERO => {
            return Err(ApiError::invalid("notional must be > 0"));
        }
        _ => {}
    }
    let fractional = qty.is_some_and(|q| q.fract() != Decimal::ZERO);
    if fractional || notional.is_some() {
        if !asset.fractionable {
            return Err(ApiError::invalid(format!(
                "asset {} is not fractionable",
                asset.symbol
            )));
        }
        if order_type != OrderType::Market || tif != Tif::Day {
            return Err(ApiError::invalid(
                "fractional orders and notional orders must be market orders with time_in_force day",
            ));
        }
    }
    if qty.is_some_and(|q| q.normalize().scale() > 9) {
        return Err(ApiError::invalid("qty can have at most 9 decimal places"));
    }
    let limit_price = field_decimal(body, "limit_price")?;
    let stop_price = field_decimal(body, "stop_price")?;
    let limit_price = match order_type {
        OrderType::Limit | OrderType::StopLimit => Some(check_price(
            "limit_price",
            limit_price.ok_or_else(|| ApiError::invalid("limit_price is required"))?,
        )?),
        _ => None,
    };
    let stop_price = match order_type {
        OrderType::Stop | OrderType::StopLimit => Some(check_price(
            "stop_price",
            stop_price.ok_or_else(|| ApiError::invalid("stop_price is required"))?,
        )?),
        _ => None,
    };
    let extended_hours = match body.get("extended_hours") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("invalid extended_hours")),
    };
    if extended_hours && (order_type != OrderType::Limit || tif != Tif::Day) {
        return Err(ApiError::invalid(
            "extended hours order must be DAY limit orders",
        ));
    }
    if extended_hours && notional.is_some() {
        return Err(ApiError::invalid(
            "notional orders are not allowed in extended hours",
        ));
    }
    let client_order_id = field_str(body, "client_order_id")?
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if client_order_id
        .as_ref()
        .is_some_and(|c| c.chars().count() > 48)
    {
        return Err(ApiError::invalid(
            "client_order_id must be no more than 48 characters",
        ));
    }
    if !asset.tradable || !asset.active {
        return Err(ApiError::invalid(format!(
            "asset {} is not tradable",
            asset.symbol
        )));
    }
    Ok(NewOrder {
        asset,
        side,
        order_type,
        tif,
        qty,
        notional,
        limit_price,
        stop_price,
        extended_hours,
        client_order_id,
    })
}

/// Whether `t` falls in the extended sessions (4:00-9:30, 16:00-20:00 New
/// York) of a trading day.
fn in_extended_hours(t: DateTime<Utc>) -> bool {
    let date = calendar::ny_date(t);
    let Some(s) = calendar::Session::on(date) else {
        return false;
    };
    let pre = calendar::ny_to_utc(
        date,
        chrono::NaiveTime::from_hms_opt(4, 0, 0).unwrap_or_default(),
    );
    let post = calendar::ny_to_utc(
        date,
        chrono::NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
    );
    (pre <= t && t < s.open_at()) || (s.close_at() <= t && t < post)
}

fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

impl Account {
    /// A new account.
    pub fn new(
        id: Uuid,
        number: String,
        secret: String,
        now: DateTime<Utc>,
        opts: &AccountOptions,
    ) -> Account {
        Account {
            id,
            number,
            secret,
            created_at: now,
            initial_cash: opts.cash,
            cash: opts.cash,
            multiplier: opts.multiplier,
            orders: Vec::new(),
            fills: Vec::new(),
            positions: BTreeMap::new(),
        }
    }

    /// Figures at `t` from the current positions and the prices at `t`.
    pub fn figures_now(&self, market: &Market, t: DateTime<Utc>) -> Figures {
        figures(
            self.cash,
            self.positions.iter().map(|(s, p)| (s.as_str(), p.qty)),
            market,
            t,
        )
    }

    /// Figures at `t` rebuilt from the fills up to `t`.
    pub fn figures_at(&self, market: &Market, t: DateTime<Utc>) -> Figures {
        let (cash, qtys) = self.holdings_at(t);
        figures(cash, qtys.iter().map(|(s, q)| (s.as_str(), *q)), market, t)
    }

    /// Cash and quantities held at `t`.
    pub fn holdings_at(&self, t: DateTime<Utc>) -> (Decimal, BTreeMap<String, Decimal>) {
        let mut cash = self.initial_cash;
        let mut qtys: BTreeMap<String, Decimal> = BTreeMap::new();
        for f in self.fills.iter().take_while(|f| f.time <= t) {
            cash -= money(f.signed_qty * f.price);
            let q = qtys.entry(f.symbol.clone()).or_default();
            *q += f.signed_qty;
            if q.is_zero() {
                qtys.remove(&f.symbol);
            }
        }
        (cash, qtys)
    }

    /// Equity at the last close before `now` (`last_equity`).
    pub fn last_figures(&self, market: &Market, now: DateTime<Utc>) -> Figures {
        match calendar::last_full_session(now) {
            Some(s) if s.close_at() >= self.created_at => self.figures_at(market, s.close_at()),
            _ => Figures {
                cash: self.initial_cash,
                ..Figures::default()
            },
        }
    }

    /// Buying power reserved by open orders that would add exposure.
    fn reserved(&self, market: &Market, now: DateTime<Utc>) -> Decimal {
        self.orders
            .iter()
            .filter(|o| {
                o.status.is_open()
                    && ((o.side == Side::Buy && !self.is_short(&o.symbol)) || o.opens_short)
            })
            .map(|o| o.reserve(price_dec(market.price_at(&o.symbol, now))))
            .sum()
    }

    fn is_short(&self, symbol: &str) -> bool {
        self.positions
            .get(symbol)
            .is_some_and(|p| p.qty < Decimal::ZERO)
    }

    /// Buying power before open orders: RegT (equity - initial margin) times
    /// the multiplier, or cash for a cash account (multiplier 1).
    fn raw_buying_power(&self, f: &Figures) -> Decimal {
        if self.multiplier <= 1 {
            f.cash.max(Decimal::ZERO)
        } else {
            (f.equity() - f.initial_margin).max(Decimal::ZERO) * Decimal::from(self.multiplier)
        }
    }

    /// Buying power left for new orders.
    pub fn buying_power(&self, market: &Market, now: DateTime<Utc>) -> Decimal {
        let f = self.figures_now(market, now);
        money((self.raw_buying_power(&f) - self.reserved(market, now)).max(Decimal::ZERO))
    }

    /// `GET /v2/account` (ALPACA-API.md 2.1).
    pub fn to_json(&self, market: &Market, now: DateTime<Utc>) -> Value {
        let f = self.figures_now(market, now);
        let last = self.last_figures(market, now);
        let bp = self.buying_power(market, now);
        let regt = if self.multiplier <= 1 {
            bp
        } else {
            money(
                ((f.equity() - f.initial_margin).max(Decimal::ZERO) * Decimal::TWO
                    - self.reserved(market, now))
                .max(Decimal::ZERO),
            )
        };
        let dtbp = if self.multiplier >= 4 {
            bp
        } else {
            Decimal::ZERO
        };
        let equity = money(f.equity());
        json!({
            "id": self.id.to_string(),
            "account_number": self.number,
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "buying_power": dec(bp),
            "regt_buying_power": dec(regt),
            "daytrading_buying_power": dec(dtbp),
            "effective_buying_power": dec(bp),
            "non_marginable_buying_power": dec(money(f.cash.max(Decimal::ZERO))),
            "options_buying_power": "0",
            "bod_dtbp": "0",
            "cash": dec(money(f.cash)),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": dec(equity),
            "pattern_day_trader": false,
            "trading_blocked": false,
            "transfers_blocked": false,
            "account_blocked": false,
            "created_at": ts(self.created_at),
            "trade_suspended_by_user": false,
            "multiplier": self.multiplier.to_string(),
            "shorting_enabled": true,
            "equity": dec(equity),
            "last_equity": dec(money(last.equity())),
            "long_market_value": dec(money(f.long_mv)),
            "short_market_value": dec(money(f.short_mv)),
            "position_market_value": dec(money(f.long_mv - f.short_mv)),
            "initial_margin": dec(money(f.initial_margin)),
            "maintenance_margin": dec(money(f.maintenance_margin)),
            "last_maintenance_margin": dec(money(last.maintenance_margin)),
            "sma": dec(money(last.equity())),
            "daytrade_count": 0,
            "balance_asof": calendar::last_full_session(now).map(|s| s.date.to_string()),
            "crypto_tier": 0,
            "options_trading_level": 0,
            "options_approved_level": 0,
            "admin_configurations": {},
            "user_configurations": null,
        })
    }

    /// A position as Alpaca's Position object (ALPACA-API.md 2.2).
    pub fn position_json(
        &self,
        symbol: &str,
        asset: &Asset,
        market: &Market,
        now: DateTime<Utc>,
    ) -> Option<Value> {
        let p = self.positions.get(symbol)?;
        let current = price_dec(market.price_at(symbol, now));
        let last_close = market.last_close_before(symbol, now);
        let lastday = last_close.map_or(p.avg_entry, |(_, c)| price_dec(c));
        let cost_basis = p.qty * p.avg_entry;
        let mv = p.qty * current;
        let pl = mv - cost_basis;
        let plpc = if cost_basis.is_zero() {
            Decimal::ZERO
        } else {
            pl / cost_basis.abs()
        };
        let prev_close_at = calendar::last_full_session(now).map(|s| s.close_at());
        let opened_today = match (p.opened_at, prev_close_at) {
            (Some(o), Some(c)) => o > c,
            _ => true,
        };
        let reference = if opened_today { p.avg_entry } else { lastday };
        let intraday = p.qty * (current - reference);
        let intraday_pc = if reference.is_zero() {
            Decimal::ZERO
        } else {
            intraday / (p.qty * reference).abs()
        };
        let change = if lastday.is_zero() {
            Decimal::ZERO
        } else {
            (current - lastday) / lastday
        };
        let held: Decimal = self
            .orders
            .iter()
            .filter(|o| o.status.is_open() && o.symbol == symbol && !o.opens_short)
            .filter(|o| (o.side == Side::Sell) == (p.qty > Decimal::ZERO))
            .map(|o| o.qty.unwrap_or_default())
            .sum();
        let available = if p.qty > Decimal::ZERO {
            p.qty - held
        } else {
            p.qty + held
        };
        Some(json!({
            "asset_id": asset.id.to_string(),
            "symbol": symbol,
            "exchange": asset.exchange,
            "asset_class": "us_equity",
            "asset_marginable": asset.marginable,
            "avg_entry_price": dec(p.avg_entry.round_dp(6)),
            "qty": dec(p.qty),
            "qty_available": dec(available),
            "side": if p.qty < Decimal::ZERO { "short" } else { "long" },
            "market_value": dec(money(mv)),
            "cost_basis": dec(money(cost_basis)),
            "unrealized_pl": dec(money(pl)),
            "unrealized_plpc": dec(ratio(plpc)),
            "unrealized_intraday_pl": dec(money(intraday)),
            "unrealized_intraday_plpc": dec(ratio(intraday_pc)),
            "current_price": dec(current),
            "lastday_price": dec(lastday),
            "change_today": dec(ratio(change)),
        }))
    }

    /// Runs the matching engine for every open order up to `now`.
    pub fn advance(&mut self, market: &Market, ids: &mut Ids, now: DateTime<Utc>) {
        let mut fills: Vec<(DateTime<Utc>, u64, usize, Decimal)> = Vec::new();
        for (i, o) in self.orders.iter_mut().enumerate() {
            if !o.status.is_open() {
                continue;
            }
            if let Some((t, price)) = step(o, market, now) {
                fills.push((t, o.seq, i, price));
            }
        }
        fills.sort_by_key(|(t, seq, _, _)| (*t, *seq));
        for (t, _, i, price) in fills {
            self.apply_fill(i, t, price, ids);
        }
    }

    fn apply_fill(&mut self, i: usize, t: DateTime<Utc>, price_cents: Decimal, ids: &mut Ids) {
        let Some(o) = self.orders.get_mut(i) else {
            return;
        };
        let price = price_cents;
        let qty = match (o.qty, o.notional) {
            (Some(q), _) => q,
            (None, Some(n)) => (n / price).round_dp_with_strategy(9, RoundingStrategy::ToZero),
            (None, None) => Decimal::ZERO,
        };
        if qty <= Decimal::ZERO {
            o.status = Status::Canceled;
            o.canceled_at = Some(t);
            o.updated_at = t;
            return;
        }
        o.status = Status::Filled;
        o.filled_at = Some(t);
        o.updated_at = t;
        o.filled_qty = qty;
        o.filled_avg_price = Some(price);
        let signed = if o.side == Side::Buy { qty } else { -qty };
        let side = match (o.side, o.opens_short) {
            (Side::Buy, _) => "buy",
            (Side::Sell, true) => "sell_short",
            (Side::Sell, false) => "sell",
        };
        let symbol = o.symbol.clone();
        let order_id = o.id;
        self.cash -= money(signed * price);
        let pos = self.positions.entry(symbol.clone()).or_default();
        let same_direction =
            pos.qty.is_zero() || (pos.qty > Decimal::ZERO) == (signed > Decimal::ZERO);
        if same_direction {
            let total = pos.qty + signed;
            pos.avg_entry = (pos.qty * pos.avg_entry + signed * price) / total;
            if pos.qty.is_zero() {
                pos.opened_at = Some(t);
            }
            pos.qty = total;
        } else {
            pos.qty += signed;
        }
        if pos.qty.is_zero() {
            self.positions.remove(&symbol);
        }
        let (seq, uid) = ids.next_id();
        let ny = calendar::to_ny(t);
        self.fills.push(Fill {
            id: format!("{}::{}", ny.format("%Y%m%d%H%M%S%3f"), uid),
            order_id,
            symbol,
            side,
            signed_qty: signed,
            price,
            time: t,
            seq,
        });
        self.fills.sort_by_key(|f| (f.time, f.seq));
    }

    /// Submits a validated order (ALPACA-API.md 2.3 and 2.13 for the checks).
    pub fn submit(
        &mut self,
        req: NewOrder,
        market: &Market,
        ids: &mut Ids,
        now: DateTime<Utc>,
        replacing: Option<Uuid>,
    ) -> ApiResult<Order> {
        self.advance(market, ids, now);
        if let Some(cid) = &req.client_order_id
            && self.orders.iter().any(|o| &o.client_order_id == cid)
        {
            return Err(ApiError::invalid("client_order_id must be unique"));
        }
        let symbol = req.asset.symbol.clone();
        // Wash trade: an opposite-side order open for the symbol.
        if self.orders.iter().any(|o| {
            o.status.is_open()
                && o.symbol == symbol
                && o.side != req.side
                && Some(o.id) != replacing
        }) {
            return Err(ApiError::unprocessable(
                "potential wash trade detected. use complex orders",
            ));
        }
        let current = price_dec(market.price_at(&symbol, now));
        let position = self
            .positions
            .get(&symbol)
            .map(|p| p.qty)
            .unwrap_or_default();
        let est_qty = req.qty.unwrap_or_else(|| {
            req.notional
                .map(|n| (n / current).round_dp_with_strategy(9, RoundingStrategy::ToZero))
                .unwrap_or_default()
        });
        let closing = match req.side {
            Side::Sell => position > Decimal::ZERO,
            Side::Buy => position < Decimal::ZERO,
        };
        let mut opens_short = false;
        if closing {
            let held: Decimal = self
                .orders
                .iter()
                .filter(|o| {
                    o.status.is_open()
                        && o.symbol == symbol
                        && o.side == req.side
                        && Some(o.id) != replacing
                })
                .map(|o| o.qty.unwrap_or_default())
                .sum();
            let available = position.abs() - held;
            if est_qty > available {
                return Err(ApiError::forbidden(format!(
                    "insufficient qty available for order (requested: {}, available: {})",
                    dec(est_qty),
                    dec(available.max(Decimal::ZERO))
                ))
                .with("available", dec(available.max(Decimal::ZERO)))
                .with("existing_qty", dec(position.abs()))
                .with("held_for_orders", dec(held))
                .with("symbol", symbol.clone()));
            }
        } else {
            if req.side == Side::Sell {
                opens_short = true;
                if !req.asset.shortable {
                    return Err(ApiError::forbidden(format!(
                        "asset {symbol} is not shortable"
                    )));
                }
                if req.notional.is_some() || est_qty.fract() != Decimal::ZERO {
                    return Err(ApiError::forbidden(
                        "fractional orders cannot be sold short",
                    ));
                }
            }
            let px = req.limit_price.or(req.stop_price).unwrap_or(current);
            let cost = req.notional.unwrap_or(est_qty * px);
            let mut bp = self.buying_power(market, now);
            if let Some(old) = replacing.and_then(|id| self.orders.iter().find(|o| o.id == id)) {
                bp += old.reserve(current);
            }
            if cost > bp {
                return Err(ApiError::forbidden("insufficient buying power")
                    .with("buying_power", dec(bp))
                    .with("cost_basis", dec(money(cost))));
            }
        }
        let (seq, id) = ids.next_id();
        let open_now = calendar::session_at(now).is_some();
        let expires_at = match req.tif {
            Tif::Day if req.extended_hours => calendar::next_close(now).map(|c| {
                calendar::ny_to_utc(
                    calendar::ny_date(c),
                    chrono::NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
                )
            }),
            Tif::Day => calendar::next_close(now),
            _ => None,
        };
        let order = Order {
            seq,
            id,
            client_order_id: req.client_order_id.unwrap_or_else(|| id_to_client(ids)),
            symbol,
            asset_id: req.asset.id,
            side: req.side,
            order_type: req.order_type,
            tif: req.tif,
            qty: req.qty,
            notional: req.notional,
            limit_price: req.limit_price,
            stop_price: req.stop_price,
            extended_hours: req.extended_hours,
            status: if open_now {
                Status::New
            } else {
                Status::Accepted
            },
            created_at: now,
            updated_at: now,
            filled_at: None,
            expired_at: None,
            canceled_at: None,
            replaced_at: None,
            replaced_by: None,
            replaces: replacing,
            expires_at,
            filled_qty: Decimal::ZERO,
            filled_avg_price: None,
            opens_short,
            first_look_done: false,
            stop_triggered: false,
            checked_until: now,
        };
        self.orders.push(order);
        if let Some(old_id) = replacing
            && let Some(old) = self.orders.iter_mut().find(|o| o.id == old_id)
        {
            old.status = Status::Replaced;
            old.replaced_at = Some(now);
            old.replaced_by = Some(id);
            old.updated_at = now;
        }
        self.advance(market, ids, now);
        self.orders
            .iter()
            .find(|o| o.id == id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("order not found"))
    }

    /// Cancels an open order.
    pub fn cancel(&mut self, id: Uuid, now: DateTime<Utc>) -> ApiResult<Order> {
        let o = self
            .orders
            .iter_mut()
            .find(|o| o.id == id)
            .ok_or_else(|| ApiError::not_found("order not found"))?;
        if !o.status.is_open() {
            return Err(ApiError::unprocessable(
                "The order status is not cancelable",
            ));
        }
        o.status = Status::Canceled;
        o.canceled_at = Some(now);
        o.updated_at = now;
        Ok(o.clone())
    }

    /// The order by id.
    pub fn order(&self, id: Uuid) -> Option<&Order> {
        self.orders.iter().find(|o| o.id == id)
    }

    /// Builds a closing market order for a position (`DELETE /v2/positions/{symbol}`).
    pub fn close_request(
        &self,
        asset: Asset,
        qty: Option<Decimal>,
        percentage: Option<Decimal>,
    ) -> ApiResult<NewOrder> {
        let p = self
            .positions
            .get(&asset.symbol)
            .ok_or_else(|| ApiError::not_found("position does not exist"))?;
        let full = p.qty.abs();
        let qty = match (qty, percentage) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "qty and percentage are mutually exclusive",
                ));
            }
            (Some(q), None) => {
                if q <= Decimal::ZERO || q > full {
                    return Err(ApiError::invalid("invalid qty"));
                }
                q
            }
            (None, Some(pc)) => {
                if pc <= Decimal::ZERO || pc > Decimal::ONE_HUNDRED {
                    return Err(ApiError::invalid("percentage must be between 0 and 100"));
                }
                (full * pc / Decimal::ONE_HUNDRED)
                    .round_dp_with_strategy(9, RoundingStrategy::ToZero)
            }
            (None, None) => full,
        };
        Ok(NewOrder {
            asset,
            side: if p.qty > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            },
            order_type: OrderType::Market,
            tif: Tif::Day,
            qty: Some(qty),
            notional: None,
            limit_price: None,
            stop_price: None,
            extended_hours: false,
            client_order_id: None,
        })
    }

    /// Equity at each instant in `points` (increasing), from the fills.
    pub fn equity_series(&self, market: &Market, points: &[DateTime<Utc>]) -> Vec<Decimal> {
        let mut cash = self.initial_cash;
        let mut qtys: HashMap<String, Decimal> = HashMap::new();
        let mut next = 0;
        let mut out = Vec::with_capacity(points.len());
        for &t in points {
            while let Some(f) = self.fills.get(next)
                && f.time <= t
            {
                cash -= money(f.signed_qty * f.price);
                *qtys.entry(f.symbol.clone()).or_default() += f.signed_qty;
                next += 1;
            }
            let mv: Decimal = qtys
                .iter()
                .filter(|(_, q)| !q.is_zero())
                .map(|(s, q)| *q * price_dec(market.price_at(s, t)))
                .sum();
            out.push(money(cash + mv));
        }
        out
    }
}

fn id_to_client(ids: &mut Ids) -> String {
    ids.next_id().1.to_string()
}

fn figures<'a>(
    cash: Decimal,
    positions: impl Iterator<Item = (&'a str, Decimal)>,
    market: &Market,
    t: DateTime<Utc>,
) -> Figures {
    let mut f = Figures {
        cash,
        ..Figures::default()
    };
    let half = Decimal::new(5, 1);
    let maint = Decimal::new(3, 1);
    for (symbol, qty) in positions {
        let mv = qty * price_dec(market.price_at(symbol, t));
        if mv > Decimal::ZERO {
            f.long_mv += mv;
        } else {
            f.short_mv += mv;
        }
        f.initial_margin += mv.abs() * half;
        f.maintenance_margin += mv.abs() * maint;
    }
    f
}

/// What an order does against one price: fill at a price, or nothing.
fn try_price(o: &mut Order, p: Decimal) -> Option<Decimal> {
    match o.order_type {
        OrderType::Market => Some(p),
        OrderType::Limit => limit_fill(o, p, p, p),
        OrderType::Stop | OrderType::StopLimit => {
            let stop = o.stop_price?;
            let hit = match o.side {
                Side::Buy => p >= stop,
                Side::Sell => p <= stop,
            };
            if !o.stop_triggered && !hit {
                return None;
            }
            o.stop_triggered = true;
            if o.order_type == OrderType::Stop {
                Some(p)
            } else {
                limit_fill(o, p, p, p)
            }
        }
    }
}

/// A limit order against a bar (open, high, low): the fill price, if any.
fn limit_fill(o: &Order, open: Decimal, high: Decimal, low: Decimal) -> Option<Decimal> {
    let limit = o.limit_price?;
    match o.side {
        Side::Buy => (low <= limit).then(|| limit.min(open)),
        Side::Sell => (high >= limit).then(|| limit.max(open)),
    }
}

/// An order against one minute bar.
fn try_bar(o: &mut Order, open: Decimal, high: Decimal, low: Decimal) -> Option<Decimal> {
    match o.order_type {
        OrderType::Market => Some(open),
        OrderType::Limit => limit_fill(o, open, high, low),
        OrderType::Stop | OrderType::StopLimit => {
            if o.stop_triggered {
                return match o.order_type {
                    OrderType::Stop => Some(open),
                    _ => limit_fill(o, open, high, low),
                };
            }
            let stop = o.stop_price?;
            let trigger = match o.side {
                Side::Buy => (high >= stop).then(|| stop.max(open)),
                Side::Sell => (low <= stop).then(|| stop.min(open)),
            }?;
            o.stop_triggered = true;
            if o.order_type == OrderType::Stop {
                return Some(trigger);
            }
            let limit = o.limit_price?;
            match o.side {
                Side::Buy => (trigger <= limit).then_some(trigger),
                Side::Sell => (trigger >= limit).then_some(trigger),
            }
        }
    }
}

/// Moves one open order on to `now`. Returns a fill (time, price).
fn step(o: &mut Order, market: &Market, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Decimal)> {
    let horizon = o.expires_at.map_or(now, |e| e.min(now));
    if !o.first_look_done {
        // The first moment the order can execute: at once during a session
        // (or in extended hours for an extended-hours order), else the open.
        let exec = if calendar::session_at(o.checked_until).is_some()
            || (o.extended_hours && in_extended_hours(o.checked_until))
        {
            Some(o.checked_until)
        } else {
            calendar::next_open(o.checked_until)
        };
        match exec {
            Some(exec) if exec <= horizon => {
                o.first_look_done = true;
                if o.status == Status::Accepted && calendar::session_at(exec).is_some() {
                    o.status = Status::New;
                    o.updated_at = exec;
                }
                let p = price_dec(market.price_at(&o.symbol, exec));
                if let Some(fill) = try_price(o, p) {
                    return Some((exec, fill));
                }
                if matches!(o.tif, Tif::Ioc | Tif::Fok) {
                    o.status = Status::Canceled;
                    o.canceled_at = Some(exec);
                    o.updated_at = exec;
                    return None;
                }
                // Bars that start after the first look; a look exactly at a
                // minute's start scans that minute too.
                o.checked_until = if floor_minute(exec) == exec {
                    exec
                } else {
                    floor_minute(exec) + Duration::minutes(1)
                };
            }
            _ => {
                expire_if_due(o, now);
                return None;
            }
        }
    }
    if o.status == Status::Accepted && calendar::session_at(horizon).is_some() {
        o.status = Status::New;
    }
    let end = floor_minute(horizon);
    if o.checked_until < end {
        let from_date = calendar::ny_date(o.checked_until);
        let to_date = calendar::ny_date(end);
        for session in market.sessions(from_date, to_date) {
            if session.close_at() <= o.checked_until {
                continue;
            }
            for bar in market.minute_bars(&o.symbol, session.date).iter() {
                if bar.t < o.checked_until {
                    continue;
                }
                if bar.t + Duration::minutes(1) > horizon {
                    break;
                }
                if let Some(p) = try_bar(o, price_dec(bar.o), price_dec(bar.h), price_dec(bar.l)) {
                    o.checked_until = bar.t + Duration::minutes(1);
                    return Some((bar.t, p));
                }
            }
        }
        o.checked_until = end;
    }
    expire_if_due(o, now);
    None
}

fn expire_if_due(o: &mut Order, now: DateTime<Utc>) {
    if let Some(e) = o.expires_at
        && e <= now
        && o.status.is_open()
    {
        o.status = Status::Expired;
        o.expired_at = Some(e);
        o.updated_at = e;
    }
}

/// Parses a date or an RFC 3339 time (Alpaca accepts both in queries).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(calendar::ny_midnight)
}
