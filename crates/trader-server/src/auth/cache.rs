//! A short-lived, in-memory cache of verified sign-ins and of the rows
//! every page reads, so an authenticated read (every page load, every
//! script call) costs no database round trip.
//!
//! What is cached: session states by the hash of their cookie key, users by
//! id, token records by `jti`; and per user, their watchlists, their
//! settings and the trading account a read names (or the active one). The
//! checks themselves (expiry, security stamp, revocation, scope, whose
//! account) still run on every request against the cached rows; only the
//! rows are reused. Reads (GET, HEAD) may use cached rows; requests that
//! change something read the database afresh.
//!
//! How it stays right:
//! - **Other instances.** Database triggers move `auth_epoch` whenever a
//!   session ends or changes, a token is revoked or changed, a user is
//!   changed or deleted, or a watchlist, a user's settings or a trading
//!   account is written. Each instance reads it every [`POLL_EVERY`] and
//!   drops everything when it moved. The cache is used only while the last
//!   successful read is at most [`STALE_AFTER`] old (and not before the
//!   first), so a logout on another instance takes effect here within
//!   about a second even when the database is slow to answer.
//! - **This instance.** Every request that may change something (any
//!   method but GET, HEAD and OPTIONS) drops the cache when it ends, before
//!   its answer leaves, and also when it is abandoned midway; so a logout,
//!   a revocation, a password change or a deactivation made here holds at
//!   once for the next request.
//! - **Races.** A row read from the database is stored only if no drop
//!   happened since the read began (a generation counter), so a read that
//!   raced a logout cannot put the ended session back.
//! - **Age and size.** Entries live at most [`ENTRY_TTL`]; each map holds at
//!   most [`MAX_ENTRIES`], and a full map is emptied rather than grown.
//!
//! Hand-written rather than a cache crate: the generation check at insert
//! and the all-or-nothing drop are the whole point, and a map behind a
//! mutex does them in a few lines.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use trader_api_types::UserId;
use trader_api_types::signals::{Settings, Watchlist};
use trader_db::tokens::ApiToken;
use trader_db::trading_accounts::TradingAccount;
use trader_db::users::User;

/// How often each instance reads the auth epoch.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// The cache is bypassed when the epoch was last read longer ago than this.
pub const STALE_AFTER: Duration = Duration::from_millis(700);
/// The longest an entry is used.
pub const ENTRY_TTL: Duration = Duration::from_secs(10);
/// The most entries each map holds.
pub const MAX_ENTRIES: usize = 10_000;

