//! Signals on demand: the bars of every symbol of a watchlist in one
//! multi-symbol request (pages followed), only closed bars, the last W of
//! them through the user's rules.
//!
//! W = max(bars the rules need to settle, bars that `data.lookback_days`
//! spans at the timeframe), so `alpaca-trader signals --window W` on the
//! same bars and settings gives the same answer.

use std::collections::BTreeMap;

use actix_web::web::Bytes;
use chrono::{DateTime, Duration, Utc};
use trader_alpaca::{AccountKey, Bar, BarsQuery};
use trader_api_types::signals::{RuleVote, Settings, SymbolSignal};
use trader_indicators::{Bars, Signal, SignalEngine, Vote};

use crate::error::ApiError;
use crate::services::broker::{Target, broker_error};
use crate::services::settings::signal_config;
use crate::state::AppState;

/// Bars of `timeframe` in `days` calendar days of trading (6.5 hours a
/// day, five days a week), an upper bound for validation.
pub fn bars_in_days(days: u32, timeframe: &str) -> u64 {
    let len = bar_length(timeframe);
    let trading_days = u64::from(days) * 5 / 7 + 1;
    if len >= Duration::days(1) {
        trading_days / u64::try_from(len.num_days().max(1)).unwrap_or(1) + 1
    } else {
        trading_days * (390 / u64::try_from(len.num_minutes().max(1)).unwrap_or(1)).max(1)
    }
}

/// Whether a bar of `timeframe` that started at `t` has closed by `now`.
/// Months are calendar months (a July bar closes on August 1).
pub fn closed(t: DateTime<Utc>, timeframe: &str, now: DateTime<Utc>) -> bool {
    let digits: String = timeframe.chars().take_while(char::is_ascii_digit).collect();
    if timeframe[digits.len()..].starts_with("Month") {
        let n = digits.parse::<u32>().unwrap_or(1);
        return t
            .checked_add_months(chrono::Months::new(n))
            .is_some_and(|end| end <= now);
    }
    t + bar_length(timeframe) <= now
}

/// The length of one bar of `timeframe` (an Alpaca timeframe, checked).
pub fn bar_length(timeframe: &str) -> Duration {
    let digits: String = timeframe.chars().take_while(char::is_ascii_digit).collect();
    let n = i64::from(digits.parse::<u32>().unwrap_or(1));
    match &timeframe[digits.len()..] {
        "Min" => Duration::minutes(n),
        "Hour" => Duration::hours(n),
        "Week" => Duration::weeks(n),
        "Month" => Duration::days(30 * n),
        _ => Duration::days(n),
    }
}

/// Calendar days that surely hold `bars` bars of `timeframe`: markets trade
/// 6.5 hours a day, about 252 days a year (weekends and holidays), so a
/// half more calendar days plus three weeks of slack.
fn days_for(bars: usize, timeframe: &str) -> i64 {
    let len = bar_length(timeframe);
    let bars = i64::try_from(bars).unwrap_or(i64::MAX / 4);
    let trading_days = if len >= Duration::days(1) {
        bars.saturating_mul(len.num_days().max(1))
    } else {
        let per_day = (390 / len.num_minutes().max(1)).max(1);
        bars / per_day + 1
    };
    trading_days.saturating_mul(3) / 2 + 21
}

/// Calendar days of bars a pass fetches for `settings`: the lookback, or
/// more when the rules need more bars to settle.
pub fn days_needed(settings: &Settings) -> i64 {
    let needed = signal_config(settings).bars_needed();
    i64::from(settings.data.lookback_days).max(days_for(needed, &settings.data.timeframe))
}

/// W for `settings`: the bars the rules need, or more when the lookback
/// spans more.
pub fn window(settings: &Settings, lookback_bars: usize) -> usize {
    signal_config(settings)
        .bars_needed()
        .max(lookback_bars)
        .max(1)
}

