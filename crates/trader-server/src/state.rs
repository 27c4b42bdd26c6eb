//! The state shared by every handler: the pool, settings, clock, keys and
//! limits. It lives apart from `startup` so routes and services never
//! import the module that builds the app.

use actix_web::cookie::Key;
use trader_db::Pool;
use trader_security::totp::RecoveryCodeKey;
use trader_security::{JwtKeys, KeyRing};

use crate::Settings;
use crate::clock::SharedClock;

/// Shared state handed to every handler.
pub struct AppState {
    pub pool: Pool,
    pub settings: Settings,
    pub clock: SharedClock,
    /// Seals TOTP secrets (and, later, Alpaca keys) at rest.
    pub keyring: KeyRing,
    /// Signs and checks bearer tokens.
    pub jwt: JwtKeys,
    /// Hashes recovery codes.
    pub recovery_key: RecoveryCodeKey,
    /// Signs the device cookie a full sign-in leaves in the browser.
    pub device_key: Key,
    /// Keys the hashes of unknown usernames in the audit log.
    pub audit_key: Vec<u8>,
    /// The broker client (one connection pool and shared-read cache).
    pub broker: trader_alpaca::Broker,
    /// The environments a trading account may use here.
    pub environments: Vec<trader_api_types::broker::Environment>,
    /// Each environment's tradable assets, kept for an hour (the symbol
    /// picker searches them).
    pub assets: crate::services::broker::AssetCache,
    /// Computed signal lists, reused until a newer bar exists.
    pub signal_cache: crate::services::signals::SignalCache,
    /// Bounds the argon2 computations running at once (each takes 19 MiB
    /// and a core for ~20 ms): a flood of sign-ins queues here instead of
    /// starving every other request of CPU and memory.
    pub password_work: tokio::sync::Semaphore,
    /// Verified sessions, users and tokens, reused by reads (see
    /// `auth::cache`); shared with the session store.
    pub auth_cache: std::sync::Arc<crate::auth::cache::AuthCache>,
    /// Live updates: this instance's open event streams and the channel
    /// that feeds them.
    pub events: crate::services::events::EventHub,
}

impl AppState {
    /// Waits for a turn to run argon2; hold the permit while hashing.
    pub async fn password_permit(
        &self,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, crate::error::ApiError> {
        self.password_work.acquire().await.map_err(|e| {
            crate::error::ApiError::internal(anyhow::anyhow!("password semaphore: {e}"))
        })
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}
