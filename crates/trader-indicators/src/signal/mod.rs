//! Signal rules and their aggregation, as the Python version had them.
//!
//! Four rules vote on the last bar of a series (see [`rules`]): RSI
//! thresholds, SMA crossover, MACD crossover and the Bollinger touch. The
//! enabled rules' votes become one [`Action`] by the configured
//! [`SignalMode`]:
//!
//! - `any`: buy when at least one rule says buy and none says sell (and the
//!   reverse); a conflict holds;
//! - `majority`: buy when at least `min_agree` rules say buy and more say buy
//!   than sell (and the reverse);
//! - `unanimous`: buy when every enabled rule says buy (and the reverse).
//!
//! The strength is `max(buy votes, sell votes) / enabled rules`, whatever the
//! action (a conflict that holds still has a strength).
//!
//! ```
//! use trader_indicators::{Bars, SignalConfig, SignalEngine};
//!
//! let close: Vec<f64> = (0..200).map(|i| 100.0 + (i as f64 * 0.3).sin()).collect();
//! let bars = Bars::new(&close, &close, &close, &close, &close)?;
//! let engine = SignalEngine::from_config(&SignalConfig::default())?;
//! let signal = engine.evaluate(&bars);
//! assert_eq!(signal.bar, Some(199));
//! assert_eq!(signal.votes.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
pub mod rules;

use serde::{Deserialize, Serialize};

pub use config::{
    BollingerSettings, ConfigError, FieldError, IndicatorSettings, MacdSettings, PERIOD_RANGE,
    RsiSettings, STD_DEV_RANGE, SignalConfig, SignalMode, SignalSettings, SmaCrossoverSettings,
    ValidationErrors,
};
pub use rules::{
    BollingerRule, IndicatorValue, MacdRule, RsiRule, Rule, RuleOutcome, SmaCrossoverRule, Vote,
};

use crate::Bars;

/// What a signal tells the trader to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Buy (or hold a long position).
    Buy,
    /// Sell (close the position, or go short when allowed).
    Sell,
    /// Do nothing.
    Hold,
}

impl Action {
    /// `buy`, `sell` or `hold`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
            Self::Hold => "hold",
        }
    }
}

/// One rule's vote in a [`Signal`], with the values behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleVote {
    /// The rule's id ([`Rule::id`]).
    pub rule: std::borrow::Cow<'static, str>,
    /// Its vote.
    pub vote: Vote,
    /// The indicator values it voted on.
    pub values: Vec<IndicatorValue>,
}

/// The signal for one bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Index of the bar the signal is for (the last bar given), `None` for an
    /// empty series.
    pub bar: Option<usize>,
    /// The aggregated action.
    pub action: Action,
    /// `max(buy votes, sell votes) / enabled rules`, from 0 to 1.
    pub strength: f64,
    /// Each enabled rule's vote, in rule order.
    pub votes: Vec<RuleVote>,
}

impl Signal {
    /// The vote of the rule with id `rule`; `None` when that rule is not
    /// enabled.
    #[must_use]
    pub fn vote_of(&self, rule: &str) -> Option<Vote> {
        self.votes.iter().find(|v| v.rule == rule).map(|v| v.vote)
    }
}

/// Combines votes into an action and a strength, the Python version's way.
///
/// `votes` holds one vote per enabled rule; `min_agree` is only used by
/// [`SignalMode::Majority`]. With no votes at all the answer is a hold of
/// strength 0.
#[must_use]
pub fn aggregate(mode: SignalMode, min_agree: usize, votes: &[Vote]) -> (Action, f64) {
    let enabled = votes.len();
    let buy = votes.iter().filter(|&&v| v == Vote::Buy).count();
    let sell = votes.iter().filter(|&&v| v == Vote::Sell).count();
    if enabled == 0 {
        return (Action::Hold, 0.0);
    }
    let strength = buy.max(sell) as f64 / enabled as f64;
    let action = match mode {
        SignalMode::Any => match (buy > 0, sell > 0) {
            (true, false) => Action::Buy,
            (false, true) => Action::Sell,
            _ => Action::Hold,
        },
        SignalMode::Majority => {
            if buy >= min_agree && buy > sell {
                Action::Buy
            } else if sell >= min_agree && sell > buy {
                Action::Sell
            } else {
                Action::Hold
            }
        }
        SignalMode::Unanimous => {
            if buy == enabled {
                Action::Buy
            } else if sell == enabled {
                Action::Sell
            } else {
                Action::Hold
            }
        }
    };
    (action, strength)
}

