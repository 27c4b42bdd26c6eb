//! Deterministic prices: every symbol's path follows from the seed and the
//! symbol's name, the same on every run and every machine.
//!
//! The model has two layers:
//! - a daily random walk of closing prices from 2015-01-02 on, with a drift
//!   and a daily volatility drawn from the symbol's hash, and an overnight
//!   gap to each day's open;
//! - for each session, 1-minute bars generated on demand from a per-day seed:
//!   a Brownian bridge from the day's open to its close, with a U-shaped
//!   intraday volatility and volume profile (busy at the open and close).
//!
//! Every other bar (N minutes, hours, days, weeks, months) is an aggregate of
//! the 1-minute bars, so a daily bar's high is exactly the highest minute
//! high: limit and stop orders that trigger on minute bars agree with what
//! the bars endpoints show.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};

use crate::calendar::{self, Session};

/// One bar. Prices are integer cents; volumes whole shares (SIP volume).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Left edge of the bar.
    pub t: DateTime<Utc>,
    /// Open, cents.
    pub o: i64,
    /// High, cents.
    pub h: i64,
    /// Low, cents.
    pub l: i64,
    /// Close, cents.
    pub c: i64,
    /// Volume, shares.
    pub v: u64,
    /// Number of trades.
    pub n: u64,
    /// Volume-weighted average price (dollars).
    pub vw: f64,
}

/// The data feed a request asks for. IEX sees a small share of the
/// consolidated (SIP) volume at the same prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// The consolidated tape.
    Sip,
    /// The IEX exchange only.
    Iex,
}

impl Bar {
    /// The bar as the given feed reports it.
    pub fn for_feed(mut self, feed: Feed) -> Bar {
        if feed == Feed::Iex {
            self.v = (self.v / 40).max(1);
            self.n = (self.n / 40).max(1);
        }
        self
    }
}

/// A bar timeframe, as Alpaca's `timeframe` parameter gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeframe {
    /// `<n>Min`, 1-59.
    Minutes(u32),
    /// `<n>Hour`, 1-23.
    Hours(u32),
    /// `1Day`.
    Day,
    /// `1Week`.
    Week,
    /// `<n>Month`: 1, 2, 3, 4, 6 or 12.
    Months(u32),
}

impl Timeframe {
    /// Parses Alpaca's spellings: `15Min`/`15T`, `1Hour`/`1H`, `1Day`/`1D`,
    /// `1Week`/`1W`, `3Month`/`3M`.
    pub fn parse(s: &str) -> Option<Timeframe> {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        let unit = &s[digits.len()..];
        let n: u32 = digits.parse().ok()?;
        match unit {
            "Min" | "T" if (1..=59).contains(&n) => Some(Timeframe::Minutes(n)),
            "Hour" | "H" if (1..=23).contains(&n) => Some(Timeframe::Hours(n)),
            "Day" | "D" if n == 1 => Some(Timeframe::Day),
            "Week" | "W" if n == 1 => Some(Timeframe::Week),
            "Month" | "M" if [1, 2, 3, 4, 6, 12].contains(&n) => Some(Timeframe::Months(n)),
            _ => None,
        }
    }

    /// The left edge of the bar that holds a minute starting at `t`.
    pub fn bucket(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let ny = calendar::to_ny(t);
        let date = ny.date_naive();
        match self {
            Timeframe::Minutes(n) => {
                let m = ny.hour() * 60 + ny.minute();
                let start = m - m % n;
                calendar::ny_to_utc(
                    date,
                    chrono::NaiveTime::from_hms_opt(start / 60, start % 60, 0)
                        .unwrap_or(chrono::NaiveTime::MIN),
                )
            }
            Timeframe::Hours(n) => {
                let h = ny.hour() - ny.hour() % n;
                calendar::ny_to_utc(
                    date,
                    chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(chrono::NaiveTime::MIN),
                )
            }
            Timeframe::Day => calendar::ny_midnight(date),
            Timeframe::Week => {
                let monday =
                    date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
                calendar::ny_midnight(monday)
            }
            Timeframe::Months(n) => {
                let m0 = date.month0() - date.month0() % n;
                let first = NaiveDate::from_ymd_opt(date.year(), m0 + 1, 1).unwrap_or(date);
                calendar::ny_midnight(first)
            }
        }
    }

