//! The command-line building blocks: the indicator spec parser and the CSV
//! reader's errors, which name the line of a bad row.

use trader_indicators::{
    CsvError, IndicatorSpec, SignalsCsvError, SpecError, indicators_csv, parse_bars_csv,
    parse_indicator_spec, signals_csv,
};

#[test]
fn specs_parse_into_indicators_and_column_names() {
    let cases: [(&str, IndicatorSpec, &[&str]); 6] = [
        ("rsi:14", IndicatorSpec::Rsi { period: 14 }, &["rsi_14"]),
        (
            "macd:12:26:9",
            IndicatorSpec::Macd {
                fast: 12,
                slow: 26,
                signal: 9,
            },
            &[
                "macd_12_26_9_macd",
                "macd_12_26_9_signal",
                "macd_12_26_9_hist",
            ],
        ),
        (
            "bbands:20:2:2",
            IndicatorSpec::Bbands {
                period: 20,
                nbdev_up: 2.0,
                nbdev_dn: 2.0,
            },
            &[
                "bbands_20_2.0_2.0_upper",
                "bbands_20_2.0_2.0_middle",
                "bbands_20_2.0_2.0_lower",
            ],
        ),
        (
            " STOCH:14:3:3 ",
            IndicatorSpec::Stoch {
                fastk: 14,
                slowk: 3,
                slowd: 3,
            },
            &["stoch_14_3_3_k", "stoch_14_3_3_d"],
        ),
        ("obv", IndicatorSpec::Obv, &["obv"]),
        (
            "bbands:10:1.5:2.5",
            IndicatorSpec::Bbands {
                period: 10,
                nbdev_up: 1.5,
                nbdev_dn: 2.5,
            },
            &[
                "bbands_10_1.5_2.5_upper",
                "bbands_10_1.5_2.5_middle",
                "bbands_10_1.5_2.5_lower",
            ],
        ),
    ];
    for (text, spec, columns) in cases {
        let parsed = parse_indicator_spec(text).expect(text);
        assert_eq!(parsed, spec);
        assert_eq!(parsed.column_names(), columns);
        // Display writes the spec back; it parses to the same thing.
        assert_eq!(parse_indicator_spec(&parsed.to_string()), Ok(spec));
    }
    for name in [
        "sma", "ema", "wma", "atr", "adx", "cci", "mfi", "willr", "roc",
    ] {
        let spec: IndicatorSpec = format!("{name}:7").parse().expect("valid");
        assert_eq!(spec.column_names(), [format!("{name}_7")]);
    }
}

#[test]
fn bad_specs_say_what_was_expected() {
    let message = |s: &str| parse_indicator_spec(s).expect_err(s).to_string();
    assert_eq!(parse_indicator_spec(""), Err(SpecError::Empty));
    assert!(message("foo:3").contains("unknown indicator 'foo'"));
    assert!(message("foo:3").contains("rsi"));
    assert_eq!(
        message("rsi"),
        "rsi takes 1 parameter(s) (rsi:PERIOD, e.g. rsi:14), got 0"
    );
    assert_eq!(
        message("macd:12:26"),
        "macd takes 3 parameter(s) (macd:FAST:SLOW:SIGNAL, e.g. macd:12:26:9), got 2"
    );
    assert_eq!(
        message("obv:3"),
        "obv takes 0 parameter(s) (obv, no parameters), got 1"
    );
    assert_eq!(
        message("rsi:abc"),
        "rsi period must be a whole number, got 'abc'"
    );
    assert_eq!(
        message("rsi:-3"),
        "rsi period must be a whole number, got '-3'"
    );
    assert_eq!(
        message("rsi:1"),
        "rsi period must be between 2 and 100000, got 1"
    );
    assert_eq!(
        message("sma:0"),
        "sma period must be between 1 and 100000, got 0"
    );
    assert_eq!(
        message("macd:12:26:0"),
        "macd signal period must be between 1 and 100000, got 0"
    );
    assert_eq!(
        message("bbands:20:x:2"),
        "bbands nbdevup must be a finite number, got 'x'"
    );
    assert_eq!(
        message("bbands:20:2:inf"),
        "bbands nbdevdn must be a finite number, got 'inf'"
    );
}

const BARS: &str = "date,open,high,low,close,volume\n\
2024-01-02,10,11,9,10.5,100\n\
2024-01-03,10.5,12,10,11.5,200\n\
2024-01-04,11.5,12,11,11,150\n";

