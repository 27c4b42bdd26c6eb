//! alpaca-trader's server: configuration, the web application and the
//! command line. `main.rs` only parses the command line and calls in here,
//! so tests drive the same code.

pub mod auth;
pub mod backup;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod error;
pub mod instance;
pub mod json;
pub mod meta;
pub mod middleware;
pub mod migrate_yaml;
pub mod prom;
pub mod rate_limit;
pub mod rotate_key;
pub mod routes;
pub mod services;
pub mod settings;
pub mod spa;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use settings::{AppEnv, Settings};
pub use startup::Application;
