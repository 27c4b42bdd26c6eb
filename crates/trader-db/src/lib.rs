//! Storage for alpaca-trader: one diesel connection type over SQLite and
//! PostgreSQL, an r2d2 pool that picks the backend from the URL, embedded
//! migrations for both, and the table functions.
//!
//! Every database function takes a `&mut DbConnection`, is blocking (callers
//! in async code run it in `web::block`/`spawn_blocking`), returns
//! `Result<T, DbError>` (lookups `Result<Option<T>, DbError>`) and never
//! panics. A unique violation becomes [`DbError::Conflict`] naming the
//! constraint, so the API can answer 409 with the field.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use trader_db::{DatabaseUrl, Pool};
//! let url: DatabaseUrl = "sqlite://./data/alpaca-trader.db".parse()?;
//! let pool = Pool::open(&url, 8)?;
//! let mut conn = pool.get()?;
//! trader_db::run_migrations(&mut conn)?;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod auth_epoch;
pub mod auto_trade;
pub mod backup;
mod connection;
mod error;
pub mod events;
pub mod instances;
pub mod login_guard;
mod migrations;
pub mod pending_logins;
pub mod recovery_codes;
pub mod scheduler;
pub mod schema;
pub mod sealed;
pub mod sessions;
pub mod setup_tokens;
pub mod signal_history;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod tokens;
pub mod trading_accounts;
pub mod user_settings;
pub mod users;
pub mod watchlists;

pub use connection::{
    ACCEPTED_FORMS, Backend, ConnectError, ConnectionManager, DatabaseUrl, DbConnection,
    POOL_WAIT_SECONDS, Pool, PoolState, PooledConnection, UrlError,
};
pub use error::DbError;
pub use migrations::{KnownMigration, applied_migrations, known_migrations, run_migrations};
