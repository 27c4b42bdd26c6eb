//! The settings of the signal rules: the `indicators` and `signal` groups of
//! the Python version's `settings.yaml`, with the same names and defaults,
//! and their validation.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Periods a user may set, for every rule.
pub const PERIOD_RANGE: std::ops::RangeInclusive<u32> = 2..=500;
/// Bollinger band widths a user may set, in standard deviations.
pub const STD_DEV_RANGE: std::ops::RangeInclusive<f64> = 0.5..=5.0;

/// The `indicators` and `signal` groups of a settings file (other groups,
/// such as `execution` or `schedule`, are ignored here). Missing fields take
/// the Python version's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignalConfig {
    /// The four rules and their parameters.
    pub indicators: IndicatorSettings,
    /// How the rules' votes are combined.
    pub signal: SignalSettings,
}

/// The `indicators` group: one entry per rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IndicatorSettings {
    /// RSI thresholds.
    pub rsi: RsiSettings,
    /// SMA crossover.
    pub sma_crossover: SmaCrossoverSettings,
    /// MACD crossover.
    pub macd: MacdSettings,
    /// Bollinger band touch.
    pub bollinger_bands: BollingerSettings,
}

/// `indicators.rsi`: buy below `oversold`, sell above `overbought`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RsiSettings {
    /// Whether the rule votes.
    pub enabled: bool,
    /// RSI period (default 14).
    pub period: u32,
    /// Sell above this level (default 70).
    pub overbought: f64,
    /// Buy below this level (default 30).
    pub oversold: f64,
}

impl Default for RsiSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            period: 14,
            overbought: 70.0,
            oversold: 30.0,
        }
    }
}

/// `indicators.sma_crossover`: the short SMA crossing the long one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmaCrossoverSettings {
    /// Whether the rule votes.
    pub enabled: bool,
    /// Short SMA period (default 20).
    pub short_period: u32,
    /// Long SMA period (default 50).
    pub long_period: u32,
}

impl Default for SmaCrossoverSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            short_period: 20,
            long_period: 50,
        }
    }
}

/// `indicators.macd`: the MACD line crossing its signal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MacdSettings {
    /// Whether the rule votes.
    pub enabled: bool,
    /// Fast EMA period (default 12).
    pub fast_period: u32,
    /// Slow EMA period (default 26).
    pub slow_period: u32,
    /// Signal EMA period (default 9).
    pub signal_period: u32,
}

impl Default for MacdSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            fast_period: 12,
            slow_period: 26,
            signal_period: 9,
        }
    }
}

/// `indicators.bollinger_bands`: the close touching a band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BollingerSettings {
    /// Whether the rule votes.
    pub enabled: bool,
    /// SMA period of the middle band (default 20).
    pub period: u32,
    /// Band distance in standard deviations, both sides (default 2.0).
    pub std_dev: f64,
}

impl Default for BollingerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            period: 20,
            std_dev: 2.0,
        }
    }
}

/// `signal.mode`: how the enabled rules' votes become one action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalMode {
    /// At least one vote and no opposite vote; a conflict holds.
    #[default]
    Any,
    /// At least `min_agree` votes for a side and more than for the other.
    Majority,
    /// Every enabled rule votes for the same side.
    Unanimous,
}

/// The `signal` group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignalSettings {
    /// Aggregation mode (default `any`).
    pub mode: SignalMode,
    /// Votes a side needs in `majority` mode (default 2).
    pub min_agree: u32,
}

impl Default for SignalSettings {
    fn default() -> Self {
        Self {
            mode: SignalMode::Any,
            min_agree: 2,
        }
    }
}

/// One invalid setting: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Dotted path of the field, as in the settings file, e.g.
    /// `indicators.rsi.period`.
    pub path: String,
    /// What a valid value looks like.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every invalid field of a configuration (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors {
    /// The invalid fields, in the order of the settings file.
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// The error for `path`, if that field is invalid.
    #[must_use]
    pub fn field(&self, path: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.path == path)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid settings: ")?;
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Why a settings file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The YAML did not parse, or a field had the wrong type.
    #[error("settings are not valid YAML for this schema: {0}")]
    Parse(String),
    /// The values parsed but are out of range.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}

