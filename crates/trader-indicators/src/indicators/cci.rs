//! Commodity channel index (TA-Lib `TA_CCI`).

use super::{check_lengths, check_period, is_zero_scaled};
use crate::{IndicatorError, Series};

/// Number of leading bars without a CCI value: `period - 1`.
#[must_use]
pub fn cci_lookback(period: usize) -> usize {
    period.saturating_sub(1)
}

/// Commodity channel index over `period` bars (`2..=100000`):
/// `(tp - mean(tp)) / (0.015 * mean |tp - mean(tp)|)` with the typical price
/// `tp = (high + low + close) / 3`.
///
/// The mean deviation has to be recomputed over the window at every bar (the
/// mean moves), so this is O(n * period), as in TA-Lib. TA-Lib keeps the
/// typical prices in a circular buffer and sums it in buffer order, not in
/// time order; the same order is kept so that a flat window averages to the
/// same bits. A window whose distance to the mean or mean deviation is within
/// 1e-14 of the mean price level counts as flat and answers 0 (TA-Lib 0.8).
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `2..=100000`;
/// [`IndicatorError::LengthMismatch`] when the columns differ in length.
pub fn cci(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    cci_into(high, low, close, period, &mut out)?;
    Ok(out)
}

/// [`cci`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`cci`].
pub fn cci_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
    out: &mut Series,
) -> Result<(), IndicatorError> {
    check_period("period", period, 2)?;
    let n = check_lengths(&[("high", high), ("low", low), ("close", close)])?;
    let lookback = period - 1;
    let values = out.begin(n, lookback);
    if values.is_empty() {
        return Ok(());
    }
    let mut typical = high
        .iter()
        .zip(low)
        .zip(close)
        .map(|((&h, &l), &c)| (h + l + c) / 3.0);
    let divisor = period as f64;
    let mut ring = vec![0.0; period];
    for (slot, tp) in ring.iter_mut().zip(typical.by_ref().take(lookback)) {
        *slot = tp;
    }
    let mut slot = lookback;
    for (value, last) in values.iter_mut().zip(typical) {
        ring[slot] = last;
        let mut average = 0.0;
        for &v in &ring {
            average += v;
        }
        average /= divisor;
        let mut deviation = 0.0;
        for &v in &ring {
            deviation += (v - average).abs();
        }
        deviation /= divisor;
        let distance = last - average;
        // "Is this window flat?" relative to its own price level (TA-Lib
        // issue #253): a fixed band would zero every window of a cheap
        // instrument, an exact test would divide rounding residue.
        let level = average.abs();
        *value = if !is_zero_scaled(distance, level) && !is_zero_scaled(deviation, level) {
            distance / (0.015 * deviation)
        } else {
            0.0
        };
        slot += 1;
        if slot == period {
            slot = 0;
        }
    }
    Ok(())
}
