//! The HTTP API as its clients see it: the real server started in-process
//! on port 0, a fresh database per test (SQLite file, and PostgreSQL when
//! TEST_DATABASE_URL is set), and a cookie-keeping HTTP client.
//!
//! Every test also checks, when its app is dropped, that no secret it used
//! (passwords, codes, tokens, cookies, the setup token) reached the log,
//! which is captured at TRACE level for the whole run.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly at the first thing that is not as expected"
)]
#![expect(unreachable_pub, reason = "helpers shared between the test modules")]

#[path = "../shared/sealed_seed.rs"]
mod sealed_seed;
mod support;

mod auth_cache;
mod auth_flow;
mod auto_trade;
mod brokerage;
mod envelope;
mod events;
mod hardening;
mod isolation;
mod metrics;
mod openapi;
mod rate_limits;
mod rotation;
mod session_store;
mod signals;
mod spa;
mod tokens;
mod two_factor;
