//! Average true range (TA-Lib `TA_ATR`, Wilder smoothing).

use super::{Recurrence4, check_lengths, check_period, true_range};
use crate::{IndicatorError, Series};

/// Number of leading bars without an ATR value: `period` (the first true
/// range needs a previous close).
#[must_use]
pub fn atr_lookback(period: usize) -> usize {
    period
}

/// Wilder's average true range over `period` bars (`1..=100000`).
///
/// The first value (bar `period`) is the plain average of the first `period`
/// true ranges (bars `1..=period`), summed in order; each later value is
/// TA-Lib 0.8's Wilder step `alpha * tr + beta * atr`, with
/// `beta = (period - 1) / period` and `alpha = 1 - beta` computed in that
/// order, as TA-Lib does (evaluated four bars at a time, see the code).
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `1..=100000`;
/// [`IndicatorError::LengthMismatch`] when the columns differ in length.
pub fn atr(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    atr_into(high, low, close, period, &mut out)?;
    Ok(out)
}

/// [`atr`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`atr`].
pub fn atr_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    period: usize,
    out: &mut Series,
) -> Result<(), IndicatorError> {
    check_period("period", period, 1)?;
    let n = check_lengths(&[("high", high), ("low", low), ("close", close)])?;
    let values = out.begin_push(n, period);
    if n <= period {
        return Ok(());
    }
    let beta = (period - 1) as f64 / period as f64;
    let alpha = 1.0 - beta;
    // True range of bar i (i >= 1) from bar i and the close before it.
    let mut total = 0.0;
    for i in 1..=period {
        total += true_range(high[i], low[i], close[i - 1]);
    }
    let mut prev = total / period as f64;
    values.push(prev);
    // Wilder's step is a loop-carried multiply-add; TA-Lib runs it on an FMA
    // instruction, which Rust code can only use in a build for CPUs that
    // have it. Four bars at a time (`Recurrence4`) leave one multiply and one
    // add on the chain per four bars; the true ranges, independent of each
    // other, are computed a block at a time. The first bar of each block is
    // TA-Lib's expression; the others differ from it by rounding only.
    let smoothing = Recurrence4::new(beta);
    let (highs, high_tail) = high[period + 1..].as_chunks::<4>();
    let (lows, low_tail) = low[period + 1..].as_chunks::<4>();
    let (closes, close_tail) = close[period..n - 1].as_chunks::<4>();
    for ((h, l), c) in highs.iter().zip(lows).zip(closes) {
        let terms = [
            alpha * true_range(h[0], l[0], c[0]),
            alpha * true_range(h[1], l[1], c[1]),
            alpha * true_range(h[2], l[2], c[2]),
            alpha * true_range(h[3], l[3], c[3]),
        ];
        let next = smoothing.four(prev, terms);
        values.extend_from_slice(&next);
        prev = next[3];
    }
    for ((&h, &l), &c) in high_tail.iter().zip(low_tail).zip(close_tail) {
        prev = alpha * true_range(h, l, c) + beta * prev;
        values.push(prev);
    }
    Ok(())
}
