//! Live updates: each user's Server-Sent Events stream (`GET /api/events`).
//!
//! - **Source of truth:** the `events` table. Whatever happens (a scheduler
//!   pass, an auto-trade decision, an order change, a session ended) is
//!   recorded there by [`publish`], on whichever instance it happened.
//! - **One reader per instance:** [`spawn_reader`] reads new rows every
//!   [`READ_EVERY`] and hands them to this instance's streams through a
//!   broadcast channel; no stream holds a database connection. On
//!   PostgreSQL ids can commit out of order, so the reader keeps looking
//!   behind a gap for [`GAP_PATIENCE`] before it gives the gap up.
//! - **Orders:** while a user has a stream open here, [`watch_orders`] asks
//!   the broker for their active account's orders every
//!   [`ORDER_POLL_EVERY`] (Alpaca allows 200 calls a minute per key) and
//!   records each change; a key per change stops two instances recording
//!   it twice.
//! - **Each stream** re-checks its sign-in every [`RECHECK_EVERY`] and ends
//!   when it no longer holds, sends a heartbeat every [`HEARTBEAT_EVERY`],
//!   and ends when the server shuts down, so a graceful shutdown does not
//!   wait out its timeout. At most [`MAX_STREAMS_PER_USER`] per user and
//!   instance.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes};
use chrono::Utc;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use trader_api_types::UserId;
use trader_db::events::{self, Event, NewEvent};

use crate::auth::{AuthUser, Via};
use crate::error::{ApiError, blocking};
use crate::state::AppState;

/// How often each instance reads new events.
pub const READ_EVERY: Duration = Duration::from_millis(250);
/// How long the reader waits for a missing id to commit before moving on.
pub const GAP_PATIENCE: Duration = Duration::from_secs(10);
/// How often a stream checks that its session or token still holds.
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// How often a stream sends a heartbeat comment.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);
/// How often the broker is asked for a watched user's orders.
pub const ORDER_POLL_EVERY: Duration = Duration::from_secs(5);
/// Streams one user may hold open on one instance.
pub const MAX_STREAMS_PER_USER: usize = 5;
/// The most ids below the newest the reader waits for.
const MAX_GAP_WINDOW: i64 = 10_000;
/// Events a reconnecting stream is given from before it connected.
const REPLAY_LIMIT: i64 = 500;
/// Events are kept this long.
pub const KEEP_FOR: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// The kinds of event a stream carries.
pub mod kinds {
    pub const SIGNALS: &str = "signals";
    pub const ORDER: &str = "order";
    pub const FILL: &str = "fill";
    pub const SCHEDULER_PASS: &str = "scheduler_pass";
    pub const AUTO_TRADE: &str = "auto_trade";
    pub const SESSION_ENDED: &str = "session_ended";
}

/// Timings, shortened by tests.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub recheck: Duration,
    pub heartbeat: Duration,
    pub order_poll: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            recheck: RECHECK_EVERY,
            heartbeat: HEARTBEAT_EVERY,
            order_poll: ORDER_POLL_EVERY,
        }
    }
}

/// One user's streams on this instance.
#[derive(Debug, Default)]
struct UserStreams {
    open: usize,
    /// An order watcher runs for them (it stops itself, under the hub's
    /// lock, once `open` is 0, so at most one runs per user).
    watcher: bool,
}

/// The instance's event hub, in [`AppState`].
#[derive(Debug)]
pub struct EventHub {
    tx: broadcast::Sender<Arc<Event>>,
    /// Open streams per user on this instance.
    streams: Mutex<HashMap<UserId, UserStreams>>,
    /// Flips to true when the server shuts down.
    closing: watch::Sender<bool>,
    /// Moves when a sign-in may have ended (the auth epoch moved): every
    /// stream re-checks its own at once.
    auth_moved: watch::Sender<u64>,
    /// The highest id the reader has handed on (where a stream that fell
    /// behind before sending anything starts its catch-up).
    handed_on: std::sync::atomic::AtomicI64,
    pub timings: Timings,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new(Timings::default())
    }
}

