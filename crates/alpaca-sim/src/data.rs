//! Market Data v2 handlers (ALPACA-API.md 2.9): bars for one and many
//! symbols with paging, latest trades, quotes and bars, snapshots. Prices
//! are JSON numbers; volumes and sizes integers.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::calendar;
use crate::engine::parse_time;
use crate::error::{ApiError, ApiResult};
use crate::market::{Bar, Feed, Market, Timeframe};
use crate::server::Shared;
use crate::trading::query;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stocks/bars", web::get().to(list_bars))
        .route("/stocks/bars/latest", web::get().to(latest_bars))
        .route("/stocks/trades/latest", web::get().to(latest_trades))
        .route("/stocks/quotes/latest", web::get().to(latest_quotes))
        .route("/stocks/snapshots", web::get().to(list_snapshots))
        .route("/stocks/{symbol}/bars", web::get().to(symbol_bars))
        .route(
            "/stocks/{symbol}/bars/latest",
            web::get().to(symbol_latest_bar),
        )
        .route(
            "/stocks/{symbol}/trades/latest",
            web::get().to(symbol_latest_trade),
        )
        .route(
            "/stocks/{symbol}/quotes/latest",
            web::get().to(symbol_latest_quote),
        )
        .route("/stocks/{symbol}/snapshot", web::get().to(symbol_snapshot));
}

fn price(cents: i64) -> f64 {
    cents as f64 / 100.0
}

fn bar_json(b: &Bar) -> Value {
    json!({
        "t": b.t.to_rfc3339_opts(SecondsFormat::Secs, true),
        "o": price(b.o),
        "h": price(b.h),
        "l": price(b.l),
        "c": price(b.c),
        "v": b.v,
        "n": b.n,
        "vw": b.vw,
    })
}

fn parse_feed(q: &HashMap<String, String>) -> ApiResult<Feed> {
    match q.get("feed").map(String::as_str) {
        None | Some("") | Some("iex") => Ok(Feed::Iex),
        Some("sip") | Some("delayed_sip") => Ok(Feed::Sip),
        Some(f) => Err(ApiError::bad_request(format!("invalid feed: {f}"))),
    }
}

fn parse_symbols(q: &HashMap<String, String>) -> ApiResult<Vec<String>> {
    let raw = q
        .get("symbols")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing symbols"))?;
    let mut symbols: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    symbols.sort();
    symbols.dedup();
    Ok(symbols)
}

/// The parameters of a bars request.
struct BarsQuery {
    timeframe: Timeframe,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    limit: usize,
    page_token: Option<(String, DateTime<Utc>)>,
    feed: Feed,
    desc: bool,
}

fn parse_bars_query(q: &HashMap<String, String>, now: DateTime<Utc>) -> ApiResult<BarsQuery> {
    let timeframe = q
        .get("timeframe")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing timeframe"))
        .and_then(|s| {
            Timeframe::parse(s)
                .ok_or_else(|| ApiError::bad_request(format!("invalid timeframe: {s}")))
        })?;
    let time = |key: &str| -> ApiResult<Option<DateTime<Utc>>> {
        match q.get(key).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => parse_time(s)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid {key}: {s}"))),
        }
    };
    let start = time("start")?.unwrap_or_else(|| calendar::ny_midnight(calendar::ny_date(now)));
    // A bare date as `end` includes that whole day.
    let end = match q.get("end").filter(|s| !s.is_empty()) {
        Some(s) if s.len() == 10 => {
            time("end")?.map_or(now, |t| t + Duration::days(1) - Duration::nanoseconds(1))
        }
        _ => time("end")?.unwrap_or(now),
    };
    if end < start {
        return Err(ApiError::bad_request("end should not be before start"));
    }
    let limit = match q.get("limit").filter(|s| !s.is_empty()) {
        None => 1000,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("invalid limit: {s}")))?,
    };
    let page_token = match q.get("page_token").filter(|s| !s.is_empty()) {
        None => None,
        Some(t) => {
            Some(decode_token(t).ok_or_else(|| ApiError::bad_request("invalid page_token"))?)
        }
    };
    if let Some(adj) = q.get("adjustment").filter(|s| !s.is_empty()) {
        let ok = adj
            .split(',')
            .all(|a| ["raw", "split", "dividend", "spin-off", "all"].contains(&a));
        if !ok {
            return Err(ApiError::bad_request(format!("invalid adjustment: {adj}")));
        }
    }
    if let Some(c) = q.get("currency").filter(|s| !s.is_empty())
        && c != "USD"
    {
        return Err(ApiError::bad_request(format!("invalid currency: {c}")));
    }
    let desc = match q.get("sort").map(String::as_str) {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(s) => return Err(ApiError::bad_request(format!("invalid sort: {s}"))),
    };
    Ok(BarsQuery {
        timeframe,
        start,
        end,
        limit,
        page_token,
        feed: parse_feed(q)?,
        desc,
    })
}