/// The reason a rule voted as it did, in words.
fn reason(rule: &str, vote: Vote, values: &BTreeMap<String, Option<f64>>, s: &Settings) -> String {
    let v = |k: &str| values.get(k).copied().flatten();
    let f = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.2}"));
    match (rule, vote) {
        (_, Vote::None) if values.values().all(Option::is_none) => "not enough bars yet".to_owned(),
        ("rsi", Vote::Buy) => format!(
            "RSI {} is below {} (oversold)",
            f(v("rsi")),
            s.indicators.rsi.oversold
        ),
        ("rsi", Vote::Sell) => format!(
            "RSI {} is above {} (overbought)",
            f(v("rsi")),
            s.indicators.rsi.overbought
        ),
        ("rsi", Vote::None) => format!("RSI {} is between the thresholds", f(v("rsi"))),
        ("sma_crossover", Vote::Buy) => "the short SMA crossed above the long SMA".to_owned(),
        ("sma_crossover", Vote::Sell) => "the short SMA crossed below the long SMA".to_owned(),
        ("sma_crossover", Vote::None) => "no SMA crossover on this bar".to_owned(),
        ("macd", Vote::Buy) => "MACD crossed above its signal line".to_owned(),
        ("macd", Vote::Sell) => "MACD crossed below its signal line".to_owned(),
        ("macd", Vote::None) => "no MACD crossover on this bar".to_owned(),
        ("bollinger_bands", Vote::Buy) => "the close touched the lower band".to_owned(),
        ("bollinger_bands", Vote::Sell) => "the close touched the upper band".to_owned(),
        ("bollinger_bands", Vote::None) => "the close is between the bands".to_owned(),
        (other, _) => format!("{other} voted"),
    }
}

fn vote_str(v: Vote) -> &'static str {
    match v {
        Vote::Buy => "buy",
        Vote::Sell => "sell",
        Vote::None => "none",
    }
}

/// One symbol's signal over its last `window` closed bars.
pub fn evaluate(
    engine: &SignalEngine,
    settings: &Settings,
    symbol: &str,
    name: Option<String>,
    bars: &[Bar],
    window: usize,
) -> SymbolSignal {
    let tail = &bars[bars.len().saturating_sub(window)..];
    let empty = |error: String| SymbolSignal {
        symbol: symbol.to_owned(),
        name: name.clone(),
        action: None,
        strength_pct: None,
        votes: Vec::new(),
        price: None,
        bar_time: None,
        bars: tail.len(),
        error: Some(error),
    };
    if tail.is_empty() {
        return empty("the data source has no bars for this symbol".to_owned());
    }
    let col = |f: fn(&Bar) -> f64| tail.iter().map(f).collect::<Vec<f64>>();
    let (o, h, l, c, v) = (
        col(|b| b.o),
        col(|b| b.h),
        col(|b| b.l),
        col(|b| b.c),
        col(|b| b.v),
    );
    let Ok(series) = Bars::new(&o, &h, &l, &c, &v) else {
        return empty("the bars could not be read".to_owned());
    };
    if tail.len() < window {
        return SymbolSignal {
            price: tail.last().map(|b| b.c),
            bar_time: tail.last().map(|b| b.t),
            ..empty(format!(
                "only {} closed bars; the rules want {window}",
                tail.len()
            ))
        };
    }
    let signal: Signal = engine.evaluate(&series);
    let last = tail.last();
    SymbolSignal {
        symbol: symbol.to_owned(),
        name,
        action: Some(signal.action.as_str().to_owned()),
        strength_pct: Some((signal.strength * 10_000.0).round() / 100.0),
        votes: signal
            .votes
            .iter()
            .map(|rv| {
                let values: BTreeMap<String, Option<f64>> = rv
                    .values
                    .iter()
                    .map(|iv| (iv.name.to_string(), iv.value))
                    .collect();
                RuleVote {
                    rule: rv.rule.to_string(),
                    vote: vote_str(rv.vote).to_owned(),
                    reason: reason(&rv.rule, rv.vote, &values, settings),
                    values,
                }
            })
            .collect(),
        price: last.map(|b| b.c),
        bar_time: last.map(|b| b.t),
        bars: tail.len(),
        error: (tail.len() < window)
            .then(|| format!("only {} closed bars; the rules want {window}", tail.len())),
    }
}

/// The closed bars of `symbols` for `settings`, fetched in one
/// multi-symbol request through `target`, and W. A bar still forming at
/// `now` is dropped (it repaints).
pub async fn closed_bars(
    state: &AppState,
    target: &Target,
    settings: &Settings,
    symbols: &[String],
    now: DateTime<Utc>,
) -> Result<(BTreeMap<String, Vec<Bar>>, usize), ApiError> {
    let tf = settings.data.timeframe.as_str();
    let needed = signal_config(settings).bars_needed();
    let lookback_start = now - Duration::days(i64::from(settings.data.lookback_days));
    let start = lookback_start.min(now - Duration::days(days_for(needed, tf)));
    let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let mut query = BarsQuery::new(&refs, tf);
    query.start = Some(start);
    query.end = Some(now);
    query.feed = Some(settings.data.feed.clone());
    // All symbols share a page: the largest page Alpaca serves.
    query.limit = Some(10_000);
    let mut bars = target
        .client
        .bars(&query)
        .await
        .map_err(|e| broker_error(state, &target.account, e))?;
    let mut lookback_bars = 0;
    for list in bars.values_mut() {
        list.retain(|b| closed(b.t, tf, now));
        lookback_bars = lookback_bars.max(list.iter().filter(|b| b.t >= lookback_start).count());
    }
    Ok((bars, window(settings, lookback_bars)))
}