    /// Whether bars of this timeframe are built from whole sessions.
    pub fn is_daily_or_longer(self) -> bool {
        matches!(
            self,
            Timeframe::Day | Timeframe::Week | Timeframe::Months(_)
        )
    }
}

/// SplitMix64: a small, well-mixed, portable hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over a symbol's bytes (stable, unlike std's hasher).
fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    h
}

/// A deterministic stream of numbers from a key.
struct Rng(u64);

impl Rng {
    fn new(key: u64) -> Rng {
        Rng(mix(key))
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Per-symbol parameters drawn from the seed and the symbol.
#[derive(Debug, Clone)]
struct SymbolModel {
    key: u64,
    /// Daily volatility (log returns).
    sigma: f64,
    /// Average daily volume, shares.
    volume: f64,
    /// Log close of each trading day from [`calendar::FIRST_DATE`] on.
    log_closes: Vec<f64>,
    /// Log open of each trading day.
    log_opens: Vec<f64>,
}

/// The price model: cheap to clone, shared between threads.
#[derive(Debug, Clone)]
pub struct Market {
    seed: u64,
    days: Arc<Vec<Session>>,
    day_index: Arc<HashMap<NaiveDate, usize>>,
    symbols: Arc<Mutex<HashMap<String, Arc<SymbolModel>>>>,
    day_bars: Arc<Mutex<HashMap<(String, NaiveDate), Bar>>>,
    minute_cache: Arc<Mutex<MinuteCache>>,
}

/// Generated sessions of 1-minute bars by (symbol, date).
type MinuteCache = HashMap<(String, NaiveDate), Arc<Vec<Bar>>>;

const DAY_CACHE_MAX: usize = 400_000;
const MINUTE_CACHE_MAX: usize = 2_048;

impl Market {
    /// The model for a seed.
    pub fn new(seed: u64) -> Market {
        let days = calendar::sessions_between(calendar::FIRST_DATE, calendar::LAST_DATE);
        let day_index = days.iter().enumerate().map(|(i, s)| (s.date, i)).collect();
        Market {
            seed,
            days: Arc::new(days),
            day_index: Arc::new(day_index),
            symbols: Arc::default(),
            day_bars: Arc::default(),
            minute_cache: Arc::default(),
        }
    }

    /// The seed the prices follow from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn model(&self, symbol: &str) -> Arc<SymbolModel> {
        if let Ok(map) = self.symbols.lock()
            && let Some(m) = map.get(symbol)
        {
            return Arc::clone(m);
        }
        let model = Arc::new(self.build_model(symbol));
        if let Ok(mut map) = self.symbols.lock() {
            map.insert(symbol.to_string(), Arc::clone(&model));
        }
        model
    }

    fn build_model(&self, symbol: &str) -> SymbolModel {
        let key = mix(self.seed ^ mix(hash_str(symbol)));
        let mut r = Rng::new(key);
        // Starting price log-uniform in $15..$400; volatility 1.0%-2.6% a day
        // (16%-41% a year); drift 3%-15% a year; volume 2M-40M shares a day.
        let p0 = (15f64.ln() + r.uniform() * (400f64 / 15.0).ln()).exp();
        let sigma = 0.010 + 0.016 * r.uniform();
        let mu = (0.03 + 0.12 * r.uniform()) / 252.0;
        let volume = (2.0e6f64.ln() + r.uniform() * 20f64.ln()).exp();
        let n = self.days.len();
        let mut log_closes = Vec::with_capacity(n);
        let mut log_opens = Vec::with_capacity(n);
        let mut prev = p0.ln();
        for (i, _) in self.days.iter().enumerate() {
            let mut dr = Rng::new(key ^ mix(i as u64 + 1));
            let gap = 0.25 * sigma * dr.normal();
            let mut ret = mu - 0.5 * sigma * sigma + sigma * dr.normal();
            let open = prev + gap;
            // Keep prices above $3: reflect a walk that runs too low.
            if open + ret < 3f64.ln() {
                ret = ret.abs();
            }
            let close = (open + ret).max(3f64.ln());
            log_opens.push(open.max(3f64.ln()));
            log_closes.push(close);
            prev = close;
        }
        SymbolModel {
            key,
            sigma,
            volume,
            log_closes,
            log_opens,
        }
    }

    /// The session on a date, if any.
    pub fn session(&self, date: NaiveDate) -> Option<Session> {
        self.day_index.get(&date).map(|&i| self.days[i])
    }

    /// Sessions with dates in `[start, end]`.
    pub fn sessions(&self, start: NaiveDate, end: NaiveDate) -> &[Session] {
        let lo = self.days.partition_point(|s| s.date < start);
        let hi = self.days.partition_point(|s| s.date <= end);
        &self.days[lo..hi.max(lo)]
    }

    /// The 1-minute bars of one session, complete (cached).
    pub fn minute_bars(&self, symbol: &str, date: NaiveDate) -> Arc<Vec<Bar>> {
        let key = (symbol.to_string(), date);
        if let Ok(cache) = self.minute_cache.lock()
            && let Some(b) = cache.get(&key)
        {
            return Arc::clone(b);
        }
        let bars = Arc::new(self.generate_minutes(symbol, date));
        if let Ok(mut cache) = self.minute_cache.lock() {
            if cache.len() > MINUTE_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, Arc::clone(&bars));
        }
        bars
    }

