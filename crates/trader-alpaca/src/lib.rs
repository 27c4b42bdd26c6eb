//! The broker: Alpaca's Trading API v2 and Market Data v2 for paper, live
//! and simulated (alpaca-sim) accounts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use trader_alpaca::{
//!     AccountKey, Broker, BrokerKeys, BrokerUrls, ClientConfig, Environment, NewOrder, Side,
//! };
//! let broker = Broker::new(BrokerUrls::default(), ClientConfig::default())?;
//! let keys = BrokerKeys::new("PK…", "…");
//! // AccountKey: the caller's name for the account (its row id), for shared reads.
//! let account = broker.for_account(AccountKey(42), Environment::Paper, &keys)?;
//! let cash = account.account().await?.cash;
//! let order = account
//!     .submit_order(&NewOrder::market("AAPL", Side::Buy, "1"))
//!     .await?;
//! # let _ = (cash, order); Ok(()) }
//! ```
//!
//! What every call gets:
//! - **A deadline**: connect 5 s, the whole call 15 s, one try 6 s
//!   ([`ClientConfig`]); all tries of a call share the call's deadline.
//! - **Bounded retries**: GETs up to 3 tries with jittered back-off on
//!   connect failures, timed-out or broken tries, 5xx, and 429s that ask
//!   for at most a second; a longer 429 is [`BrokerError::RateLimited`] at
//!   once. Order submissions are retried the same way with the same
//!   client_order_id and never place an order twice
//!   ([`AccountClient::submit_order`]); other writes are repeated only when
//!   they surely did not reach the broker.
//! - **Typed errors** ([`BrokerError`]) carrying Alpaca's message and never
//!   the keys.
//! - **Shared reads**: concurrent identical reads of an account, its
//!   positions, open orders or the clock make one call, reused for 2 s
//!   ([`cache`]); a write on the account drops them.
//!
//! # apca and this crate's own client
//!
//! apca 0.31 supplies the endpoint definitions (path, query, decoding) for
//! the clock, the calendar and cancelling an order, driven through this
//! crate's transport. The rest is a small typed client over reqwest,
//! because with apca:
//! - its `Client` has no connect or per-call timeout, exposes no response
//!   headers (so no `Retry-After`/`X-Ratelimit-Reset`), unwraps the body of
//!   an answer (a connection that breaks mid-body panics), and derives a
//!   `Debug` that prints the secret key;
//! - its decimal type (`num_decimal::Num`) prints at most 8 decimals, both
//!   when it sends an order and when it reads one back, while fractional
//!   quantities have 9 (a notional buy's `filled_qty` such as
//!   `"3.844266155"`), so orders, positions and the account are decoded
//!   into this crate's string-valued types instead;
//! - its `Position` keeps only the absolute `qty`, its `Asset` has no name,
//!   and it lacks the account's `pattern_day_trader`, order listing by
//!   `after`/`until`, closing by qty or percentage, cancel-all, close-all,
//!   portfolio history and multi-symbol bars (its market data is fixed to
//!   Alpaca's host and cannot reach the simulator).

pub mod cache;
mod client;
mod config;
mod error;
pub mod metrics;
mod transport;
mod types;

pub use cache::AccountKey;
pub use client::{AccountClient, Broker};
pub use config::{
    BrokerKeys, BrokerUrls, ClientConfig, ConfigError, DATA_URL, Environment, LIVE_URL, PAPER_URL,
    UnknownEnvironment,
};
pub use error::BrokerError;
pub use types::{
    Account, Asset, Bar, BarsQuery, CalendarDay, CanceledOrder, Clock, CloseAmount, ClosedPosition,
    Direction, FillActivity, FillsPage, FillsQuery, ListOrders, NewOrder, Order, OrderStatusFilter,
    OrderType, PortfolioHistory, PortfolioHistoryQuery, Position, Side, TimeInForce,
};