/// The chart of `symbol`: its last `limit` closed bars, the user's
/// indicators over them (computed with the warm-up bars before, so the
/// first returned bars already have values), and a marker on every bar
/// whose rules said buy or sell, replayed over exactly W bars each as
/// `GET /api/signals` would have, so a span the scheduler never ran still
/// has its markers.
pub async fn chart(
    state: &AppState,
    target: &Target,
    settings: &Settings,
    symbol: &str,
    timeframe: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<trader_api_types::signals::ChartData, ApiError> {
    let config = signal_config(settings);
    let lookback_start = now - Duration::days(i64::from(settings.data.lookback_days));
    let mut query = BarsQuery::new(&[symbol], timeframe);
    query.start = Some(
        now - Duration::days(days_for(limit + config.bars_needed(), timeframe))
            - Duration::days(i64::from(settings.data.lookback_days)),
    );
    query.end = Some(now);
    query.feed = Some(settings.data.feed.clone());
    query.limit = Some(10_000);
    let mut all = target
        .client
        .bars(&query)
        .await
        .map_err(|e| broker_error(state, &target.account, e))?;
    let mut bars = all.remove(symbol).unwrap_or_default();
    bars.retain(|b| closed(b.t, timeframe, now));
    if bars.is_empty() {
        return Err(ApiError::NotFound);
    }
    // The same W as GET /api/signals in the settings' own timeframe, so
    // the last marker is its signal; in another timeframe, what the rules
    // need to settle (the lookback is counted in the settings' bars).
    let warmup = if timeframe == settings.data.timeframe {
        window(
            settings,
            bars.iter().filter(|b| b.t >= lookback_start).count(),
        )
    } else {
        config.bars_needed().max(1)
    };
    // The indicators and the marker replay are CPU work (up to 1,000
    // windows of W bars): off the async workers.
    let (settings, symbol, timeframe) = (settings.clone(), symbol.to_owned(), timeframe.to_owned());
    actix_web::web::block(move || draw_chart(&settings, &symbol, &timeframe, &bars, limit, warmup))
        .await?
}

/// The chart from closed bars (the last `limit` returned, `warmup` more
/// before them for the indicators and the replay).
fn draw_chart(
    settings: &Settings,
    symbol: &str,
    timeframe: &str,
    bars: &[Bar],
    limit: usize,
    warmup: usize,
) -> Result<trader_api_types::signals::ChartData, ApiError> {
    use trader_api_types::signals::{ChartBar, ChartData, ChartMarker};
    use trader_indicators::indicators::{bbands, macd, rsi, sma};

    let config = signal_config(settings);
    let bars = &bars[bars.len().saturating_sub(limit + warmup)..];
    let first = bars.len().saturating_sub(limit);
    let close: Vec<f64> = bars.iter().map(|b| b.c).collect();
    let period = |p: u32| usize::try_from(p).unwrap_or(2);
    let ind = &settings.indicators;
    let cut = |s: Result<trader_indicators::Series, trader_indicators::IndicatorError>| {
        s.map(|s| s.to_options()[first..].to_vec())
            .unwrap_or_else(|_| vec![None; bars.len() - first])
    };
    let bands = bbands(
        &close,
        period(ind.bollinger_bands.period),
        ind.bollinger_bands.std_dev,
        ind.bollinger_bands.std_dev,
    );
    let m = macd(
        &close,
        period(ind.macd.fast_period),
        period(ind.macd.slow_period),
        period(ind.macd.signal_period),
    );
    let engine = SignalEngine::from_config(&config)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored settings are invalid: {e}")))?;
    let col = |f: fn(&Bar) -> f64| bars.iter().map(f).collect::<Vec<f64>>();
    let (o, h, l, v) = (col(|b| b.o), col(|b| b.h), col(|b| b.l), col(|b| b.v));
    let mut markers = Vec::new();
    let window = warmup;
    for (i, bar) in bars.iter().enumerate().skip(first) {
        if i + 1 < window {
            continue;
        }
        let range = i + 1 - window..i + 1;
        let Ok(series) = Bars::new(
            &o[range.clone()],
            &h[range.clone()],
            &l[range.clone()],
            &close[range.clone()],
            &v[range],
        ) else {
            continue;
        };
        let signal = engine.evaluate(&series);
        if signal.action != trader_indicators::Action::Hold {
            markers.push(ChartMarker {
                t: bar.t,
                action: signal.action.as_str().to_owned(),
                strength_pct: (signal.strength * 10_000.0).round() / 100.0,
                price: bar.c,
            });
        }
    }
    Ok(ChartData {
        symbol: symbol.to_owned(),
        timeframe: timeframe.to_owned(),
        bars: bars[first..]
            .iter()
            .map(|b| ChartBar {
                t: b.t,
                o: b.o,
                h: b.h,
                l: b.l,
                c: b.c,
                v: b.v,
            })
            .collect(),
        sma_short: cut(sma(&close, period(ind.sma_crossover.short_period))),
        sma_long: cut(sma(&close, period(ind.sma_crossover.long_period))),
        bb_upper: cut(bands
            .as_ref()
            .map(|b| b.upper.clone())
            .map_err(Clone::clone)),
        bb_middle: cut(bands
            .as_ref()
            .map(|b| b.middle.clone())
            .map_err(Clone::clone)),
        bb_lower: cut(bands
            .as_ref()
            .map(|b| b.lower.clone())
            .map_err(Clone::clone)),
        rsi: cut(rsi(&close, period(ind.rsi.period))),
        macd: cut(m.as_ref().map(|x| x.macd.clone()).map_err(Clone::clone)),
        macd_signal: cut(m.as_ref().map(|x| x.signal.clone()).map_err(Clone::clone)),
        macd_hist: cut(m.as_ref().map(|x| x.hist.clone()).map_err(Clone::clone)),
        markers,
    })
}

/// Computed signal lists, reused until a newer bar exists: a list's
/// signals cannot change before the bar after its last closed bar closes.
/// Keyed by the user, the trading account (and its keys' tag), the
/// watchlist's symbols and the settings, so any change computes afresh.
/// Holds the answer's JSON, so a reuse costs no serialization.
#[derive(Debug, Default)]
pub struct SignalCache {
    entries: std::sync::Mutex<std::collections::HashMap<u64, SignalEntry>>,
    /// One computation per key at a time: the requests that miss together
    /// (a page opened in several tabs, a script's burst) wait for the first
    /// instead of each asking the broker for the same bars.
    computing:
        std::sync::Mutex<std::collections::HashMap<u64, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Debug)]
