//! Watchlists, the user's settings (the Python version's `settings.yaml`,
//! same groups, key names and defaults) and signals.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A watchlist with its symbols.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Watchlist {
    pub id: i64,
    pub name: String,
    pub is_default: bool,
    pub symbols: Vec<WatchlistSymbol>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A symbol on a watchlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchlistSymbol {
    pub symbol: String,
    /// The asset's name, from the broker when an account is active.
    pub name: Option<String>,
    pub added_at: DateTime<Utc>,
}

/// `GET /api/watchlists`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchlistList {
    pub watchlists: Vec<Watchlist>,
}

/// `POST /api/watchlists`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWatchlistRequest {
    /// 1-64 characters, unique among the user's lists.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub name: String,
}

/// `PUT /api/watchlists/{id}`: rename and/or make it the default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWatchlistRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    #[serde(default)]
    pub name: Option<String>,
    /// `true` makes this list the default (the others stop being it).
    #[serde(default)]
    pub is_default: bool,
}

/// `POST /api/watchlists/{id}/symbols` and `POST /api/watchlist`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddSymbolRequest {
    /// Upper-cased; `^[A-Z][A-Z0-9.]{0,9}$`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 10))]
    pub symbol: String,
    /// A name to show; the broker's asset name when omitted and an account
    /// is active.
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    #[serde(default)]
    pub name: Option<String>,
}

/// The user's settings: `settings.yaml` of the Python version as JSON.
/// Missing groups and fields take that file's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub indicators: IndicatorSettings,
    pub signal: SignalSettings,
    pub execution: ExecutionSettings,
    pub data: DataSettings,
    pub schedule: ScheduleSettings,
    pub auto_trade: AutoTradeSettings,
}

/// `indicators`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct IndicatorSettings {
    pub rsi: RsiSettings,
    pub sma_crossover: SmaCrossoverSettings,
    pub macd: MacdSettings,
    pub bollinger_bands: BollingerSettings,
}

/// `indicators.rsi`: buy below `oversold`, sell above `overbought`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RsiSettings {
    pub enabled: bool,
    pub period: u32,
    pub overbought: f64,
    pub oversold: f64,
}

impl Default for RsiSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            period: 14,
            overbought: 70.0,
            oversold: 30.0,
        }
    }
}

/// `indicators.sma_crossover`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct SmaCrossoverSettings {
    pub enabled: bool,
    pub short_period: u32,
    pub long_period: u32,
}

impl Default for SmaCrossoverSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            short_period: 20,
            long_period: 50,
        }
    }
}

/// `indicators.macd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct MacdSettings {
    pub enabled: bool,
    pub fast_period: u32,
    pub slow_period: u32,
    pub signal_period: u32,
}

impl Default for MacdSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            fast_period: 12,
            slow_period: 26,
            signal_period: 9,
        }
    }
}

/// `indicators.bollinger_bands`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct BollingerSettings {
    pub enabled: bool,
    pub period: u32,
    pub std_dev: f64,
}

impl Default for BollingerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            period: 20,
            std_dev: 2.0,
        }
    }
}

/// `signal.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SignalMode {
    #[default]
    Any,
    Majority,
    Unanimous,
}

/// `signal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct SignalSettings {
    pub mode: SignalMode,
    pub min_agree: u32,
}

impl Default for SignalSettings {
    fn default() -> Self {
        Self {
            mode: SignalMode::Any,
            min_agree: 2,
        }
    }
}

/// `execution`: how auto-trade sizes and places orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionSettings {
    /// `market` (the only type auto-trade places for now).
    pub order_type: String,
    pub time_in_force: String,
    /// % of equity per position, 0.1 to 100.
    pub position_size_pct: f64,
    /// 1 to 100.
    pub max_positions: u32,
    pub allow_short: bool,
}

impl Default for ExecutionSettings {
    fn default() -> Self {
        Self {
            order_type: "market".to_owned(),
            time_in_force: "day".to_owned(),
            position_size_pct: 5.0,
            max_positions: 10,
            allow_short: false,
        }
    }
}

/// `data`: which bars the rules see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct DataSettings {
    /// One of Alpaca's: `1Min`-`59Min`, `1Hour`-`23Hour`, `1Day`, `1Week`,
    /// `1Month`, `2Month`, `3Month`, `4Month`, `6Month`, `12Month`.
    pub timeframe: String,
    /// 1 to 3650.
    pub lookback_days: u32,
    /// `iex` (default) or `sip`.
    pub feed: String,
}

impl Default for DataSettings {
    fn default() -> Self {
        Self {
            timeframe: "1Day".to_owned(),
            lookback_days: 100,
            feed: "iex".to_owned(),
        }
    }
}

/// `schedule`: when the scheduler computes signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    pub enabled: bool,
    /// 1 to 1440 minutes (used when `cron` is null).
    pub interval_minutes: u32,
    /// A 5-field cron expression in America/New_York time, or null.
    pub cron: Option<String>,
    pub market_hours_only: bool,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_minutes: 5,
            cron: None,
            market_hours_only: true,
        }
    }
}

