//! The two commands' logic as pure functions over strings: read bars from a
//! CSV text, write indicator columns or signals as CSV text. The
//! `alpaca-trader` binary only reads files and prints what these return.

use std::fmt::Write as _;

use crate::spec::python_float;
use crate::{IndicatorError, IndicatorSpec, Ohlcv, Series};

/// Why a bars CSV could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// The text has no header line.
    #[error("the bars CSV is empty; expected a header with open,high,low,close,volume")]
    Empty,
    /// A required column is missing from the header.
    #[error("line {line}: the header has no '{column}' column (need open,high,low,close,volume)")]
    MissingColumn {
        /// 1-based line number of the header (its first non-blank line).
        line: usize,
        /// The missing column.
        column: &'static str,
    },
    /// A row that cannot be read.
    #[error("line {line}: {message}")]
    BadRow {
        /// 1-based line number in the file (the header is line 1).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The indicator refused the data (cannot happen with parsed specs).
    #[error(transparent)]
    Indicator(#[from] IndicatorError),
}

const COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// Reads OHLCV bars from CSV text: a header naming at least the columns
/// `open`, `high`, `low`, `close` and `volume` (any order, any case; other
/// columns are ignored), then one bar per line, oldest first. Blank lines
/// are skipped; fields may be double-quoted. Every value must be a finite
/// number.
///
/// # Errors
/// [`CsvError`] naming the 1-based line of the first bad row, or the missing
/// column.
pub fn parse_bars_csv(text: &str) -> Result<Ohlcv, CsvError> {
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty());
    let (header_line, header) = lines.next().ok_or(CsvError::Empty)?;
    let header = header.strip_prefix('\u{feff}').unwrap_or(header);
    let names = split_fields(header).map_err(|message| CsvError::BadRow {
        line: header_line,
        message,
    })?;
    let mut positions = [0usize; 5];
    for (slot, column) in positions.iter_mut().zip(COLUMNS) {
        *slot = names
            .iter()
            .position(|name| name.trim().eq_ignore_ascii_case(column))
            .ok_or(CsvError::MissingColumn {
                line: header_line,
                column,
            })?;
    }

    let mut bars = Ohlcv::default();
    for (line, row) in lines {
        let fields = split_fields(row).map_err(|message| CsvError::BadRow { line, message })?;
        if fields.len() != names.len() {
            return Err(CsvError::BadRow {
                line,
                message: format!(
                    "expected {} fields as in the header, got {}",
                    names.len(),
                    fields.len()
                ),
            });
        }
        let mut values = [0.0; 5];
        for ((value, &position), column) in values.iter_mut().zip(&positions).zip(COLUMNS) {
            let text = fields[position].trim();
            *value = text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| CsvError::BadRow {
                    line,
                    message: if text.is_empty() {
                        format!("{column} is empty")
                    } else {
                        format!("{column} is not a finite number: '{text}'")
                    },
                })?;
        }
        let [open, high, low, close, volume] = values;
        bars.open.push(open);
        bars.high.push(high);
        bars.low.push(low);
        bars.close.push(close);
        bars.volume.push(volume);
    }
    Ok(bars)
}

/// Splits one CSV line into fields, honouring double quotes (`""` inside a
/// quoted field is a quote).
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".to_owned());
    }
    fields.push(field);
    Ok(fields)
}

