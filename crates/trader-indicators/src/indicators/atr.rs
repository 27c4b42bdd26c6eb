//! Average true range (TA-Lib `TA_ATR`, Wilder smoothing).

use super::{check_lengths, check_period, true_range};
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
/// order, as TA-Lib does (evaluated two bars at a time, see the code).
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
    let values = out.begin(n, period);
    let Some((first, rest)) = values.split_first_mut() else {
        return Ok(());
    };
    let beta = (period - 1) as f64 / period as f64;
    let alpha = 1.0 - beta;
    // True range of bar i (i >= 1) from bar i and the close before it.
    let mut ranges = high[1..]
        .iter()
        .zip(&low[1..])
        .zip(close)
        .map(|((&h, &l), &prev_close)| true_range(h, l, prev_close));
    let mut total = 0.0;
    for tr in ranges.by_ref().take(period) {
        total += tr;
    }
    let mut prev = total / period as f64;
    *first = prev;
    // Wilder's step is a loop-carried multiply-add; TA-Lib runs it on an FMA
    // instruction, which Rust cannot select at run time without unsafe
    // code. Taking two bars per step instead,
    //   atr[t+1] = beta^2 * atr[t-1] + (beta * alpha * tr[t] + alpha * tr[t+1]),
    // leaves one multiply and one add on the chain per two bars. Bar t itself
    // is TA-Lib's expression; bar t+1 differs from it by rounding only (a few
    // units in the last place, which the recursion does not amplify: it
    // forgets old errors as it forgets old bars).
    let beta2 = beta * beta;
    let mut pairs = rest.chunks_exact_mut(2);
    for pair in pairs.by_ref() {
        let (Some(tr0), Some(tr1)) = (ranges.next(), ranges.next()) else {
            break;
        };
        let a0 = alpha * tr0;
        let a1 = alpha * tr1;
        let next = a0 + beta * prev;
        prev = beta2 * prev + (beta * a0 + a1);
        pair[0] = next;
        pair[1] = prev;
    }
    for (value, tr) in pairs.into_remainder().iter_mut().zip(ranges) {
        prev = alpha * tr + beta * prev;
        *value = prev;
    }
    Ok(())
}
