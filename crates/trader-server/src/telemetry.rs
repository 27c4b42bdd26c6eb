//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`).
//!
//! `LOG_FORMAT` picks the shape: `json` (one JSON object a line, the
//! default in production) or `text` (readable lines, the default in
//! development). Every line logged while a request is handled carries its
//! `request_id` (the `X-Request-Id` response header): in JSON under
//! `span.request_id` and in `spans[]`, in text as `request_id=…`.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

use crate::AppEnv;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object a line, for log collectors.
    Json,
    /// Compact readable lines, for people.
    Text,
}

impl LogFormat {
    /// The default of an environment: JSON in production, text in
    /// development.
    pub fn default_for(env: AppEnv) -> Self {
        match env {
            AppEnv::Production => Self::Json,
            AppEnv::Development => Self::Text,
        }
    }
}

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}
