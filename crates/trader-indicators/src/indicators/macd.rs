//! Moving average convergence/divergence (TA-Lib `TA_MACD`).

use super::ema::EmaStep;
use super::{check_period, ema_lookback};
use crate::{IndicatorError, Series};

/// The three lines of [`macd`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Macd {
    /// Fast EMA minus slow EMA.
    pub macd: Series,
    /// EMA of the MACD line over the signal period.
    pub signal: Series,
    /// MACD line minus signal line.
    pub hist: Series,
}

/// Number of leading bars without MACD values:
/// `(max(fast, slow) - 1) + (signal - 1)`.
#[must_use]
pub fn macd_lookback(fast_period: usize, slow_period: usize, signal_period: usize) -> usize {
    ema_lookback(fast_period.max(slow_period)) + ema_lookback(signal_period)
}

/// MACD of `input`: fast and slow periods `2..=100000`, signal period
/// `1..=100000`.
///
/// TA-Lib's choices, kept here:
/// - if the slow period is shorter than the fast one, the two are swapped;
/// - both EMAs use `k = 2 / (period + 1)` and are seeded with a simple average
///   whose window ENDS on the same bar (`slow - 1`): the fast EMA does not
///   start earlier than the slow one, so the first MACD value is
///   `SMA(fast) - SMA(slow)` at bar `slow - 1`;
/// - the signal line is an EMA of the MACD line seeded with the average of
///   its first `signal` values; all three lines start at the same bar;
/// - everything advances in one lockstep pass, `(x - prev) * k + prev`
///   (a few bars at a time, as [`ema`](super::ema) does).
///
/// # Errors
/// [`IndicatorError::PeriodOutOfRange`] for a period outside its range.
pub fn macd(
    input: &[f64],
    fast_period: usize,
    slow_period: usize,
    signal_period: usize,
) -> Result<Macd, IndicatorError> {
    let mut out = Macd::default();
    macd_into(input, fast_period, slow_period, signal_period, &mut out)?;
    Ok(out)
}

/// [`macd`] into `out`, reusing its allocations.
///
/// # Errors
/// As [`macd`].
pub fn macd_into(
    input: &[f64],
    fast_period: usize,
    slow_period: usize,
    signal_period: usize,
    out: &mut Macd,
) -> Result<(), IndicatorError> {
    check_period("fast_period", fast_period, 2)?;
    check_period("slow_period", slow_period, 2)?;
    check_period("signal_period", signal_period, 1)?;
    let (fast, slow) = if slow_period < fast_period {
        (slow_period, fast_period)
    } else {
        (fast_period, slow_period)
    };
    let n = input.len();
    let lookback = macd_lookback(fast, slow, signal_period);
    let out_macd = out.macd.begin_push(n, lookback);
    let out_signal = out.signal.begin_push(n, lookback);
    let out_hist = out.hist.begin_push(n, lookback);
    if n <= lookback {
        return Ok(());
    }
    let fast_step = EmaStep::new(2.0 / (fast + 1) as f64);
    let slow_step = EmaStep::new(2.0 / (slow + 1) as f64);
    let signal_step = EmaStep::new(2.0 / (signal_period + 1) as f64);

    // Seed both EMAs: the slow window is bars 0..slow, the fast window is its
    // tail; one pass accumulates both sums in input order.
    let mut slow_total = 0.0;
    for &x in &input[..slow - fast] {
        slow_total += x;
    }
    let mut fast_ema = 0.0;
    for &x in &input[slow - fast..slow] {
        fast_ema += x;
        slow_total += x;
    }
    let mut slow_ema = slow_total / slow as f64;
    fast_ema /= fast as f64;

    // Seed the signal line with the average of the first `signal` MACD values,
    // produced in lockstep with the two EMAs.
    let mut macd_value = fast_ema - slow_ema;
    let mut signal_ema = 0.0 + macd_value;
    for &x in &input[slow..=lookback] {
        fast_ema = fast_step.one(fast_ema, x);
        slow_ema = slow_step.one(slow_ema, x);
        macd_value = fast_ema - slow_ema;
        signal_ema += macd_value;
    }
    signal_ema /= signal_period as f64;
    out_macd.push(macd_value);
    out_signal.push(signal_ema);
    out_hist.push(macd_value - signal_ema);

    // Three bars at a time (the expansion of `EmaStep::four`, one bar
    // shorter): with three EMAs in flight, blocks of three measured about 10%
    // faster than blocks of four, whose longer sums cost more than their
    // shorter chain saves. The EMAs are independent chains but for the
    // signal line's input, so they overlap.
    let (blocks, tail) = input[lookback + 1..].as_chunks::<3>();
    for block in blocks {
        let fast3 = fast_step.three(fast_ema, block);
        let slow3 = slow_step.three(slow_ema, block);
        let macd3 = [
            fast3[0] - slow3[0],
            fast3[1] - slow3[1],
            fast3[2] - slow3[2],
        ];
        let signal3 = signal_step.three(signal_ema, &macd3);
        out_macd.extend_from_slice(&macd3);
        out_signal.extend_from_slice(&signal3);
        out_hist.extend_from_slice(&[
            macd3[0] - signal3[0],
            macd3[1] - signal3[1],
            macd3[2] - signal3[2],
        ]);
        fast_ema = fast3[2];
        slow_ema = slow3[2];
        signal_ema = signal3[2];
    }
    for &x in tail {
        fast_ema = fast_step.one(fast_ema, x);
        slow_ema = slow_step.one(slow_ema, x);
        macd_value = fast_ema - slow_ema;
        signal_ema = signal_step.one(signal_ema, macd_value);
        out_macd.push(macd_value);
        out_signal.push(signal_ema);
        out_hist.push(macd_value - signal_ema);
    }
    Ok(())
}
