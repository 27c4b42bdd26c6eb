//! Rolling building blocks shared by several indicators: the highest high and
//! lowest low of a sliding window, and TA-Lib's running-sum SMA as a
//! streaming step.

use super::{max2, min2};

/// Calls `emit(bar, highest high, lowest low)` for every window of `period`
/// bars (`period >= 1`), for `bar` from `period - 1` to the end, in order.
///
/// The van Herk / Gil-Werman block scan, as TA-Lib 0.8 uses for WILLR: the
/// bars are cut into blocks of `period`; a window ending in block `k` is the
/// tail of block `k - 1` (a suffix extreme, computed once per block by a
/// backward pass) joined to the head of block `k` (a running prefix extreme).
/// That is three comparisons per bar and per side whatever the data, with no
/// data-dependent branch, where rescanning the window when its extreme
/// expires costs O(period) per bar through a trend. Only the extreme values
/// matter (not which bar holds a tie), so the values are TA-Lib's.
pub(super) fn rolling_extremes(
    high: &[f64],
    low: &[f64],
    period: usize,
    mut emit: impl FnMut(usize, f64, f64),
) {
    let n = high.len().min(low.len());
    // Suffix extremes of the previous block; index `period` is the empty
    // suffix (a window that starts exactly at a block boundary).
    let mut suffix_high = vec![f64::NEG_INFINITY; period + 1];
    let mut suffix_low = vec![f64::INFINITY; period + 1];
    let mut block_start = 0;
    while block_start < n {
        let block_end = (block_start + period).min(n);
        let mut prefix_high = f64::NEG_INFINITY;
        let mut prefix_low = f64::INFINITY;
        let block = block_start..block_end;
        for (offset, (&h, &l)) in high[block.clone()].iter().zip(&low[block]).enumerate() {
            prefix_high = max2(prefix_high, h);
            prefix_low = min2(prefix_low, l);
            let bar = block_start + offset;
            if bar + 1 >= period {
                emit(
                    bar,
                    max2(suffix_high[offset + 1], prefix_high),
                    min2(suffix_low[offset + 1], prefix_low),
                );
            }
        }
        if block_end - block_start == period {
            let mut h = f64::NEG_INFINITY;
            let mut l = f64::INFINITY;
            for offset in (0..period).rev() {
                h = max2(h, high[block_start + offset]);
                l = min2(l, low[block_start + offset]);
                suffix_high[offset] = h;
                suffix_low[offset] = l;
            }
        }
        block_start = block_end;
    }
}

/// TA-Lib's SMA as a streaming step: add the newest value to the running
/// total, emit `total / period`, subtract the oldest, in that order (the
/// order `TA_SMA` uses over an array, so smoothing a stream gives the same
/// bits as smoothing the array).
pub(super) struct RunningSma {
    ring: Vec<f64>,
    slot: usize,
    seen: usize,
    total: f64,
    divisor: f64,
}

impl RunningSma {
    /// A running SMA over `period` values (`period >= 1`).
    pub(super) fn new(period: usize) -> Self {
        Self {
            ring: vec![0.0; period],
            slot: 0,
            seen: 0,
            total: 0.0,
            divisor: period as f64,
        }
    }

    /// Feeds one value; the average once `period` values have been seen.
    #[inline]
    pub(super) fn push(&mut self, value: f64) -> Option<f64> {
        let period = self.ring.len();
        self.ring[self.slot] = value;
        self.slot += 1;
        if self.slot == period {
            self.slot = 0;
        }
        self.total += value;
        if self.seen + 1 < period {
            self.seen += 1;
            return None;
        }
        let window_sum = self.total;
        // The slot after the newest holds the oldest value of the window.
        self.total -= self.ring[self.slot];
        Some(window_sum / self.divisor)
    }
}
