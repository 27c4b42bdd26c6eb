//! The indicators, each a port of TA-Lib's C code (the 0.8 series).
//!
//! Every function takes slices, returns outputs as long as its input
//! ([`Series`](crate::Series)), and is empty exactly where TA-Lib's lookback is.
//! Each has an `*_into` twin that writes into an existing output and reuses
//! its allocation, for callers that compute the same indicator over many
//! symbols (the signal pass) or over very long series.
//! "TA-Lib exact" here means the same algorithm in the same arithmetic order,
//! not merely the same formula: running sums are kept the way TA-Lib keeps
//! them (add the new value, then remove the oldest), EMAs are seeded with the
//! SMA of their first `period` inputs, Wilder smoothing starts from a plain
//! average, and the guards TA-Lib puts around near-zero denominators are the
//! same guards. That is what keeps every value within 1e-9 (relative) of
//! TA-Lib's, including on flat stretches where a different summation order
//! turns rounding residue into a different answer.
//!
//! The exceptions are the first-order recurrences, EMA (and MACD's three
//! EMAs), and Wilder's smoothing in RSI and ATR: one bar at a time their
//! multiply and add are a chain of dependent operations that bounds their
//! speed (TA-Lib's own build runs them on FMA instructions, which Rust code
//! can only use when compiled for CPUs that have them). They advance a few
//! bars per step instead, with the recurrence expanded exactly over the
//! block (`Recurrence4`, `ema::EmaStep`), so their values differ from
//! TA-Lib's by rounding only, a few units in the last place that the
//! recurrence forgets as it forgets old bars. The EMA keeps its difference
//! form `prev + k (x - prev)` in the expansion, so it still settles exactly
//! on a flat stretch.
//!
//! TA-Lib's global settings are taken at their defaults: compatibility
//! "default" (not Metastock) and no unstable period. The lookbacks below are
//! therefore the ones `talib` reports out of the box.
//!
//! Periods are checked against the ranges TA-Lib accepts (mostly 2..=100000,
//! 1 where TA-Lib allows 1); user-facing configuration narrows that to 2..=500
//! in [`crate::signal`].
//!
//! All loops are single pass and O(n), except CCI's mean deviation, which
//! TA-Lib (and so this port) recomputes over the window at every bar.

mod adx;
mod atr;
mod bbands;
mod cci;
mod ema;
mod macd;
mod mfi;
mod obv;
mod roc;
mod rolling;
mod rsi;
mod sma;
mod stoch;
mod willr;
mod wma;

pub use adx::{adx, adx_into, adx_lookback};
pub use atr::{atr, atr_into, atr_lookback};
pub use bbands::{Bands, bbands, bbands_into, bbands_lookback};
pub use cci::{cci, cci_into, cci_lookback};
pub use ema::{ema, ema_into, ema_lookback};
pub use macd::{Macd, macd, macd_into, macd_lookback};
pub use mfi::{mfi, mfi_into, mfi_lookback};
pub use obv::{obv, obv_into};
pub use roc::{roc, roc_into, roc_lookback};
pub use rsi::{rsi, rsi_into, rsi_lookback};
pub use sma::{sma, sma_into, sma_lookback};
pub use stoch::{Stoch, stoch, stoch_into, stoch_lookback};
pub use willr::{willr, willr_into, willr_lookback};
pub use wma::{wma, wma_into, wma_lookback};

use crate::IndicatorError;

/// The largest period TA-Lib accepts for any parameter.
pub const MAX_PERIOD: usize = 100_000;

/// TA-Lib's `TA_EPSILON`: the dead band of `TA_IS_ZERO`.
const TA_EPSILON: f64 = 1e-14;

/// TA-Lib's `TA_IS_ZERO(v)`: `-1e-14 < v < 1e-14`.
#[inline]
fn is_zero(v: f64) -> bool {
    -TA_EPSILON < v && v < TA_EPSILON
}

/// TA-Lib's `TA_IS_ZERO_SCALED(v, scale)`: `|v| <= 1e-14 * scale`, a dead band
/// relative to the magnitude of the operands `v` is a difference of.
#[inline]
fn is_zero_scaled(v: f64, scale: f64) -> bool {
    v.abs() <= TA_EPSILON * scale
}

