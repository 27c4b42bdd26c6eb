//! Bollinger Bands (TA-Lib `TA_BBANDS` with its default SMA middle band).

use super::{check_period, sma_lookback};
use crate::series::push_reserved;
use crate::{IndicatorError, Series};

/// The three lines of [`bbands`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bands {
    /// Middle band plus `nbdev_up` standard deviations.
    pub upper: Series,
    /// Simple moving average.
    pub middle: Series,
    /// Middle band minus `nbdev_dn` standard deviations.
    pub lower: Series,
}

/// Number of leading bars without band values: `period - 1`.
#[must_use]
pub fn bbands_lookback(period: usize) -> usize {
    sma_lookback(period)
}

/// Bollinger Bands of `input` over `period` bars (`2..=100000`), the middle
/// band a simple moving average, the outer bands `nbdev_up` / `nbdev_dn`
/// population standard deviations (divided by `period`, not `period - 1`)
/// away from it.
///
/// The standard deviation is TA-Lib 0.8's cancellation-free one: running
/// sums of the inputs minus a shift (the window mean at the last reseed), so
/// that `E[x²] - E[x]²` does not lose its digits to prices far from zero.
/// TA-Lib reseeds the shift from a fresh pass over the window every
/// `32 * period` bars, or earlier when the variance has become small next to
/// the shifted squares or an outlier leaves the window, and clamps a variance
/// below `1e-12` of the mean shifted square to exactly 0. This is ported step
/// for step: it decides when the bands have exactly zero width (a flat
/// window), which the Bollinger rule relies on.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `2..=100000`;
/// [`IndicatorError::NotFinite`] for a NaN or infinite deviation factor.
pub fn bbands(
    input: &[f64],
    period: usize,
    nbdev_up: f64,
    nbdev_dn: f64,
) -> Result<Bands, IndicatorError> {
    let mut out = Bands::default();
    bbands_into(input, period, nbdev_up, nbdev_dn, &mut out)?;
    Ok(out)
}

/// [`bbands`] into `out`, reusing its allocations.
///
/// # Errors
/// As [`bbands`].
pub fn bbands_into(
    input: &[f64],
    period: usize,
    nbdev_up: f64,
    nbdev_dn: f64,
    out: &mut Bands,
) -> Result<(), IndicatorError> {
    check_period("period", period, 2)?;
    for (name, value) in [("nbdev_up", nbdev_up), ("nbdev_dn", nbdev_dn)] {
        if !value.is_finite() {
            return Err(IndicatorError::NotFinite { name, value });
        }
    }
    let n = input.len();
    let lookback = period - 1;
    let upper = out.upper.begin_push(n, lookback);
    let middle = out.middle.begin_push(n, lookback);
    let lower = out.lower.begin_push(n, lookback);
    if n <= lookback {
        return Ok(());
    }

    let inv_period = 1.0 / period as f64;
    let divisor = period as f64;
    let mut shift = input[0];
    let mut ma_total = 0.0;
    let mut var_total1 = 0.0;
    let mut var_total2 = 0.0;
    for &x in &input[..lookback] {
        ma_total += x;
        let d = x - shift;
        var_total1 += d;
        var_total2 += d * d;
    }
    let mut bars_since_reseed = 32 * period;

    for k in 0..n - lookback {
        let i = lookback + k;
        let x = input[i];
        ma_total += x;
        let d = x - shift;
        var_total1 += d;
        var_total2 += d * d;

        let mut mean1 = var_total1 * inv_period;
        let mut variance = var_total2 * inv_period - mean1 * mean1;
        let mid = ma_total / divisor;

        let trailing = input[k];
        ma_total -= trailing;
        let d = trailing - shift;
        var_total1 -= d;
        let d2 = d * d;
        var_total2 -= d2;

        bars_since_reseed -= 1;
        if variance < 0.000_001 * (var_total2 * inv_period)
            || d2 > 1_000_000.0 * var_total2
            || bars_since_reseed == 0
        {
            // Reseed: a fresh shift (the window mean) and fresh
            // sums over the window, then drop the trailing bar again.
            bars_since_reseed = 32 * period;
            let window = &input[k..=i];
            let mut sum = 0.0;
            for &w in window {
                sum += w;
            }
            shift = sum * inv_period;
            var_total1 = 0.0;
            var_total2 = 0.0;
            for &w in window {
                let d = w - shift;
                var_total1 += d;
                var_total2 += d * d;
            }
            mean1 = var_total1 * inv_period;
            variance = var_total2 * inv_period - mean1 * mean1;
            if variance < 0.000_000_000_001 * (var_total2 * inv_period) {
                variance = 0.0;
            }
            let d = trailing - shift;
            var_total1 -= d;
            var_total2 -= d * d;
        }

        // `!= 0.0` rather than `> 0.0`: a NaN variance stays NaN,
        // as in TA-Lib.
        let std_dev = if variance != 0.0 {
            variance.sqrt()
        } else {
            0.0
        };
        push_reserved(upper, mid + std_dev * nbdev_up);
        push_reserved(middle, mid);
        push_reserved(lower, mid - std_dev * nbdev_dn);
    }
    Ok(())
}
