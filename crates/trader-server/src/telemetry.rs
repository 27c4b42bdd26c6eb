//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`),
//! as JSON lines in production and readable lines in development.

use tracing_subscriber::EnvFilter;

use crate::AppEnv;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(env: AppEnv) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match env {
        AppEnv::Production => builder.json().flatten_event(true).try_init(),
        AppEnv::Development => builder.compact().try_init(),
    };
}
