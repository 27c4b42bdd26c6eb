//! The `alpaca-trader` command as a user runs it: a real process, a real
//! database (SQLite file, and PostgreSQL when TEST_DATABASE_URL is set),
//! checking exit codes, what it prints and what it stored.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly at the first thing that is not as expected"
)]

#[path = "../shared/sealed_seed.rs"]
mod sealed_seed;
mod support;

mod admin;
mod backup;
mod config;
mod connection;
mod docker;
mod healthcheck;
mod indicators;
mod init_db;
mod logs;
mod migrate;
mod rotate;
mod serve;
