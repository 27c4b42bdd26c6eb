//! [`IndicatorSpec`]: an indicator and its parameters as written on the
//! command line (`rsi:14`, `macd:12:26:9`, `bbands:20:2:2`, `obv`), and the
//! names of its output columns (`rsi_14`, `macd_12_26_9_signal`,
//! `bbands_20_2.0_2.0_upper`), the names TA-Lib's reference file uses.

use std::fmt;
use std::str::FromStr;

use crate::indicators::{self, MAX_PERIOD};
use crate::{Bars, IndicatorError, Series};

/// An indicator with its parameters.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum IndicatorSpec {
    /// `sma:PERIOD`
    Sma {
        /// Period.
        period: usize,
    },
    /// `ema:PERIOD`
    Ema {
        /// Period.
        period: usize,
    },
    /// `wma:PERIOD`
    Wma {
        /// Period.
        period: usize,
    },
    /// `rsi:PERIOD`
    Rsi {
        /// Period.
        period: usize,
    },
    /// `macd:FAST:SLOW:SIGNAL`
    Macd {
        /// Fast EMA period.
        fast: usize,
        /// Slow EMA period.
        slow: usize,
        /// Signal EMA period.
        signal: usize,
    },
    /// `bbands:PERIOD:NBDEVUP:NBDEVDN`
    Bbands {
        /// SMA period.
        period: usize,
        /// Upper band distance in standard deviations.
        nbdev_up: f64,
        /// Lower band distance in standard deviations.
        nbdev_dn: f64,
    },
    /// `atr:PERIOD`
    Atr {
        /// Period.
        period: usize,
    },
    /// `stoch:FASTK:SLOWK:SLOWD`
    Stoch {
        /// Fast %K period.
        fastk: usize,
        /// Slow %K smoothing period.
        slowk: usize,
        /// Slow %D smoothing period.
        slowd: usize,
    },
    /// `adx:PERIOD`
    Adx {
        /// Period.
        period: usize,
    },
    /// `cci:PERIOD`
    Cci {
        /// Period.
        period: usize,
    },
    /// `mfi:PERIOD`
    Mfi {
        /// Period.
        period: usize,
    },
    /// `willr:PERIOD`
    Willr {
        /// Period.
        period: usize,
    },
    /// `roc:PERIOD`
    Roc {
        /// Period.
        period: usize,
    },
    /// `obv`
    Obv,
}

/// Why an indicator spec did not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// Nothing was given.
    #[error("empty indicator spec; expected e.g. rsi:14 or macd:12:26:9")]
    Empty,
    /// The name is not one of the supported indicators.
    #[error("unknown indicator '{name}'; expected one of {}", KNOWN.join(", "))]
    Unknown {
        /// The name given.
        name: String,
    },
    /// Too few or too many parameters.
    #[error("{name} takes {expected} parameter(s) ({usage}), got {got}")]
    Arity {
        /// Indicator name.
        name: &'static str,
        /// Number of parameters it takes.
        expected: usize,
        /// Number given.
        got: usize,
        /// Usage, e.g. `macd:FAST:SLOW:SIGNAL, e.g. macd:12:26:9`.
        usage: &'static str,
    },
    /// A parameter is not a number of the right kind.
    #[error("{name} {param} must be {kind}, got '{value}'")]
    NotANumber {
        /// Indicator name.
        name: &'static str,
        /// Parameter name.
        param: &'static str,
        /// "a whole number" or "a finite number".
        kind: &'static str,
        /// The text given.
        value: String,
    },
    /// A period outside the range TA-Lib accepts.
    #[error("{name} {param} must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// Indicator name.
        name: &'static str,
        /// Parameter name.
        param: &'static str,
        /// The value given.
        value: usize,
        /// Smallest accepted value.
        min: usize,
        /// Largest accepted value.
        max: usize,
    },
}

const KNOWN: [&str; 14] = [
    "sma", "ema", "wma", "rsi", "macd", "bbands", "atr", "stoch", "adx", "cci", "mfi", "willr",
    "roc", "obv",
];