    fn generate_minutes(&self, symbol: &str, date: NaiveDate) -> Vec<Bar> {
        let Some(&idx) = self.day_index.get(&date) else {
            return Vec::new();
        };
        let session = self.days[idx];
        let model = self.model(symbol);
        let n = session.minutes() as usize;
        if n == 0 {
            return Vec::new();
        }
        let log_open = model.log_opens[idx];
        let log_close = model.log_closes[idx];
        let mut r = Rng::new(model.key ^ mix(0xD1_u64 << 32 | idx as u64));
        // U-shaped variance and volume weights over the session.
        let weights: Vec<f64> = (0..n)
            .map(|m| {
                let x = (m as f64 + 0.5) / n as f64 * 2.0 - 1.0;
                1.0 + 2.0 * x * x
            })
            .collect();
        let total_w: f64 = weights.iter().sum();
        let minute_sigma = model.sigma * 0.9 / total_w.sqrt();
        let mut path = Vec::with_capacity(n);
        let mut acc = 0.0;
        let mut acc_w = 0.0;
        for w in &weights {
            acc += w.sqrt() * minute_sigma * r.normal();
            acc_w += w;
            path.push((acc, acc_w));
        }
        let (end, _) = path.last().copied().unwrap_or((0.0, 1.0));
        let target = log_close - log_open;
        let day_volume = model.volume * (0.35 * r.normal()).exp();
        let open_cents = cents(log_open.exp());
        let mut prev_close = open_cents;
        let mut bars = Vec::with_capacity(n);
        let open_at = session.open_at();
        for (m, &(s, sw)) in path.iter().enumerate() {
            let bridged = s + (target - end) * (sw / total_w);
            let c = if m + 1 == n {
                cents(log_close.exp())
            } else {
                cents((log_open + bridged).exp())
            };
            let o = prev_close;
            let wick = weights[m].sqrt() * minute_sigma;
            let hi = o.max(c) as f64 * (1.0 + wick * r.uniform() * 0.8);
            let lo = o.min(c) as f64 * (1.0 - wick * r.uniform() * 0.8);
            let h = (hi.ceil() as i64).max(o.max(c));
            let l = (lo.floor() as i64).min(o.min(c)).max(1);
            let v = (day_volume * weights[m] / total_w * (0.3 * r.normal()).exp()).round() as u64;
            let v = v.max(100);
            let n_trades = (v / (60 + r.next_u64() % 140)).max(1);
            let vw = ((o + h + l + c) as f64 / 4.0 / 100.0 * 10_000.0).round() / 10_000.0;
            bars.push(Bar {
                t: open_at + Duration::minutes(m as i64),
                o,
                h,
                l,
                c,
                v,
                n: n_trades,
                vw,
            });
            prev_close = c;
        }
        bars
    }