impl EventHub {
    pub fn new(timings: Timings) -> Self {
        Self {
            tx: broadcast::channel(4096).0,
            streams: Mutex::new(HashMap::new()),
            closing: watch::channel(false).0,
            auth_moved: watch::channel(0).0,
            handed_on: std::sync::atomic::AtomicI64::new(0),
            timings,
        }
    }

    /// Ends every stream (graceful shutdown).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Makes every stream re-check its session or token now (a logout,
    /// revocation, password change or deactivation somewhere).
    pub fn recheck_all(&self) {
        self.auth_moved.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Streams open on this instance now.
    pub fn open_streams(&self) -> usize {
        self.users().values().map(|u| u.open).sum()
    }

    /// Order watchers running on this instance now.
    pub fn order_watchers(&self) -> usize {
        self.users().values().filter(|u| u.watcher).count()
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, UserStreams>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims one of `user`'s stream slots; answers whether an order
    /// watcher is to be started for them (none runs).
    fn claim(&self, user: UserId) -> Result<bool, ApiError> {
        let mut users = self.users();
        let u = users.entry(user).or_default();
        if u.open >= MAX_STREAMS_PER_USER {
            return Err(ApiError::Locked {
                message: "at most 5 live streams per user are open at once here: close another tab first",
                retry_after_secs: 30,
            });
        }
        u.open += 1;
        let start = !u.watcher;
        u.watcher = true;
        Ok(start)
    }

    fn release(&self, user: UserId) {
        let mut users = self.users();
        if let Some(u) = users.get_mut(&user) {
            u.open = u.open.saturating_sub(1);
        }
    }

    /// Whether `user`'s watcher goes on; when not, it is marked stopped
    /// under the same lock a new stream's claim takes.
    fn keep_watching(&self, user: UserId) -> bool {
        let mut users = self.users();
        match users.get_mut(&user) {
            Some(u) if u.open > 0 => true,
            _ => {
                users.remove(&user);
                false
            }
        }
    }
}

/// Records an event for `user` (blocking: call inside a blocking task).
pub fn publish(
    conn: &mut trader_db::DbConnection,
    user: UserId,
    kind: &str,
    payload: &impl Serialize,
    dedupe: Option<&str>,
) -> Result<bool, ApiError> {
    let payload = serde_json::to_string(payload).map_err(ApiError::internal)?;
    Ok(events::insert(
        conn,
        &NewEvent {
            user_id: user,
            kind,
            payload: &payload,
            dedupe,
            at: Utc::now(),
        },
    )?)
}

/// Which ids the reader has handed on, and where it may start reading.
#[derive(Debug, Default)]
struct Cursor {
    /// Every id at or below it was handed on or given up.
    floor: i64,
    /// Ids above `floor` handed on.
    seen: HashSet<i64>,
    /// Ids above `floor` missing while a higher one was seen, and since when.
    gaps: BTreeMap<i64, Instant>,
}

impl Cursor {
    /// Takes a batch read above `floor`; answers the rows not handed on yet.
    fn take(&mut self, rows: Vec<Event>, now: Instant) -> Vec<Event> {
        let mut fresh = Vec::new();
        for row in rows {
            if row.id > self.floor && self.seen.insert(row.id) {
                self.gaps.remove(&row.id);
                fresh.push(row);
            }
        }
        let top = self.seen.iter().copied().max().unwrap_or(self.floor);
        // Ids far below the newest cannot still be committing: a table
        // pruned empty under a high id counter must not make millions of
        // gaps.
        if top - self.floor > MAX_GAP_WINDOW {
            let floor = top - MAX_GAP_WINDOW;
            self.seen.retain(|id| *id > floor);
            self.gaps.retain(|id, _| *id > floor);
            self.floor = floor;
        }
        for id in self.floor + 1..top {
            if !self.seen.contains(&id) {
                self.gaps.entry(id).or_insert(now);
            }
        }
        // Move the floor over what was seen and over gaps waited out.
        loop {
            let next = self.floor + 1;
            if self.seen.remove(&next) {
                self.floor = next;
            } else if self
                .gaps
                .get(&next)
                .is_some_and(|since| now.duration_since(*since) >= GAP_PATIENCE)
            {
                self.gaps.remove(&next);
                self.floor = next;
            } else {
                break;
            }
        }
        fresh
    }
}

/// Reads new events every [`READ_EVERY`] and hands them to this instance's
/// streams; prunes events older than [`KEEP_FOR`] every hour.
pub fn spawn_reader(state: web::Data<AppState>) {
    tokio::spawn(async move {
        // Where to start: what is there now is no news. Asked until the
        // database answers (starting from 0 would replay a day as new).
        let start = loop {
            let pool = state.pool.clone();
            match blocking(move || Ok(events::latest_id(&mut *pool.get()?)?)).await {
                Ok(id) => break id,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read where events stand; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut cursor = Cursor {
            floor: start,
            ..Cursor::default()
        };
        state
            .events
            .handed_on
            .store(start, std::sync::atomic::Ordering::Release);
        let mut tick = tokio::time::interval(READ_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = Instant::now();
        let mut failing = false;
        loop {
            tick.tick().await;
            let pool = state.pool.clone();
            let floor = cursor.floor;
            let prune = pruned.elapsed() >= Duration::from_secs(3600);
            let rows = blocking(move || {
                let mut conn = pool.get()?;
                if prune {
                    events::prune(&mut conn, Utc::now() - KEEP_FOR)?;
                }
                Ok(events::after(&mut conn, floor, 1000)?)
            })
            .await;
            match rows {
                Ok(rows) => {
                    failing = false;
                    if prune {
                        pruned = Instant::now();
                    }
                    for row in cursor.take(rows, Instant::now()) {
                        state
                            .events
                            .handed_on
                            .fetch_max(row.id, std::sync::atomic::Ordering::AcqRel);
                        // No stream open: nobody to tell.
                        let _ = state.events.tx.send(Arc::new(row));
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "could not read events; streams wait");
                }
                Err(_) => {}
            }
        }
    });
}

/// One SSE message.
fn message(e: &Event) -> Bytes {
    // JSON has no raw newlines, so `data` is one line.
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        e.id, e.kind, e.payload
    ))
}

/// What a stream re-checks: its session or token, and the user's stamp.
#[derive(Debug, Clone)]
struct Holder {
    user: UserId,
    stamp: String,
    via: Check,
}

#[derive(Debug, Clone)]
enum Check {
    Session(String),
    Token(i64),
}

impl Holder {
    fn of(caller: &AuthUser) -> Self {
        Self {
            user: caller.id(),
            stamp: caller.user.security_stamp.clone(),
            via: match &caller.via {
                Via::Session(s) => Check::Session(s.sid.clone()),
                Via::Token(t) => Check::Token(t.token_id),
            },
        }
    }

    /// Whether the session or token still holds (one round trip).
    async fn still_signed_in(&self, state: &AppState) -> bool {
        let pool = state.pool.clone();
        let me = self.clone();
        let now = state.clock.now();
        blocking(move || {
            let mut conn = pool.get()?;
            let live = match &me.via {
                Check::Session(sid) => trader_db::sessions::live_by_sid(&mut conn, sid, now)?,
                Check::Token(id) => trader_db::tokens::live_by_id(&mut conn, *id, now)?,
            };
            let user = trader_db::users::find_user_by_id(&mut conn, me.user)?;
            Ok(live && user.is_some_and(|u| u.is_active && u.security_stamp == me.stamp))
        })
        .await
        .unwrap_or(false)
    }
}

/// Opens a stream for `caller`: the events after `last_id` (a reconnect's
/// `Last-Event-ID`) first, then each new one as it comes. Answers the
/// body's chunks.
pub fn open(
    state: web::Data<AppState>,
    caller: AuthUser,
    last_id: Option<i64>,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let holder = Holder::of(&caller);
    drop(caller);
    let user = holder.user;
    let first = state.events.claim(user)?;
    // Subscribed before the backlog is read, so nothing falls between.
    let mut live = state.events.tx.subscribe();
    let mut closing = state.events.closing.subscribe();
    let (out, rx) = mpsc::channel::<Bytes>(64);
    if first {
        tokio::spawn(watch_orders(state.clone(), user));
    }
    let mut auth_moved = state.events.auth_moved.subscribe();
    // Where a stream that falls behind before it sent anything catches up
    // from.
    let opened_at = state
        .events
        .handed_on
        .load(std::sync::atomic::Ordering::Acquire);
    tokio::spawn(async move {
        let _slot = Slot(state.clone(), user);
        let timings = state.events.timings;
        // Tell the browser how soon to reconnect, and open the body.
        if out
            .send(Bytes::from_static(b"retry: 3000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        // The ids sent, not just the highest: on PostgreSQL a lower id can
        // commit after a higher one, and must still be sent.
        let mut sent = Sent::default();
        if let Some(after) = last_id
            && !replay(&state, user, after, &mut sent, &out).await
        {
            return;
        }
        let mut heartbeat = tokio::time::interval(timings.heartbeat);
        heartbeat.reset();
        let mut recheck = tokio::time::interval(timings.recheck);
        recheck.reset();
        loop {
            let check_now = tokio::select! {
                _ = closing.changed() => break,
                () = out.closed() => break,
                _ = heartbeat.tick() => {
                    if out.send(Bytes::from_static(b": heartbeat\n\n")).await.is_err() {
                        break;
                    }
                    false
                }
                _ = recheck.tick() => true,
                changed = auth_moved.changed() => changed.is_ok(),
                got = live.recv() => match got {
                    Ok(e) if e.user_id == user && sent.insert(e.id) => {
                        if out.send(message(&e)).await.is_err() {
                            break;
                        }
                        false
                    }
                    Ok(_) => false,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too slow for the channel: read what was missed.
                        let after = sent.highest().unwrap_or(opened_at);
                        if !replay(&state, user, after, &mut sent, &out).await {
                            break;
                        }
                        false
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            if check_now && !holder.still_signed_in(&state).await {
                let _ = out
                    .send(Bytes::from_static(b"event: session_ended\ndata: {}\n\n"))
                    .await;
                break;
            }
        }
    });
    Ok(rx)
}

/// The ids a stream has sent (the newest few thousand).
#[derive(Debug, Default)]
struct Sent(std::collections::BTreeSet<i64>);

impl Sent {
    /// Records `id`; false when it was sent already.
    fn insert(&mut self, id: i64) -> bool {
        let new = self.0.insert(id);
        if self.0.len() > 4096 {
            self.0.pop_first();
        }
        new
    }

    fn highest(&self) -> Option<i64> {
        self.0.last().copied()
    }
}

/// Sends `user`'s stored events after `after` not sent yet; false when the
/// stream is gone or the database failed.
async fn replay(
    state: &AppState,
    user: UserId,
    after: i64,
    sent: &mut Sent,
    out: &mpsc::Sender<Bytes>,
) -> bool {
    let pool = state.pool.clone();
    let rows = blocking(move || {
        Ok(events::for_user_after(
            &mut *pool.get()?,
            user,
            after,
            REPLAY_LIMIT,
        )?)
    })
    .await;
    let Ok(rows) = rows else {
        return false;
    };
    for e in rows {
        if sent.insert(e.id) && out.send(message(&e)).await.is_err() {
            return false;
        }
    }
    true
}

/// Gives a stream's slot back when the stream ends.
struct Slot(web::Data<AppState>, UserId);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.events.release(self.1);
    }
}

/// What an order looked like at the last poll.
type Snapshot = HashMap<String, (String, String)>;

/// While `user` has a stream open here: asks the broker for their active
/// account's recent orders every [`ORDER_POLL_EVERY`] and records each
/// change (an `order` event) and each new fill (a `fill` event).
async fn watch_orders(state: web::Data<AppState>, user: UserId) {
    let mut tick = tokio::time::interval(state.events.timings.order_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut known: Option<(i64, Snapshot)> = None;
    loop {
        tick.tick().await;
        if !state.events.keep_watching(user) {
            return;
        }
        let Ok(target) = crate::services::broker::target(&state, user, None).await else {
            continue;
        };
        let Ok(orders) = target
            .client
            .orders(&trader_alpaca::ListOrders {
                status: Some(trader_alpaca::OrderStatusFilter::All),
                // The newest hundred: the broker's clock, not ours, says
                // what is recent.
                limit: Some(100),
                after: None,
                until: None,
                direction: None,
                symbols: Vec::new(),
                side: None,
            })
            .await
        else {
            continue;
        };
        let orders: Vec<_> = orders.iter().map(crate::services::broker::order).collect();
        let account = target.account.id;
        let now: Snapshot = orders
            .iter()
            .map(|o| (o.id.clone(), (o.status.clone(), o.filled_qty.clone())))
            .collect();
        // The first look at an account is the baseline: what was already
        // there is no news.
        let Some((_, before)) = known.take().filter(|(a, _)| *a == account) else {
            known = Some((account, now));
            continue;
        };
        let changed: Vec<_> = orders
            .into_iter()
            .filter(|o| before.get(&o.id) != Some(&(o.status.clone(), o.filled_qty.clone())))
            .map(|o| {
                let filled_before = before.get(&o.id).map(|(_, q)| q.clone());
                (o, filled_before)
            })
            .collect();
        known = Some((account, now));
        if changed.is_empty() {
            continue;
        }
        let pool = state.pool.clone();
        let recorded = blocking(move || {
            let mut conn = pool.get()?;
            for (order, filled_before) in &changed {
                let key = format!("order:{}:{}:{}", order.id, order.status, order.filled_qty);
                publish(
                    &mut conn,
                    user,
                    kinds::ORDER,
                    &serde_json::json!({"account_id": account, "order": order}),
                    Some(&key),
                )?;
                let more = filled_before
                    .as_deref()
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    < order.filled_qty.parse::<f64>().unwrap_or(0.0);
                if more {
                    let key = format!("fill:{}:{}", order.id, order.filled_qty);
                    publish(
                        &mut conn,
                        user,
                        kinds::FILL,
                        &serde_json::json!({
                            "account_id": account,
                            "order_id": order.id,
                            "symbol": order.symbol,
                            "side": order.side,
                            "qty": order.filled_qty,
                            "price": order.filled_avg_price,
                        }),
                        Some(&key),
                    )?;
                }
            }
            Ok(())
        })
        .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "could not record order changes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: i64) -> Event {
        Event {
            id,
            user_id: UserId(1),
            kind: "k".into(),
            payload: "{}".into(),
            created_at: Utc::now(),
        }
    }

    fn ids(v: &[Event]) -> Vec<i64> {
        v.iter().map(|e| e.id).collect()
    }

    #[test]
    fn the_reader_waits_for_an_id_that_commits_late_then_gives_it_up() {
        let mut c = Cursor::default();
        let t0 = Instant::now();
        // 2 is not committed yet.
        assert_eq!(ids(&c.take(vec![ev(1), ev(3)], t0)), [1, 3]);
        assert_eq!(c.floor, 1);
        // Read again from the floor: 3 is not handed on twice, 2 is when it
        // arrives.
        assert_eq!(ids(&c.take(vec![ev(2), ev(3)], t0)), [2]);
        assert_eq!(c.floor, 3);
        // A gap that never fills is given up after the patience.
        assert_eq!(ids(&c.take(vec![ev(5)], t0)), [5]);
        assert_eq!(c.floor, 3);
        assert!(c.take(vec![ev(5)], t0 + GAP_PATIENCE).is_empty());
        assert_eq!(c.floor, 5);
    }
}