/// A cached session: actix-session's state and the row's expiry.
#[derive(Clone)]
pub struct CachedSession {
    pub state: HashMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for CachedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

struct Entry<T> {
    value: T,
    stored: Instant,
}

struct Maps {
    sessions: HashMap<String, Entry<CachedSession>>,
    users: HashMap<i64, Entry<User>>,
    tokens: HashMap<String, Entry<ApiToken>>,
    /// Every watchlist of a user, the default first.
    watchlists: HashMap<i64, Entry<Arc<Vec<Watchlist>>>>,
    /// A user's settings.
    settings: HashMap<i64, Entry<Arc<Settings>>>,
    /// (user, the account asked for or `None` for the active one).
    accounts: HashMap<(i64, Option<i64>), Entry<TradingAccount>>,
}

impl Maps {
    fn clear(&mut self) {
        self.sessions.clear();
        self.users.clear();
        self.tokens.clear();
        self.watchlists.clear();
        self.settings.clear();
        self.accounts.clear();
    }
}

/// Proof that a database read began while the cache was in a given
/// generation: only such reads may be stored.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

/// The cache; one per instance, in [`crate::state::AppState`].
pub struct AuthCache {
    maps: Mutex<Maps>,
    generation: AtomicU64,
    /// The epoch last read, `i64::MIN` before the first read.
    epoch: AtomicI64,
    /// Milliseconds after `origin` of the last successful epoch read; 0:
    /// never.
    read_at_ms: AtomicU64,
    origin: Instant,
    enabled: bool,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Default for AuthCache {
    fn default() -> Self {
        Self::new(true)
    }
}

fn fresh<T: Clone>(entry: Option<&Entry<T>>) -> Option<T> {
    entry
        .filter(|e| e.stored.elapsed() <= ENTRY_TTL)
        .map(|e| e.value.clone())
}

fn put<K: std::hash::Hash + Eq, T>(map: &mut HashMap<K, Entry<T>>, key: K, value: T) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(
        key,
        Entry {
            value,
            stored: Instant::now(),
        },
    );
}

impl AuthCache {
    /// A cache; `enabled: false` makes every lookup miss (AUTH_CACHE=off).
    pub fn new(enabled: bool) -> Self {
        Self {
            maps: Mutex::new(Maps {
                sessions: HashMap::new(),
                users: HashMap::new(),
                tokens: HashMap::new(),
                watchlists: HashMap::new(),
                settings: HashMap::new(),
                accounts: HashMap::new(),
            }),
            generation: AtomicU64::new(0),
            epoch: AtomicI64::new(i64::MIN),
            read_at_ms: AtomicU64::new(0),
            origin: Instant::now(),
            enabled,
        }
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding the lock cannot leave a map half-updated
        // in a way that matters: at worst an entry is missing.
        self.maps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        // +1 so that 0 keeps meaning "never".
        u64::try_from(self.origin.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Whether cached rows may be used now: enabled, and the epoch was read
    /// recently.
    pub fn usable(&self) -> bool {
        if !self.enabled {
            return false;
        }
        let read = self.read_at_ms.load(Ordering::Acquire);
        read != 0
            && self.now_ms().saturating_sub(read)
                <= u64::try_from(STALE_AFTER.as_millis()).unwrap_or(u64::MAX)
    }

    /// Take before reading rows from the database; hand to `put_*`.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Drops every entry; reads that began before may not store theirs.
    pub fn flush(&self) {
        let mut maps = self.maps();
        self.generation.fetch_add(1, Ordering::AcqRel);
        maps.clear();
    }

    /// Records a successful read of the auth epoch: drops everything when it
    /// moved (or on the first read, which may follow entries stored by
    /// nobody: the cache starts empty, but a restart of the poller must not
    /// trust what came before it).
    /// Answers whether it moved.
    pub fn observe_epoch(&self, epoch: i64) -> bool {
        let before = self.epoch.swap(epoch, Ordering::AcqRel);
        if before != epoch {
            self.flush();
        }
        self.read_at_ms.store(self.now_ms(), Ordering::Release);
        before != epoch
    }

    /// A cached session state, when usable.
    pub fn session(&self, key_hash: &str) -> Option<CachedSession> {
        if !self.usable() {
            return None;
        }
        fresh(self.maps().sessions.get(key_hash))
    }

    /// A cached user, when usable.
    pub fn user(&self, id: UserId) -> Option<User> {
        if !self.usable() {
            return None;
        }
        fresh(self.maps().users.get(&id.0))
    }

    /// A cached token record, when usable.
    pub fn token(&self, jti: &str) -> Option<ApiToken> {
        if !self.usable() {
            return None;
        }
        fresh(self.maps().tokens.get(jti))
    }

    /// A user's cached watchlists, when usable.
    pub fn watchlists(&self, user: UserId) -> Option<Arc<Vec<Watchlist>>> {
        if !self.usable() {
            return None;
        }
        fresh(self.maps().watchlists.get(&user.0))
    }

    /// A user's cached settings, when usable.
    pub fn settings(&self, user: UserId) -> Option<Arc<Settings>> {
        if !self.usable() {
            return None;
        }
        fresh(self.maps().settings.get(&user.0))
    }

    /// A cached trading account of `user`: `account`, or the active one for
    /// `None`; when usable.
    pub fn account(&self, user: UserId, account: Option<i64>) -> Option<TradingAccount> {
        if !self.usable() {
            return None;
        }
        fresh(self.maps().accounts.get(&(user.0, account)))
    }

    /// Runs `store` on the maps if nothing was dropped since `ticket`.
    fn store(&self, ticket: Ticket, store: impl FnOnce(&mut Maps)) {
        if !self.enabled {
            return;
        }
        let mut maps = self.maps();
        if self.generation.load(Ordering::Acquire) == ticket.0 {
            store(&mut maps);
        }
    }

    pub fn put_session(&self, ticket: Ticket, key_hash: String, session: CachedSession) {
        self.store(ticket, |m| put(&mut m.sessions, key_hash, session));
    }

    pub fn put_user(&self, ticket: Ticket, user: User) {
        self.store(ticket, |m| put(&mut m.users, user.id.0, user));
    }

    pub fn put_token(&self, ticket: Ticket, token: ApiToken) {
        self.store(ticket, |m| put(&mut m.tokens, token.jti.clone(), token));
    }

    pub fn put_watchlists(&self, ticket: Ticket, user: UserId, lists: Arc<Vec<Watchlist>>) {
        self.store(ticket, |m| put(&mut m.watchlists, user.0, lists));
    }

    pub fn put_settings(&self, ticket: Ticket, user: UserId, settings: Arc<Settings>) {
        self.store(ticket, |m| put(&mut m.settings, user.0, settings));
    }

    /// Keeps `row`, which must be `user`'s, as what `account` names.
    pub fn put_account(
        &self,
        ticket: Ticket,
        user: UserId,
        account: Option<i64>,
        row: TradingAccount,
    ) {
        if row.user_id != user {
            return;
        }
        self.store(ticket, |m| put(&mut m.accounts, (user.0, account), row));
    }

    /// Moves a cached session's expiry after the store extended it.
    pub fn extend_session(&self, ticket: Ticket, key_hash: &str, expires_at: DateTime<Utc>) {
        self.store(ticket, |m| {
            if let Some(e) = m.sessions.get_mut(key_hash) {
                e.value.expires_at = expires_at;
            }
        });
    }

    /// Records a token's last use in its cached record.
    pub fn touch_token(&self, ticket: Ticket, jti: &str, at: DateTime<Utc>) {
        self.store(ticket, |m| {
            if let Some(e) = m.tokens.get_mut(jti) {
                e.value.last_used_at = Some(at);
            }
        });
    }

    /// Entries held now (sessions, users, tokens).
    pub fn len(&self) -> (usize, usize, usize) {
        let m = self.maps();
        (m.sessions.len(), m.users.len(), m.tokens.len())
    }

    /// Users whose reads are held now (watchlists, settings, accounts).
    pub fn reads_len(&self) -> (usize, usize, usize) {
        let m = self.maps();
        (m.watchlists.len(), m.settings.len(), m.accounts.len())
    }
}

/// Drops the cache when dropped: held by a request that may change
/// something, so the drop happens whether it finishes or is abandoned.
#[derive(Debug)]
pub struct FlushOnDrop<'a>(pub &'a AuthCache);

impl Drop for FlushOnDrop<'_> {
    fn drop(&mut self) {
        self.0.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> User {
        let now = Utc::now();
        User {
            id: UserId(id),
            username: format!("user{id}"),
            email: format!("user{id}@example.com"),
            password_hash: String::new(),
            role: trader_api_types::Role::User,
            is_active: true,
            security_stamp: "stamp".to_owned(),
            created_at: now,
            updated_at: now,
            last_login_at: None,
            last_login_ip: None,
            totp_secret: None,
            totp_pending_secret: None,
            totp_enabled: false,
            totp_last_step: None,
            must_change_password: false,
            factor_failures: 0,
            factor_locked_until: None,
        }
    }

    #[test]
    fn nothing_is_used_before_the_first_epoch_read() {
        let cache = AuthCache::new(true);
        let t = cache.ticket();
        cache.put_user(t, user(1));
        assert!(cache.user(UserId(1)).is_none());
        cache.observe_epoch(5);
        // The first read drops what was stored before it.
        assert!(cache.user(UserId(1)).is_none());
        let t = cache.ticket();
        cache.put_user(t, user(1));
        assert!(cache.user(UserId(1)).is_some());
    }

    #[test]
    fn a_read_that_raced_a_flush_is_not_stored() {
        let cache = AuthCache::new(true);
        cache.observe_epoch(1);
        let before = cache.ticket();
        cache.flush();
        cache.put_user(before, user(1));
        assert!(cache.user(UserId(1)).is_none());
    }

    #[test]
    fn a_moved_epoch_drops_everything_and_a_still_one_keeps_it() {
        let cache = AuthCache::new(true);
        cache.observe_epoch(1);
        cache.put_user(cache.ticket(), user(1));
        cache.observe_epoch(1);
        assert!(cache.user(UserId(1)).is_some());
        cache.observe_epoch(2);
        assert!(cache.user(UserId(1)).is_none());
    }

    #[test]
    fn a_full_map_is_emptied_not_grown() {
        let cache = AuthCache::new(true);
        cache.observe_epoch(1);
        for i in 0..=i64::try_from(MAX_ENTRIES).unwrap_or(i64::MAX) {
            cache.put_user(cache.ticket(), user(i));
        }
        assert_eq!(cache.len().1, 1);
    }

    #[test]
    fn a_disabled_cache_never_answers() {
        let cache = AuthCache::new(false);
        cache.observe_epoch(1);
        cache.put_user(cache.ticket(), user(1));
        assert!(cache.user(UserId(1)).is_none());
    }

    #[test]
    fn reads_are_kept_per_user_and_dropped_with_the_rest() {
        let cache = AuthCache::new(true);
        cache.observe_epoch(1);
        let t = cache.ticket();
        cache.put_settings(t, UserId(1), Arc::new(Settings::default()));
        cache.put_watchlists(t, UserId(1), Arc::new(Vec::new()));
        assert!(cache.settings(UserId(1)).is_some());
        assert!(cache.settings(UserId(2)).is_none());
        assert!(cache.watchlists(UserId(1)).is_some());
        assert!(cache.watchlists(UserId(2)).is_none());
        assert_eq!(cache.reads_len(), (1, 1, 0));
        cache.observe_epoch(2);
        assert!(cache.settings(UserId(1)).is_none());
        assert!(cache.watchlists(UserId(1)).is_none());
    }

    #[test]
    fn the_drop_guard_flushes() {
        let cache = AuthCache::new(true);
        cache.observe_epoch(1);
        cache.put_user(cache.ticket(), user(1));
        drop(FlushOnDrop(&cache));
        assert!(cache.user(UserId(1)).is_none());
    }
}
