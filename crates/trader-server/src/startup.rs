//! Building and running the web application.
//!
//! [`Application::build`] opens the pool, applies pending migrations, makes
//! the one-time setup token while no user exists, and binds the listener
//! (port 0 picks a free port, which tests use); the caller then awaits
//! [`Application::run_until_stopped`]. [`Application::stop_on_signals`]
//! makes SIGINT and SIGTERM stop it gracefully: no new connections,
//! requests in flight finish (up to 30 s).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use trader_db::Pool;
use trader_security::totp::RecoveryCodeKey;
use trader_security::{JwtKeys, KeyRing};

use crate::auth::session_store::DbSessionStore;
use crate::clock::{SharedClock, SystemClock};
use crate::routes;
pub use crate::state::AppState;
use crate::{Settings, middleware};

/// How long requests in flight may take to finish at shutdown.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// A built, bound, not yet running server.
pub struct Application {
    address: SocketAddr,
    server: Server,
    state: web::Data<AppState>,
    /// The built-in simulator of demo mode.
    sim: Option<alpaca_sim::SimHandle>,
    /// The separate `/metrics` server (METRICS_BIND) and its address.
    metrics: Option<(SocketAddr, Server)>,
    /// This instance's row in `instances` (see [`crate::instance`]).
    instance: trader_db::instances::Instance,
    /// Renews that row; stopped before the row is removed.
    heartbeat: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Deletes expired sessions and pending logins, and stale per-network
/// password counts, every 15 minutes (expired ones are already refused;
/// this keeps the tables small).
fn spawn_session_purge(state: web::Data<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(15 * 60));
        loop {
            tick.tick().await;
            let st = state.clone();
            let purged = web::block(move || -> Result<usize, trader_db::DbError> {
                let mut conn = st.pool.get()?;
                let now = st.clock.now();
                Ok(trader_db::sessions::purge_expired(&mut conn, now)?
                    + trader_db::pending_logins::purge_expired(&mut conn, now)?
                    + trader_db::login_guard::purge_stale(
                        &mut conn,
                        now,
                        now - chrono::Duration::days(1),
                    )?)
            })
            .await;
            match purged {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::debug!(count = n, "purged expired sessions"),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not purge expired sessions"),
                Err(e) => tracing::warn!(error = %e, "session purge task failed"),
            }
        }
    });
}

/// Reads the auth epoch every 200 ms, so this instance drops its cache of
/// verified sign-ins when another instance ended a session, revoked a
/// token or changed a user (see `auth::cache`), and its live streams
/// re-check theirs at once. A failed read is only logged: the cache stops
/// being used on its own when reads stop.
fn spawn_auth_epoch_poll(state: web::Data<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::auth::cache::POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let pool = state.pool.clone();
            let read = web::block(move || -> Result<i64, trader_db::DbError> {
                trader_db::auth_epoch::current(&mut *pool.get()?)
            })
            .await;
            match read {
                Ok(Ok(epoch)) => {
                    if state.auth_cache.observe_epoch(epoch) {
                        state.events.recheck_all();
                    }
                    failing = false;
                }
                Ok(Err(e)) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "could not read the auth epoch; sign-ins are read from the database until it answers");
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "auth epoch task failed");
                }
                _ => {}
            }
        }
    });
}

/// Renews this instance's row every [`crate::instance::HEARTBEAT`].
fn spawn_heartbeat(
    state: web::Data<AppState>,
    instance: trader_db::instances::Instance,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::instance::HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is now; the row was written a moment ago.
        tick.tick().await;
        loop {
            tick.tick().await;
            let st = state.clone();
            let me = instance.clone();
            let beat = web::block(move || -> Result<(), trader_db::DbError> {
                crate::instance::beat(&mut *st.pool.get()?, &me)
            })
            .await;
            match beat {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not renew this instance's row"),
                Err(e) => tracing::warn!(error = %e, "instance heartbeat task failed"),
            }
        }
    })
}

/// Removes this instance's row: it no longer serves. A failure is only
/// logged; the row then ages out after [`crate::instance::gone_after`].
async fn remove_instance(state: web::Data<AppState>, id: String) {
    let removed = web::block(move || -> Result<(), trader_db::DbError> {
        trader_db::instances::remove(&mut *state.pool.get()?, &id)
    })
    .await;
    match removed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not remove this instance's row"),
        Err(e) => tracing::warn!(error = %e, "instance removal task failed"),
    }
}

/// The cookie's name: `__Host-` where it is Secure, so no subdomain or
/// plain-http page can set it (RFC 6265bis §4.1.3.2).
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-alpaca_session"
    } else {
        "alpaca_session"
    }
}

