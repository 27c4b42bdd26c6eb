//! Simple moving average (TA-Lib `TA_SMA`).

use super::{check_period, sum_in_order};
use crate::{IndicatorError, Series};

/// Number of leading bars without an SMA value: `period - 1`.
#[must_use]
pub fn sma_lookback(period: usize) -> usize {
    period.saturating_sub(1)
}

/// Simple moving average of `input` over `period` bars (`1..=100000`).
///
/// TA-Lib keeps one running sum: it adds the newest value, emits
/// `sum / period`, then subtracts the oldest. The same order is kept here; a
/// fresh sum per window would differ in the last bits and, on a flat
/// stretch, in which side of a comparison a value falls.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `1..=100000`.
pub fn sma(input: &[f64], period: usize) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    sma_into(input, period, &mut out)?;
    Ok(out)
}

/// [`sma`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`sma`].
pub fn sma_into(input: &[f64], period: usize, out: &mut Series) -> Result<(), IndicatorError> {
    check_period("period", period, 1)?;
    let lookback = period - 1;
    let values = out.begin_push(input.len(), lookback);
    if input.len() <= lookback {
        return Ok(());
    }
    let divisor = period as f64;
    let mut total = sum_in_order(&input[..lookback]);
    // One `extend` over zipped slices: the length is known up front, so the
    // loop has no capacity check and writes each bar once.
    values.extend(
        input[lookback..]
            .iter()
            .zip(input)
            .map(|(&newest, &oldest)| {
                total += newest;
                let window_sum = total;
                total -= oldest;
                window_sum / divisor
            }),
    );
    Ok(())
}