#[test]
fn bars_csv_reads_named_columns_in_any_order() {
    let reordered = "Volume,CLOSE,low,high,open,note\n100,10.5,9,11,10,\"a, quoted\"\r\n\r\n200,11.5,10,12,10.5,x\n";
    let bars = parse_bars_csv(reordered).expect("valid");
    assert_eq!(bars.close, [10.5, 11.5]);
    assert_eq!(bars.volume, [100.0, 200.0]);
    assert_eq!(bars.open, [10.0, 10.5]);
    assert_eq!(parse_bars_csv(BARS).expect("valid").len(), 3);
}

#[test]
fn a_bad_row_is_named_by_its_line() {
    let bad_number = BARS.replace("11.5,12,11,11,150", "11.5,12,11,eleven,150");
    assert_eq!(
        parse_bars_csv(&bad_number),
        Err(CsvError::BadRow {
            line: 4,
            message: "close is not a finite number: 'eleven'".to_owned()
        })
    );
    assert_eq!(
        parse_bars_csv(&bad_number).expect_err("bad").to_string(),
        "line 4: close is not a finite number: 'eleven'"
    );
    let missing_field = BARS.replace("10.5,12,10,11.5,200", "10.5,12,10,11.5");
    assert_eq!(
        parse_bars_csv(&missing_field)
            .expect_err("short row")
            .to_string(),
        "line 3: expected 6 fields as in the header, got 5"
    );
    let empty_value = BARS.replace(",100\n", ",\n");
    assert_eq!(
        parse_bars_csv(&empty_value).expect_err("empty").to_string(),
        "line 2: volume is empty"
    );
    let nan = BARS.replace(",100\n", ",NaN\n");
    assert!(
        parse_bars_csv(&nan)
            .expect_err("nan")
            .to_string()
            .starts_with("line 2: volume")
    );
    // Blank lines are skipped but still counted: after the three bars on
    // lines 2-4 and a blank line 5, the bad row is line 6.
    let with_blank = format!("{BARS}\nd,1,2,0.5,x,5\n");
    assert_eq!(
        parse_bars_csv(&with_blank).expect_err("bad").to_string(),
        "line 6: close is not a finite number: 'x'"
    );
}

#[test]
fn a_missing_column_or_empty_file_is_explained() {
    assert_eq!(parse_bars_csv(""), Err(CsvError::Empty));
    assert_eq!(parse_bars_csv("\n\n"), Err(CsvError::Empty));
    assert_eq!(
        parse_bars_csv("open,high,low,close\n1,2,0,1\n"),
        Err(CsvError::MissingColumn {
            line: 1,
            column: "volume"
        })
    );
    assert_eq!(
        parse_bars_csv("\nopen,high,low,close\n")
            .expect_err("missing")
            .to_string(),
        "line 2: the header has no 'volume' column (need open,high,low,close,volume)"
    );
    // A header alone is zero bars, not an error.
    assert!(
        parse_bars_csv("open,high,low,close,volume\n")
            .expect("ok")
            .is_empty()
    );
}

#[test]
fn indicators_csv_writes_one_column_per_output_empty_in_the_lookback() {
    let specs = [
        parse_indicator_spec("sma:2").expect("spec"),
        parse_indicator_spec("obv").expect("spec"),
    ];
    let csv = indicators_csv(BARS, &specs).expect("csv");
    assert_eq!(csv, "i,sma_2,obv\n0,,100.0\n1,11.0,300.0\n2,11.25,150.0\n");
    let err = indicators_csv("open,high,low,close,volume\n1,2,x,1,1\n", &specs).expect_err("bad");
    assert_eq!(err.to_string(), "line 2: low is not a finite number: 'x'");
}

#[test]
fn signals_csv_has_one_row_per_window_and_marks_disabled_rules_off() {
    let settings = "indicators:\n  macd:\n    enabled: false\n  rsi:\n    period: 2\n";
    let csv = signals_csv(BARS, settings, 2).expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "first_bar,last_bar,action,strength,rsi,sma,macd,bb"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with("0,1,hold,0.0,"), "{}", lines[1]);
    assert!(lines[1].ends_with(",off,"), "{}", lines[1]);
    // A window longer than the data gives the header alone.
    assert_eq!(
        signals_csv(BARS, settings, 10)
            .expect("csv")
            .lines()
            .count(),
        1
    );
    assert!(matches!(
        signals_csv(BARS, settings, 0),
        Err(SignalsCsvError::ZeroWindow)
    ));
    let invalid =
        signals_csv(BARS, "indicators:\n  rsi:\n    period: 1\n", 2).expect_err("invalid");
    assert!(
        invalid.to_string().contains("indicators.rsi.period"),
        "{invalid}"
    );
    let bad_bars = signals_csv("open,high\n", settings, 2).expect_err("bad bars");
    assert!(bad_bars.to_string().contains("'low'"), "{bad_bars}");
}
