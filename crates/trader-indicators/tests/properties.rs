//! Properties that hold for any input: no panic at any length (including 0
//! and less than the lookback), outputs as long as the input, empty exactly
//! in the lookback, NaN-free after it for finite input, and the bounds of
//! the bounded oscillators.

use proptest::prelude::*;
use trader_indicators::indicators::{
    Bands, Macd, Stoch, adx, adx_into, atr, atr_into, bbands, bbands_into, cci, cci_into, ema,
    ema_into, macd, macd_into, mfi, mfi_into, obv, obv_into, roc, roc_into, rsi, rsi_into, sma,
    sma_into, stoch, stoch_into, willr, willr_into, wma, wma_into,
};
use trader_indicators::{Bars, Series, SignalConfig, SignalEngine};

/// Bars from a random walk: finite prices, positive volumes, high >= low.
fn bars(max_len: usize) -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>)> {
    (
        1.0f64..1000.0,
        prop::collection::vec(
            (-0.05f64..0.05, 0.0f64..0.03, 0.0f64..1.0, 0.0f64..1e6),
            0..max_len,
        ),
    )
        .prop_map(|(start, steps)| {
            let mut price = start;
            let mut high = Vec::new();
            let mut low = Vec::new();
            let mut close = Vec::new();
            let mut volume = Vec::new();
            for (step, range, at, vol) in steps {
                price *= 1.0 + step;
                let h = price * (1.0 + range);
                let l = price * (1.0 - range);
                high.push(h);
                low.push(l);
                close.push(l + (h - l) * at);
                volume.push(vol.floor());
            }
            (high, low, close, volume)
        })
}

