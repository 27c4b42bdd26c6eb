//! Williams' %R (TA-Lib `TA_WILLR`).

use super::rolling::rolling_extremes;
use super::{check_lengths, check_period};
use crate::{IndicatorError, Series};

/// Number of leading bars without a value: `period - 1`.
#[must_use]
pub fn willr_lookback(period: usize) -> usize {
    period.saturating_sub(1)
}

/// Williams' %R over `period` bars (`2..=100000`), between -100 and 0:
/// `(highest high - close) / ((highest high - lowest low) / -100)`, and 0 for
/// a window whose range is exactly zero (TA-Lib's guard).
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `2..=100000`;
/// [`IndicatorError::LengthMismatch`] when the columns differ in length.
pub fn willr(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    willr_into(high, low, close, period, &mut out)?;
    Ok(out)
}

/// [`willr`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`willr`].
pub fn willr_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
    out: &mut Series,
) -> Result<(), IndicatorError> {
    check_period("period", period, 2)?;
    let n = check_lengths(&[("high", high), ("low", low), ("close", close)])?;
    let mut values = out.begin(n, period - 1).iter_mut();
    rolling_extremes(high, low, period, |bar, hh, ll| {
        let diff = (hh - ll) / -100.0;
        if let Some(value) = values.next() {
            *value = if diff != 0.0 {
                (hh - close[bar]) / diff
            } else {
                0.0
            };
        }
    });
    Ok(())
}