    /// The day's bar (the aggregate of all its minutes), cached.
    pub fn day_bar(&self, symbol: &str, date: NaiveDate) -> Option<Bar> {
        let key = (symbol.to_string(), date);
        if let Ok(cache) = self.day_bars.lock()
            && let Some(b) = cache.get(&key)
        {
            return Some(*b);
        }
        let minutes = self.minute_bars(symbol, date);
        let mut bar = aggregate(&minutes)?;
        bar.t = calendar::ny_midnight(date);
        if let Ok(mut cache) = self.day_bars.lock() {
            if cache.len() > DAY_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, bar);
        }
        Some(bar)
    }

    /// The bars of `timeframe` whose minutes fall in `[from, to)` (left
    /// edges), in time order, at most `max` of them. A bar is included
    /// when its left edge is in range; only minutes that end by `now` count
    /// (so the bar in progress holds the minutes completed so far).
    pub fn bars(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        max: usize,
    ) -> Vec<Bar> {
        let mut out: Vec<Bar> = Vec::new();
        if max == 0 || from > to {
            return out;
        }
        // A session's minutes may belong to a bucket that starts before the
        // session's date (weeks, months), so scan from the bucket of `from`.
        let first_date = calendar::ny_date(from);
        let scan_from = if timeframe.is_daily_or_longer() {
            first_date
        } else {
            first_date.pred_opt().unwrap_or(first_date)
        };
        let last_date = calendar::ny_date(to.min(now));
        let mut pending: Option<Bar> = None;
        for session in self.sessions(scan_from, last_date) {
            if session.open_at() >= now {
                break;
            }
            let full_day = session.close_at() <= now;
            if timeframe.is_daily_or_longer() {
                let day = if full_day {
                    self.day_bar(symbol, session.date)
                } else {
                    let minutes: Vec<Bar> = self
                        .minute_bars(symbol, session.date)
                        .iter()
                        .copied()
                        .filter(|b| b.t + Duration::minutes(1) <= now)
                        .collect();
                    aggregate(&minutes).map(|mut b| {
                        b.t = calendar::ny_midnight(session.date);
                        b
                    })
                };
                let Some(day) = day else { continue };
                let bucket = timeframe.bucket(day.t);
                push_into(&mut pending, &mut out, bucket, day, from, to);
            } else {
                for &minute in self.minute_bars(symbol, session.date).iter() {
                    if minute.t + Duration::minutes(1) > now {
                        break;
                    }
                    let bucket = timeframe.bucket(minute.t);
                    push_into(&mut pending, &mut out, bucket, minute, from, to);
                }
            }
            if out.len() >= max {
                break;
            }
        }
        if let Some(p) = pending
            && p.t >= from
            && p.t <= to
        {
            out.push(p);
        }
        out.truncate(max);
        out
    }

    /// The last trade price at `t`, in cents: the open of the minute in
    /// progress during a session (= the previous minute's close), otherwise
    /// the last session's close.
    pub fn price_at(&self, symbol: &str, t: DateTime<Utc>) -> i64 {
        if let Some(s) = calendar::session_at(t) {
            let minutes = self.minute_bars(symbol, s.date);
            let m = usize::try_from((t - s.open_at()).num_minutes()).unwrap_or(0);
            if let Some(b) = minutes.get(m) {
                return b.o;
            }
        }
        match self.last_close_before(symbol, t) {
            Some((_, c)) => c,
            None => self.first_open(symbol),
        }
    }

    /// The close of the last session that ended by `t`: (date, cents).
    pub fn last_close_before(&self, symbol: &str, t: DateTime<Utc>) -> Option<(NaiveDate, i64)> {
        let s = calendar::last_full_session(t)?;
        let b = self.day_bar(symbol, s.date)?;
        Some((s.date, b.c))
    }

    fn first_open(&self, symbol: &str) -> i64 {
        let model = self.model(symbol);
        model.log_opens.first().map_or(10_000, |o| cents(o.exp()))
    }
}

