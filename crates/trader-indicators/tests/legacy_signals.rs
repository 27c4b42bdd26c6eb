//! The Python version's signals, bar for bar: `legacy-signals/signals.csv`
//! holds its action, strength and per-rule votes for every 300-bar window of
//! `talib/bars.csv` under three settings. Checked through the library and
//! through the `signals` command.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly at the first thing that is not as expected"
)]

mod common;

use common::{Table, fixture};
use trader_indicators::{SignalConfig, SignalEngine, Vote, parse_bars_csv, signals_csv};

const WINDOW: usize = 300;

/// The three settings of signals.csv, as YAML: the Python version's file as
/// it is, then with `mode: majority` (min_agree 2), then `mode: unanimous`.
fn settings(name: &str) -> String {
    let base = fixture("legacy-config/settings.yaml");
    assert!(base.contains("  mode: any") && base.contains("  min_agree: 2"));
    match name {
        "default_any" => base,
        "majority_2" => base.replace("  mode: any", "  mode: majority"),
        "unanimous" => base.replace("  mode: any", "  mode: unanimous"),
        other => panic!("unknown settings {other}"),
    }
}

/// Rows of signals.csv for one settings name, without the settings column.
fn expected_rows(name: &str) -> Vec<Vec<String>> {
    let table = Table::parse(&fixture("legacy-signals/signals.csv"));
    table
        .rows
        .into_iter()
        .filter(|r| r[0] == name)
        .map(|r| r[1..].to_vec())
        .collect()
}

fn vote_text(vote: Option<Vote>) -> &'static str {
    match vote {
        Some(Vote::Buy) => "buy",
        Some(Vote::Sell) => "sell",
        Some(Vote::None) => "",
        None => "off",
    }
}

fn check_library(name: &str) {
    let config = SignalConfig::from_yaml(&settings(name)).expect("valid settings");
    let engine = SignalEngine::from_config(&config).expect("valid settings");
    let ohlcv = parse_bars_csv(&fixture("talib/bars.csv")).expect("bars");
    let bars = ohlcv.bars().expect("equal columns");
    let expected = expected_rows(name);
    assert_eq!(expected.len(), 1630);
    let mut mismatches = Vec::new();
    for row in &expected {
        let first: usize = row[0].parse().expect("first_bar");
        let last: usize = row[1].parse().expect("last_bar");
        assert_eq!(last, first + WINDOW - 1);
        let window = bars.slice(first..last + 1).expect("window in range");
        let signal = engine.evaluate(&window);
        let ours = vec![
            row[0].clone(),
            row[1].clone(),
            signal.action.as_str().to_owned(),
            format!("{:?}", signal.strength),
            vote_text(signal.vote_of("rsi")).to_owned(),
            vote_text(signal.vote_of("sma_crossover")).to_owned(),
            vote_text(signal.vote_of("macd")).to_owned(),
            vote_text(signal.vote_of("bollinger_bands")).to_owned(),
        ];
        assert_eq!(signal.bar, Some(WINDOW - 1));
        let strength_matches =
            (signal.strength - row[3].parse::<f64>().expect("strength")).abs() < 1e-12;
        if ours[2] != row[2] || !strength_matches || ours[4..] != row[4..] {
            mismatches.push(format!("expected {row:?}\n     got {ours:?}"));
        }
    }
    mismatches.truncate(10);
    assert!(mismatches.is_empty(), "{name}:\n{}", mismatches.join("\n"));
}

#[test]
fn library_gives_the_python_signals_with_mode_any() {
    check_library("default_any");
}

#[test]
fn library_gives_the_python_signals_with_mode_majority() {
    check_library("majority_2");
}

#[test]
fn library_gives_the_python_signals_with_mode_unanimous() {
    check_library("unanimous");
}

#[test]
fn signals_command_gives_the_python_rows_for_every_settings() {
    let bars = fixture("talib/bars.csv");
    for name in ["default_any", "majority_2", "unanimous"] {
        let csv = signals_csv(&bars, &settings(name), WINDOW).expect("signals");
        let ours = Table::parse(&csv);
        assert_eq!(
            ours.header,
            [
                "first_bar",
                "last_bar",
                "action",
                "strength",
                "rsi",
                "sma",
                "macd",
                "bb"
            ]
        );
        // One row per window: 2000 bars give 1701 windows of 300.
        assert_eq!(ours.rows.len(), 2000 - WINDOW + 1);
        for (i, row) in ours.rows.iter().enumerate() {
            assert_eq!(row[0], i.to_string());
        }
        let expected = expected_rows(name);
        let mut mismatches = Vec::new();
        for row in &expected {
            let first: usize = row[0].parse().expect("first_bar");
            if ours.rows[first] != *row {
                mismatches.push(format!("expected {row:?}\n     got {:?}", ours.rows[first]));
            }
        }
        mismatches.truncate(10);
        assert!(mismatches.is_empty(), "{name}:\n{}", mismatches.join("\n"));
    }
}

#[test]
fn windows_over_the_flat_stretch_never_get_a_bollinger_vote_on_zero_width_bands() {
    // signals.csv leaves out the windows ending at bars 895-965, where the
    // Python version's Bollinger vote was rounding noise. Here the bands of a
    // window ending inside the flat stretch (rows 900-929) have zero width
    // once the whole 20-bar band window is flat, and the rule abstains.
    let csv =
        signals_csv(&fixture("talib/bars.csv"), &settings("default_any"), WINDOW).expect("signals");
    let ours = Table::parse(&csv);
    for last in 919..=929 {
        let row = &ours.rows[last + 1 - WINDOW];
        assert_eq!(row[1], last.to_string());
        assert_eq!(row[7], "", "window ending at {last}: {row:?}");
    }
}
