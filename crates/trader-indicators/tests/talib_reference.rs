//! Every indicator against TA-Lib's own values: the project's reference file
//! (`talib/expected.csv`), through the library and through the
//! `indicators` command, and the generated reference (`reference/`) for
//! periods from 1-2 up to 500 and edge-case series.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly at the first thing that is not as expected"
)]

mod common;

use common::{Table, check_value, compare_columns, fixture};
use trader_indicators::{
    IndicatorSpec, Ohlcv, indicators_csv, parse_bars_csv, parse_indicator_spec,
};

/// The specs whose outputs are the columns of expected.csv.
const EXPECTED_SPECS: [&str; 14] = [
    "sma:20",
    "ema:12",
    "wma:10",
    "rsi:14",
    "macd:12:26:9",
    "bbands:20:2:2",
    "atr:14",
    "stoch:14:3:3",
    "adx:14",
    "cci:20",
    "mfi:14",
    "willr:14",
    "roc:10",
    "obv",
];

fn specs() -> Vec<IndicatorSpec> {
    EXPECTED_SPECS
        .iter()
        .map(|s| parse_indicator_spec(s).expect("a valid spec"))
        .collect()
}

#[test]
fn the_specs_name_every_column_of_expected_csv() {
    let expected = Table::parse(&fixture("talib/expected.csv"));
    let mut names: Vec<String> = vec!["i".to_owned()];
    for spec in specs() {
        names.extend(spec.column_names());
    }
    assert_eq!(names, expected.header);
}

#[test]
fn library_matches_expected_csv_row_for_row() {
    let bars = parse_bars_csv(&fixture("talib/bars.csv")).expect("bars");
    let bars = bars.bars().expect("equal columns");
    let expected = Table::parse(&fixture("talib/expected.csv"));
    let mut errors = Vec::new();
    for spec in specs() {
        let outputs = spec.compute(&bars).expect("valid spec");
        for (name, series) in spec.column_names().iter().zip(outputs) {
            errors.extend(compare_columns(
                name,
                &series.to_options(),
                &expected.numbers(name),
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn indicators_command_matches_expected_csv_row_for_row() {
    let csv = indicators_csv(&fixture("talib/bars.csv"), &specs()).expect("csv");
    let ours = Table::parse(&csv);
    let expected = Table::parse(&fixture("talib/expected.csv"));
    assert_eq!(ours.header, expected.header);
    assert_eq!(ours.rows.len(), expected.rows.len());
    let mut errors = Vec::new();
    for name in &expected.header {
        errors.extend(compare_columns(
            name,
            &ours.numbers(name),
            &expected.numbers(name),
        ));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The synthetic series of `reference/series.csv`, by name.
fn synthetic_series(name: &str) -> Ohlcv {
    let table = Table::parse(&fixture("reference/series.csv"));
    let mut ohlcv = Ohlcv::default();
    for row in table.rows.iter().filter(|r| r[0] == name) {
        let v: Vec<f64> = row[1..]
            .iter()
            .map(|c| c.parse().expect("number"))
            .collect();
        ohlcv.open.push(v[0]);
        ohlcv.high.push(v[1]);
        ohlcv.low.push(v[2]);
        ohlcv.close.push(v[3]);
        ohlcv.volume.push(v[4]);
    }
    assert!(!ohlcv.is_empty(), "series {name} is in series.csv");
    ohlcv
}

/// Compares every column of `reference/<series>.csv` with our values.
fn check_reference(series: &str, ohlcv: &Ohlcv) {
    let bars = ohlcv.bars().expect("equal columns");
    let table = Table::parse(&fixture(&format!("reference/{series}.csv")));
    let rows: Vec<usize> = table
        .rows
        .iter()
        .map(|r| r[0].parse().expect("row"))
        .collect();
    let mut errors = Vec::new();
    let mut checked = 0;
    for (c, column) in table.header.iter().enumerate().skip(1) {
        let (spec_text, output) = column.split_once('/').unwrap_or((column, ""));
        let spec = parse_indicator_spec(spec_text).expect("a valid spec");
        let outputs = spec.compute(&bars).expect("valid spec");
        let names = spec.column_names();
        let index = names
            .iter()
            .position(|n| output.is_empty() || n.ends_with(&format!("_{output}")))
            .expect("a known output");
        let ours = &outputs[index];
        let mut column_errors = 0;
        for (r, &row) in rows.iter().enumerate() {
            let cell = table.rows[r][c].trim();
            let theirs = (!cell.is_empty()).then(|| cell.parse::<f64>().expect("number"));
            if let Err(e) = check_value(&format!("{series} {column}"), row, ours.get(row), theirs) {
                column_errors += 1;
                if column_errors <= 3 {
                    errors.push(e);
                }
            }
            checked += 1;
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(checked > 0);
}

#[test]
fn periods_from_one_to_five_hundred_match_ta_lib() {
    let bars = parse_bars_csv(&fixture("talib/bars.csv")).expect("bars");
    check_reference("bars", &bars);
}

#[test]
fn tiny_prices_match_ta_lib() {
    check_reference("tiny", &synthetic_series("tiny"));
}

#[test]
fn flat_windows_and_zero_volume_match_ta_lib() {
    check_reference("flat", &synthetic_series("flat"));
}

#[test]
fn integer_prices_with_ties_match_ta_lib() {
    check_reference("ties", &synthetic_series("ties"));
}

#[test]
fn zero_and_negative_prices_match_ta_lib() {
    check_reference("zeros", &synthetic_series("zeros"));
}

#[test]
fn series_shorter_than_the_lookback_match_ta_lib() {
    check_reference("short", &synthetic_series("short"));
}
