//! Rate of change (TA-Lib `TA_ROC`).

use super::check_period;
use crate::{IndicatorError, Series};

/// Number of leading bars without a ROC value: `period`.
#[must_use]
pub fn roc_lookback(period: usize) -> usize {
    period
}

/// Rate of change in percent, `(price / price[period bars ago] - 1) * 100`,
/// for `period` in `1..=100000`. A zero past price gives 0, as in TA-Lib.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `1..=100000`.
pub fn roc(input: &[f64], period: usize) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    roc_into(input, period, &mut out)?;
    Ok(out)
}

/// [`roc`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`roc`].
pub fn roc_into(input: &[f64], period: usize, out: &mut Series) -> Result<(), IndicatorError> {
    check_period("period", period, 1)?;
    let values = out.begin(input.len(), period);
    for ((value, &x), &past) in values.iter_mut().zip(input.iter().skip(period)).zip(input) {
        *value = if past != 0.0 {
            (x / past - 1.0) * 100.0
        } else {
            0.0
        };
    }
    Ok(())
}