impl Application {
    /// Opens the database, migrates it and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with a clock of the caller's (tests).
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let url = settings.database_url.clone();
        let pool_size = u32::try_from(settings.workers.saturating_mul(4).clamp(8, 32)).unwrap_or(8);
        let data_dir = settings.data_dir.clone();
        let start_clock = clock.clone();
        let keyring = KeyRing::new(
            settings.encryption_key.clone(),
            settings.encryption_keys_old.clone(),
        );
        let instance = crate::instance::describe(&keyring);
        let (pool, setup_token) =
            tokio::task::spawn_blocking(move || -> anyhow::Result<(Pool, Option<String>)> {
                let pool = Pool::open(&url, pool_size)?;
                let mut conn = pool.get()?;
                let applied = trader_db::run_migrations(&mut conn)?;
                if !applied.is_empty() {
                    tracing::info!(count = applied.len(), "applied database migrations");
                }
                let token = if trader_db::users::count_users(&mut conn)? == 0 {
                    Some(crate::routes::auth::make_setup_token(
                        &mut conn,
                        &data_dir,
                        start_clock.now(),
                    )?)
                } else {
                    None
                };
                Ok((pool, token))
            })
            .await
            .context("database start-up task failed")??;

        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let metrics_listener = match &settings.metrics.bind {
            Some(addr) => Some(
                TcpListener::bind(addr.as_str())
                    .with_context(|| format!("METRICS_BIND: cannot listen on {addr}"))?,
            ),
            None => None,
        };
        if settings.metrics.enabled() && crate::prom::install().is_none() {
            anyhow::bail!("metrics: the Prometheus recorder could not be installed");
        }
        let address = listener.local_addr()?;
        // Once nothing else can stop the start, and before the first
        // request: `rotate-key` must see this instance's keys while it
        // serves (and no row of an instance that never started).
        let registered = instance.clone();
        let register_pool = pool.clone();
        tokio::task::spawn_blocking(move || {
            trader_db::instances::register(&mut *register_pool.get()?, &registered)
        })
        .await
        .context("instance registration task failed")?
        .context("recording this instance in the instances table")?;
        if setup_token.is_some() {
            println!(
                "No user exists yet. Create the first admin with POST /api/auth/register and the one-time setup token in {} (or run `alpaca-trader create-admin`).",
                settings.data_dir.join("setup-token").display()
            );
        }

