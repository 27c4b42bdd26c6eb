//! Slow stochastic oscillator (TA-Lib `TA_STOCH` with SMA smoothing).

use super::rolling::{RunningSma, rolling_extremes};
use super::{check_lengths, check_period, is_zero_scaled};
use crate::{IndicatorError, Series};

/// The two lines of [`stoch`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stoch {
    /// Slow %K: the fast %K smoothed over `slowk_period`.
    pub k: Series,
    /// Slow %D: slow %K smoothed over `slowd_period`.
    pub d: Series,
}

/// Number of leading bars without values:
/// `(fastk - 1) + (slowk - 1) + (slowd - 1)`.
#[must_use]
pub fn stoch_lookback(fastk_period: usize, slowk_period: usize, slowd_period: usize) -> usize {
    fastk_period.saturating_sub(1) + slowk_period.saturating_sub(1) + slowd_period.saturating_sub(1)
}

/// Slow stochastic: fast %K over `fastk_period` bars, smoothed by a simple
/// moving average over `slowk_period` (slow %K), itself smoothed over
/// `slowd_period` (slow %D). Periods `1..=100000`. The moving averages are
/// TA-Lib's default type, SMA.
///
/// Fast %K is `100 * (close - lowest low) / (highest high - lowest low)`;
/// TA-Lib 0.8 answers 0 when the range is within a 1e-14 relative dead band
/// of its extremes (a flat window). The highest high and lowest low come from
/// a van Herk / Gil-Werman block scan, and the two SMAs run as streams in
/// TA-Lib's running-sum order, so the whole indicator is one O(n) pass
/// without temporary arrays.
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside `1..=100000`;
/// [`IndicatorError::LengthMismatch`] when the columns differ in length.
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    fastk_period: usize,
    slowk_period: usize,
    slowd_period: usize,
) -> Result<Stoch, IndicatorError> {
    let mut out = Stoch::default();
    stoch_into(
        high,
        low,
        close,
        fastk_period,
        slowk_period,
        slowd_period,
        &mut out,
    )?;
    Ok(out)
}

/// [`stoch`] into `out`, reusing its allocations.
///
/// # Errors
/// As [`stoch`].
pub fn stoch_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    fastk_period: usize,
    slowk_period: usize,
    slowd_period: usize,
    out: &mut Stoch,
) -> Result<(), IndicatorError> {
    check_period("fastk_period", fastk_period, 1)?;
    check_period("slowk_period", slowk_period, 1)?;
    check_period("slowd_period", slowd_period, 1)?;
    let n = check_lengths(&[("high", high), ("low", low), ("close", close)])?;
    let lookback = stoch_lookback(fastk_period, slowk_period, slowd_period);
    let mut out_k = out.k.begin(n, lookback).iter_mut();
    let mut out_d = out.d.begin(n, lookback).iter_mut();
    if n <= lookback {
        return Ok(());
    }
    let mut slow_k = RunningSma::new(slowk_period);
    let mut slow_d = RunningSma::new(slowd_period);
    rolling_extremes(high, low, fastk_period, |bar, hh, ll| {
        let range = hh - ll;
        let fast_k = if is_zero_scaled(range, hh.abs() + ll.abs()) {
            0.0
        } else {
            (close[bar] - ll) / (range / 100.0)
        };
        if let Some(k) = slow_k.push(fast_k)
            && let Some(d) = slow_d.push(k)
            && let (Some(k_slot), Some(d_slot)) = (out_k.next(), out_d.next())
        {
            *k_slot = k;
            *d_slot = d;
        }
    });
    Ok(())
}
