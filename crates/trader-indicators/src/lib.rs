//! Technical indicators that match TA-Lib, and the signal rules of the
//! Python version of alpaca-trader.
//!
//! A pure library: slices in, values out; no I/O, no async, no global state.
//!
//! - [`indicators`]: SMA, EMA, WMA, RSI, MACD, Bollinger Bands, ATR, slow
//!   Stochastic, ADX, CCI, MFI, Williams %R, ROC and OBV, ported from TA-Lib's
//!   C code so that their values agree with TA-Lib's to 1e-9 (relative) and
//!   start at the same bar. Each returns [`Series`] as long as its input.
//! - [`signal`]: the Python version's four rules (RSI thresholds, SMA
//!   crossover, MACD crossover, Bollinger touch), its three aggregation modes
//!   and its settings (`indicators` and `signal` groups of `settings.yaml`),
//!   with validation; [`bars_needed`] tells the data fetcher how much history
//!   a configuration needs.
//! - [`parse_indicator_spec`], [`indicators_csv`], [`signals_csv`]: the
//!   `alpaca-trader indicators` and `alpaca-trader signals` commands as
//!   functions over strings.
//!
//! ```
//! use trader_indicators::indicators::{rsi, sma};
//!
//! let close = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42];
//! let sma3 = sma(&close, 3)?;
//! assert_eq!(sma3.get(1), None); // lookback
//! assert!((sma3.get(2).unwrap_or_default() - 44.193_333_333_333_33).abs() < 1e-12);
//! assert_eq!(rsi(&close, 14)?.first_valid(), None); // too short: all lookback
//! # Ok::<(), trader_indicators::IndicatorError>(())
//! ```

#![warn(missing_docs)]

mod bars;
mod csv;
mod error;
pub mod indicators;
mod series;
pub mod signal;
mod spec;

pub use bars::{Bars, Ohlcv};
pub use csv::{CsvError, indicators_csv, parse_bars_csv};
#[cfg(feature = "yaml")]
pub use csv::{SignalsCsvError, signals_csv};
pub use error::IndicatorError;
pub use series::Series;
pub use signal::{
    Action, ConfigError, Signal, SignalConfig, SignalEngine, SignalMode, ValidationErrors, Vote,
    bars_needed,
};
pub use spec::{IndicatorSpec, SpecError, parse_indicator_spec};