/// The `indicators` command: reads bars from `bars_csv` (see
/// [`parse_bars_csv`]) and returns a CSV with an `i` column (the 0-based bar
/// index) and one column per indicator output, named as in TA-Lib's
/// reference file (`rsi_14`, `macd_12_26_9_signal`,
/// `bbands_20_2.0_2.0_upper`, `stoch_14_3_3_k`, `obv`, ...), empty in the
/// lookback. Values are written in the shortest form that reads back to the
/// same `f64`.
///
/// # Errors
/// [`CsvError`] for a bars file that cannot be read.
pub fn indicators_csv(bars_csv: &str, specs: &[IndicatorSpec]) -> Result<String, CsvError> {
    let ohlcv = parse_bars_csv(bars_csv)?;
    let bars = ohlcv.bars()?;
    let mut names = Vec::new();
    let mut columns: Vec<Series> = Vec::new();
    for spec in specs {
        names.extend(spec.column_names());
        columns.extend(spec.compute(&bars)?);
    }
    let mut out = String::with_capacity(bars.len() * (columns.len() * 20 + 8) + 64);
    out.push('i');
    for name in &names {
        out.push(',');
        out.push_str(name);
    }
    out.push('\n');
    for row in 0..bars.len() {
        let _ = write!(out, "{row}");
        for column in &columns {
            out.push(',');
            if let Some(value) = column.get(row) {
                out.push_str(&python_float(value));
            }
        }
        out.push('\n');
    }
    Ok(out)
}

/// Why the `signals` command could not run.
#[cfg(feature = "yaml")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalsCsvError {
    /// The bars file could not be read.
    #[error(transparent)]
    Bars(#[from] CsvError),
    /// The settings file could not be read or is invalid.
    #[error(transparent)]
    Settings(#[from] crate::ConfigError),
    /// A window of zero bars.
    #[error("the window must be at least 1 bar")]
    ZeroWindow,
}

/// The `signals` command: reads bars from `bars_csv` and the Python version's
/// settings file from `settings_yaml`, and returns, for every window of
/// `window` consecutive bars (`first_bar` = 0, 1, ...), the signal for the
/// window's last bar as CSV with the columns
/// `first_bar,last_bar,action,strength,rsi,sma,macd,bb`. Each rule column is
/// `buy`, `sell`, empty (no vote) or `off` (rule disabled). Fewer bars than
/// `window` give the header alone.
///
/// # Errors
/// [`SignalsCsvError`] for unreadable bars or settings, or a zero window.
#[cfg(feature = "yaml")]
pub fn signals_csv(
    bars_csv: &str,
    settings_yaml: &str,
    window: usize,
) -> Result<String, SignalsCsvError> {
    if window == 0 {
        return Err(SignalsCsvError::ZeroWindow);
    }
    let config = crate::SignalConfig::from_yaml(settings_yaml)?;
    let ohlcv = parse_bars_csv(bars_csv)?;
    let bars = ohlcv.bars().map_err(CsvError::from)?;
    let engine = crate::SignalEngine::from_config(&config)
        .map_err(|e| SignalsCsvError::Settings(e.into()))?;
    Ok(signals_table(&engine, &bars, window))
}

/// The CSV of [`signals_csv`] for an engine already built.
#[cfg(feature = "yaml")]
fn signals_table(engine: &crate::SignalEngine, bars: &crate::Bars<'_>, window: usize) -> String {
    const RULE_COLUMNS: [(&str, &str); 4] = [
        ("rsi", "rsi"),
        ("sma_crossover", "sma"),
        ("macd", "macd"),
        ("bollinger_bands", "bb"),
    ];
    let mut out = String::from("first_bar,last_bar,action,strength,rsi,sma,macd,bb\n");
    let windows = (bars.len() + 1).saturating_sub(window);
    for first in 0..windows {
        let Some(slice) = bars.slice(first..first + window) else {
            break;
        };
        let signal = engine.evaluate(&slice);
        let _ = write!(
            out,
            "{first},{},{},{}",
            first + window - 1,
            signal.action.as_str(),
            python_float(signal.strength)
        );
        for (rule, _) in RULE_COLUMNS {
            out.push(',');
            out.push_str(match signal.vote_of(rule) {
                Some(crate::Vote::Buy) => "buy",
                Some(crate::Vote::Sell) => "sell",
                Some(crate::Vote::None) => "",
                None => "off",
            });
        }
        out.push('\n');
    }
    out
}