struct SignalEntry {
    /// Whose answer it is (user, account key, watchlist): checked on every
    /// use, so a collision of the hashed key can never hand one user's
    /// signals to another.
    owner: (i64, i64, i64),
    until: DateTime<Utc>,
    body: Bytes,
}

/// Entries kept at most (oldest dropped first).
const SIGNAL_CACHE_MAX: usize = 10_000;

/// A cache key: the hash of everything the answer depends on, and whose
/// answer it is.
#[derive(Debug, Clone, Copy)]
pub struct SignalKey {
    hash: u64,
    owner: (i64, i64, i64),
}

impl SignalCache {
    /// The key of a request's result.
    pub fn key(
        user: trader_api_types::UserId,
        account: AccountKey,
        watchlist: &trader_api_types::signals::Watchlist,
        settings: &Settings,
    ) -> SignalKey {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        user.0.hash(&mut h);
        account.0.hash(&mut h);
        watchlist.id.hash(&mut h);
        for s in &watchlist.symbols {
            s.symbol.hash(&mut h);
            s.name.hash(&mut h);
        }
        serde_json::to_vec(settings)
            .unwrap_or_default()
            .hash(&mut h);
        SignalKey {
            hash: h.finish(),
            owner: (user.0, account.0, watchlist.id),
        }
    }

    /// The cached answer, if still valid at `now`.
    pub fn get(&self, key: SignalKey, now: DateTime<Utc>) -> Option<Bytes> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&key.hash)
            .filter(|e| e.owner == key.owner && now < e.until)
            .map(|e| e.body.clone())
    }

    /// The gate of `key`'s computation: hold its lock while computing.
    pub fn gate(&self, key: SignalKey) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut computing = self
            .computing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Gates nobody holds or waits for are dropped as new ones come.
        computing.retain(|_, g| std::sync::Arc::strong_count(g) > 1);
        std::sync::Arc::clone(computing.entry(key.hash).or_default())
    }

    /// Keeps `body` until `until`.
    pub fn put(&self, key: SignalKey, until: DateTime<Utc>, body: Bytes) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= SIGNAL_CACHE_MAX {
                let now = Utc::now();
                entries.retain(|_, e| e.until > now);
                if entries.len() >= SIGNAL_CACHE_MAX {
                    entries.clear();
                }
            }
            entries.insert(
                key.hash,
                SignalEntry {
                    owner: key.owner,
                    until,
                    body,
                },
            );
        }
    }
}

