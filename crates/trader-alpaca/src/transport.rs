//! Sending one call: a deadline for the whole call, a shorter one per try,
//! bounded retries with jittered back-off, and Alpaca's rate-limit headers.
//!
//! Which failures are tried again depends on what a repeat could do:
//! - [`Retry::Read`] (GET): connect failures, a try that timed out or broke,
//!   5xx, and 429s that ask for at most a second.
//! - [`Retry::Order`] (`POST /v2/orders`): the same; the body carries a fixed
//!   client_order_id, so a repeat cannot place a second order (the caller
//!   turns Alpaca's 422 for a reused id into the existing order).
//! - [`Retry::Once`] (closing, cancelling): only when the request surely did
//!   not act (connect failure, short 429); a timeout or 5xx may have closed a
//!   position already, and closing "5 shares" twice would close 10.
//!
//! A 429 that asks for longer than a second is not waited out: the caller
//! gets [`BrokerError::RateLimited`] with the wait, from `Retry-After`
//! (seconds) or `X-Ratelimit-Reset` (epoch seconds, ALPACA-API.md 2.0).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use tokio::time::Instant;

use crate::config::{ClientConfig, ConfigError};
use crate::error::BrokerError;

/// A 429 asking for at most this long is waited out.
const SHORT_RATE_LIMIT: Duration = Duration::from_secs(1);

/// Alpaca counts calls per minute; without a header, wait for a window.
const UNKNOWN_RATE_LIMIT_SECS: u64 = 60;

/// What a repeat of the call may do; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Safe to repeat.
    Read,
    /// Repeatable thanks to its client_order_id.
    Order,
    /// Repeat only if it surely did not act.
    Once,
}

/// One call to send.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) retry: Retry,
}

/// An HTTP answer the caller interprets: any 2xx, and 4xx other than 429.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) bytes: Vec<u8>,
    /// Whether an earlier try of this call may have reached the broker and
    /// acted (it timed out, broke after sending, or met a 5xx), as opposed
    /// to failing to connect or being rate-limited.
    pub(crate) after_uncertain_try: bool,
}

/// The HTTP client and its configuration.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    pub(crate) config: ClientConfig,
}

/// A failed try and whether the call may go on.
struct Failure {
    error: BrokerError,
    retry: bool,
    /// The broker may have acted on this try.
    uncertain: bool,
    /// A wait the broker asked for, instead of the back-off.
    wait: Option<Duration>,
}

