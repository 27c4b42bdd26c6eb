//! Throughput of the indicators at 1,000,000 bars, through the allocating
//! API and through the `*_into` API (reused outputs), and of a full signal
//! pass (all four rules over 500 symbols of 1,000 bars).
//!
//! `scripts/bench-indicators` runs this and times TA-Lib on the same sizes
//! in the same run, then prints ns/element side by side. The input is a
//! seeded random walk; `scripts/bench-indicators` builds its TA-Lib input the
//! same way (same formulas, numpy's generator).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use trader_indicators::indicators::{
    Bands, Macd, Stoch, adx, adx_into, atr, atr_into, bbands, bbands_into, ema, ema_into, macd,
    macd_into, rsi, rsi_into, sma, sma_into, stoch, stoch_into,
};
use trader_indicators::{Bars, Series, SignalConfig, SignalEngine};

/// Elements per indicator benchmark.
const N: usize = 1_000_000;
/// The signal pass: symbols x bars.
const SYMBOLS: usize = 500;
const BARS: usize = 1_000;

/// Samples of one call each, as `scripts/bench-indicators` takes TA-Lib's.
///
/// The script compares the best sample of each side. TA-Lib's samples are
/// single calls; criterion's default samples average 4 to 120 calls each, so
/// on a busy machine every one of ours absorbs other processes' time while
/// TA-Lib's best call is one that escaped them, and the ratio measures the
/// load, not the code. A flat sampling plan with a budget too short for
/// more than one call per sample makes both sides' figures the best single
/// call. (Criterion warns that the budget is short; that is the point.)
fn single_call_samples(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.sample_size(30);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_millis(1));
}

/// splitmix64: a small, well-mixed generator so the bench needs no `rand`.
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// OHLCV columns of a random walk: close moves by up to ±1% a bar, high and
/// low lie up to 0.5% outside it.
struct Walk {
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

fn walk(len: usize, seed: u64) -> Walk {
    let mut rng = SplitMix(seed);
    let mut price = 100.0;
    let mut w = Walk {
        high: Vec::with_capacity(len),
        low: Vec::with_capacity(len),
        close: Vec::with_capacity(len),
        volume: Vec::with_capacity(len),
    };
    for _ in 0..len {
        price *= 1.0 + 0.02 * (rng.next_f64() - 0.5);
        w.close.push(price);
        w.high.push(price * (1.0 + 0.005 * rng.next_f64()));
        w.low.push(price * (1.0 - 0.005 * rng.next_f64()));
        w.volume.push((1e5 + 1e6 * rng.next_f64()).floor());
    }
    w
}

/// Times `f` the way a caller uses an indicator in a loop (`x = f()`): the
/// previous result is released after the new one exists. Dropping each
/// result right after it is made would instead hand glibc three freshly
/// freed 8 MB blocks at the top of the heap, which it returns to the kernel,
/// and the next call would pay to fault them back in: that measures the
/// allocator's trim threshold, not the indicator. The TA-Lib side of
/// `scripts/bench-indicators` keeps its last result the same way.
fn bench_kept<T>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut f: impl FnMut() -> T,
) {
    let mut kept: Option<T> = None;
    group.bench_function(name, |b| {
        b.iter(|| {
            kept = Some(black_box(f()));
        })
    });
    drop(kept);
}

/// The allocating API: every call returns new output vectors.
fn indicators(c: &mut Criterion) {
    let w = walk(N, 42);
    let mut group = c.benchmark_group("indicators");
    group.throughput(Throughput::Elements(N as u64));
    single_call_samples(&mut group);
    let (h, l, c) = (&w.high, &w.low, &w.close);
    bench_kept(&mut group, "sma_20", || sma(black_box(c), 20));
    bench_kept(&mut group, "ema_12", || ema(black_box(c), 12));
    bench_kept(&mut group, "rsi_14", || rsi(black_box(c), 14));
    bench_kept(&mut group, "macd_12_26_9", || macd(black_box(c), 12, 26, 9));
    bench_kept(&mut group, "bbands_20_2_2", || {
        bbands(black_box(c), 20, 2.0, 2.0)
    });
    bench_kept(&mut group, "atr_14", || atr(black_box(h), l, c, 14));
    bench_kept(&mut group, "stoch_14_3_3", || {
        stoch(black_box(h), l, c, 14, 3, 3)
    });
    bench_kept(&mut group, "adx_14", || adx(black_box(h), l, c, 14));
    group.finish();
}

/// The `*_into` API: outputs written into buffers reused from call to call,
/// so no allocation and no page fault is timed, only the indicator.
fn indicators_into(c: &mut Criterion) {
    let w = walk(N, 42);
    let mut group = c.benchmark_group("indicators_into");
    group.throughput(Throughput::Elements(N as u64));
    single_call_samples(&mut group);
    let (h, l, c) = (&w.high, &w.low, &w.close);
    let mut one = Series::new();
    let mut lines = Macd::default();
    let mut bands = Bands::default();
    let mut kd = Stoch::default();
    group.bench_function("sma_20", |b| {
        b.iter(|| sma_into(black_box(c), 20, &mut one))
    });
    group.bench_function("ema_12", |b| {
        b.iter(|| ema_into(black_box(c), 12, &mut one))
    });
    group.bench_function("rsi_14", |b| {
        b.iter(|| rsi_into(black_box(c), 14, &mut one))
    });
    group.bench_function("macd_12_26_9", |b| {
        b.iter(|| macd_into(black_box(c), 12, 26, 9, &mut lines))
    });
    group.bench_function("bbands_20_2_2", |b| {
        b.iter(|| bbands_into(black_box(c), 20, 2.0, 2.0, &mut bands))
    });
    group.bench_function("atr_14", |b| {
        b.iter(|| atr_into(black_box(h), l, c, 14, &mut one))
    });
    group.bench_function("stoch_14_3_3", |b| {
        b.iter(|| stoch_into(black_box(h), l, c, 14, 3, 3, &mut kd))
    });
    group.bench_function("adx_14", |b| {
        b.iter(|| adx_into(black_box(h), l, c, 14, &mut one))
    });
    group.finish();
}

fn signal_pass(c: &mut Criterion) {
    let symbols: Vec<Walk> = (0..SYMBOLS).map(|s| walk(BARS, 1_000 + s as u64)).collect();
    let engine = match SignalEngine::from_config(&SignalConfig::default()) {
        Ok(engine) => engine,
        Err(e) => panic!("default settings are valid: {e}"),
    };
    let mut group = c.benchmark_group("signals");
    group.throughput(Throughput::Elements((SYMBOLS * BARS) as u64));
    single_call_samples(&mut group);
    // The script times TA-Lib's pass max(5, N / 3) times (10 by default);
    // as many single passes here, criterion's minimum.
    group.sample_size(10);
    group.bench_with_input(
        BenchmarkId::new("full_pass", format!("{SYMBOLS}x{BARS}")),
        &symbols,
        |b, symbols| {
            b.iter(|| {
                let mut buys = 0usize;
                for w in symbols {
                    let Ok(bars) = Bars::new(&w.close, &w.high, &w.low, &w.close, &w.volume) else {
                        continue;
                    };
                    let signal = engine.evaluate(black_box(&bars));
                    buys += usize::from(signal.action == trader_indicators::Action::Buy);
                }
                buys
            })
        },
    );
    group.finish();
}

criterion_group!(benches, indicators, indicators_into, signal_pass);
criterion_main!(benches);
