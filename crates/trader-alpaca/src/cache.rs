//! Shared reads: identical concurrent reads for one account make one broker
//! call, and a successful answer is reused for a short while (Alpaca allows
//! 200 calls a minute per key; a dashboard with a few tabs open would spend
//! that on the same account read).
//!
//! Each kind of read keeps one in-flight-or-recent future per account,
//! shared by every caller that arrives while it runs or within the time to
//! live after it succeeded. Errors are shared with the callers already
//! waiting but never reused after. A write on the account drops its entries;
//! a read still in flight then finishes for its own callers but is not
//! reused.
//!
//! Entries are keyed by the caller's opaque account key and environment,
//! never by the API key.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use tokio::time::Instant;

use crate::config::Environment;
use crate::error::BrokerError;
use crate::types::{Account, Clock, Order, Position};

/// The caller's name for an account, e.g. the server's trading account row
/// id: what shared reads are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey(pub i64);

pub(crate) type CacheKey = (AccountKey, Environment);

type Flight<T> = Shared<BoxFuture<'static, Result<(Instant, T), BrokerError>>>;

/// One kind of read, per account.
pub(crate) struct SingleFlight<T> {
    ttl: Duration,
    /// Refresh ahead: once an answer is older than this (and still within
    /// the time to live), the next caller still gets it at once, and a new
    /// read starts in the background to replace it; so under steady use no
    /// caller waits for the broker. `None`: answers simply expire.
    refresh_after: Option<Duration>,
    slots: Mutex<HashMap<CacheKey, Slot<T>>>,
}

