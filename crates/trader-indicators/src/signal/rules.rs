//! The signal rules: the [`Rule`] trait and the Python version's four rules.
//!
//! A rule looks at a bar series and votes on its last bar. Each rule owns its
//! parameters and computes its own indicators, so a new rule is a new type
//! implementing [`Rule`] (and, when it has settings, one more entry where
//! [`SignalEngine::from_config`](super::SignalEngine::from_config) builds the
//! list); no existing rule changes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::Bars;
use crate::indicators::{bbands, macd, rsi, sma};

/// A rule's vote on one bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vote {
    /// The rule says buy.
    Buy,
    /// The rule says sell.
    Sell,
    /// No vote: nothing triggered, or the indicators are still warming up.
    None,
}

/// A named indicator value behind a vote, e.g. `rsi = 27.4`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorValue {
    /// Name of the value, e.g. `rsi`, `sma_short`, `bb_upper`.
    pub name: Cow<'static, str>,
    /// The value; `None` during the warm-up.
    pub value: Option<f64>,
}

impl IndicatorValue {
    fn new(name: &'static str, value: Option<f64>) -> Self {
        Self {
            name: Cow::Borrowed(name),
            value,
        }
    }
}

/// What a rule answered for the last bar: its vote and the values it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The vote.
    pub vote: Vote,
    /// The indicator values the vote was taken on.
    pub values: Vec<IndicatorValue>,
}

/// A signal rule: votes buy, sell or nothing on the last bar of a series.
pub trait Rule: std::fmt::Debug + Send + Sync {
    /// Stable identifier, the rule's key in the settings (`rsi`,
    /// `sma_crossover`, `macd`, `bollinger_bands`).
    fn id(&self) -> &'static str;

    /// Votes on the last bar of `bars`. Votes [`Vote::None`] while the bars
    /// are too few for the indicators to have values.
    fn evaluate(&self, bars: &Bars<'_>) -> RuleOutcome;

    /// Bars this rule needs for its indicators to settle: at least three
    /// times its longest period (see [`crate::signal::bars_needed`]).
    fn bars_needed(&self) -> usize;
}

/// Value at `index` of a series, `None` when out of range or in the lookback.
fn at(series: &crate::Series, index: Option<usize>) -> Option<f64> {
    index.and_then(|i| series.get(i))
}

/// `Some((last, previous))` bar indices when there are at least two bars.
fn last_two(len: usize) -> (Option<usize>, Option<usize>) {
    (len.checked_sub(1), len.checked_sub(2))
}

/// Crossover vote of `fast` over `slow` between the previous and last bar:
/// buy when fast > slow now and fast <= slow before; sell on the opposite.
fn crossover(now: Option<(f64, f64)>, before: Option<(f64, f64)>) -> Vote {
    match (now, before) {
        (Some((fast, slow)), Some((fast_prev, slow_prev))) => {
            if fast > slow && fast_prev <= slow_prev {
                Vote::Buy
            } else if fast < slow && fast_prev >= slow_prev {
                Vote::Sell
            } else {
                Vote::None
            }
        }
        _ => Vote::None,
    }
}

/// RSI thresholds: buy when RSI < oversold, sell when RSI > overbought.
#[derive(Debug, Clone, PartialEq)]
pub struct RsiRule {
    /// RSI period.
    pub period: usize,
    /// Buy below this level.
    pub oversold: f64,
    /// Sell above this level.
    pub overbought: f64,
}

impl Rule for RsiRule {
    fn id(&self) -> &'static str {
        "rsi"
    }

    fn evaluate(&self, bars: &Bars<'_>) -> RuleOutcome {
        let value = rsi(bars.close(), self.period)
            .ok()
            .and_then(|series| series.last());
        let vote = match value {
            Some(v) if v < self.oversold => Vote::Buy,
            Some(v) if v > self.overbought => Vote::Sell,
            _ => Vote::None,
        };
        RuleOutcome {
            vote,
            values: vec![IndicatorValue::new("rsi", value)],
        }
    }

    fn bars_needed(&self) -> usize {
        (3 * self.period).max(self.period + 1)
    }
}

/// SMA crossover: buy when the short SMA crosses above the long SMA on the
/// last bar, sell when it crosses below.
#[derive(Debug, Clone, PartialEq)]
pub struct SmaCrossoverRule {
    /// Short SMA period.
    pub short_period: usize,
    /// Long SMA period.
    pub long_period: usize,
}

