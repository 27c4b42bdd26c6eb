//! Names of the metrics this crate records through the `metrics` facade
//! (a no-op until the application installs a recorder).

/// Counter of broker calls (after retries), by `outcome`: `ok`,
/// `keys_rejected` (401), `refused` (another 4xx), `rate_limited`,
/// `server_error`, `timeout`, `unreachable`, `error`.
pub const BROKER_CALLS: &str = "broker_calls_total";

/// Histogram of broker call durations (retries included), in seconds.
pub const BROKER_CALL_SECONDS: &str = "broker_call_duration_seconds";

/// Counter of shared reads (account, positions, open orders, clock) by
/// `result`: `hit` (answered by a call in flight or a fresh answer) or
/// `miss` (a new call).
pub const BROKER_CACHE: &str = "broker_cache_requests_total";
