//! The scheduler: computes each user's signals on their schedule and
//! stores them, in passes.
//!
//! A pass gathers every user who is due (interval or 5-field cron in New
//! York time; market hours only by the broker's clock when set), groups
//! their symbols by data source (the operator's market-data key when set,
//! serving everyone; otherwise each user's own active account, never
//! another user's keys) and fetches each group's bars in one multi-symbol
//! request. A failure for one user or symbol is recorded and the rest go
//! on. Signals are stored once per (user, symbol, timeframe, bar).
//!
//! Exactly one scheduler runs passes: on PostgreSQL the holder of an
//! advisory lock kept on a connection of its own (checked alive before each
//! pass, since a dropped connection silently releases the lock); on SQLite
//! the holder of a lease row renewed every pass.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use diesel::{Connection, RunQueryDsl};
use trader_alpaca::{AccountClient, AccountKey, Bar, BarsQuery};
use trader_api_types::UserId;
use trader_api_types::signals::Settings;
use trader_db::{DatabaseUrl, DbConnection};

use crate::error::{ApiError, blocking};
use crate::services::broker::{self, broker_env};
use crate::services::events;
use crate::services::settings::signal_config;
use crate::services::signals::{evaluate, window};
use crate::state::AppState;

/// The advisory lock's key on PostgreSQL (shared with `restore`).
const ADVISORY_KEY: i64 = trader_db::scheduler::SCHEDULER_LOCK_KEY;
/// The lease's name on SQLite.
const LEASE: &str = trader_db::scheduler::SCHEDULER_LEASE;
/// How far a check during a pass renews the SQLite lease.
const RENEWAL: Duration = Duration::minutes(1);

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub users: usize,
    pub symbols: usize,
    pub signals_stored: usize,
    /// Auto-trade: orders placed, and every decision made (placed,
    /// skipped, refused, failed, dry run).
    pub orders_placed: usize,
    pub decisions: usize,
    pub errors: Vec<String>,
}

/// When a user is next due after a run at `now`.
pub fn next_run(settings: &Settings, now: DateTime<Utc>) -> DateTime<Utc> {
    if let Some(cron) = settings.schedule.cron.as_deref()
        && let Ok(cron) = croner::Cron::new(cron).parse()
    {
        let ny = now.with_timezone(&chrono_tz::America::New_York);
        if let Ok(next) = cron.find_next_occurrence(&ny, false) {
            return next.with_timezone(&Utc);
        }
    }
    now + Duration::minutes(i64::from(settings.schedule.interval_minutes.max(1)))
}

/// Where a group's bars come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Operator,
    User(i64),
}

struct Due {
    user: UserId,
    settings: Settings,
    symbols: Vec<(String, Option<String>)>,
    client: Option<AccountClient>,
    /// The environment of the account `client` belongs to.
    env: Option<trader_api_types::broker::Environment>,
}