impl SignalConfig {
    /// Reads the `indicators` and `signal` groups of a settings file in the
    /// Python version's format and validates them. Missing groups and fields
    /// take the defaults; other groups (`execution`, `data`, `schedule`) and
    /// keys this version does not know are ignored, as the Python version
    /// ignored them.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for malformed YAML or a wrongly typed field,
    /// [`ConfigError::Invalid`] for values out of range.
    #[cfg(feature = "yaml")]
    pub fn from_yaml(yaml: &str) -> Result<Self, ConfigError> {
        let config: Self =
            serde_norway::from_str(yaml).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Number of enabled rules (the denominator of the signal strength).
    #[must_use]
    pub fn enabled_rules(&self) -> usize {
        let i = &self.indicators;
        [
            i.rsi.enabled,
            i.sma_crossover.enabled,
            i.macd.enabled,
            i.bollinger_bands.enabled,
        ]
        .into_iter()
        .filter(|&enabled| enabled)
        .count()
    }

    /// Checks every field, enabled rule or not, and reports each invalid one
    /// by its path:
    /// - every period in 2..=500;
    /// - `sma_crossover.short_period < long_period`, `macd.fast_period <
    ///   slow_period` (reported on the short/fast field);
    /// - `0 < rsi.oversold < rsi.overbought < 100`;
    /// - `bollinger_bands.std_dev` in 0.5..=5.0;
    /// - at least one rule enabled (reported on `indicators`);
    /// - `signal.min_agree` at least 1 and, in `majority` mode, at most the
    ///   number of enabled rules. The other modes do not use it, so the upper
    ///   bound is not enforced there: the Python version's own defaults
    ///   (`mode: any`, `min_agree: 2`) stay valid with a single rule enabled.
    ///
    /// # Errors
    /// [`ValidationErrors`] listing every invalid field.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        let mut fail = |path: &str, message: String| {
            errors.push(FieldError {
                path: path.to_owned(),
                message,
            });
        };
        let period = |fail: &mut dyn FnMut(&str, String), path: &str, value: u32| {
            if !PERIOD_RANGE.contains(&value) {
                fail(
                    path,
                    format!(
                        "must be between {} and {}, got {value}",
                        PERIOD_RANGE.start(),
                        PERIOD_RANGE.end()
                    ),
                );
            }
        };
        let i = &self.indicators;

        period(&mut fail, "indicators.rsi.period", i.rsi.period);
        if !i.rsi.oversold.is_finite() || i.rsi.oversold <= 0.0 {
            fail(
                "indicators.rsi.oversold",
                format!("must be greater than 0, got {}", i.rsi.oversold),
            );
        } else if i.rsi.overbought.is_nan() || i.rsi.oversold >= i.rsi.overbought {
            fail(
                "indicators.rsi.oversold",
                format!(
                    "must be less than overbought ({}), got {}",
                    i.rsi.overbought, i.rsi.oversold
                ),
            );
        }
        if !i.rsi.overbought.is_finite() || i.rsi.overbought >= 100.0 {
            fail(
                "indicators.rsi.overbought",
                format!("must be less than 100, got {}", i.rsi.overbought),
            );
        }

        period(
            &mut fail,
            "indicators.sma_crossover.short_period",
            i.sma_crossover.short_period,
        );
        period(
            &mut fail,
            "indicators.sma_crossover.long_period",
            i.sma_crossover.long_period,
        );
        if i.sma_crossover.short_period >= i.sma_crossover.long_period {
            fail(
                "indicators.sma_crossover.short_period",
                format!(
                    "must be less than long_period ({}), got {}",
                    i.sma_crossover.long_period, i.sma_crossover.short_period
                ),
            );
        }

        period(&mut fail, "indicators.macd.fast_period", i.macd.fast_period);
        period(&mut fail, "indicators.macd.slow_period", i.macd.slow_period);
        period(
            &mut fail,
            "indicators.macd.signal_period",
            i.macd.signal_period,
        );
        if i.macd.fast_period >= i.macd.slow_period {
            fail(
                "indicators.macd.fast_period",
                format!(
                    "must be less than slow_period ({}), got {}",
                    i.macd.slow_period, i.macd.fast_period
                ),
            );
        }

        period(
            &mut fail,
            "indicators.bollinger_bands.period",
            i.bollinger_bands.period,
        );
        if !STD_DEV_RANGE.contains(&i.bollinger_bands.std_dev) {
            fail(
                "indicators.bollinger_bands.std_dev",
                format!(
                    "must be between {:?} and {:?}, got {}",
                    STD_DEV_RANGE.start(),
                    STD_DEV_RANGE.end(),
                    i.bollinger_bands.std_dev
                ),
            );
        }

        let enabled = self.enabled_rules();
        if enabled == 0 {
            fail(
                "indicators",
                "enable at least one of rsi, sma_crossover, macd, bollinger_bands".to_owned(),
            );
        }
        let min_agree = self.signal.min_agree;
        if min_agree < 1 {
            fail(
                "signal.min_agree",
                format!("must be at least 1, got {min_agree}"),
            );
        } else if self.signal.mode == SignalMode::Majority
            && enabled > 0
            && min_agree as usize > enabled
        {
            fail(
                "signal.min_agree",
                format!(
                    "must be between 1 and the number of enabled indicators ({enabled}), got {min_agree}"
                ),
            );
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors { errors })
        }
    }
}