impl Rule for SmaCrossoverRule {
    fn id(&self) -> &'static str {
        "sma_crossover"
    }

    fn evaluate(&self, bars: &Bars<'_>) -> RuleOutcome {
        let close = bars.close();
        let (last, prev) = last_two(close.len());
        let (short, long) = match (sma(close, self.short_period), sma(close, self.long_period)) {
            (Ok(s), Ok(l)) => (s, l),
            _ => {
                return RuleOutcome {
                    vote: Vote::None,
                    values: Vec::new(),
                };
            }
        };
        let values = [
            at(&short, last),
            at(&long, last),
            at(&short, prev),
            at(&long, prev),
        ];
        let vote = crossover(values[0].zip(values[1]), values[2].zip(values[3]));
        RuleOutcome {
            vote,
            values: vec![
                IndicatorValue::new("sma_short", values[0]),
                IndicatorValue::new("sma_long", values[1]),
                IndicatorValue::new("sma_short_prev", values[2]),
                IndicatorValue::new("sma_long_prev", values[3]),
            ],
        }
    }

    fn bars_needed(&self) -> usize {
        (3 * self.short_period.max(self.long_period)).max(self.long_period + 1)
    }
}

/// MACD crossover: buy when the MACD line crosses above its signal line on
/// the last bar, sell when it crosses below.
#[derive(Debug, Clone, PartialEq)]
pub struct MacdRule {
    /// Fast EMA period.
    pub fast_period: usize,
    /// Slow EMA period.
    pub slow_period: usize,
    /// Signal EMA period.
    pub signal_period: usize,
}

impl Rule for MacdRule {
    fn id(&self) -> &'static str {
        "macd"
    }

    fn evaluate(&self, bars: &Bars<'_>) -> RuleOutcome {
        let close = bars.close();
        let (last, prev) = last_two(close.len());
        let Ok(lines) = macd(
            close,
            self.fast_period,
            self.slow_period,
            self.signal_period,
        ) else {
            return RuleOutcome {
                vote: Vote::None,
                values: Vec::new(),
            };
        };
        let values = [
            at(&lines.macd, last),
            at(&lines.signal, last),
            at(&lines.macd, prev),
            at(&lines.signal, prev),
        ];
        let vote = crossover(values[0].zip(values[1]), values[2].zip(values[3]));
        RuleOutcome {
            vote,
            values: vec![
                IndicatorValue::new("macd", values[0]),
                IndicatorValue::new("macd_signal", values[1]),
                IndicatorValue::new("macd_prev", values[2]),
                IndicatorValue::new("macd_signal_prev", values[3]),
            ],
        }
    }

    fn bars_needed(&self) -> usize {
        // The signal line is an EMA of an EMA difference: both must settle.
        let lookback = crate::indicators::macd_lookback(
            self.fast_period,
            self.slow_period,
            self.signal_period,
        );
        (3 * (self.slow_period.max(self.fast_period) + self.signal_period)).max(lookback + 2)
    }
}

/// Bollinger touch: buy when the close is at or below the lower band, sell
/// when it is at or above the upper band. No vote when the bands have zero
/// width (a flat window), where the Python version's answer depended on
/// rounding noise.
#[derive(Debug, Clone, PartialEq)]
pub struct BollingerRule {
    /// SMA period of the middle band.
    pub period: usize,
    /// Band distance in standard deviations.
    pub std_dev: f64,
}

impl Rule for BollingerRule {
    fn id(&self) -> &'static str {
        "bollinger_bands"
    }

    fn evaluate(&self, bars: &Bars<'_>) -> RuleOutcome {
        let close = bars.close();
        let last = close.len().checked_sub(1);
        let Ok(bands) = bbands(close, self.period, self.std_dev, self.std_dev) else {
            return RuleOutcome {
                vote: Vote::None,
                values: Vec::new(),
            };
        };
        let price = last.and_then(|i| close.get(i).copied());
        let upper = at(&bands.upper, last);
        let middle = at(&bands.middle, last);
        let lower = at(&bands.lower, last);
        let vote = match (price, upper, lower) {
            (Some(price), Some(upper), Some(lower)) if upper > lower => {
                if price <= lower {
                    Vote::Buy
                } else if price >= upper {
                    Vote::Sell
                } else {
                    Vote::None
                }
            }
            _ => Vote::None,
        };
        RuleOutcome {
            vote,
            values: vec![
                IndicatorValue::new("close", price),
                IndicatorValue::new("bb_upper", upper),
                IndicatorValue::new("bb_middle", middle),
                IndicatorValue::new("bb_lower", lower),
            ],
        }
    }

    fn bars_needed(&self) -> usize {
        3 * self.period
    }
}
