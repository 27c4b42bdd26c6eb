//! Average directional index (TA-Lib `TA_ADX`, Wilder smoothing).

use super::{check_lengths, check_period, is_zero, true_range, value_if};
use crate::{IndicatorError, Series};

/// Number of leading bars without an ADX value: `2 * period - 1`.
#[must_use]
pub fn adx_lookback(period: usize) -> usize {
    (2 * period).saturating_sub(1)
}

/// Wilder's average directional index over `period` bars (`2..=100000`).
///
/// Ported from TA-Lib 0.8 step for step, quirks included:
/// - the +DM/-DM and true-range sums are seeded over `period - 1` bars (not
///   `period`), then Wilder-smoothed as `x - x * (1 / period) + today`;
/// - the first ADX (bar `2 * period - 1`) is the plain average of the first
///   `period` DX values; later ones are `adx - (adx - dx) * (1 / period)`;
/// - a bar whose smoothed true range is exactly 0, or whose +DI + -DI is
///   within TA-Lib's 1e-14 `TA_IS_ZERO` band, leaves the sums of DX/ADX as
///   they were.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `2..=100000`;
/// [`IndicatorError::LengthMismatch`] when the columns differ in length.
pub fn adx(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    adx_into(high, low, close, period, &mut out)?;
    Ok(out)
}

/// [`adx`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`adx`].
pub fn adx_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
    out: &mut Series,
) -> Result<(), IndicatorError> {
    check_period("period", period, 2)?;
    let n = check_lengths(&[("high", high), ("low", low), ("close", close)])?;
    let lookback = 2 * period - 1;
    let values = out.begin(n, lookback);
    let Some((first, rest)) = values.split_first_mut() else {
        return Ok(());
    };
    let inv_period = 1.0 / period as f64;
    let mut state = Directional {
        prev_high: high[0],
        prev_low: low[0],
        prev_close: close[0],
        minus_dm: 0.0,
        plus_dm: 0.0,
        tr: 0.0,
    };

    // Seed: plain sums over bars 1..period.
    for bar in 1..period {
        let (minus, plus) = state.directional_move(high[bar], low[bar]);
        state.minus_dm += minus;
        state.plus_dm += plus;
        state.tr += true_range(state.prev_high, state.prev_low, state.prev_close);
        state.prev_close = close[bar];
    }

    // The first ADX is the average of the next `period` DX values.
    let mut sum_dx = 0.0;
    for bar in period..=lookback {
        if let Some(dx) = state.step(high[bar], low[bar], close[bar], inv_period) {
            sum_dx += dx;
        }
    }
    let mut prev_adx = sum_dx / period as f64;
    *first = prev_adx;

    let bars = high[lookback + 1..]
        .iter()
        .zip(&low[lookback + 1..])
        .zip(&close[lookback + 1..]);
    for (value, ((&h, &l), &c)) in rest.iter_mut().zip(bars) {
        if let Some(dx) = state.step(h, l, c, inv_period) {
            prev_adx -= (prev_adx - dx) * inv_period;
        }
        *value = prev_adx;
    }
    Ok(())
}

/// Wilder's smoothed directional movement and true range.
struct Directional {
    prev_high: f64,
    prev_low: f64,
    prev_close: f64,
    minus_dm: f64,
    plus_dm: f64,
    tr: f64,
}

impl Directional {
    /// This bar's (-DM1, +DM1): the larger part of today's range outside
    /// yesterday's, or nothing when the two parts are equal; updates the
    /// previous high and low.
    #[inline]
    fn directional_move(&mut self, high: f64, low: f64) -> (f64, f64) {
        let diff_p = high - self.prev_high;
        self.prev_high = high;
        let diff_m = self.prev_low - low;
        self.prev_low = low;
        // TA-Lib's gating: the leg difference first, then the sign.
        let minus = value_if((diff_m - diff_p > 0.0) & (diff_m > 0.0), diff_m);
        let plus = value_if((diff_p - diff_m > 0.0) & (diff_p > 0.0), diff_p);
        (minus, plus)
    }

    /// One smoothed bar; the DX of that bar when it is defined.
    #[inline]
    fn step(&mut self, high: f64, low: f64, close: f64, inv_period: f64) -> Option<f64> {
        let (minus, plus) = self.directional_move(high, low);
        self.minus_dm -= self.minus_dm * inv_period;
        self.plus_dm -= self.plus_dm * inv_period;
        self.minus_dm += minus;
        self.plus_dm += plus;
        let tr = true_range(self.prev_high, self.prev_low, self.prev_close);
        self.tr = self.tr - self.tr * inv_period + tr;
        self.prev_close = close;
        if self.tr > 0.0 {
            let minus_di = 100.0 * (self.minus_dm / self.tr);
            let plus_di = 100.0 * (self.plus_dm / self.tr);
            let sum = minus_di + plus_di;
            if !is_zero(sum) {
                return Some(100.0 * ((minus_di - plus_di).abs() / sum));
            }
        }
        None
    }
}