fn encode_token(symbol: &str, t: DateTime<Utc>) -> String {
    B64.encode(format!(
        "{symbol}|{}",
        t.to_rfc3339_opts(SecondsFormat::Nanos, true)
    ))
}

fn decode_token(token: &str) -> Option<(String, DateTime<Utc>)> {
    let raw = String::from_utf8(B64.decode(token).ok()?).ok()?;
    let (symbol, t) = raw.split_once('|')?;
    let t = DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&Utc);
    Some((symbol.to_string(), t))
}

/// One page of bars over `symbols` (sorted): the bars of each symbol in
/// turn, `limit` in all, and the token of the next page.
fn page(
    market: &Market,
    symbols: &[String],
    bq: &BarsQuery,
    now: DateTime<Utc>,
) -> (Vec<(String, Vec<Bar>)>, Option<String>) {
    let mut out: Vec<(String, Vec<Bar>)> = Vec::new();
    let mut room = bq.limit;
    let first = bq
        .page_token
        .as_ref()
        .map_or(0, |(s, _)| symbols.partition_point(|x| x < s));
    let mut next = None;
    for (i, symbol) in symbols.iter().enumerate().skip(first) {
        let resume = bq
            .page_token
            .as_ref()
            .filter(|(s, _)| s == symbol)
            .map(|(_, t)| *t);
        let bars: Vec<Bar> = if bq.desc {
            let mut all = market.bars(symbol, bq.timeframe, bq.start, bq.end, now, usize::MAX);
            all.reverse();
            all.into_iter()
                .filter(|b| resume.is_none_or(|t| b.t < t))
                .take(room + 1)
                .collect()
        } else {
            let from = resume.map_or(bq.start, |t| t + Duration::nanoseconds(1));
            market.bars(symbol, bq.timeframe, from, bq.end, now, room + 1)
        };
        let bars: Vec<Bar> = bars.into_iter().map(|b| b.for_feed(bq.feed)).collect();
        if bars.len() > room {
            let taken: Vec<Bar> = bars.into_iter().take(room).collect();
            if let Some(last) = taken.last() {
                next = Some(encode_token(symbol, last.t));
            }
            if !taken.is_empty() {
                out.push((symbol.clone(), taken));
            }
            break;
        }
        room -= bars.len();
        if !bars.is_empty() {
            out.push((symbol.clone(), bars));
        }
        if room == 0 {
            // Full page: is there anything left in later symbols?
            let more = symbols.iter().skip(i + 1).any(|s| {
                !market
                    .bars(s, bq.timeframe, bq.start, bq.end, now, 1)
                    .is_empty()
            });
            if more && let Some((s, b)) = out.last() {
                next = b.last().map(|l| encode_token(s, l.t));
            }
            break;
        }
    }
    (out, next)
}

fn known(shared: &Shared, symbols: Vec<String>) -> Vec<String> {
    let st = shared.state();
    symbols
        .into_iter()
        .filter(|s| st.assets.contains_key(s))
        .collect()
}

/// `GET /v2/stocks/bars?symbols=` (many symbols; `limit` counts all).
async fn list_bars(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let now = shared.now();
    let symbols = parse_symbols(&q)?;
    let bq = parse_bars_query(&q, now)?;
    let symbols = known(&shared, symbols);
    let (pages, next) = page(&shared.market, &symbols, &bq, now);
    let mut map = Map::new();
    for (symbol, bars) in pages {
        map.insert(symbol, Value::Array(bars.iter().map(bar_json).collect()));
    }
    Ok(HttpResponse::Ok().json(json!({"bars": map, "next_page_token": next})))
}

