//! Exponential moving average (TA-Lib `TA_EMA`).

use super::{check_period, sum_in_order};
use crate::{IndicatorError, Series};

/// Number of leading bars without an EMA value: `period - 1`.
#[must_use]
pub fn ema_lookback(period: usize) -> usize {
    period.saturating_sub(1)
}

/// Exponential moving average of `input` over `period` bars (`1..=100000`),
/// with `k = 2 / (period + 1)`.
///
/// TA-Lib (in its default compatibility) seeds the EMA with the simple
/// average of the first `period` inputs, so the first value is at bar
/// `period - 1` and equals the SMA there; each later value is
/// `(x - prev) * k + prev`, in that order. That form, unlike
/// `prev * (1 - k) + x * k`, settles on a fixed value over a flat stretch,
/// which keeps the MACD rule from seeing crossovers in rounding noise.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `1..=100000`.
pub fn ema(input: &[f64], period: usize) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    ema_into(input, period, &mut out)?;
    Ok(out)
}

/// [`ema`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`ema`].
pub fn ema_into(input: &[f64], period: usize, out: &mut Series) -> Result<(), IndicatorError> {
    check_period("period", period, 1)?;
    let values = out.begin(input.len(), period - 1);
    let Some((first, rest)) = values.split_first_mut() else {
        return Ok(());
    };
    let k = 2.0 / (period + 1) as f64;
    let mut prev = sum_in_order(&input[..period]) / period as f64;
    *first = prev;
    for (value, &x) in rest.iter_mut().zip(&input[period..]) {
        prev = (x - prev) * k + prev;
        *value = prev;
    }
    Ok(())
}