impl Transport {
    pub(crate) fn new(config: ClientConfig) -> Result<Transport, ConfigError> {
        config.check()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("alpaca-trader/", env!("CARGO_PKG_VERSION")))
            // Alpaca never redirects API calls; following one could carry the
            // key headers somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Http(e.without_url().to_string()))?;
        Ok(Transport { http, config })
    }

    /// The deadline of a call starting now.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.config.call_timeout
    }

    /// Sends `call` until it has an answer to interpret, it fails in a way
    /// that is not retried, the tries are used up or `deadline` passes.
    pub(crate) async fn send(
        &self,
        call: &Call,
        auth: &HeaderMap,
        deadline: Instant,
    ) -> Result<Answer, BrokerError> {
        let started = Instant::now();
        let result = self.send_with_retries(call, auth, deadline).await;
        let outcome = match &result {
            Ok(a) if a.status.is_success() => "ok",
            Ok(a) if a.status == StatusCode::UNAUTHORIZED => "keys_rejected",
            Ok(_) => "refused",
            Err(BrokerError::Timeout) => "timeout",
            Err(BrokerError::Unreachable) => "unreachable",
            Err(BrokerError::RateLimited { .. }) => "rate_limited",
            Err(BrokerError::Upstream { .. }) => "server_error",
            Err(_) => "error",
        };
        metrics::counter!(crate::metrics::BROKER_CALLS, "outcome" => outcome).increment(1);
        metrics::histogram!(crate::metrics::BROKER_CALL_SECONDS)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn send_with_retries(
        &self,
        call: &Call,
        auth: &HeaderMap,
        deadline: Instant,
    ) -> Result<Answer, BrokerError> {
        let mut tries = 0;
        let mut after_uncertain_try = false;
        loop {
            tries += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BrokerError::Timeout);
            }
            let limit = left.min(self.config.try_timeout);
            let outcome = tokio::time::timeout(limit, self.try_once(call, auth)).await;
            let failure = match outcome {
                Err(_) => Failure {
                    error: BrokerError::Timeout,
                    retry: call.retry != Retry::Once,
                    uncertain: true,
                    wait: None,
                },
                Ok(Err(e)) => {
                    // Connect failures never reached the broker; anything
                    // else (reset, broken body) may have been acted on.
                    let sent = !e.is_connect();
                    let timed_out = e.is_timeout();
                    tracing::debug!(
                        method = %call.method, path = call.url.path(), tries,
                        error = %e.without_url(), "broker call failed"
                    );
                    Failure {
                        error: if timed_out && sent {
                            BrokerError::Timeout
                        } else {
                            BrokerError::Unreachable
                        },
                        retry: !sent || call.retry != Retry::Once,
                        uncertain: sent,
                        wait: None,
                    }
                }
                Ok(Ok((status, headers, bytes))) => {
                    tracing::debug!(method = %call.method, path = call.url.path(), tries, status = status.as_u16(), "broker answered");
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        match rate_limit_wait(&headers, SystemTime::now()) {
                            Some(wait) if wait <= SHORT_RATE_LIMIT => Failure {
                                error: BrokerError::RateLimited {
                                    retry_after_secs: ceil_secs(wait),
                                },
                                retry: true,
                                uncertain: false,
                                wait: Some(wait),
                            },
                            wait => {
                                return Err(BrokerError::RateLimited {
                                    retry_after_secs: wait
                                        .map_or(UNKNOWN_RATE_LIMIT_SECS, ceil_secs),
                                });
                            }
                        }
                    } else if status.is_server_error() {
                        Failure {
                            error: BrokerError::Upstream {
                                status: status.as_u16(),
                            },
                            retry: call.retry != Retry::Once,
                            uncertain: true,
                            wait: None,
                        }
                    } else {
                        return Ok(Answer {
                            status,
                            bytes,
                            after_uncertain_try,
                        });
                    }
                }
            };
            if !failure.retry || tries >= self.config.max_tries {
                return Err(failure.error);
            }
            after_uncertain_try |= failure.uncertain;
            let pause = failure.wait.unwrap_or_else(|| self.backoff(tries));
            if Instant::now() + pause >= deadline {
                return Err(failure.error);
            }
            tracing::info!(
                method = %call.method, path = call.url.path(), tries,
                error = %failure.error, pause_ms = pause.as_millis() as u64,
                "retrying a broker call"
            );
            tokio::time::sleep(pause).await;
        }
    }

    /// One try: the request and the whole body.
    async fn try_once(
        &self,
        call: &Call,
        auth: &HeaderMap,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), reqwest::Error> {
        let mut rb = self
            .http
            .request(call.method.clone(), call.url.clone())
            .headers(auth.clone());
        if let Some(body) = &call.body {
            rb = rb
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let res = rb.send().await?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await?;
        Ok((status, headers, bytes.to_vec()))
    }

    /// Half the doubling step plus a random part of the other half, so
    /// clients that failed together do not come back together.
    fn backoff(&self, tries: u32) -> Duration {
        let step = self
            .config
            .backoff
            .saturating_mul(1u32 << tries.saturating_sub(1).min(10));
        let half = step / 2;
        let jitter_ms = rand::thread_rng().gen_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.max(1)
}

/// How long a 429 asks to wait: `Retry-After` seconds, else until
/// `X-Ratelimit-Reset` (epoch seconds); `None` without either.
pub(crate) fn rate_limit_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = get("retry-after").and_then(|s| s.parse::<f64>().ok())
        && let Ok(d) = Duration::try_from_secs_f64(secs)
    {
        return Some(d);
    }
    let reset = get("x-ratelimit-reset").and_then(|s| s.parse::<u64>().ok())?;
    let now = now.duration_since(UNIX_EPOCH).ok()?;
    Some(Duration::from_secs(reset).saturating_sub(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rate_limit_waits_from_either_header() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(
            rate_limit_wait(&headers(&[("retry-after", "1")]), now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            rate_limit_wait(&headers(&[("retry-after", "0.5")]), now),
            Some(Duration::from_millis(500))
        );
        // Retry-After wins over the reset time.
        assert_eq!(
            rate_limit_wait(
                &headers(&[("retry-after", "30"), ("x-ratelimit-reset", "1700000001")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rate_limit_wait(&headers(&[("x-ratelimit-reset", "1700000001")]), now),
            Some(Duration::from_millis(750))
        );
        assert_eq!(
            rate_limit_wait(&headers(&[("x-ratelimit-reset", "1699999990")]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            rate_limit_wait(&headers(&[("x-ratelimit-reset", "1700000060")]), now),
            Some(Duration::from_millis(59_750))
        );
        assert_eq!(rate_limit_wait(&headers(&[]), now), None);
        assert_eq!(
            rate_limit_wait(
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
                now
            ),
            None
        );
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(ceil_secs(Duration::ZERO), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(59_750)), 60);
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let t = Transport::new(ClientConfig::default()).unwrap();
        for _ in 0..50 {
            let first = t.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = t.backoff(2);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
        }
    }
}