/// Lookback exact, NaN-free after it.
fn check(name: &str, series: &Series, len: usize, lookback: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(series.len(), len, "{} length", name);
    prop_assert_eq!(series.lookback(), lookback.min(len), "{} lookback", name);
    for i in 0..len {
        let value = series.get(i);
        if i < lookback {
            prop_assert!(
                value.is_none(),
                "{} has a value in the lookback at {}",
                name,
                i
            );
        } else {
            prop_assert!(
                value.is_some_and(f64::is_finite),
                "{} at {}: {:?}",
                name,
                i,
                value
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_indicator_handles_any_length((high, low, close, volume) in bars(120), period in 2usize..40) {
        let n = close.len();
        check("sma", &sma(&close, period).expect("period"), n, period - 1)?;
        check("ema", &ema(&close, period).expect("period"), n, period - 1)?;
        check("wma", &wma(&close, period).expect("period"), n, period - 1)?;
        check("rsi", &rsi(&close, period).expect("period"), n, period)?;
        let m = macd(&close, period, period + 5, 3).expect("periods");
        for line in [&m.macd, &m.signal, &m.hist] {
            check("macd", line, n, period + 4 + 2)?;
        }
        let b = bbands(&close, period, 2.0, 2.0).expect("period");
        for line in [&b.upper, &b.middle, &b.lower] {
            check("bbands", line, n, period - 1)?;
        }
        check("atr", &atr(&high, &low, &close, period).expect("period"), n, period)?;
        let s = stoch(&high, &low, &close, period, 3, 3).expect("periods");
        check("stoch k", &s.k, n, period + 3)?;
        check("stoch d", &s.d, n, period + 3)?;
        check("adx", &adx(&high, &low, &close, period).expect("period"), n, 2 * period - 1)?;
        check("cci", &cci(&high, &low, &close, period).expect("period"), n, period - 1)?;
        check("mfi", &mfi(&high, &low, &close, &volume, period).expect("period"), n, period)?;
        check("willr", &willr(&high, &low, &close, period).expect("period"), n, period - 1)?;
        check("roc", &roc(&close, period).expect("period"), n, period)?;
        check("obv", &obv(&close, &volume).expect("lengths"), n, 0)?;
    }

    #[test]
    fn sma_of_a_constant_is_the_constant(value in -1e6f64..1e6, len in 0usize..300, period in 1usize..60) {
        let input = vec![value; len];
        let out = sma(&input, period).expect("period");
        for v in out.values() {
            prop_assert!((v - value).abs() <= 1e-9 * value.abs().max(1.0), "{} != {}", v, value);
        }
        let out = ema(&input, period).expect("period");
        for v in out.values() {
            prop_assert!((v - value).abs() <= 1e-9 * value.abs().max(1.0));
        }
    }

    #[test]
    fn bounded_oscillators_stay_in_range((high, low, close, volume) in bars(200), period in 2usize..30) {
        for v in rsi(&close, period).expect("period").values() {
            prop_assert!((0.0..=100.0).contains(v), "rsi {}", v);
        }
        for v in mfi(&high, &low, &close, &volume, period).expect("period").values() {
            prop_assert!((0.0..=100.0).contains(v), "mfi {}", v);
        }
        for v in willr(&high, &low, &close, period).expect("period").values() {
            prop_assert!((-100.0..=0.0).contains(v), "willr {}", v);
        }
        let s = stoch(&high, &low, &close, period, 3, 3).expect("periods");
        for v in s.k.values().iter().chain(s.d.values()) {
            prop_assert!((-1e-9..=100.0 + 1e-9).contains(v), "stoch {}", v);
        }
        for v in adx(&high, &low, &close, period).expect("period").values() {
            prop_assert!((0.0..=100.0 + 1e-9).contains(v), "adx {}", v);
        }
        let b = bbands(&close, period, 2.0, 2.0).expect("period");
        for ((u, m), l) in b.upper.values().iter().zip(b.middle.values()).zip(b.lower.values()) {
            prop_assert!(u >= m && m >= l, "bands out of order: {} {} {}", u, m, l);
        }
    }

    #[test]
    fn rsi_is_within_0_and_100_for_any_finite_series(close in prop::collection::vec(-1e9f64..1e9, 0..200), period in 2usize..50) {
        for v in rsi(&close, period).expect("period").values() {
            prop_assert!((0.0..=100.0).contains(v), "rsi {}", v);
        }
    }

    #[test]
    fn into_a_reused_output_gives_what_a_fresh_one_gives(
        (h1, l1, c1, v1) in bars(120),
        (h2, l2, c2, v2) in bars(120),
        p1 in 2usize..30,
        p2 in 2usize..30,
    ) {
        // Fill the outputs with one series and period, then reuse them for
        // another: nothing of the first call may show through.
        let mut one = Series::new();
        macro_rules! same {
            ($into:expr, $fresh:expr) => {{
                $into(p1, &h1, &l1, &c1, &v1, &mut one);
                $into(p2, &h2, &l2, &c2, &v2, &mut one);
                let fresh: Series = $fresh;
                prop_assert_eq!(&one, &fresh);
            }};
        }
        type In<'a> = &'a [f64];
        same!(|p, _: In, _: In, c: In, _: In, o: &mut Series| sma_into(c, p, o).expect("period"), sma(&c2, p2).expect("period"));
        same!(|p, _: In, _: In, c: In, _: In, o: &mut Series| ema_into(c, p, o).expect("period"), ema(&c2, p2).expect("period"));
        same!(|p, _: In, _: In, c: In, _: In, o: &mut Series| wma_into(c, p, o).expect("period"), wma(&c2, p2).expect("period"));
        same!(|p, _: In, _: In, c: In, _: In, o: &mut Series| rsi_into(c, p, o).expect("period"), rsi(&c2, p2).expect("period"));
        same!(|p, _: In, _: In, c: In, _: In, o: &mut Series| roc_into(c, p, o).expect("period"), roc(&c2, p2).expect("period"));
        same!(|_, _: In, _: In, c: In, v: In, o: &mut Series| obv_into(c, v, o).expect("lengths"), obv(&c2, &v2).expect("lengths"));
        same!(|p, h: In, l: In, c: In, _: In, o: &mut Series| atr_into(h, l, c, p, o).expect("period"), atr(&h2, &l2, &c2, p2).expect("period"));
        same!(|p, h: In, l: In, c: In, _: In, o: &mut Series| adx_into(h, l, c, p, o).expect("period"), adx(&h2, &l2, &c2, p2).expect("period"));
        same!(|p, h: In, l: In, c: In, _: In, o: &mut Series| cci_into(h, l, c, p, o).expect("period"), cci(&h2, &l2, &c2, p2).expect("period"));
        same!(|p, h: In, l: In, c: In, _: In, o: &mut Series| willr_into(h, l, c, p, o).expect("period"), willr(&h2, &l2, &c2, p2).expect("period"));
        same!(|p, h: In, l: In, c: In, v: In, o: &mut Series| mfi_into(h, l, c, v, p, o).expect("period"), mfi(&h2, &l2, &c2, &v2, p2).expect("period"));

        let mut lines = Macd::default();
        macd_into(&c1, p1, p1 + 3, 4, &mut lines).expect("periods");
        macd_into(&c2, p2, p2 + 3, 4, &mut lines).expect("periods");
        prop_assert_eq!(lines, macd(&c2, p2, p2 + 3, 4).expect("periods"));
        let mut bands = Bands::default();
        bbands_into(&c1, p1, 2.0, 1.5, &mut bands).expect("period");
        bbands_into(&c2, p2, 2.0, 1.5, &mut bands).expect("period");
        prop_assert_eq!(bands, bbands(&c2, p2, 2.0, 1.5).expect("period"));
        let mut kd = Stoch::default();
        stoch_into(&h1, &l1, &c1, p1, 3, 2, &mut kd).expect("periods");
        stoch_into(&h2, &l2, &c2, p2, 3, 2, &mut kd).expect("periods");
        prop_assert_eq!(kd, stoch(&h2, &l2, &c2, p2, 3, 2).expect("periods"));
    }

    #[test]
    fn signal_engine_never_panics((high, low, close, volume) in bars(150)) {
        let engine = SignalEngine::from_config(&SignalConfig::default()).expect("valid");
        let bars = Bars::new(&close, &high, &low, &close, &volume).expect("lengths");
        let signal = engine.evaluate(&bars);
        prop_assert_eq!(signal.bar, close.len().checked_sub(1));
        prop_assert!((0.0..=1.0).contains(&signal.strength));
        prop_assert_eq!(signal.votes.len(), 4);
    }
}

#[test]
fn periods_outside_ta_libs_range_are_errors() {
    assert!(sma(&[1.0], 0).is_err());
    assert!(rsi(&[1.0], 1).is_err());
    assert!(sma(&[1.0], 100_001).is_err());
    assert!(bbands(&[1.0], 5, f64::NAN, 2.0).is_err());
    let err = atr(&[1.0, 2.0], &[1.0], &[1.0, 2.0], 3).expect_err("lengths differ");
    assert_eq!(
        err.to_string(),
        "input columns differ in length: low has 1 values, expected 2"
    );
}
