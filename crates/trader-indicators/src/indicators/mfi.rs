//! Money flow index (TA-Lib `TA_MFI`).

use super::{check_lengths, check_period, is_zero_scaled, value_if};
use crate::{IndicatorError, Series};

/// Number of leading bars without an MFI value: `period`.
#[must_use]
pub fn mfi_lookback(period: usize) -> usize {
    period
}

/// Money flow index over `period` bars (`2..=100000`), between 0 and 100.
///
/// Each bar's money flow is `tp * volume` (typical price
/// `(high + low + close) / 3`), counted as positive or negative by the
/// direction of the typical price; the index is
/// `100 * positive / (positive + negative)` over the window.
///
/// TA-Lib 0.8's details, kept here: a move within a 1e-14 relative dead band
/// of the two typical prices counts as no move; the two sums are running sums
/// that are reset to exactly zero once a whole window has carried no money
/// flow (otherwise they would hold rounding residue); an empty window answers
/// 0; the ratio is clamped into 0..=100.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `2..=100000`;
/// [`IndicatorError::LengthMismatch`] when the columns differ in length.
pub fn mfi(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    period: usize,
) -> Result<Series, IndicatorError> {
    let mut out = Series::new();
    mfi_into(high, low, close, volume, period, &mut out)?;
    Ok(out)
}

/// [`mfi`] into `out`, reusing its allocation.
///
/// # Errors
/// As [`mfi`].
pub fn mfi_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    period: usize,
    out: &mut Series,
) -> Result<(), IndicatorError> {
    check_period("period", period, 2)?;
    let n = check_lengths(&[
        ("high", high),
        ("low", low),
        ("close", close),
        ("volume", volume),
    ])?;
    let values = out.begin(n, period);
    let Some((first, rest)) = values.split_first_mut() else {
        return Ok(());
    };
    // (typical price, volume) of each bar.
    let mut bars = high
        .iter()
        .zip(low)
        .zip(close)
        .zip(volume)
        .map(|(((&h, &l), &c), &v)| ((h + l + c) / 3.0, v));
    let first_typical = bars.next().map_or(0.0, |(tp, _)| tp);
    let mut flows = MoneyFlows {
        positive: vec![0.0; period],
        negative: vec![0.0; period],
        slot: 0,
        pos_sum: 0.0,
        neg_sum: 0.0,
        null_run: 0,
        prev_typical: first_typical,
    };
    for (typical, volume) in bars.by_ref().take(period) {
        flows.add(typical, volume);
    }
    *first = flows.index();
    for (value, (typical, volume)) in rest.iter_mut().zip(bars) {
        flows.pos_sum -= flows.positive[flows.slot];
        flows.neg_sum -= flows.negative[flows.slot];
        flows.add(typical, volume);
        *value = flows.index();
    }
    Ok(())
}

/// The ring of per-bar money flows and its running sums.
struct MoneyFlows {
    positive: Vec<f64>,
    negative: Vec<f64>,
    slot: usize,
    pos_sum: f64,
    neg_sum: f64,
    /// Consecutive bars that put nothing into the window.
    null_run: usize,
    prev_typical: f64,
}

impl MoneyFlows {
    /// Adds one bar at the current slot and advances the ring.
    #[inline]
    fn add(&mut self, typical: f64, volume: f64) {
        let change = typical - self.prev_typical;
        let scale = typical.abs() + self.prev_typical.abs();
        self.prev_typical = typical;
        let flow = typical * volume;
        let money_flow = value_if(!is_zero_scaled(change, scale), flow);
        let falling = change < 0.0;
        let pos = value_if(!falling, money_flow);
        let neg = value_if(falling, money_flow);
        self.positive[self.slot] = pos;
        self.negative[self.slot] = neg;
        self.pos_sum += pos;
        self.neg_sum += neg;
        let period = self.positive.len();
        self.null_run = if money_flow == 0.0 {
            self.null_run + 1
        } else {
            0
        };
        if self.null_run >= period {
            self.null_run = period;
            self.pos_sum = 0.0;
            self.neg_sum = 0.0;
        }
        self.slot += 1;
        if self.slot == period {
            self.slot = 0;
        }
    }

    /// The index for the current window.
    #[inline]
    fn index(&self) -> f64 {
        let total = self.pos_sum + self.neg_sum;
        let pos = if self.pos_sum < 0.0 {
            0.0
        } else if self.pos_sum > total {
            total
        } else {
            self.pos_sum
        };
        if total <= 0.0 {
            0.0
        } else {
            100.0 * (pos / total)
        }
    }
}
