//! Storage tests, each run on SQLite and on PostgreSQL.

mod migrations;
mod users;