/// Parses `name[:param...]`, e.g. `rsi:14`, `macd:12:26:9`, `bbands:20:2:2`,
/// `stoch:14:3:3`, `obv`. Names are case-insensitive; every parameter is
/// required; periods must be in the range TA-Lib accepts for them.
///
/// # Errors
/// A [`SpecError`] whose message says what was expected.
pub fn parse_indicator_spec(s: &str) -> Result<IndicatorSpec, SpecError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(SpecError::Empty);
    }
    let mut parts = s.split(':').map(str::trim);
    let name = parts.next().unwrap_or_default().to_ascii_lowercase();
    let params: Vec<&str> = parts.collect();
    let p = Params { params: &params };
    Ok(match name.as_str() {
        "sma" => IndicatorSpec::Sma {
            period: p.single("sma", "sma:PERIOD, e.g. sma:20", 1)?,
        },
        "ema" => IndicatorSpec::Ema {
            period: p.single("ema", "ema:PERIOD, e.g. ema:12", 1)?,
        },
        "wma" => IndicatorSpec::Wma {
            period: p.single("wma", "wma:PERIOD, e.g. wma:10", 1)?,
        },
        "rsi" => IndicatorSpec::Rsi {
            period: p.single("rsi", "rsi:PERIOD, e.g. rsi:14", 2)?,
        },
        "atr" => IndicatorSpec::Atr {
            period: p.single("atr", "atr:PERIOD, e.g. atr:14", 1)?,
        },
        "adx" => IndicatorSpec::Adx {
            period: p.single("adx", "adx:PERIOD, e.g. adx:14", 2)?,
        },
        "cci" => IndicatorSpec::Cci {
            period: p.single("cci", "cci:PERIOD, e.g. cci:20", 2)?,
        },
        "mfi" => IndicatorSpec::Mfi {
            period: p.single("mfi", "mfi:PERIOD, e.g. mfi:14", 2)?,
        },
        "willr" => IndicatorSpec::Willr {
            period: p.single("willr", "willr:PERIOD, e.g. willr:14", 2)?,
        },
        "roc" => IndicatorSpec::Roc {
            period: p.single("roc", "roc:PERIOD, e.g. roc:10", 1)?,
        },
        "macd" => {
            const USAGE: &str = "macd:FAST:SLOW:SIGNAL, e.g. macd:12:26:9";
            p.arity("macd", 3, USAGE)?;
            IndicatorSpec::Macd {
                fast: p.period("macd", "fast period", 0, 2)?,
                slow: p.period("macd", "slow period", 1, 2)?,
                signal: p.period("macd", "signal period", 2, 1)?,
            }
        }
        "stoch" => {
            const USAGE: &str = "stoch:FASTK:SLOWK:SLOWD, e.g. stoch:14:3:3";
            p.arity("stoch", 3, USAGE)?;
            IndicatorSpec::Stoch {
                fastk: p.period("stoch", "fastk period", 0, 1)?,
                slowk: p.period("stoch", "slowk period", 1, 1)?,
                slowd: p.period("stoch", "slowd period", 2, 1)?,
            }
        }
        "bbands" => {
            const USAGE: &str = "bbands:PERIOD:NBDEVUP:NBDEVDN, e.g. bbands:20:2:2";
            p.arity("bbands", 3, USAGE)?;
            IndicatorSpec::Bbands {
                period: p.period("bbands", "period", 0, 2)?,
                nbdev_up: p.real("bbands", "nbdevup", 1)?,
                nbdev_dn: p.real("bbands", "nbdevdn", 2)?,
            }
        }
        "obv" => {
            p.arity("obv", 0, "obv, no parameters")?;
            IndicatorSpec::Obv
        }
        _ => return Err(SpecError::Unknown { name }),
    })
}

/// The parameters after the name, with the checks every spec needs.
struct Params<'a> {
    params: &'a [&'a str],
}