/// `auto_trade`: whether and where the scheduler trades on the signals,
/// and the guardrails. Off and in dry run until the user says otherwise.
/// Changes that raise the risk (turning it on, dry run off, another
/// account, a higher limit, a larger position or more positions, shorts)
/// take a signed-in session, a confirmation within 10 minutes and 2FA on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct AutoTradeSettings {
    pub enabled: bool,
    /// The one trading account auto-trade uses (one of the user's; the
    /// active account does not matter). Required to turn it on.
    pub account_id: Option<i64>,
    /// Record decisions without sending orders (default true).
    pub dry_run: bool,
    /// No order opening or adding exposure above this many dollars
    /// (1 to 10,000,000).
    pub max_order_notional: f64,
    /// Orders auto-trade sends per New York day on the account (1 to 1,000).
    pub max_orders_per_day: u32,
    /// No new BUY (or short) once the account's day P&L is below minus
    /// this % of the last close's equity (0.1 to 100).
    pub max_daily_loss_pct: f64,
}

impl Default for AutoTradeSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            account_id: None,
            dry_run: true,
            max_order_notional: 1_000.0,
            max_orders_per_day: 10,
            max_daily_loss_pct: 3.0,
        }
    }
}

/// One rule's vote, why, and the values behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleVote {
    /// `rsi`, `sma_crossover`, `macd`, `bollinger_bands`.
    pub rule: String,
    /// `buy`, `sell` or `none`.
    pub vote: String,
    pub reason: String,
    /// Indicator values on the last bar (null while warming up).
    pub values: std::collections::BTreeMap<String, Option<f64>>,
}

/// The signal for one symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SymbolSignal {
    pub symbol: String,
    pub name: Option<String>,
    /// `buy`, `sell` or `hold`; null when the symbol failed (see `error`).
    pub action: Option<String>,
    /// 0-100: the larger of buy and sell votes over the enabled rules.
    pub strength_pct: Option<f64>,
    pub votes: Vec<RuleVote>,
    /// The last closed bar's close.
    pub price: Option<f64>,
    /// The last closed bar's start.
    pub bar_time: Option<DateTime<Utc>>,
    /// Closed bars the rules saw.
    pub bars: usize,
    /// Why this symbol has no signal (unknown symbol, too few bars).
    pub error: Option<String>,
}

/// `GET /api/signals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalList {
    pub watchlist_id: i64,
    pub timeframe: String,
    /// Bars per symbol the rules see (W).
    pub window: usize,
    pub signals: Vec<SymbolSignal>,
}

/// A bar of a chart (numbers, as Alpaca sends them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartBar {
    /// The bar's start.
    pub t: DateTime<Utc>,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
}

/// A signal on the chart: a bar whose rules said buy or sell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartMarker {
    pub t: DateTime<Utc>,
    /// `buy` or `sell`.
    pub action: String,
    pub strength_pct: f64,
    pub price: f64,
}

/// `GET /api/chart/{symbol}`: bars, the user's indicators aligned with them
/// (one value per bar, null during warm-up) and the signal markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChartData {
    pub symbol: String,
    pub timeframe: String,
    pub bars: Vec<ChartBar>,
    pub sma_short: Vec<Option<f64>>,
    pub sma_long: Vec<Option<f64>>,
    pub bb_upper: Vec<Option<f64>>,
    pub bb_middle: Vec<Option<f64>>,
    pub bb_lower: Vec<Option<f64>>,
    pub rsi: Vec<Option<f64>>,
    pub macd: Vec<Option<f64>>,
    pub macd_signal: Vec<Option<f64>>,
    pub macd_hist: Vec<Option<f64>>,
    pub markers: Vec<ChartMarker>,
}

/// A stored signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    pub id: i64,
    pub symbol: String,
    pub timeframe: String,
    pub bar_time: DateTime<Utc>,
    pub action: String,
    pub strength_pct: f64,
    pub price: Option<f64>,
    pub votes: Vec<RuleVote>,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/signals/history`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryPage {
    pub signals: Vec<HistoryEntry>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<i64>,
}

/// The last scheduler pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchedulerPass {
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub users: i32,
    pub symbols: i32,
    pub signals: i32,
    pub errors: i32,
}

/// One user's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSchedule {
    pub user_id: i64,
    pub last_run_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// `GET /api/scheduler-status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchedulerStatus {
    /// This server runs a scheduler (`serve` without `--no-scheduler`).
    pub enabled: bool,
    /// Some scheduler finished a pass within the last three ticks.
    pub running: bool,
    pub last_pass: Option<SchedulerPass>,
    /// The caller's own schedule.
    pub you: UserSchedule,
    /// Every user's schedule (admins only; null for others).
    pub users: Option<Vec<UserSchedule>>,
}
