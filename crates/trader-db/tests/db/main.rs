//! Storage tests, each run on SQLite and on PostgreSQL.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly at the first thing that is not as expected"
)]

mod migrations;
mod rotation;
mod sign_in_guards;
mod users;