struct Slot<T> {
    /// The read in the air, or the answer being reused.
    flight: Flight<T>,
    /// A refresh ahead in the air, which replaces `flight` once it succeeds.
    next: Option<Flight<T>>,
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    fn new(ttl: Duration) -> SingleFlight<T> {
        SingleFlight {
            ttl,
            refresh_after: None,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// [`SingleFlight::new`] refreshing ahead after three quarters of the
    /// time to live (at most a third more broker calls under steady use).
    fn refreshing_ahead(ttl: Duration) -> SingleFlight<T> {
        SingleFlight {
            refresh_after: Some(ttl.mul_f64(0.75)),
            ..SingleFlight::new(ttl)
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<CacheKey, Slot<T>>> {
        // The map holds no invariant a panic could break half-way.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a flight can still serve a caller arriving at `now`.
    fn usable(&self, flight: &Flight<T>, now: Instant) -> bool {
        match flight.peek() {
            None => true,
            Some(Ok((at, _))) => now.saturating_duration_since(*at) < self.ttl,
            Some(Err(_)) => false,
        }
    }

    /// Whether `flight` is an answer old enough to refresh ahead.
    fn due(&self, flight: &Flight<T>, now: Instant) -> bool {
        match (self.refresh_after, flight.peek()) {
            (Some(after), Some(Ok((at, _)))) => now.saturating_duration_since(*at) >= after,
            _ => false,
        }
    }

    fn start(fetch: impl FnOnce() -> BoxFuture<'static, Result<T, BrokerError>>) -> Flight<T> {
        let started = fetch();
        async move { started.await.map(|v| (Instant::now(), v)) }
            .boxed()
            .shared()
    }

    /// The shared answer for `key`, starting `fetch` unless a flight in the
    /// air or a fresh answer can serve.
    pub(crate) async fn get(
        &self,
        key: CacheKey,
        fetch: impl FnOnce() -> BoxFuture<'static, Result<T, BrokerError>>,
    ) -> Result<T, BrokerError> {
        let flight = {
            let mut slots = self.slots();
            let now = Instant::now();
            if let Some(slot) = slots.get_mut(&key) {
                // A finished refresh replaces the answer; a failed one is
                // dropped (the answer it would have replaced still serves
                // while it is fresh).
                match slot.next.as_ref().map(|n| n.peek().map(Result::is_ok)) {
                    Some(Some(true)) => {
                        if let Some(next) = slot.next.take() {
                            slot.flight = next;
                        }
                    }
                    Some(Some(false)) => slot.next = None,
                    _ => {}
                }
            }
            match slots.get_mut(&key).filter(|s| self.usable(&s.flight, now)) {
                Some(slot) => {
                    metrics::counter!(crate::metrics::BROKER_CACHE, "result" => "hit").increment(1);
                    if slot.next.is_none() && self.due(&slot.flight, now) {
                        let next = Self::start(fetch);
                        // Runs without a caller waiting on it.
                        tokio::spawn(next.clone().map(drop));
                        slot.next = Some(next);
                    }
                    slot.flight.clone()
                }
                None => {
                    metrics::counter!(crate::metrics::BROKER_CACHE, "result" => "miss")
                        .increment(1);
                    slots.retain(|_, s| self.usable(&s.flight, now));
                    let flight = Self::start(fetch);
                    slots.insert(
                        key,
                        Slot {
                            flight: flight.clone(),
                            next: None,
                        },
                    );
                    flight
                }
            }
        };
        flight.await.map(|(_, v)| v)
    }

    fn forget(&self, key: &CacheKey) {
        self.slots().remove(key);
    }
}

/// The reads that are shared: account, positions, open orders, clock.
pub(crate) struct ReadCache {
    pub(crate) account: SingleFlight<Account>,
    pub(crate) positions: SingleFlight<Vec<Position>>,
    pub(crate) open_orders: SingleFlight<Vec<Order>>,
    pub(crate) clock: SingleFlight<Clock>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache").finish_non_exhaustive()
    }
}

impl ReadCache {
    pub(crate) fn new(ttl: Duration) -> ReadCache {
        ReadCache {
            account: SingleFlight::new(ttl),
            positions: SingleFlight::new(ttl),
            open_orders: SingleFlight::new(ttl),
            // Every signals request asks the clock: refreshed ahead, so
            // none of them waits for it under steady use.
            clock: SingleFlight::refreshing_ahead(ttl),
        }
    }

    /// Drops an account's shared reads (after a write on it).
    pub(crate) fn forget(&self, key: &CacheKey) {
        self.account.forget(key);
        self.positions.forget(key);
        self.open_orders.forget(key);
        self.clock.forget(key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const KEY: CacheKey = (AccountKey(7), Environment::Paper);

    fn counting(
        calls: &Arc<AtomicU32>,
        result: Result<u32, BrokerError>,
    ) -> impl FnOnce() -> BoxFuture<'static, Result<u32, BrokerError>> + use<> {
        let calls = Arc::clone(calls);
        move || {
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                result
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn concurrent_reads_share_one_call_and_reuse_it_for_the_ttl() {
        let cache = SingleFlight::<u32>::new(Duration::from_millis(200));
        let calls = Arc::new(AtomicU32::new(0));
        let reads = (0..10).map(|_| cache.get(KEY, counting(&calls, Ok(5))));
        let all = futures_util::future::join_all(reads).await;
        assert!(all.iter().all(|r| r == &Ok(5)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(KEY, counting(&calls, Ok(6))).await, Ok(5));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Another account has its own entry.
        let other = (AccountKey(8), Environment::Paper);
        assert_eq!(cache.get(other, counting(&calls, Ok(9))).await, Ok(9));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(cache.get(KEY, counting(&calls, Ok(6))).await, Ok(6));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn errors_are_shared_in_flight_but_not_kept() {
        let cache = SingleFlight::<u32>::new(Duration::from_secs(10));
        let calls = Arc::new(AtomicU32::new(0));
        let reads = (0..5).map(|_| cache.get(KEY, counting(&calls, Err(BrokerError::Timeout))));
        let all = futures_util::future::join_all(reads).await;
        assert!(all.iter().all(|r| r == &Err(BrokerError::Timeout)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(KEY, counting(&calls, Ok(1))).await, Ok(1));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_read_refreshed_ahead_never_makes_a_caller_wait() {
        let cache = SingleFlight::<u32>::refreshing_ahead(Duration::from_millis(400));
        let calls = Arc::new(AtomicU32::new(0));
        assert_eq!(cache.get(KEY, counting(&calls, Ok(1))).await, Ok(1));
        // Past three quarters of the time to live: the old answer at once,
        // and a read in the background.
        tokio::time::sleep(Duration::from_millis(320)).await;
        assert_eq!(cache.get(KEY, counting(&calls, Ok(2))).await, Ok(1));
        assert_eq!(cache.get(KEY, counting(&calls, Ok(3))).await, Ok(1));
        // The background read (20 ms) lands and replaces it.
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(cache.get(KEY, counting(&calls, Ok(4))).await, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn forgetting_starts_a_new_read() {
        let cache = SingleFlight::<u32>::new(Duration::from_secs(10));
        let calls = Arc::new(AtomicU32::new(0));
        assert_eq!(cache.get(KEY, counting(&calls, Ok(1))).await, Ok(1));
        cache.forget(&KEY);
        assert_eq!(cache.get(KEY, counting(&calls, Ok(2))).await, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