/// The enabled rules of a configuration and the way their votes combine.
#[derive(Debug)]
pub struct SignalEngine {
    rules: Vec<Box<dyn Rule>>,
    mode: SignalMode,
    min_agree: usize,
}

impl SignalEngine {
    /// The engine for a configuration: one rule per enabled entry of
    /// `indicators`, in the settings' order (rsi, sma_crossover, macd,
    /// bollinger_bands).
    ///
    /// # Errors
    /// [`ValidationErrors`] when the configuration is invalid.
    pub fn from_config(config: &SignalConfig) -> Result<Self, ValidationErrors> {
        config.validate()?;
        let rules = build_rules(config);
        Ok(Self::new(
            rules,
            config.signal.mode,
            config.signal.min_agree as usize,
        ))
    }

    /// An engine over any rules (for rules beyond the Python version's four).
    #[must_use]
    pub fn new(rules: Vec<Box<dyn Rule>>, mode: SignalMode, min_agree: usize) -> Self {
        Self {
            rules,
            mode,
            min_agree,
        }
    }

    /// The rules, in voting order.
    #[must_use]
    pub fn rules(&self) -> &[Box<dyn Rule>] {
        &self.rules
    }

    /// The signal for the last bar of `bars`.
    #[must_use]
    pub fn evaluate(&self, bars: &Bars<'_>) -> Signal {
        let votes: Vec<RuleVote> = self
            .rules
            .iter()
            .map(|rule| {
                let outcome = rule.evaluate(bars);
                RuleVote {
                    rule: std::borrow::Cow::Borrowed(rule.id()),
                    vote: outcome.vote,
                    values: outcome.values,
                }
            })
            .collect();
        let plain: Vec<Vote> = votes.iter().map(|v| v.vote).collect();
        let (action, strength) = aggregate(self.mode, self.min_agree, &plain);
        Signal {
            bar: bars.len().checked_sub(1),
            action,
            strength,
            votes,
        }
    }

    /// Bars the rules need for their values to settle (0 without rules).
    #[must_use]
    pub fn bars_needed(&self) -> usize {
        self.rules
            .iter()
            .map(|r| r.bars_needed())
            .max()
            .unwrap_or(0)
    }
}

/// How many bars a configuration needs for its indicator values to settle:
/// the most any enabled rule needs, which is at least three times that
/// rule's longest period (for MACD, the slow plus the signal period, since
/// its signal line smooths an already smoothed line). TA-Lib calls the bars
/// an EMA or a Wilder average needs before it forgets its seed the "unstable
/// period"; three periods leave about 5% of the seed's weight in an EMA
/// (`(1 - 2/(p+1))^(3p)`), far below the noise of a price series. The data
/// fetcher asks for this many bars. Invalid settings are measured as given.
#[must_use]
pub fn bars_needed(config: &SignalConfig) -> usize {
    build_rules(config)
        .iter()
        .map(|r| r.bars_needed())
        .max()
        .unwrap_or(0)
}

impl SignalConfig {
    /// See [`bars_needed`].
    #[must_use]
    pub fn bars_needed(&self) -> usize {
        bars_needed(self)
    }
}

/// One rule per enabled entry of `indicators`, in the settings' order. The
/// one place that maps settings to rules: a new rule with settings adds one
/// `if` here and touches no other rule.
fn build_rules(config: &SignalConfig) -> Vec<Box<dyn Rule>> {
    let i = &config.indicators;
    let mut rules: Vec<Box<dyn Rule>> = Vec::with_capacity(4);
    if i.rsi.enabled {
        rules.push(Box::new(RsiRule {
            period: i.rsi.period as usize,
            oversold: i.rsi.oversold,
            overbought: i.rsi.overbought,
        }));
    }
    if i.sma_crossover.enabled {
        rules.push(Box::new(SmaCrossoverRule {
            short_period: i.sma_crossover.short_period as usize,
            long_period: i.sma_crossover.long_period as usize,
        }));
    }
    if i.macd.enabled {
        rules.push(Box::new(MacdRule {
            fast_period: i.macd.fast_period as usize,
            slow_period: i.macd.slow_period as usize,
            signal_period: i.macd.signal_period as usize,
        }));
    }
    if i.bollinger_bands.enabled {
        rules.push(Box::new(BollingerRule {
            period: i.bollinger_bands.period as usize,
            std_dev: i.bollinger_bands.std_dev,
        }));
    }
    rules
}
