//! Each signal rule and each aggregation mode, on series built so the answer
//! is known: votes, conflicts, warm-up, zero-width bands, and the settings'
//! validation at every boundary.

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly at the first thing that is not as expected"
)]

use trader_indicators::Bars;
use trader_indicators::signal::{
    Action, BollingerRule, MacdRule, RsiRule, Rule, SignalConfig, SignalEngine, SignalMode,
    SmaCrossoverRule, Vote, aggregate, bars_needed,
};

/// Bars whose open/high/low/close are all `close` (the rules read closes).
fn with_close<T>(close: &[f64], f: impl FnOnce(&Bars<'_>) -> T) -> T {
    let volume = vec![1000.0; close.len()];
    let bars = Bars::new(close, close, close, close, &volume).expect("equal columns");
    f(&bars)
}

fn vote(rule: &dyn Rule, close: &[f64]) -> Vote {
    with_close(close, |bars| rule.evaluate(bars).vote)
}

fn rsi_rule() -> RsiRule {
    RsiRule {
        period: 14,
        oversold: 30.0,
        overbought: 70.0,
    }
}

/// A gentle zig-zag around 100 that ends with `tail`.
fn zigzag_then(len: usize, tail: &[f64]) -> Vec<f64> {
    let mut close: Vec<f64> = (0..len)
        .map(|i| 100.0 + if i % 2 == 0 { 0.5 } else { -0.5 })
        .collect();
    close.extend_from_slice(tail);
    close
}

#[test]
fn rsi_buys_when_oversold_and_sells_when_overbought() {
    let falling: Vec<f64> = (0..40).map(|i| 100.0 - i as f64).collect();
    let rising: Vec<f64> = (0..40).map(|i| 100.0 + i as f64).collect();
    assert_eq!(vote(&rsi_rule(), &falling), Vote::Buy);
    assert_eq!(vote(&rsi_rule(), &rising), Vote::Sell);
    assert_eq!(vote(&rsi_rule(), &zigzag_then(40, &[])), Vote::None);
}

#[test]
fn rsi_thresholds_are_strict() {
    let close = zigzag_then(41, &[100.2]);
    let thresholds = |oversold, overbought| RsiRule {
        period: 14,
        oversold,
        overbought,
    };
    let rsi = with_close(&close, |bars| {
        trader_indicators::indicators::rsi(bars.close(), 14)
            .expect("rsi")
            .last()
            .expect("a value")
    });
    assert!(rsi > 30.0 && rsi < 70.0, "rsi {rsi}");
    assert_eq!(vote(&thresholds(rsi, 70.0), &close), Vote::None);
    assert_eq!(vote(&thresholds(rsi + 1e-6, 70.0), &close), Vote::Buy);
    assert_eq!(vote(&thresholds(30.0, rsi), &close), Vote::None);
    assert_eq!(vote(&thresholds(30.0, rsi - 1e-6), &close), Vote::Sell);
}

#[test]
fn rsi_votes_nothing_during_warm_up() {
    let falling: Vec<f64> = (0..14).map(|i| 100.0 - i as f64).collect();
    with_close(&falling, |bars| {
        let outcome = rsi_rule().evaluate(bars);
        assert_eq!(outcome.vote, Vote::None);
        assert_eq!(outcome.values[0].value, None);
    });
    let falling: Vec<f64> = (0..15).map(|i| 100.0 - i as f64).collect();
    assert_eq!(vote(&rsi_rule(), &falling), Vote::Buy);
    assert_eq!(vote(&rsi_rule(), &[]), Vote::None);
}

fn sma_rule() -> SmaCrossoverRule {
    SmaCrossoverRule {
        short_period: 3,
        long_period: 5,
    }
}

#[test]
fn sma_crossover_votes_only_on_the_bar_of_the_cross() {
    // Flat at 10, then a jump: the short SMA crosses above the long one on
    // the jump bar (short <= long the bar before: both 10).
    let up = [10.0, 10.0, 10.0, 10.0, 10.0, 13.0];
    assert_eq!(vote(&sma_rule(), &up), Vote::Buy);
    let down = [10.0, 10.0, 10.0, 10.0, 10.0, 7.0];
    assert_eq!(vote(&sma_rule(), &down), Vote::Sell);
    // One bar later the short SMA is still above, but there is no new cross.
    let after = [10.0, 10.0, 10.0, 10.0, 10.0, 13.0, 13.0];
    assert_eq!(vote(&sma_rule(), &after), Vote::None);
    // Equal now: no cross.
    let flat = [10.0; 8];
    assert_eq!(vote(&sma_rule(), &flat), Vote::None);
}

#[test]
fn sma_crossover_needs_the_previous_bar_of_the_long_sma() {
    // Five bars give a long SMA on the last bar only: no vote yet.
    let five = [10.0, 10.0, 10.0, 10.0, 13.0];
    with_close(&five, |bars| {
        let outcome = sma_rule().evaluate(bars);
        assert_eq!(outcome.vote, Vote::None);
        let long_prev = outcome
            .values
            .iter()
            .find(|v| v.name == "sma_long_prev")
            .expect("value");
        assert_eq!(long_prev.value, None);
    });
}

fn macd_rule() -> MacdRule {
    MacdRule {
        fast_period: 3,
        slow_period: 6,
        signal_period: 3,
    }
}

#[test]
fn macd_crossover_buys_and_sells_on_the_cross() {
    let mut up = vec![10.0; 20];
    up.push(12.0);
    assert_eq!(vote(&macd_rule(), &up), Vote::Buy);
    let mut down = vec![10.0; 20];
    down.push(8.0);
    assert_eq!(vote(&macd_rule(), &down), Vote::Sell);
    assert_eq!(vote(&macd_rule(), &[10.0; 20]), Vote::None);
}

#[test]
fn macd_votes_nothing_during_warm_up() {
    // Lookback (6-1)+(3-1) = 7: the signal line starts at bar 7, so a cross
    // needs bar 8.
    let mut close = vec![10.0; 8];
    close.push(12.0);
    assert_eq!(vote(&macd_rule(), &close), Vote::Buy);
    assert_eq!(vote(&macd_rule(), &close[1..]), Vote::None);
}

fn bollinger_rule() -> BollingerRule {
    BollingerRule {
        period: 5,
        // With 5 bars a single outlier lies at most 4/sqrt(5) = 1.79
        // population deviations from the mean: 1.5 lets it touch a band.
        std_dev: 1.5,
    }
}

#[test]
fn bollinger_buys_at_the_lower_band_and_sells_at_the_upper_band() {
    let mut low = zigzag_then(10, &[]);
    low.push(90.0);
    assert_eq!(vote(&bollinger_rule(), &low), Vote::Buy);
    let mut high = zigzag_then(10, &[]);
    high.push(110.0);
    assert_eq!(vote(&bollinger_rule(), &high), Vote::Sell);
    assert_eq!(vote(&bollinger_rule(), &zigzag_then(10, &[])), Vote::None);
}

#[test]
fn bollinger_votes_nothing_on_zero_width_bands() {
    // close == lower == upper: the Python version said "sell" here (its sell
    // test overwrote its buy test); this version abstains on purpose.
    let flat = [50.0; 12];
    with_close(&flat, |bars| {
        let outcome = bollinger_rule().evaluate(bars);
        let value = |name: &str| {
            outcome
                .values
                .iter()
                .find(|v| v.name == name)
                .and_then(|v| v.value)
        };
        assert_eq!(value("bb_upper"), value("bb_lower"));
        assert_eq!(value("bb_upper"), Some(50.0));
        assert_eq!(outcome.vote, Vote::None);
    });
}

#[test]
fn bollinger_votes_nothing_during_warm_up() {
    assert_eq!(
        vote(&bollinger_rule(), &[10.0, 10.0, 10.0, 90.0]),
        Vote::None
    );
    assert_eq!(
        vote(&bollinger_rule(), &[10.0, 10.0, 10.0, 10.0, 90.0]),
        Vote::Sell
    );
}

#[test]
fn mode_any_acts_on_one_vote_and_holds_on_a_conflict() {
    use Vote::{Buy, None, Sell};
    assert_eq!(
        aggregate(SignalMode::Any, 2, &[Buy, None, None, None]),
        (Action::Buy, 0.25)
    );
    assert_eq!(
        aggregate(SignalMode::Any, 2, &[None, Sell, Sell, None]),
        (Action::Sell, 0.5)
    );
    assert_eq!(
        aggregate(SignalMode::Any, 2, &[Buy, Sell, None, None]),
        (Action::Hold, 0.25)
    );
    assert_eq!(
        aggregate(SignalMode::Any, 2, &[Buy, Buy, Sell, None]),
        (Action::Hold, 0.5)
    );
    assert_eq!(
        aggregate(SignalMode::Any, 2, &[None; 4]),
        (Action::Hold, 0.0)
    );
}

#[test]
fn mode_majority_needs_min_agree_and_more_than_the_other_side() {
    use Vote::{Buy, None, Sell};
    assert_eq!(
        aggregate(SignalMode::Majority, 2, &[Buy, None, None, None]),
        (Action::Hold, 0.25)
    );
    assert_eq!(
        aggregate(SignalMode::Majority, 2, &[Buy, Buy, None, None]),
        (Action::Buy, 0.5)
    );
    assert_eq!(
        aggregate(SignalMode::Majority, 2, &[Buy, Buy, Sell, None]),
        (Action::Buy, 0.5)
    );
    assert_eq!(
        aggregate(SignalMode::Majority, 2, &[Buy, Buy, Sell, Sell]),
        (Action::Hold, 0.5)
    );
    assert_eq!(
        aggregate(SignalMode::Majority, 2, &[Sell, Sell, Sell, Buy]),
        (Action::Sell, 0.75)
    );
    assert_eq!(
        aggregate(SignalMode::Majority, 3, &[Sell, Sell, None, None]),
        (Action::Hold, 0.5)
    );
    assert_eq!(
        aggregate(SignalMode::Majority, 1, &[Sell, None, None, None]),
        (Action::Sell, 0.25)
    );
}

#[test]
fn mode_unanimous_needs_every_enabled_rule() {
    use Vote::{Buy, None, Sell};
    assert_eq!(
        aggregate(SignalMode::Unanimous, 2, &[Buy, Buy, Buy, Buy]),
        (Action::Buy, 1.0)
    );
    assert_eq!(
        aggregate(SignalMode::Unanimous, 2, &[Sell, Sell]),
        (Action::Sell, 1.0)
    );
    assert_eq!(
        aggregate(SignalMode::Unanimous, 2, &[Buy, Buy, Buy, None]),
        (Action::Hold, 0.75)
    );
    assert_eq!(
        aggregate(SignalMode::Unanimous, 2, &[Buy, Buy, Sell, Sell]),
        (Action::Hold, 0.5)
    );
    assert_eq!(
        aggregate(SignalMode::Unanimous, 2, &[]),
        (Action::Hold, 0.0)
    );
}

#[test]
fn a_signal_carries_votes_values_and_its_bar() {
    let mut config = SignalConfig::default();
    config.indicators.macd.enabled = false;
    let engine = SignalEngine::from_config(&config).expect("valid");
    let falling: Vec<f64> = (0..80).map(|i| 200.0 - i as f64).collect();
    let signal = with_close(&falling, |bars| engine.evaluate(bars));
    assert_eq!(signal.bar, Some(79));
    let rules: Vec<&str> = signal.votes.iter().map(|v| v.rule.as_ref()).collect();
    assert_eq!(rules, ["rsi", "sma_crossover", "bollinger_bands"]);
    assert_eq!(signal.vote_of("macd"), None);
    assert_eq!(signal.vote_of("rsi"), Some(Vote::Buy));
    let rsi = &signal.votes[0].values[0];
    assert_eq!(rsi.name, "rsi");
    assert_eq!(rsi.value, Some(0.0));
    // Strength counts enabled rules only.
    let buys = signal.votes.iter().filter(|v| v.vote == Vote::Buy).count();
    assert_eq!(signal.strength, buys as f64 / 3.0);
    let json = serde_json::to_value(&signal).expect("serialize");
    assert_eq!(json["bar"], 79);
    assert_eq!(json["votes"][0]["vote"], "buy");
}

#[test]
fn an_empty_series_gives_a_hold_without_a_bar() {
    let engine = SignalEngine::from_config(&SignalConfig::default()).expect("valid");
    let signal = with_close(&[], |bars| engine.evaluate(bars));
    assert_eq!(signal.bar, None);
    assert_eq!(signal.action, Action::Hold);
    assert!(signal.votes.iter().all(|v| v.vote == Vote::None));
}

#[test]
fn bars_needed_is_three_times_the_longest_period_of_the_enabled_rules() {
    let mut config = SignalConfig::default();
    // SMA 20/50 is the longest: 3 * 50.
    assert_eq!(bars_needed(&config), 150);
    assert_eq!(config.bars_needed(), 150);
    config.indicators.sma_crossover.enabled = false;
    // MACD: 3 * (26 + 9).
    assert_eq!(bars_needed(&config), 105);
    config.indicators.macd.enabled = false;
    config.indicators.rsi.period = 30;
    assert_eq!(bars_needed(&config), 90);
    config.indicators.rsi.enabled = false;
    assert_eq!(bars_needed(&config), 60);
    config.indicators.bollinger_bands.enabled = false;
    assert_eq!(bars_needed(&config), 0);
    let engine = SignalEngine::from_config(&SignalConfig::default()).expect("valid");
    assert_eq!(engine.bars_needed(), 150);
}

/// Validation: `edit` applied to the defaults must pass (`None`) or fail
/// naming `path` and no other field.
fn check(edit: impl FnOnce(&mut SignalConfig), path: Option<&str>) {
    let mut config = SignalConfig::default();
    edit(&mut config);
    match (config.validate(), path) {
        (Ok(()), None) => {}
        (Err(e), Some(path)) => {
            assert!(
                e.field(path).is_some(),
                "expected an error on {path}, got {e}"
            );
            assert!(
                e.errors.iter().all(|f| f.path == path),
                "only {path} is wrong: {e}"
            );
            assert!(e.to_string().contains(path));
        }
        (result, path) => panic!("expected {path:?}, got {result:?}"),
    }
}

#[test]
fn the_defaults_are_the_python_versions_and_valid() {
    let config = SignalConfig::default();
    assert!(config.validate().is_ok());
    let python = SignalConfig::from_yaml(include_str!("fixtures/legacy-config/settings.yaml"))
        .expect("the Python file is valid");
    assert_eq!(python, config);
    // Missing groups and fields take the defaults.
    assert_eq!(SignalConfig::from_yaml("{}").expect("empty"), config);
    let partial = SignalConfig::from_yaml("indicators:\n  rsi:\n    period: 7\n").expect("partial");
    assert_eq!(partial.indicators.rsi.period, 7);
    assert_eq!(partial.indicators.rsi.overbought, 70.0);
}

#[test]
fn periods_are_checked_at_2_and_500() {
    check(|c| c.indicators.rsi.period = 2, None);
    check(
        |c| c.indicators.rsi.period = 1,
        Some("indicators.rsi.period"),
    );
    check(|c| c.indicators.rsi.period = 500, None);
    check(
        |c| c.indicators.rsi.period = 501,
        Some("indicators.rsi.period"),
    );

    let sma = |short, long| {
        move |c: &mut SignalConfig| {
            c.indicators.sma_crossover.short_period = short;
            c.indicators.sma_crossover.long_period = long;
        }
    };
    check(sma(2, 3), None);
    check(sma(1, 3), Some("indicators.sma_crossover.short_period"));
    check(sma(499, 500), None);
    check(sma(2, 501), Some("indicators.sma_crossover.long_period"));
    // A short period of 501 could only pair with a long one above 500.
    let both = SignalConfig {
        indicators: trader_indicators::signal::IndicatorSettings {
            sma_crossover: trader_indicators::signal::SmaCrossoverSettings {
                enabled: true,
                short_period: 501,
                long_period: 502,
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let errors = both.validate().expect_err("out of range");
    assert!(
        errors
            .field("indicators.sma_crossover.short_period")
            .is_some()
    );
    assert!(
        errors
            .field("indicators.sma_crossover.long_period")
            .is_some()
    );

    let macd = |fast, slow, signal| {
        move |c: &mut SignalConfig| {
            c.indicators.macd.fast_period = fast;
            c.indicators.macd.slow_period = slow;
            c.indicators.macd.signal_period = signal;
        }
    };
    check(macd(2, 3, 2), None);
    check(macd(1, 3, 2), Some("indicators.macd.fast_period"));
    check(macd(2, 3, 1), Some("indicators.macd.signal_period"));
    check(macd(499, 500, 500), None);
    check(macd(2, 501, 9), Some("indicators.macd.slow_period"));
    check(macd(2, 3, 501), Some("indicators.macd.signal_period"));

    check(|c| c.indicators.bollinger_bands.period = 2, None);
    check(
        |c| c.indicators.bollinger_bands.period = 1,
        Some("indicators.bollinger_bands.period"),
    );
    check(|c| c.indicators.bollinger_bands.period = 500, None);
    check(
        |c| c.indicators.bollinger_bands.period = 501,
        Some("indicators.bollinger_bands.period"),
    );
}

#[test]
fn short_must_be_below_long_and_fast_below_slow() {
    check(|c| c.indicators.sma_crossover.short_period = 49, None);
    check(
        |c| c.indicators.sma_crossover.short_period = 50,
        Some("indicators.sma_crossover.short_period"),
    );
    check(|c| c.indicators.macd.fast_period = 25, None);
    check(
        |c| c.indicators.macd.fast_period = 26,
        Some("indicators.macd.fast_period"),
    );
}

#[test]
fn thresholds_are_checked_between_0_and_100() {
    check(|c| c.indicators.rsi.oversold = 0.001, None);
    check(
        |c| c.indicators.rsi.oversold = 0.0,
        Some("indicators.rsi.oversold"),
    );
    check(|c| c.indicators.rsi.overbought = 99.999, None);
    check(
        |c| c.indicators.rsi.overbought = 100.0,
        Some("indicators.rsi.overbought"),
    );
    let mut nan = SignalConfig::default();
    nan.indicators.rsi.overbought = f64::NAN;
    let errors = nan.validate().expect_err("NaN");
    assert!(
        errors.field("indicators.rsi.overbought").is_some(),
        "{errors}"
    );
    check(
        |c| {
            c.indicators.rsi.oversold = 50.0;
            c.indicators.rsi.overbought = 50.001;
        },
        None,
    );
    check(
        |c| {
            c.indicators.rsi.oversold = 50.0;
            c.indicators.rsi.overbought = 50.0;
        },
        Some("indicators.rsi.oversold"),
    );
}

#[test]
fn std_dev_is_checked_between_half_and_five() {
    check(|c| c.indicators.bollinger_bands.std_dev = 0.5, None);
    check(
        |c| c.indicators.bollinger_bands.std_dev = 0.499_999,
        Some("indicators.bollinger_bands.std_dev"),
    );
    check(|c| c.indicators.bollinger_bands.std_dev = 5.0, None);
    check(
        |c| c.indicators.bollinger_bands.std_dev = 5.000_001,
        Some("indicators.bollinger_bands.std_dev"),
    );
    check(
        |c| c.indicators.bollinger_bands.std_dev = f64::INFINITY,
        Some("indicators.bollinger_bands.std_dev"),
    );
}

#[test]
fn min_agree_is_checked_against_the_enabled_rules_in_majority_mode() {
    let majority = |c: &mut SignalConfig| c.signal.mode = SignalMode::Majority;
    check(
        |c| {
            majority(c);
            c.signal.min_agree = 1;
        },
        None,
    );
    check(
        |c| {
            majority(c);
            c.signal.min_agree = 0;
        },
        Some("signal.min_agree"),
    );
    check(
        |c| {
            majority(c);
            c.signal.min_agree = 4;
        },
        None,
    );
    check(
        |c| {
            majority(c);
            c.signal.min_agree = 5;
        },
        Some("signal.min_agree"),
    );
    check(
        |c| {
            majority(c);
            c.indicators.macd.enabled = false;
            c.signal.min_agree = 3;
        },
        None,
    );
    check(
        |c| {
            majority(c);
            c.indicators.macd.enabled = false;
            c.signal.min_agree = 4;
        },
        Some("signal.min_agree"),
    );
    // Other modes do not use min_agree: the Python defaults (any, 2) stay
    // valid with one rule enabled; 0 is still refused.
    check(
        |c| {
            c.indicators.rsi.enabled = false;
            c.indicators.macd.enabled = false;
            c.indicators.bollinger_bands.enabled = false;
        },
        None,
    );
    check(|c| c.signal.min_agree = 0, Some("signal.min_agree"));
}

#[test]
fn at_least_one_rule_must_be_enabled() {
    check(
        |c| {
            c.indicators.rsi.enabled = false;
            c.indicators.sma_crossover.enabled = false;
            c.indicators.macd.enabled = false;
            c.indicators.bollinger_bands.enabled = false;
        },
        Some("indicators"),
    );
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let yaml = "indicators:\n  rsi:\n    period: 1\n    oversold: -5\n  bollinger_bands:\n    std_dev: 9\nsignal:\n  mode: majority\n  min_agree: 7\n";
    let err = SignalConfig::from_yaml(yaml).expect_err("invalid");
    let trader_indicators::ConfigError::Invalid(errors) = err else {
        panic!("expected validation errors, got {err}");
    };
    let paths: Vec<&str> = errors.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "indicators.rsi.period",
            "indicators.rsi.oversold",
            "indicators.bollinger_bands.std_dev",
            "signal.min_agree"
        ]
    );
}

#[test]
fn malformed_settings_are_a_parse_error() {
    let err = SignalConfig::from_yaml("signal:\n  mode: sometimes\n").expect_err("bad mode");
    assert!(
        matches!(err, trader_indicators::ConfigError::Parse(_)),
        "{err}"
    );
    assert!(
        err.to_string().contains("sometimes") || err.to_string().contains("mode"),
        "{err}"
    );
    let err = SignalConfig::from_yaml("indicators: [").expect_err("bad yaml");
    assert!(matches!(err, trader_indicators::ConfigError::Parse(_)));
}