impl Params<'_> {
    fn arity(
        &self,
        name: &'static str,
        expected: usize,
        usage: &'static str,
    ) -> Result<(), SpecError> {
        if self.params.len() == expected {
            Ok(())
        } else {
            Err(SpecError::Arity {
                name,
                expected,
                got: self.params.len(),
                usage,
            })
        }
    }

    fn single(
        &self,
        name: &'static str,
        usage: &'static str,
        min: usize,
    ) -> Result<usize, SpecError> {
        self.arity(name, 1, usage)?;
        self.period(name, "period", 0, min)
    }

    fn period(
        &self,
        name: &'static str,
        param: &'static str,
        index: usize,
        min: usize,
    ) -> Result<usize, SpecError> {
        let text = self.params.get(index).copied().unwrap_or_default();
        let value: usize = text.parse().map_err(|_| SpecError::NotANumber {
            name,
            param,
            kind: "a whole number",
            value: text.to_owned(),
        })?;
        if (min..=MAX_PERIOD).contains(&value) {
            Ok(value)
        } else {
            Err(SpecError::OutOfRange {
                name,
                param,
                value,
                min,
                max: MAX_PERIOD,
            })
        }
    }

    fn real(
        &self,
        name: &'static str,
        param: &'static str,
        index: usize,
    ) -> Result<f64, SpecError> {
        let text = self.params.get(index).copied().unwrap_or_default();
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| SpecError::NotANumber {
                name,
                param,
                kind: "a finite number",
                value: text.to_owned(),
            })
    }
}

impl FromStr for IndicatorSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_indicator_spec(s)
    }
}

impl fmt::Display for IndicatorSpec {
    /// The spec as it is written on the command line, e.g. `macd:12:26:9`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sma { period } => write!(f, "sma:{period}"),
            Self::Ema { period } => write!(f, "ema:{period}"),
            Self::Wma { period } => write!(f, "wma:{period}"),
            Self::Rsi { period } => write!(f, "rsi:{period}"),
            Self::Macd { fast, slow, signal } => write!(f, "macd:{fast}:{slow}:{signal}"),
            Self::Bbands {
                period,
                nbdev_up,
                nbdev_dn,
            } => write!(f, "bbands:{period}:{nbdev_up}:{nbdev_dn}"),
            Self::Atr { period } => write!(f, "atr:{period}"),
            Self::Stoch {
                fastk,
                slowk,
                slowd,
            } => write!(f, "stoch:{fastk}:{slowk}:{slowd}"),
            Self::Adx { period } => write!(f, "adx:{period}"),
            Self::Cci { period } => write!(f, "cci:{period}"),
            Self::Mfi { period } => write!(f, "mfi:{period}"),
            Self::Willr { period } => write!(f, "willr:{period}"),
            Self::Roc { period } => write!(f, "roc:{period}"),
            Self::Obv => f.write_str("obv"),
        }
    }
}

impl IndicatorSpec {
    /// Names of the output columns, in output order: `rsi_14`;
    /// `macd_12_26_9_macd`, `_signal`, `_hist`; `bbands_20_2.0_2.0_upper`,
    /// `_middle`, `_lower` (deviations written as Python writes a float);
    /// `stoch_14_3_3_k`, `_d`; `obv`.
    #[must_use]
    pub fn column_names(&self) -> Vec<String> {
        let one = |name: &str, period: usize| vec![format!("{name}_{period}")];
        match self {
            Self::Sma { period } => one("sma", *period),
            Self::Ema { period } => one("ema", *period),
            Self::Wma { period } => one("wma", *period),
            Self::Rsi { period } => one("rsi", *period),
            Self::Atr { period } => one("atr", *period),
            Self::Adx { period } => one("adx", *period),
            Self::Cci { period } => one("cci", *period),
            Self::Mfi { period } => one("mfi", *period),
            Self::Willr { period } => one("willr", *period),
            Self::Roc { period } => one("roc", *period),
            Self::Macd { fast, slow, signal } => ["macd", "signal", "hist"]
                .iter()
                .map(|line| format!("macd_{fast}_{slow}_{signal}_{line}"))
                .collect(),
            Self::Bbands {
                period,
                nbdev_up,
                nbdev_dn,
            } => ["upper", "middle", "lower"]
                .iter()
                .map(|band| {
                    format!(
                        "bbands_{period}_{}_{}_{band}",
                        python_float(*nbdev_up),
                        python_float(*nbdev_dn)
                    )
                })
                .collect(),
            Self::Stoch {
                fastk,
                slowk,
                slowd,
            } => ["k", "d"]
                .iter()
                .map(|line| format!("stoch_{fastk}_{slowk}_{slowd}_{line}"))
                .collect(),
            Self::Obv => vec!["obv".to_owned()],
        }
    }

