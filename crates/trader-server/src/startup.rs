//! Building and running the web application.
//!
//! [`Application::build`] opens the pool, applies pending migrations and
//! binds the listener (port 0 picks a free port, which tests use); the
//! caller then awaits [`Application::run_until_stopped`]. actix-web stops
//! gracefully on SIGINT and SIGTERM: it stops accepting, lets requests in
//! flight finish (up to 30 s), then returns.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use trader_db::Pool;

use crate::Settings;
use crate::routes;

/// How long requests in flight may take to finish at shutdown.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// Shared state handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: Pool,
    pub settings: Settings,
}

/// A built, bound, not yet running server.
pub struct Application {
    address: SocketAddr,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the database, migrates it and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let url = settings.database_url.clone();
        let pool_size = u32::try_from(settings.workers.saturating_mul(2).clamp(4, 32)).unwrap_or(8);
        let pool = tokio::task::spawn_blocking(move || -> anyhow::Result<Pool> {
            let pool = Pool::open(&url, pool_size)?;
            let mut conn = pool.get()?;
            let applied = trader_db::run_migrations(&mut conn)?;
            if !applied.is_empty() {
                tracing::info!(count = applied.len(), "applied database migrations");
            }
            Ok(pool)
        })
        .await
        .context("database start-up task failed")??;

        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let address = listener.local_addr()?;
        let workers = settings.workers;
        let state = web::Data::new(AppState { pool, settings });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(routes::configure)
        })
        .workers(workers)
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        // Signals are ours (see `stop_on_signals`): actix installs its
        // handlers only once the server is polled, and a SIGTERM arriving
        // before then would kill the process instead of draining it.
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Self { address, server })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Installs SIGINT and SIGTERM handlers now; either one stops the
    /// server gracefully (no new connections, requests in flight finish).
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let handle = self.server.handle();
        actix_web::rt::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("{name} received; starting graceful shutdown");
            handle.stop(true).await;
        });
        Ok(())
    }

    /// A handle to stop the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then drains and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