/// Checks one period parameter against `min..=MAX_PERIOD`.
fn check_period(name: &'static str, value: usize, min: usize) -> Result<(), IndicatorError> {
    if (min..=MAX_PERIOD).contains(&value) {
        Ok(())
    } else {
        Err(IndicatorError::PeriodOutOfRange {
            name,
            value,
            min,
            max: MAX_PERIOD,
        })
    }
}

/// Checks that every column has the length of the first, returning that length.
fn check_lengths(columns: &[(&'static str, &[f64])]) -> Result<usize, IndicatorError> {
    let expected = columns.first().map_or(0, |(_, c)| c.len());
    for (name, column) in columns {
        if column.len() != expected {
            return Err(IndicatorError::LengthMismatch {
                name,
                len: column.len(),
                expected,
            });
        }
    }
    Ok(expected)
}

/// TA-Lib's true range of a bar: the largest of high - low,
/// |previous close - high| and |previous close - low|.
///
/// Written with [`max2`] rather than TA-Lib's `if` chain: the same value for
/// any finite input, without the branches a random walk mispredicts.
#[inline]
fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    max2(
        max2(high - low, (prev_close - high).abs()),
        (prev_close - low).abs(),
    )
}

/// `if a > b { a } else { b }`: the larger value, as TA-Lib's comparisons
/// pick it (the second operand on a tie or a NaN). Compiles to one `maxsd`.
#[inline]
fn max2(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// `if a < b { a } else { b }`, the counterpart of [`max2`].
#[inline]
fn min2(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
}

/// `if condition { value } else { 0.0 }` without a branch.
///
/// TA-Lib 0.8 writes these selects so that C compilers emit conditional
/// moves: the direction of a price move is a coin flip, and a branch on it
/// mispredicts every other bar. LLVM may turn an `if` on floats back into a
/// branch, so the select is done on the bits: all ones or all zeros ANDed
/// with the value. The result is bit for bit the `if`'s.
#[inline]
fn value_if(condition: bool, value: f64) -> f64 {
    let mask = u64::from(condition).wrapping_neg();
    f64::from_bits(value.to_bits() & mask)
}

/// The first-order recurrence `y = a * y + b`, four bars at a time.
///
/// Wilder's smoothing (RSI, ATR) is this recurrence, and one bar at a time
/// its multiply and add form a chain of dependent operations that bounds the
/// indicator's speed (TA-Lib shortens it with an FMA instruction, which Rust
/// code can only use in a build for CPUs that have it). Expanded over four
/// bars,
///
/// ```text
/// y_j = a^j y + sum_{i <= j} a^(j - i) b_i,   j = 1..4
/// ```
///
/// the sums do not depend on `y`, so only one multiply and one add per four
/// bars stay on the chain. The values differ from four chained steps by
/// rounding only (a few units in the last place, which the recurrence does
/// not amplify: with `|a| < 1` it forgets old errors as it forgets old bars).
#[derive(Debug, Clone, Copy)]
struct Recurrence4 {
    /// `a, a^2, a^3, a^4`.
    powers: [f64; 4],
}

impl Recurrence4 {
    fn new(a: f64) -> Self {
        let a2 = a * a;
        Self {
            powers: [a, a2, a2 * a, a2 * a2],
        }
    }

    /// `y` after each of the four terms `b`.
    #[inline]
    fn four(&self, y: f64, b: [f64; 4]) -> [f64; 4] {
        let [a1, a2, a3, a4] = self.powers;
        [
            a1 * y + b[0],
            a2 * y + (a1 * b[0] + b[1]),
            a3 * y + ((a2 * b[0] + a1 * b[1]) + b[2]),
            a4 * y + ((a3 * b[0] + a2 * b[1]) + (a1 * b[2] + b[3])),
        ]
    }
}

/// Sum of `values` in order, starting from `0.0` as TA-Lib's seeding loops do
/// (`Iterator::sum` for floats starts from `-0.0`).
#[inline]
fn sum_in_order(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |acc, &x| acc + x)
}