fn cents(price: f64) -> i64 {
    ((price * 100.0).round() as i64).max(1)
}

fn push_into(
    pending: &mut Option<Bar>,
    out: &mut Vec<Bar>,
    bucket: DateTime<Utc>,
    bar: Bar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) {
    match pending {
        Some(p) if p.t == bucket => merge(p, &bar),
        _ => {
            if let Some(p) = pending.take()
                && p.t >= from
                && p.t <= to
            {
                out.push(p);
            }
            let mut b = bar;
            b.t = bucket;
            *pending = Some(b);
        }
    }
}

fn merge(into: &mut Bar, bar: &Bar) {
    let pv = into.vw * into.v as f64 + bar.vw * bar.v as f64;
    into.h = into.h.max(bar.h);
    into.l = into.l.min(bar.l);
    into.c = bar.c;
    into.v += bar.v;
    into.n += bar.n;
    into.vw = if into.v > 0 {
        (pv / into.v as f64 * 10_000.0).round() / 10_000.0
    } else {
        into.vw
    };
}

/// The aggregate of consecutive bars (labelled with the first bar's time).
pub fn aggregate(bars: &[Bar]) -> Option<Bar> {
    let (first, rest) = bars.split_first()?;
    let mut acc = *first;
    for b in rest {
        merge(&mut acc, b);
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn timeframes_parse_as_alpaca_spells_them() {
        assert_eq!(Timeframe::parse("1Min"), Some(Timeframe::Minutes(1)));
        assert_eq!(Timeframe::parse("15T"), Some(Timeframe::Minutes(15)));
        assert_eq!(Timeframe::parse("4Hour"), Some(Timeframe::Hours(4)));
        assert_eq!(Timeframe::parse("1Day"), Some(Timeframe::Day));
        assert_eq!(Timeframe::parse("1Week"), Some(Timeframe::Week));
        assert_eq!(Timeframe::parse("12Month"), Some(Timeframe::Months(12)));
        for bad in ["60Min", "0Min", "2Day", "5Month", "Min", "1Year", ""] {
            assert_eq!(Timeframe::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_seed_same_prices_other_seed_other_prices() {
        let a = Market::new(7).minute_bars("AAPL", d(2024, 7, 10));
        let b = Market::new(7).minute_bars("AAPL", d(2024, 7, 10));
        let c = Market::new(8).minute_bars("AAPL", d(2024, 7, 10));
        assert_eq!(a.len(), 390);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn minute_bars_are_consistent() {
        let m = Market::new(1);
        let bars = m.minute_bars("MSFT", d(2020, 11, 27));
        assert_eq!(bars.len(), 210, "early close");
        for w in bars.windows(2) {
            assert_eq!(w[0].c, w[1].o, "each minute opens at the last close");
        }
        for b in bars.iter() {
            assert!(b.l <= b.o.min(b.c) && b.h >= b.o.max(b.c));
            assert!(b.vw * 100.0 >= b.l as f64 - 1e-6 && b.vw * 100.0 <= b.h as f64 + 1e-6);
        }
        let day = m.day_bar("MSFT", d(2020, 11, 27)).unwrap();
        assert_eq!(day.o, bars[0].o);
        assert_eq!(day.c, bars[209].c);
        assert_eq!(day.h, bars.iter().map(|b| b.h).max().unwrap());
        assert_eq!(day.l, bars.iter().map(|b| b.l).min().unwrap());
        assert_eq!(day.v, bars.iter().map(|b| b.v).sum::<u64>());
    }

    #[test]
    fn daily_volatility_is_realistic() {
        let m = Market::new(42);
        let days = m.sessions(d(2023, 1, 1), d(2023, 12, 31)).to_vec();
        let closes: Vec<f64> = days
            .iter()
            .map(|s| m.day_bar("SPY", s.date).unwrap().c as f64)
            .collect();
        let rets: Vec<f64> = closes.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
        let mean = rets.iter().sum::<f64>() / rets.len() as f64;
        let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rets.len() as f64;
        let sd = var.sqrt();
        assert!((0.005..0.04).contains(&sd), "daily sd {sd}");
    }
}