        let jwt = JwtKeys::from_secret_key(&settings.secret_key)
            .map_err(|e| anyhow::anyhow!("SECRET_KEY: {e}"))?;
        let recovery_key =
            RecoveryCodeKey::from_secret_keys(&settings.secret_key, &settings.secret_keys_old)
                .map_err(|e| anyhow::anyhow!("SECRET_KEY: {e}"))?;
        let device_key = crate::auth::guard::device_key(settings.secret_key.expose_bytes());
        let audit_key = crate::auth::guard::audit_key(settings.secret_key.expose_bytes());
        // Demo mode: alpaca-sim in this process on a free loopback port,
        // with the replay clock so orders fill at any hour, and no rate
        // limit (it serves this server alone; tests of Alpaca's limit use
        // a simulator of their own).
        let mut settings = settings;
        let sim = if settings.demo && settings.broker_urls.sim.is_none() {
            let sim = alpaca_sim::Simulator::start(
                alpaca_sim::SimConfig {
                    clock: alpaca_sim::ClockMode::Replay,
                    rate_limit_per_min: 0,
                    ..alpaca_sim::SimConfig::default()
                },
                "127.0.0.1:0",
            )
            .await
            .context("starting the built-in simulator (demo mode)")?;
            tracing::info!(url = %sim.base_url(), "demo mode: the built-in Alpaca simulator is running");
            settings.broker_urls.sim = Some(sim.base_url());
            Some(sim)
        } else {
            None
        };
        let broker =
            trader_alpaca::Broker::new(settings.broker_urls.clone(), settings.broker.clone())
                .map_err(|e| anyhow::anyhow!("broker configuration: {e}"))?;
        let environments = settings.environments();
        let cookie_key = Key::derive_from(settings.secret_key.expose_bytes());
        let secure = settings.secure_cookies();
        let workers = settings.workers;
        // Each worker's share of the pool, or as many as may hash passwords
        // at once if more (all sign-ins on one connection land on one
        // worker), and two to spare.
        let password_permits = (workers / 2).max(1);
        let blocking_threads = usize::try_from(pool_size)
            .unwrap_or(8)
            .div_ceil(workers.max(1))
            .max(password_permits)
            .saturating_add(2);
        let auth_cache = settings.auth_cache;
        let event_timings = settings.event_timings;
        let state = web::Data::new(AppState {
            pool,
            settings,
            clock,
            keyring,
            jwt,
            recovery_key,
            device_key,
            audit_key,
            broker,
            environments,
            assets: crate::services::broker::AssetCache::default(),
            signal_cache: crate::services::signals::SignalCache::default(),
            // Half the cores (at least one) for password hashing, so the
            // rest keep serving.
            password_work: tokio::sync::Semaphore::new(password_permits),
            auth_cache: Arc::new(crate::auth::cache::AuthCache::new(auth_cache)),
            events: crate::services::events::EventHub::new(event_timings),
        });
        let openapi = routes::openapi_document();
        let route_index = Arc::new(routes::RouteIndex::from_openapi(&openapi));
        let openapi_json = web::Data::new(routes::OpenApiJson(
            serde_json::to_string_pretty(&openapi).context("OpenAPI document")?,
        ));
        spawn_session_purge(state.clone());
        spawn_auth_epoch_poll(state.clone());
        crate::services::events::spawn_reader(state.clone());
        let heartbeat = spawn_heartbeat(state.clone(), instance.clone());
        if state.settings.scheduler {
            crate::services::scheduler::spawn(state.clone());
        }
        let app_state = state.clone();
        let limiters = routes::Limiters::new(&state);
        let spa = crate::spa::Spa::new(&state.settings.spa_dir);
        // /metrics on the public address only behind the token, and only
        // when it has no address of its own.
        let public_metrics =
            state.settings.metrics.token.is_some() && state.settings.metrics.bind.is_none();
        let server = HttpServer::new(move || {
            let store = DbSessionStore::new(
                app_state.pool.clone(),
                app_state.clock.clone(),
                app_state.auth_cache.clone(),
            );
            let sessions = SessionMiddleware::builder(store, cookie_key.clone())
                .cookie_name(session_cookie_name(secure).to_owned())
                .cookie_secure(secure)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Strict)
                .cookie_path("/".to_owned())
                .cookie_content_security(CookieContentSecurity::Private)
                .session_lifecycle(
                    BrowserSession::default()
                        .state_ttl(actix_web::cookie::time::Duration::seconds(
                            crate::auth::SESSION_IDLE.num_seconds(),
                        ))
                        .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
                )
                .build();
            App::new()
                .app_data(app_state.clone())
                .app_data(web::Data::from(route_index.clone()))
                .app_data(openapi_json.clone())
                .configure(|cfg| {
                    if public_metrics {
                        cfg.route("/metrics", web::get().to(crate::prom::serve_metrics));
                    }
                })
                .configure(|cfg| routes::configure(cfg, &limiters, sessions))
                .configure(|cfg| crate::spa::configure(cfg, &spa))
                .wrap(from_fn(middleware::flush_auth_cache_after_changes))
                .wrap(from_fn(middleware::request_context))
        })
        .workers(workers)
        // Blocking work is database calls (each waits for one of the pool's
        // connections anyway) and argon2 (bounded by `password_work`): a
        // few threads more than the worker's share of the pool. actix's
        // default, 512 / workers each, let a burst start hundreds of
        // threads whose stacks and arenas stayed in the RSS.
        .worker_max_blocking_threads(blocking_threads)
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        // Signals are ours (see `stop_on_signals`): actix installs its
        // handlers only once the server is polled, and a SIGTERM arriving
        // before then would kill the process instead of draining it.
        .disable_signals()
        .listen(listener)?
        .run();
        let metrics = match metrics_listener {
            Some(listener) => {
                let address = listener.local_addr()?;
                let st = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(st.clone())
                        .route("/metrics", web::get().to(crate::prom::serve_metrics))
                })
                .workers(1)
                .shutdown_timeout(5)
                .disable_signals()
                .listen(listener)?
                .run();
                tracing::info!(%address, "serving /metrics on its own address");
                Some((address, server))
            }
            None => None,
        };
        Ok(Self {
            address,
            server,
            state,
            sim,
            metrics,
            instance,
            heartbeat,
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address of the separate `/metrics` server (METRICS_BIND).
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(a, _)| *a)
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The shared state (tests read the pool and clock through it).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Installs SIGINT and SIGTERM handlers now; either one stops the
    /// server gracefully (no new connections, requests in flight finish).
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let handle = self.server.handle();
        let state = self.state.clone();
        actix_web::rt::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("{name} received; starting graceful shutdown");
            // Live streams never end by themselves: end them, or the
            // shutdown would wait out its timeout.
            state.events.close_streams();
            handle.stop(true).await;
        });
        Ok(())
    }

    /// A handle to stop the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The id this instance recorded in the `instances` table.
    pub fn instance_id(&self) -> &str {
        &self.instance.id
    }

    /// Removes this instance's row from `instances` without serving (for
    /// commands that build the application but never run it, `run-once`).
    pub async fn deregister(self) {
        self.heartbeat.abort();
        remove_instance(self.state.clone(), self.instance.id.clone()).await;
    }

    /// Serves until stopped, then drains and returns (and stops the
    /// built-in simulator, and removes this instance's row).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let result = self.server.await;
        self.heartbeat.abort();
        remove_instance(self.state.clone(), self.instance.id.clone()).await;
        if let Some((task, handle)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        if let Some(sim) = self.sim {
            sim.stop().await;
        }
        result
    }
}