/// `GET /v2/stocks/{symbol}/bars`: `{"bars":[…],"symbol":…,"next_page_token":…}`.
async fn symbol_bars(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let now = shared.now();
    let symbol = path.into_inner().to_uppercase();
    let bq = parse_bars_query(&q, now)?;
    let symbols = known(&shared, vec![symbol.clone()]);
    let (pages, next) = page(&shared.market, &symbols, &bq, now);
    let bars: Vec<Value> = pages
        .first()
        .map(|(_, b)| b.iter().map(bar_json).collect())
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(json!({"bars": bars, "symbol": symbol, "next_page_token": next})))
}

fn tape(exchange: &str) -> &'static str {
    match exchange {
        "NYSE" => "A",
        "NASDAQ" => "C",
        _ => "B",
    }
}

/// Latest trade, quote and minute bar of a symbol at `now`.
struct Latest {
    trade: Value,
    quote: Value,
    minute: Option<Bar>,
}

fn latest(market: &Market, symbol: &str, exchange: &str, feed: Feed, now: DateTime<Utc>) -> Latest {
    let p = market.price_at(symbol, now);
    let t = match calendar::session_at(now) {
        Some(_) => now,
        None => {
            calendar::last_full_session(now).map_or(now, |s| s.close_at() - Duration::seconds(1))
        }
    };
    let x = if feed == Feed::Iex { "V" } else { "Q" };
    let ts = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let id = (t.timestamp() as u64).wrapping_mul(2_654_435_761) % 1_000_000_000_000;
    let minute = market
        .bars(
            symbol,
            Timeframe::Minutes(1),
            now - Duration::days(7),
            now,
            now,
            usize::MAX,
        )
        .last()
        .copied()
        .map(|b| b.for_feed(feed));
    Latest {
        trade: json!({"t": ts, "x": x, "p": price(p), "s": 100, "c": ["@"], "i": id, "z": tape(exchange)}),
        quote: json!({
            "t": ts, "ax": x, "ap": price(p + 1), "as": 2, "bx": x, "bp": price((p - 1).max(1)), "bs": 3,
            "c": ["R"], "z": tape(exchange),
        }),
        minute,
    }
}

/// (symbol, exchange) pairs, the feed and the time of a latest-data request.
type LatestRequest = (Vec<(String, String)>, Feed, DateTime<Utc>);

/// Parameters and the known symbols of a latest-data request.
fn latest_request(req: &HttpRequest, shared: &Shared) -> ApiResult<LatestRequest> {
    let q = query(req)?;
    let symbols = parse_symbols(&q)?;
    let feed = parse_feed(&q)?;
    let st = shared.state();
    let now = st.clock.now();
    let list = symbols
        .into_iter()
        .filter_map(|s| st.assets.get(&s).map(|a| (s, a.exchange.clone())))
        .collect();
    Ok((list, feed, now))
}

/// `GET /v2/stocks/trades/latest?symbols=`: `{"trades":{SYM:Trade}}`.
async fn latest_trades(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let (symbols, feed, now) = latest_request(&req, &shared)?;
    let mut map = Map::new();
    for (s, ex) in symbols {
        map.insert(s.clone(), latest(&shared.market, &s, &ex, feed, now).trade);
    }
    Ok(HttpResponse::Ok().json(json!({"trades": map})))
}

/// `GET /v2/stocks/quotes/latest?symbols=`: `{"quotes":{SYM:Quote}}`.
async fn latest_quotes(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let (symbols, feed, now) = latest_request(&req, &shared)?;
    let mut map = Map::new();
    for (s, ex) in symbols {
        map.insert(s.clone(), latest(&shared.market, &s, &ex, feed, now).quote);
    }
    Ok(HttpResponse::Ok().json(json!({"quotes": map})))
}

