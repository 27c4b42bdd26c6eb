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
    let values = out.begin_push(input.len(), period - 1);
    if input.len() < period {
        return Ok(());
    }
    let step = EmaStep::new(2.0 / (period + 1) as f64);
    let mut prev = sum_in_order(&input[..period]) / period as f64;
    values.push(prev);
    let (blocks, tail) = input[period..].as_chunks::<4>();
    for block in blocks {
        let next = step.four(prev, block);
        values.extend_from_slice(&next);
        prev = next[3];
    }
    for &x in tail {
        prev = step.one(prev, x);
        values.push(prev);
    }
    Ok(())
}

/// The EMA step `prev = (x - prev) * k + prev`, one bar at a time or four.
///
/// One bar at a time, the step is a chain of three dependent operations
/// (subtract, multiply, add) per bar, and that chain, not the arithmetic,
/// is what bounds an EMA's speed; TA-Lib shortens it to two with an FMA
/// instruction, which Rust code can only use in a build for CPUs that have
/// it. [`EmaStep::four`] instead takes four bars from the same `prev`:
/// with `d_j = x_j - prev` (independent of each other), the exact
/// expansion of four steps is
///
/// ```text
/// ema_j = prev + sum_{i <= j} k (1 - k)^(j - i) d_i,   j = 1..4
/// ```
///
/// so the chain from one block's `prev` to the next is a subtract, a
/// multiply, two adds of a balanced sum and the final add: five operations
/// for four bars. The first bar is the one-step expression itself; the
/// others differ from four chained steps by rounding only (a few units in
/// the last place, which an EMA does not amplify: it forgets old errors as
/// it forgets old bars). Two properties of the one-step form are kept
/// exactly: the correction is computed from differences to `prev`, so bars
/// equal to `prev` (a flat stretch the EMA has settled on) leave it
/// unchanged to the bit; and it never loses digits to prices far from zero.
#[derive(Debug, Clone, Copy)]
pub(super) struct EmaStep {
    /// `k (1 - k)^r` for `r = 0..4`: the weight of a difference `r` bars old.
    weights: [f64; 4],
}

impl EmaStep {
    /// The step for smoothing factor `k`.
    pub(super) fn new(k: f64) -> Self {
        let keep = 1.0 - k;
        Self {
            weights: [k, k * keep, k * keep * keep, k * keep * keep * keep],
        }
    }

    /// One bar: `(x - prev) * k + prev`, TA-Lib's expression.
    #[inline]
    pub(super) fn one(&self, prev: f64, x: f64) -> f64 {
        (x - prev) * self.weights[0] + prev
    }

    /// Three bars from `prev`: the EMA after each of `x` (the same expansion
    /// as [`EmaStep::four`], one bar shorter).
    #[inline]
    pub(super) fn three(&self, prev: f64, x: &[f64; 3]) -> [f64; 3] {
        let [w0, w1, w2, _] = self.weights;
        let d = x.map(|x| x - prev);
        [
            d[0] * w0 + prev,
            (d[0] * w1 + d[1] * w0) + prev,
            ((d[0] * w2 + d[1] * w1) + d[2] * w0) + prev,
        ]
    }

    /// Four bars from `prev`: the EMA after each of `x`.
    #[inline]
    pub(super) fn four(&self, prev: f64, x: &[f64; 4]) -> [f64; 4] {
        let [w0, w1, w2, w3] = self.weights;
        let d = x.map(|x| x - prev);
        [
            d[0] * w0 + prev,
            (d[0] * w1 + d[1] * w0) + prev,
            ((d[0] * w2 + d[1] * w1) + d[2] * w0) + prev,
            ((d[0] * w3 + d[1] * w2) + (d[2] * w1 + d[3] * w0)) + prev,
        ]
    }
}
