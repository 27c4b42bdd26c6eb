//! A local simulator of Alpaca's Trading API v2 and Market Data v2, on the
//! same paths, fields, status codes and errors (see
//! `shared/reference/ALPACA-API.md`), for tests, demo mode and benchmarks.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use alpaca_sim::{ClockMode, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig { clock: ClockMode::Replay, ..SimConfig::default() }, "127.0.0.1:0").await?;
//! // Point an Alpaca client (trading and data) at sim.base_url() with any
//! // `PK…` key id: its first use creates a $100,000 paper account.
//! sim.control().advance_clock(chrono::Duration::minutes(5));
//! sim.stop().await;
//! # Ok(()) }
//! ```
//!
//! - Prices are deterministic per seed and symbol ([`market`]); sessions
//!   follow the NYSE calendar ([`calendar`]).
//! - The clock is real, fixed or a replay of the last full session
//!   ([`ClockMode`]); tests pin it and move it with [`Control`].
//! - Faults (latency, error statuses, hangs, 429 storms, short 429s, and
//!   answers delayed or dropped after the call was handled) are switched on
//!   and off through [`Control::set_fault`] or `POST /_sim/faults`.
//! - A request log counts every `/v2` call by key id, method and path
//!   ([`Control::request_count`], `GET /_sim/requests`), so tests can see
//!   how many calls a client really made.

pub mod assets;
pub mod calendar;
mod cli;
pub mod clock;
mod control;
mod data;
pub mod engine;
pub mod error;
pub mod market;
mod server;
mod trading;

pub use assets::Asset;
pub use cli::{SimArgs, run};
pub use clock::ClockMode;
pub use engine::AccountOptions;
pub use server::{
    AccountInfo, Control, ControlError, Fault, FaultKind, Mode, RequestCount, SimConfig, SimHandle,
    Simulator,
};