/// `GET /v2/stocks/bars/latest?symbols=`: `{"bars":{SYM:Bar}}`.
async fn latest_bars(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let (symbols, feed, now) = latest_request(&req, &shared)?;
    let mut map = Map::new();
    for (s, ex) in symbols {
        if let Some(b) = latest(&shared.market, &s, &ex, feed, now).minute {
            map.insert(s.clone(), bar_json(&b));
        }
    }
    Ok(HttpResponse::Ok().json(json!({"bars": map})))
}

fn snapshot(
    market: &Market,
    symbol: &str,
    exchange: &str,
    feed: Feed,
    now: DateTime<Utc>,
) -> Value {
    let l = latest(market, symbol, exchange, feed, now);
    let days = market.bars(
        symbol,
        Timeframe::Day,
        now - Duration::days(14),
        now,
        now,
        usize::MAX,
    );
    let daily = days.last().map(|b| bar_json(&b.for_feed(feed)));
    let prev = days
        .len()
        .checked_sub(2)
        .and_then(|i| days.get(i))
        .map(|b| bar_json(&b.for_feed(feed)));
    json!({
        "latestTrade": l.trade,
        "latestQuote": l.quote,
        "minuteBar": l.minute.as_ref().map(bar_json),
        "dailyBar": daily,
        "prevDailyBar": prev,
    })
}

/// `GET /v2/stocks/snapshots?symbols=`: a top-level map without a wrapper.
async fn list_snapshots(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult<HttpResponse> {
    let (symbols, feed, now) = latest_request(&req, &shared)?;
    let mut map = Map::new();
    for (s, ex) in symbols {
        map.insert(s.clone(), snapshot(&shared.market, &s, &ex, feed, now));
    }
    Ok(HttpResponse::Ok().json(Value::Object(map)))
}

/// A single symbol's request: (symbol, exchange, feed, now), 404 if unknown.
fn single(
    req: &HttpRequest,
    shared: &Shared,
    symbol: &str,
) -> ApiResult<(String, String, Feed, DateTime<Utc>)> {
    let q = query(req)?;
    let feed = parse_feed(&q)?;
    let symbol = symbol.to_uppercase();
    let st = shared.state();
    let exchange = st
        .assets
        .get(&symbol)
        .map(|a| a.exchange.clone())
        .ok_or_else(|| ApiError::not_found(format!("no data found for {symbol}")))?;
    Ok((symbol, exchange, feed, st.clock.now()))
}

/// `GET /v2/stocks/{symbol}/trades/latest`: `{"symbol":…,"trade":…}`.
async fn symbol_latest_trade(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (s, ex, feed, now) = single(&req, &shared, &path)?;
    let l = latest(&shared.market, &s, &ex, feed, now);
    Ok(HttpResponse::Ok().json(json!({"symbol": s, "trade": l.trade})))
}

/// `GET /v2/stocks/{symbol}/quotes/latest`: `{"symbol":…,"quote":…}`.
async fn symbol_latest_quote(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (s, ex, feed, now) = single(&req, &shared, &path)?;
    let l = latest(&shared.market, &s, &ex, feed, now);
    Ok(HttpResponse::Ok().json(json!({"symbol": s, "quote": l.quote})))
}

/// `GET /v2/stocks/{symbol}/bars/latest`: `{"symbol":…,"bar":…}`.
async fn symbol_latest_bar(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (s, ex, feed, now) = single(&req, &shared, &path)?;
    let l = latest(&shared.market, &s, &ex, feed, now);
    Ok(HttpResponse::Ok().json(json!({"symbol": s, "bar": l.minute.as_ref().map(bar_json)})))
}

/// `GET /v2/stocks/{symbol}/snapshot`: the snapshot plus `symbol`.
async fn symbol_snapshot(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (s, ex, feed, now) = single(&req, &shared, &path)?;
    let mut v = snapshot(&shared.market, &s, &ex, feed, now);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("symbol".into(), json!(s));
    }
    Ok(HttpResponse::Ok().json(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip() {
        let t = DateTime::parse_from_rfc3339("2022-04-11T04:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let token = encode_token("TSLA", t);
        assert_eq!(decode_token(&token), Some(("TSLA".to_string(), t)));
        assert_eq!(decode_token("not base64!"), None);
    }
}
