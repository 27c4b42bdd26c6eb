//! Relative strength index (TA-Lib `TA_RSI`, Wilder smoothing).

use super::{Recurrence4, check_period, value_if};
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
    let values = out.begin_push(input.len(), period);
    if input.len() <= period {
        return Ok(());
    }
    let inv_period = 1.0 / period as f64;
    let mut gain = 0.0;
    let mut loss = 0.0;
    for pair in input[..=period].windows(2) {
        let (up, down) = split_change(pair[1] - pair[0]);
        gain += up;
        loss += down;
    }
    loss *= inv_period;
    gain *= inv_period;
    values.push(rsi_value(gain, loss));
    // Wilder's step `avg = (avg * (period - 1) + x) / period`, TA-Lib's
    // expression, is `avg = r * avg + x / period` with `r = (period - 1) /
    // period` up to rounding; that form can take four bars at a time (see
    // `Recurrence4`), which takes most of the step off the critical path.
    let smoothing = Recurrence4::new((period - 1) as f64 * inv_period);
    let mut last = input[period];
    let (blocks, tail) = input[period + 1..].as_chunks::<4>();
    for block in blocks {
        let mut ups = [0.0; 4];
        let mut downs = [0.0; 4];
        for ((&x, up), down) in block.iter().zip(&mut ups).zip(&mut downs) {
            let (u, d) = split_change(x - last);
            *up = u * inv_period;
            *down = d * inv_period;
            last = x;
        }
        let gains = smoothing.four(gain, ups);
        let losses = smoothing.four(loss, downs);
        values.extend_from_slice(&[
            rsi_value(gains[0], losses[0]),
            rsi_value(gains[1], losses[1]),
            rsi_value(gains[2], losses[2]),
            rsi_value(gains[3], losses[3]),
        ]);
        gain = gains[3];
        loss = losses[3];
    }
    let keep = (period - 1) as f64;
    for &x in tail {
        let (up, down) = split_change(x - last);
        last = x;
        loss = (loss * keep + down) * inv_period;
        gain = (gain * keep + up) * inv_period;
        values.push(rsi_value(gain, loss));
    }
    Ok(())
}

/// A price change split into (gain, loss), both >= 0, without a branch as
/// TA-Lib 0.8 does it. `up - change` is exactly the loss for any finite
/// change.
#[inline]
fn split_change(change: f64) -> (f64, f64) {
    let up = value_if(change > 0.0, change);
    (up, up - change)
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
