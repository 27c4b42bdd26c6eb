//! Weighted moving average (TA-Lib `TA_WMA`).

use super::check_period;
use crate::{IndicatorError, Series};

/// Number of leading bars without a WMA value: `period - 1`.
#[must_use]
pub fn wma_lookback(period: usize) -> usize {
    period.saturating_sub(1)
}

/// Linearly weighted moving average of `input` over `period` bars
/// (`1..=100000`): the newest bar weighs `period`, the oldest 1.
///
/// TA-Lib keeps it O(1) per bar with two running sums: the weighted sum and
/// the plain sum of the window, from which it subtracts the plain sum to age
/// every weight by one. That arithmetic is kept as is.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `1..=100000`.
pub fn wma(input: &[f64], period: usize) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    wma_into(input, period, &mut out)?;
    Ok(out)
}

/// [`wma`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`wma`].
pub fn wma_into(input: &[f64], period: usize, out: &mut Series) -> Result<(), IndicatorError> {
    check_period("period", period, 1)?;
    let lookback = period - 1;
    let values = out.begin(input.len(), lookback);
    if values.is_empty() {
        return Ok(());
    }
    if period == 1 {
        values.copy_from_slice(input);
        return Ok(());
    }
    // period * (period + 1) / 2 is exact in f64 for any period TA-Lib accepts.
    let divider = (period * (period + 1) / 2) as f64;
    let weight = period as f64;
    let mut period_sum = 0.0;
    let mut period_sub = 0.0;
    for (i, &x) in input[..lookback].iter().enumerate() {
        period_sub += x;
        period_sum += x * (i + 1) as f64;
    }
    let mut trailing_value = 0.0;
    for ((value, &x), &trailing) in values.iter_mut().zip(&input[lookback..]).zip(input) {
        period_sub += x;
        period_sub -= trailing_value;
        period_sum += x * weight;
        trailing_value = trailing;
        *value = period_sum / divider;
        period_sum -= period_sub;
    }
    Ok(())
}