    /// Number of leading bars without values (TA-Lib's lookback).
    #[must_use]
    pub fn lookback(&self) -> usize {
        match *self {
            Self::Sma { period } => indicators::sma_lookback(period),
            Self::Ema { period } => indicators::ema_lookback(period),
            Self::Wma { period } => indicators::wma_lookback(period),
            Self::Rsi { period } => indicators::rsi_lookback(period),
            Self::Macd { fast, slow, signal } => indicators::macd_lookback(fast, slow, signal),
            Self::Bbands { period, .. } => indicators::bbands_lookback(period),
            Self::Atr { period } => indicators::atr_lookback(period),
            Self::Stoch {
                fastk,
                slowk,
                slowd,
            } => indicators::stoch_lookback(fastk, slowk, slowd),
            Self::Adx { period } => indicators::adx_lookback(period),
            Self::Cci { period } => indicators::cci_lookback(period),
            Self::Mfi { period } => indicators::mfi_lookback(period),
            Self::Willr { period } => indicators::willr_lookback(period),
            Self::Roc { period } => indicators::roc_lookback(period),
            Self::Obv => 0,
        }
    }

    /// Computes the indicator over `bars`: one series per
    /// [`column_names`](Self::column_names) entry, in the same order.
    ///
    /// # Errors
    /// The indicator's [`IndicatorError`] (a spec built by hand with an
    /// out-of-range period).
    pub fn compute(&self, bars: &Bars<'_>) -> Result<Vec<Series>, IndicatorError> {
        let (h, l, c, v) = (bars.high(), bars.low(), bars.close(), bars.volume());
        Ok(match *self {
            Self::Sma { period } => vec![indicators::sma(c, period)?],
            Self::Ema { period } => vec![indicators::ema(c, period)?],
            Self::Wma { period } => vec![indicators::wma(c, period)?],
            Self::Rsi { period } => vec![indicators::rsi(c, period)?],
            Self::Macd { fast, slow, signal } => {
                let m = indicators::macd(c, fast, slow, signal)?;
                vec![m.macd, m.signal, m.hist]
            }
            Self::Bbands {
                period,
                nbdev_up,
                nbdev_dn,
            } => {
                let b = indicators::bbands(c, period, nbdev_up, nbdev_dn)?;
                vec![b.upper, b.middle, b.lower]
            }
            Self::Atr { period } => vec![indicators::atr(h, l, c, period)?],
            Self::Stoch {
                fastk,
                slowk,
                slowd,
            } => {
                let s = indicators::stoch(h, l, c, fastk, slowk, slowd)?;
                vec![s.k, s.d]
            }
            Self::Adx { period } => vec![indicators::adx(h, l, c, period)?],
            Self::Cci { period } => vec![indicators::cci(h, l, c, period)?],
            Self::Mfi { period } => vec![indicators::mfi(h, l, c, v, period)?],
            Self::Willr { period } => vec![indicators::willr(h, l, c, period)?],
            Self::Roc { period } => vec![indicators::roc(c, period)?],
            Self::Obv => vec![indicators::obv(c, v)?],
        })
    }
}

/// A float the way Python's `repr` writes it (`2.0`, `2.5`, `1e-07` aside):
/// Rust's `{:?}` gives the shortest round-trip form and always a decimal
/// point, which is what the reference column names use.
pub(crate) fn python_float(value: f64) -> String {
    format!("{value:?}")
}