/// The broker's time (the simulator's clock may not be the wall clock),
/// or this server's when the broker does not answer.
pub async fn broker_now(state: &AppState, target: &Target) -> DateTime<Utc> {
    match target.client.clock().await {
        Ok(clock) => clock.timestamp,
        Err(_) => state.clock.now(),
    }
}

/// `GET /api/signals`: the signals of `watchlist` (default: the default
/// list) with the market data of `account` (default: the active one), as
/// the answer's JSON; reused until a newer bar can exist.
pub async fn list(
    state: &AppState,
    user: trader_api_types::UserId,
    watchlist: Option<i64>,
    account: Option<i64>,
) -> Result<Bytes, ApiError> {
    let list = crate::services::watchlists::get_read(state, user, watchlist).await?;
    let user_settings = crate::services::settings::load_read(state, user).await?;
    let target = crate::services::broker::target_read(state, user, account).await?;
    let now = broker_now(state, &target).await;
    let cache_key = SignalCache::key(
        user,
        crate::services::broker::account_key(&target.account),
        &list,
        &user_settings,
    );
    if let Some(cached) = state.signal_cache.get(cache_key, now) {
        return Ok(cached);
    }
    let gate = state.signal_cache.gate(cache_key);
    let _computing = gate.lock().await;
    // Computed meanwhile by the request that held the gate.
    if let Some(cached) = state.signal_cache.get(cache_key, now) {
        return Ok(cached);
    }
    let engine = SignalEngine::from_config(&signal_config(&user_settings))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored settings are invalid: {e}")))?;
    let symbols: Vec<String> = list.symbols.iter().map(|s| s.symbol.clone()).collect();
    let (bars, window) = if symbols.is_empty() {
        (BTreeMap::new(), self::window(&user_settings, 0))
    } else {
        closed_bars(state, &target, &user_settings, &symbols, now).await?
    };
    let empty = Vec::new();
    let result = trader_api_types::signals::SignalList {
        watchlist_id: list.id,
        timeframe: user_settings.data.timeframe.clone(),
        window,
        signals: list
            .symbols
            .iter()
            .map(|s| {
                let symbol_bars = bars.get(&s.symbol).unwrap_or(&empty);
                evaluate(
                    &engine,
                    &user_settings,
                    &s.symbol,
                    s.name.clone(),
                    symbol_bars,
                    window,
                )
            })
            .collect(),
    };
    let body = Bytes::from(
        serde_json::to_vec(&result)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("serializing signals: {e}")))?,
    );
    state
        .signal_cache
        .put(cache_key, valid_until(&result, now), body.clone());
    Ok(body)
}

/// A list whose next bar is already due (nights, weekends, holidays: the
/// market made none) is kept this long before the broker is asked again.
pub const RECHECK_DUE_BAR: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Until when a list is valid: the close of the bar after the newest bar
/// it saw (a new bar can appear no earlier), or a minute from now when that
/// close has passed without a new bar; right away when it saw none.
pub fn valid_until(
    list: &trader_api_types::signals::SignalList,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let newest = list.signals.iter().filter_map(|s| s.bar_time).max();
    match newest {
        Some(t) => {
            let len = bar_length(&list.timeframe);
            // The next bar starts at t + len and closes at t + 2 len (for
            // months, a little early, which only costs a recomputation).
            (t + len + len).max(now + RECHECK_DUE_BAR)
        }
        None => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_answer_goes_only_to_its_owner_even_on_a_hash_collision() {
        let cache = SignalCache::default();
        let now = Utc::now();
        let alice = SignalKey {
            hash: 7,
            owner: (1, 10, 100),
        };
        cache.put(
            alice,
            now + Duration::minutes(5),
            Bytes::from_static(b"alice"),
        );
        assert_eq!(cache.get(alice, now).as_deref(), Some(&b"alice"[..]));
        // The same hash, someone else's request.
        let bob = SignalKey {
            hash: 7,
            owner: (2, 20, 200),
        };
        assert!(cache.get(bob, now).is_none());
        // Expired.
        assert!(cache.get(alice, now + Duration::minutes(6)).is_none());
    }
}