fn parse_settings(json: Option<String>) -> Settings {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

/// One pass at `now` for every user due, without the scheduler's lock
/// (tests, and a caller that holds it some other way); `holder` names the
/// caller in the record of passes.
pub async fn run_pass(
    state: &AppState,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<PassReport, ApiError> {
    pass(state, holder, now, None).await
}

/// One pass by the holder of the scheduler's lock, which auto-trade checks
/// alive before each order.
pub async fn run_led_pass(
    state: &AppState,
    lead: &Leadership,
    now: DateTime<Utc>,
) -> Result<PassReport, ApiError> {
    pass(state, lead.holder(), now, Some(lead)).await
}

async fn pass(
    state: &AppState,
    holder: &str,
    now: DateTime<Utc>,
    lead: Option<&Leadership>,
) -> Result<PassReport, ApiError> {
    let started = std::time::Instant::now();
    let report = pass_inner(state, holder, now, lead).await;
    let result = match &report {
        Ok(r) if r.errors.is_empty() => "ok",
        Ok(_) => "errors",
        Err(_) => "failed",
    };
    metrics::counter!(crate::prom::SCHEDULER_PASSES, "result" => result).increment(1);
    metrics::histogram!(crate::prom::SCHEDULER_SECONDS).record(started.elapsed().as_secs_f64());
    if let Ok(r) = &report {
        let n = |x: usize| u64::try_from(x).unwrap_or(u64::MAX);
        metrics::counter!(crate::prom::SIGNALS_STORED).increment(n(r.signals_stored));
        metrics::counter!(crate::prom::AUTO_TRADE_DECISIONS).increment(n(r.decisions));
        metrics::counter!(crate::prom::ORDERS_SUBMITTED, "source" => "auto_trade")
            .increment(n(r.orders_placed));
    }
    report
}

async fn pass_inner(
    state: &AppState,
    holder: &str,
    now: DateTime<Utc>,
    lead: Option<&Leadership>,
) -> Result<PassReport, ApiError> {
    let started = state.clock.now();
    let pool = state.pool.clone();
    // Who is due, with their settings and default watchlist.
    let candidates = blocking(move || {
        let mut conn = pool.get()?;
        let next: BTreeMap<UserId, Option<DateTime<Utc>>> =
            trader_db::scheduler::next_runs(&mut conn)?
                .into_iter()
                .collect();
        let mut out = Vec::new();
        for user in trader_db::users::list_users(&mut conn)? {
            if !user.is_active {
                continue;
            }
            let settings = parse_settings(trader_db::user_settings::get(&mut conn, user.id)?);
            let due = next
                .get(&user.id)
                .copied()
                .flatten()
                .is_none_or(|t| t <= now);
            if !settings.schedule.enabled || !due {
                continue;
            }
            let lists = trader_db::watchlists::list(&mut conn, user.id)?;
            let Some(default) = lists.into_iter().find(|l| l.is_default) else {
                continue;
            };
            let symbols: Vec<(String, Option<String>)> =
                trader_db::watchlists::symbols(&mut conn, default.id)?
                    .into_iter()
                    .map(|e| (e.symbol, e.name))
                    .collect();
            if symbols.is_empty() {
                continue;
            }
            out.push((user.id, settings, symbols));
        }
        Ok(out)
    })
    .await?;

    let mut report = PassReport::default();
    let mut due: Vec<Due> = Vec::new();
    for (user, settings, symbols) in candidates {
        // With auto-trade on, its own account is also the data source (and
        // the market's clock): never another account's data, which could
        // be a simulator's while auto-trade trades a live account.
        let account = settings
            .auto_trade
            .account_id
            .filter(|_| settings.auto_trade.enabled);
        let (client, env) = match broker::target(state, user, account).await {
            Ok(t) => (Some(t.client), Some(t.env)),
            Err(e) => {
                record_user(
                    state,
                    user,
                    now,
                    Some(next_run(&settings, now)),
                    Some(&e.to_string()),
                )
                .await?;
                report.errors.push(format!("user {user}: {e}"));
                continue;
            }
        };
        if settings.schedule.market_hours_only
            && let Some(c) = &client
        {
            match c.clock().await {
                Ok(clock) if !clock.is_open => {
                    record_user(state, user, now, Some(next_run(&settings, now)), None).await?;
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    report.errors.push(format!("user {user}: the clock: {e}"));
                    continue;
                }
            }
        }
        due.push(Due {
            user,
            settings,
            symbols,
            client,
            env,
        });
    }
    report.users = due.len();

    // Group by data source, timeframe and feed: one multi-symbol request each.
    let operator = state
        .settings
        .market_data
        .as_ref()
        .map(|(env, keys)| {
            state
                .broker
                .for_account(AccountKey(-1), broker_env(*env), keys)
        })
        .transpose()
        .map_err(broker::map_error)?;
    type GroupKey = (Source, String, String);
    let mut groups: BTreeMap<GroupKey, (BTreeSet<String>, i64, Vec<usize>)> = BTreeMap::new();
    for (i, d) in due.iter().enumerate() {
        let source = if operator.is_some() {
            Source::Operator
        } else {
            Source::User(d.user.0)
        };
        let key = (
            source,
            d.settings.data.timeframe.clone(),
            d.settings.data.feed.clone(),
        );
        let days = crate::services::signals::days_needed(&d.settings);
        let entry = groups
            .entry(key)
            .or_insert_with(|| (BTreeSet::new(), 0, Vec::new()));
        entry.0.extend(d.symbols.iter().map(|(s, _)| s.clone()));
        entry.1 = entry.1.max(days);
        entry.2.push(i);
    }
    let mut all_symbols = BTreeSet::new();
    let mut stored = 0;
    // Each user's signals, with the market time they were computed at.
    let mut computed: BTreeMap<usize, (DateTime<Utc>, Vec<ComputedSignal>)> = BTreeMap::new();
    let memo = Arc::new(Mutex::new(SignalMemo::default()));
    for ((source, timeframe, feed), (symbols, days, members)) in groups {
        all_symbols.extend(symbols.iter().cloned());
        let client = match &source {
            Source::Operator => operator.clone(),
            Source::User(_) => members.first().and_then(|i| due[*i].client.clone()),
        };
        let Some(client) = client else { continue };
        // The market's time, as the signals endpoint reads it: which bars
        // have closed, and whether they are fresh enough to trade, is the
        // broker's clock's to say (a simulator's may be pinned or replayed).
        let now = match client.clock().await {
            Ok(clock) => clock.timestamp,
            Err(_) => now,
        };
        let refs: Vec<&str> = symbols.iter().map(String::as_str).collect();
        let mut query = BarsQuery::new(&refs, timeframe.clone());
        query.start = Some(now - Duration::days(days));
        query.end = Some(now);
        query.feed = Some(feed.clone());
        query.limit = Some(10_000);
        let bars = match client.bars(&query).await {
            Ok(b) => Arc::new(b),
            Err(e) => {
                report
                    .errors
                    .push(format!("bars ({timeframe}, {feed}): {e}"));
                continue;
            }
        };
        for i in members {
            let d = &due[i];
            let (n, errors, rows) = store_user_signals(state, d, &bars, now, &memo).await?;
            stored += n;
            report.errors.extend(errors);
            let entry = computed.entry(i).or_insert_with(|| (now, Vec::new()));
            entry.1.extend(rows);
        }
    }
    // Auto-trade, for the users who turned it on, on the signals just made;
    // what stopped it is the user's last error in the scheduler's status.
    let mut trade_errors: BTreeMap<usize, String> = BTreeMap::new();
    for (i, (market_now, rows)) in &computed {
        let d = &due[*i];
        if !d.settings.auto_trade.enabled {
            continue;
        }
        // Where this user's bars came from.
        let data_env = match &state.settings.market_data {
            Some((env, _)) => Some(*env),
            None => d.env,
        };
        let r = crate::services::auto_trade::run_for_user(
            state,
            lead,
            d.user,
            &d.settings,
            rows,
            *market_now,
            data_env,
        )
        .await;
        report.orders_placed += r.placed;
        report.decisions += r.placed + r.dry_run + r.skipped + r.refused + r.failed;
        if let Some(first) = r.errors.first() {
            trade_errors.insert(*i, first.clone());
        }
        report.errors.extend(r.errors);
    }
    for (i, d) in due.iter().enumerate() {
        let error = trade_errors.get(&i).map(String::as_str);
        record_user(state, d.user, now, Some(next_run(&d.settings, now)), error).await?;
    }
    report.symbols = all_symbols.len();
    report.signals_stored = stored;

    let pool = state.pool.clone();
    let retention = state.settings.signals_retention_days;
    let run = trader_db::scheduler::Run {
        holder: holder.to_owned(),
        started_at: started,
        finished_at: Some(state.clock.now()),
        users: i32::try_from(report.users).unwrap_or(i32::MAX),
        symbols: i32::try_from(report.symbols).unwrap_or(i32::MAX),
        signals: i32::try_from(report.signals_stored).unwrap_or(i32::MAX),
        errors: i32::try_from(report.errors.len()).unwrap_or(i32::MAX),
    };
    blocking(move || {
        let mut conn = pool.get()?;
        trader_db::scheduler::record_run(&mut conn, &run)?;
        trader_db::signal_history::prune(
            &mut conn,
            now - Duration::days(i64::from(retention)),
            now - Duration::days(7),
        )?;
        // Auto-trade's decisions are kept as long as BUY and SELL signals.
        trader_db::auto_trade::prune(&mut conn, now - Duration::days(i64::from(retention)))?;
        Ok(())
    })
    .await?;
    Ok(report)
}

async fn record_user(
    state: &AppState,
    user: UserId,
    now: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    error: Option<&str>,
) -> Result<(), ApiError> {
    let pool = state.pool.clone();
    let error = error.map(str::to_owned);
    blocking(move || {
        Ok(trader_db::scheduler::record_user_run(
            &mut *pool.get()?,
            user,
            now,
            next,
            error.as_deref(),
        )?)
    })
    .await
}

/// A signal computed for storing.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputedSignal {
    pub symbol: String,
    pub action: String,
    pub strength_pct: f64,
    pub price: Option<f64>,
    pub bar_time: DateTime<Utc>,
    /// JSON of the votes.
    pub votes: String,
}

/// Signals already computed in this pass, by (settings, symbol): users
/// with the same settings and a symbol in common share one computation.
#[derive(Debug, Default)]
pub struct SignalMemo {
    done: std::collections::HashMap<(String, String), Result<ComputedSignal, String>>,
}

/// One user's signals from bars already fetched (pure CPU work): the
/// signals, and an error line for each symbol without one.
pub fn compute_signals(
    user: UserId,
    settings: &Settings,
    symbols: &[(String, Option<String>)],
    bars: &BTreeMap<String, Vec<Bar>>,
    now: DateTime<Utc>,
    memo: &mut SignalMemo,
) -> (Vec<ComputedSignal>, Vec<String>) {
    let tf = settings.data.timeframe.as_str();
    let settings_key = serde_json::to_string(settings).unwrap_or_default();
    let config = signal_config(settings);
    let Ok(engine) = trader_indicators::SignalEngine::from_config(&config) else {
        return (Vec::new(), vec![format!("user {user}: invalid settings")]);
    };
    let lookback_start = now - Duration::days(i64::from(settings.data.lookback_days));
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (symbol, name) in symbols {
        let outcome = memo
            .done
            .entry((settings_key.clone(), symbol.clone()))
            .or_insert_with(|| {
                let closed: Vec<Bar> = bars
                    .get(symbol)
                    .map(|b| {
                        b.iter()
                            .filter(|b| crate::services::signals::closed(b.t, tf, now))
                            .copied()
                            .collect()
                    })
                    .unwrap_or_default();
                let w = window(
                    settings,
                    closed.iter().filter(|b| b.t >= lookback_start).count(),
                );
                let signal = evaluate(&engine, settings, symbol, name.clone(), &closed, w);
                match (&signal.action, signal.bar_time) {
                    (Some(action), Some(bar_time)) => Ok(ComputedSignal {
                        symbol: symbol.clone(),
                        action: action.clone(),
                        strength_pct: signal.strength_pct.unwrap_or(0.0),
                        price: signal.price,
                        bar_time,
                        votes: serde_json::to_string(&signal.votes)
                            .unwrap_or_else(|_| "[]".to_owned()),
                    }),
                    _ => Err(signal.error.unwrap_or_default()),
                }
            });
        match outcome {
            Ok(row) => rows.push(row.clone()),
            Err(e) => errors.push(format!("user {user}: {symbol}: {e}")),
        }
    }
    (rows, errors)
}

/// Stores a user's signals in one statement; a bar already stored is
/// skipped. Answers how many were new.
pub fn store_signals(
    conn: &mut DbConnection,
    user: UserId,
    timeframe: &str,
    rows: &[ComputedSignal],
    now: DateTime<Utc>,
) -> Result<usize, trader_db::DbError> {
    let new: Vec<trader_db::signal_history::NewSignal<'_>> = rows
        .iter()
        .map(|r| trader_db::signal_history::NewSignal {
            user_id: user,
            symbol: &r.symbol,
            timeframe,
            bar_time: r.bar_time,
            action: &r.action,
            strength: r.strength_pct,
            price: r.price,
            votes: &r.votes,
        })
        .collect();
    trader_db::signal_history::insert_many(conn, &new, now)
}

/// Evaluates and stores one user's signals from a group's bars, both on a
/// blocking thread (the computation is CPU work, the insert database I/O).
async fn store_user_signals(
    state: &AppState,
    d: &Due,
    bars: &Arc<BTreeMap<String, Vec<Bar>>>,
    now: DateTime<Utc>,
    memo: &Arc<Mutex<SignalMemo>>,
) -> Result<(usize, Vec<String>, Vec<ComputedSignal>), ApiError> {
    let pool = state.pool.clone();
    let (user, settings, symbols) = (d.user, d.settings.clone(), d.symbols.clone());
    let (bars, memo) = (bars.clone(), memo.clone());
    blocking(move || {
        let (rows, errors) = {
            let mut memo = memo
                .lock()
                .map_err(|_| ApiError::internal(anyhow::anyhow!("memo poisoned")))?;
            compute_signals(user, &settings, &symbols, &bars, now, &mut memo)
        };
        let mut conn = pool.get()?;
        let stored = store_signals(&mut conn, user, &settings.data.timeframe, &rows, now)?;
        // Tells the user's open pages: a pass ran, and what it found.
        let count = |a: &str| rows.iter().filter(|r| r.action == a).count();
        let pass = serde_json::json!({
            "at": now,
            "signals": rows.len(),
            "new": stored,
            "buy": count("BUY"),
            "sell": count("SELL"),
            "errors": errors.len(),
        });
        events::publish(&mut conn, user, events::kinds::SCHEDULER_PASS, &pass, None)?;
        if stored > 0 {
            events::publish(&mut conn, user, events::kinds::SIGNALS, &pass, None)?;
        }
        Ok((stored, errors, rows))
    })
    .await
}

/// The right to run passes: an advisory lock on a PostgreSQL connection of
/// its own, or a lease row on SQLite.
pub struct Leadership {
    holder: String,
    url: DatabaseUrl,
    pg: Arc<Mutex<Option<diesel::PgConnection>>>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

impl Leadership {
    pub fn new(url: DatabaseUrl) -> Self {
        Self {
            holder: uuid::Uuid::new_v4().simple().to_string(),
            url,
            pg: Arc::new(Mutex::new(None)),
        }
    }

    /// This scheduler's name in the record of passes.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether this scheduler may run a pass now: it holds (or just took)
    /// the lock, checked alive; or it holds (or just took) the lease until
    /// `now + lease`.
    pub async fn check(
        &self,
        state: &AppState,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<bool, ApiError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let url = url.clone();
                let slot = self.pg.clone();
                blocking(move || {
                    let mut slot = slot.lock().map_err(|_| {
                        ApiError::internal(anyhow::anyhow!("scheduler lock poisoned"))
                    })?;
                    // A held lock is only as good as its connection.
                    if let Some(conn) = slot.as_mut() {
                        if diesel::sql_query("SELECT 1").execute(conn).is_ok() {
                            return Ok(true);
                        }
                        *slot = None;
                    }
                    let mut conn = diesel::PgConnection::establish(&url)
                        .map_err(|e| ApiError::Unavailable(format!("scheduler connection: {e}")))?;
                    let got: Locked = diesel::sql_query(format!(
                        "SELECT pg_try_advisory_lock({ADVISORY_KEY}) AS locked"
                    ))
                    .get_result(&mut conn)
                    .map_err(|e| ApiError::internal(anyhow::anyhow!("advisory lock: {e}")))?;
                    if got.locked {
                        *slot = Some(conn);
                    }
                    Ok(got.locked)
                })
                .await
            }
            DatabaseUrl::Sqlite(_) => {
                let pool = state.pool.clone();
                let holder = self.holder.clone();
                blocking(move || {
                    let mut conn: trader_db::PooledConnection = pool.get()?;
                    let conn: &mut DbConnection = &mut conn;
                    Ok(trader_db::scheduler::take_lease(
                        conn,
                        LEASE,
                        &holder,
                        now,
                        now + lease,
                    )?)
                })
                .await
            }
        }
    }

    /// Whether this scheduler still holds the right to run passes: on
    /// PostgreSQL its lock's connection answers (a dropped connection has
    /// silently released the lock); on SQLite the lease is still its own
    /// (and is renewed, so a long pass keeps it). Never takes the right
    /// anew.
    pub async fn alive(&self, state: &AppState, now: DateTime<Utc>) -> Result<bool, ApiError> {
        match &self.url {
            DatabaseUrl::Postgres(_) => {
                let slot = self.pg.clone();
                blocking(move || {
                    let mut slot = slot.lock().map_err(|_| {
                        ApiError::internal(anyhow::anyhow!("scheduler lock poisoned"))
                    })?;
                    Ok(match slot.as_mut() {
                        Some(conn) => diesel::sql_query("SELECT 1").execute(conn).is_ok(),
                        None => false,
                    })
                })
                .await
            }
            DatabaseUrl::Sqlite(_) => {
                let pool = state.pool.clone();
                let holder = self.holder.clone();
                blocking(move || {
                    let mut conn = pool.get()?;
                    if !trader_db::scheduler::lease_held(&mut conn, LEASE, &holder, now)? {
                        return Ok(false);
                    }
                    Ok(trader_db::scheduler::take_lease(
                        &mut conn,
                        LEASE,
                        &holder,
                        now,
                        now + RENEWAL,
                    )?)
                })
                .await
            }
        }
    }

    /// Gives the SQLite lease up (PostgreSQL's lock ends with its
    /// connection), so a running server's scheduler need not wait for it.
    pub async fn release(&self, state: &AppState) -> Result<(), ApiError> {
        if let DatabaseUrl::Sqlite(_) = &self.url {
            let pool = state.pool.clone();
            let holder = self.holder.clone();
            blocking(move || {
                Ok(trader_db::scheduler::release_lease(
                    &mut *pool.get()?,
                    LEASE,
                    &holder,
                )?)
            })
            .await?;
        }
        Ok(())
    }
}

/// Runs the scheduler until the process stops: every `tick`, if this
/// instance leads, one pass.
pub fn spawn(state: actix_web::web::Data<AppState>) {
    let leadership = Leadership::new(state.settings.database_url.clone());
    let tick = state.settings.scheduler_tick;
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let now = state.clock.now();
            let lease = Duration::from_std(tick * 3).unwrap_or(Duration::minutes(1));
            match leadership.check(&state, now, lease).await {
                Ok(true) => match run_led_pass(&state, &leadership, now).await {
                    Ok(r) => tracing::info!(
                        users = r.users,
                        symbols = r.symbols,
                        signals = r.signals_stored,
                        orders = r.orders_placed,
                        decisions = r.decisions,
                        errors = r.errors.len(),
                        "scheduler pass"
                    ),
                    Err(e) => tracing::warn!(error = %e, "scheduler pass failed"),
                },
                Ok(false) => tracing::debug!("another scheduler runs the passes"),
                Err(e) => tracing::warn!(error = %e, "scheduler leadership check failed"),
            }
        }
    });
}
