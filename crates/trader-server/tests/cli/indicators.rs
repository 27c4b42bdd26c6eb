//! `alpaca-trader indicators` and `signals` as a trader runs them, checked
//! against TA-Lib's values and the Python version's signals (the fixtures
//! in crates/trader-indicators/tests/fixtures).

use std::collections::HashMap;
use std::path::PathBuf;

use crate::support::{alpaca_trader, stderr, stdout};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../trader-indicators/tests/fixtures")
}

/// A CSV as its header and rows of cells.
fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[test]
fn indicators_command_matches_talib_column_for_column() {
    let specs = [
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
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = alpaca_trader(dir.path());
    cmd.arg("indicators")
        .arg("--bars")
        .arg(fixtures().join("talib/bars.csv"));
    for s in specs {
        cmd.args(["--ind", s]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (ours_header, ours) = table(&stdout(&out));
    let expected_text = std::fs::read_to_string(fixtures().join("talib/expected.csv")).unwrap();
    let (header, expected) = table(&expected_text);
    assert_eq!(ours.len(), expected.len(), "one row per bar");
    let index: HashMap<&str, usize> = ours_header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    for (col, name) in header.iter().enumerate().skip(1) {
        let ours_col = *index
            .get(name.as_str())
            .unwrap_or_else(|| panic!("no column {name} in {ours_header:?}"));
        for (row, (e, o)) in expected.iter().zip(&ours).enumerate() {
            let (e, o) = (&e[col], &o[ours_col]);
            assert_eq!(
                e.is_empty(),
                o.is_empty(),
                "{name} row {row}: lookback differs ({e:?} vs {o:?})"
            );
            if !e.is_empty() {
                let (e, o): (f64, f64) = (e.parse().unwrap(), o.parse().unwrap());
                assert!(
                    (e - o).abs() <= 1e-9 * e.abs().max(1.0),
                    "{name} row {row}: {o} vs TA-Lib {e}"
                );
            }
        }
    }
}

#[test]
fn indicators_command_names_the_bad_line_and_the_bad_spec() {
    let dir = tempfile::tempdir().unwrap();
    let bars = dir.path().join("bars.csv");
    std::fs::write(
        &bars,
        "open,high,low,close,volume\n1,2,0.5,1.5,100\n1,2,0.5,eleven,100\n",
    )
    .unwrap();
    let out = alpaca_trader(dir.path())
        .args(["indicators", "--bars", "bars.csv", "--ind", "sma:2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));
    let bad_spec = alpaca_trader(dir.path())
        .args(["indicators", "--bars", "bars.csv", "--ind", "rsi"])
        .output()
        .unwrap();
    assert_eq!(bad_spec.status.code(), Some(2), "a usage error");
    assert!(stderr(&bad_spec).contains("rsi"), "{}", stderr(&bad_spec));
    let missing = alpaca_trader(dir.path())
        .args(["indicators", "--bars", "nope.csv", "--ind", "sma:2"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("cannot read nope.csv"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn signals_command_gives_the_python_versions_signals() {
    let expected = std::fs::read_to_string(fixtures().join("legacy-signals/signals.csv")).unwrap();
    let (header, rows) = table(&expected);
    assert_eq!(header[0], "settings");
    let base = std::fs::read_to_string(fixtures().join("legacy-config/settings.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml) in [
        ("default_any", base.clone()),
        (
            "majority_2",
            base.replace("  mode: any", "  mode: majority"),
        ),
        (
            "unanimous",
            base.replace("  mode: any", "  mode: unanimous"),
        ),
    ] {
        let settings = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&settings, yaml).unwrap();
        let out = alpaca_trader(dir.path())
            .arg("signals")
            .arg("--bars")
            .arg(fixtures().join("talib/bars.csv"))
            .arg("--settings")
            .arg(&settings)
            .args(["--window", "300"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let (ours_header, ours) = table(&stdout(&out));
        assert_eq!(
            ours_header,
            header[1..],
            "the columns of signals.csv without settings"
        );
        let ours: HashMap<(String, String), &Vec<String>> = ours
            .iter()
            .map(|r| ((r[0].clone(), r[1].clone()), r))
            .collect();
        let wanted: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == name).collect();
        assert_eq!(wanted.len(), 1630, "{name}");
        for row in wanted {
            let got = ours
                .get(&(row[1].clone(), row[2].clone()))
                .unwrap_or_else(|| panic!("{name}: no window {}..{}", row[1], row[2]));
            assert_eq!(got[2], row[3], "{name} window {}: action", row[1]);
            let (a, b): (f64, f64) = (got[3].parse().unwrap(), row[4].parse().unwrap());
            assert!(
                (a - b).abs() < 1e-9,
                "{name} window {}: strength {a} vs {b}",
                row[1]
            );
            assert_eq!(got[4..], row[5..], "{name} window {}: votes", row[1]);
        }
    }
}

#[test]
fn signals_command_names_a_bad_settings_field() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(fixtures().join("legacy-config/settings.yaml")).unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        base.replace("    period: 14", "    period: 1"),
    )
    .unwrap();
    let out = alpaca_trader(dir.path())
        .arg("signals")
        .arg("--bars")
        .arg(fixtures().join("talib/bars.csv"))
        .args(["--settings", "s.yaml", "--window", "300"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("indicators.rsi.period"),
        "{}",
        stderr(&out)
    );
}
