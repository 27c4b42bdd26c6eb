//! Relative strength index (TA-Lib `TA_RSI`, Wilder smoothing).

use super::{check_period, value_if};
use crate::{IndicatorError, Series};

/// Number of leading bars without an RSI value: `period` (one bar is used up
/// by the first price change).
#[must_use]
pub fn rsi_lookback(period: usize) -> usize {
    period
}

/// Wilder's relative strength index of `input` over `period` bars
/// (`2..=100000`), between 0 and 100.
///
/// The average gain and loss start as plain averages of the first `period`
/// changes (TA-Lib's seed); each later bar applies Wilder's smoothing
/// `avg = (avg * (period - 1) + change) / period`, with gains and losses
/// split without a branch as TA-Lib 0.8 does. When there has been neither a
/// gain nor a loss (a flat series) TA-Lib 0.8.1 answers 0, and so does this.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `2..=100000`.
pub fn rsi(input: &[f64], period: usize) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    rsi_into(input, period, &mut out)?;
    Ok(out)
}

/// [`rsi`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`rsi`].
pub fn rsi_into(input: &[f64], period: usize, out: &mut Series) -> Result<(), IndicatorError> {
    check_period("period", period, 2)?;
    let values = out.begin(input.len(), period);
    let Some((first, rest)) = values.split_first_mut() else {
        return Ok(());
    };
    let inv_period = 1.0 / period as f64;
    let keep = (period - 1) as f64;
    let mut gain = 0.0;
    let mut loss = 0.0;
    for pair in input[..=period].windows(2) {
        let change = pair[1] - pair[0];
        let up = value_if(change > 0.0, change);
        gain += up;
        // `up - change` is exactly the loss for any finite change.
        loss += up - change;
    }
    loss *= inv_period;
    gain *= inv_period;
    *first = rsi_value(gain, loss);
    for (value, pair) in rest.iter_mut().zip(input[period..].windows(2)) {
        let change = pair[1] - pair[0];
        let up = value_if(change > 0.0, change);
        loss = (loss * keep + (up - change)) * inv_period;
        gain = (gain * keep + up) * inv_period;
        *value = rsi_value(gain, loss);
    }
    Ok(())
}

/// `100 * gain / (gain + loss)`, or 0 when both are zero (TA-Lib 0.8.1; later
/// TA-Lib sources answer 50 there).
#[inline]
fn rsi_value(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if total > 0.0 {
        100.0 * (gain / total)
    } else {
        0.0
    }
}
