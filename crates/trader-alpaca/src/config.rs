//! Where the broker is, whose keys to use and how patient to be.
//!
//! - [`Environment`]: an account's `paper`, `live` or `sim` environment.
//! - [`BrokerUrls`]: one trading base URL per environment and the market-data
//!   URL; they default to Alpaca's hosts and the server fills them from
//!   `ALPACA_PAPER_URL`, `ALPACA_LIVE_URL`, `ALPACA_DATA_URL` and
//!   `ALPACA_SIM_URL`. A `sim` account sends trading *and* data calls to the
//!   simulator, which serves both.
//! - [`ClientConfig`]: deadlines, tries and the shared-read cache's lifetime.
//! - [`BrokerKeys`]: an account's API key pair, kept secret.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Alpaca's paper trading host (ALPACA-API.md 2.0, base URLs).
pub const PAPER_URL: &str = "https://paper-api.alpaca.markets";
/// Alpaca's live trading host.
pub const LIVE_URL: &str = "https://api.alpaca.markets";
/// Alpaca's market-data host.
pub const DATA_URL: &str = "https://data.alpaca.markets";

/// Which environment an account trades in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Alpaca's paper trading.
    Paper,
    /// Alpaca's live trading: real money.
    Live,
    /// The local simulator (alpaca-sim), for trading and market data.
    Sim,
}

impl Environment {
    /// `paper`, `live` or `sim`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Paper => "paper",
            Environment::Live => "live",
            Environment::Sim => "sim",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not `paper`, `live` or `sim`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment {0:?}: use paper, live or sim")]
pub struct UnknownEnvironment(pub String);

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "paper" => Ok(Environment::Paper),
            "live" => Ok(Environment::Live),
            "sim" => Ok(Environment::Sim),
            other => Err(UnknownEnvironment(other.to_string())),
        }
    }
}

/// Base URLs, one per environment, plus market data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrls {
    /// Trading API for paper accounts.
    pub paper: String,
    /// Trading API for live accounts.
    pub live: String,
    /// Market Data API for paper and live accounts.
    pub data: String,
    /// The simulator, for `sim` accounts' trading and market data; `None`
    /// when no simulator is configured (such accounts then fail).
    pub sim: Option<String>,
}

impl Default for BrokerUrls {
    fn default() -> Self {
        BrokerUrls {
            paper: PAPER_URL.to_string(),
            live: LIVE_URL.to_string(),
            data: DATA_URL.to_string(),
            sim: None,
        }
    }
}

impl BrokerUrls {
    /// Every environment, trading and data, at one URL (a simulator in
    /// tests and demo mode).
    pub fn all_at(url: &str) -> BrokerUrls {
        BrokerUrls {
            paper: url.to_string(),
            live: url.to_string(),
            data: url.to_string(),
            sim: Some(url.to_string()),
        }
    }
}

/// A configuration value the client cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A base URL that does not parse or is not http(s).
    #[error("the {which} URL is not an http(s) URL: {reason}")]
    Url {
        /// `paper`, `live`, `data` or `sim`.
        which: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A timeout or count that cannot work (zero).
    #[error("invalid client configuration: {0}")]
    Invalid(&'static str),
    /// The HTTP client could not be built (TLS set-up).
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// The parsed base URLs.
#[derive(Debug, Clone)]
pub(crate) struct Urls {
    paper: Url,
    live: Url,
    data: Url,
    sim: Option<Url>,
}

fn parse_url(which: &'static str, s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s.trim()).map_err(|e| ConfigError::Url {
        which,
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::Url {
            which,
            reason: "needs http:// or https:// and a host".to_string(),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Url {
            which,
            reason: "must not carry a query or fragment".to_string(),
        });
    }
    Ok(url)
}

impl Urls {
    pub(crate) fn parse(urls: &BrokerUrls) -> Result<Urls, ConfigError> {
        Ok(Urls {
            paper: parse_url("paper", &urls.paper)?,
            live: parse_url("live", &urls.live)?,
            data: parse_url("data", &urls.data)?,
            sim: urls
                .sim
                .as_deref()
                .map(|s| parse_url("sim", s))
                .transpose()?,
        })
    }

    /// (trading, data) base URLs of an environment; `None` for `sim` without
    /// a simulator URL.
    pub(crate) fn for_env(&self, env: Environment) -> Option<(Url, Url)> {
        match env {
            Environment::Paper => Some((self.paper.clone(), self.data.clone())),
            Environment::Live => Some((self.live.clone(), self.data.clone())),
            Environment::Sim => self.sim.clone().map(|s| (s.clone(), s)),
        }
    }
}

/// Deadlines, tries and caching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// The whole call, all tries and pauses included.
    pub call_timeout: Duration,
    /// One try; shorter than the call so a stuck try leaves time for another.
    pub try_timeout: Duration,
    /// Tries per call (reads and order submissions), at least 1.
    pub max_tries: u32,
    /// Base of the jittered back-off between tries (doubles each time).
    pub backoff: Duration,
    /// How long a successful shared read (account, positions, open orders,
    /// clock) is reused.
    pub cache_ttl: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(15),
            try_timeout: Duration::from_secs(6),
            max_tries: 3,
            backoff: Duration::from_millis(100),
            cache_ttl: Duration::from_secs(2),
        }
    }
}

impl ClientConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.connect_timeout.is_zero() || self.call_timeout.is_zero() {
            return Err(ConfigError::Invalid("timeouts must be above zero"));
        }
        if self.try_timeout.is_zero() {
            return Err(ConfigError::Invalid("try_timeout must be above zero"));
        }
        if self.max_tries == 0 {
            return Err(ConfigError::Invalid("max_tries must be at least 1"));
        }
        Ok(())
    }
}

/// An account's API key pair. Both halves stay secret: `Debug` prints
/// `[REDACTED]`, and they travel only in the `APCA-API-KEY-ID` and
/// `APCA-API-SECRET-KEY` headers, marked sensitive.
#[derive(Debug, Clone)]
pub struct BrokerKeys {
    /// `APCA-API-KEY-ID`.
    pub key_id: SecretString,
    /// `APCA-API-SECRET-KEY`.
    pub secret_key: SecretString,
}

impl BrokerKeys {
    /// A key pair from plain strings (e.g. just decrypted).
    pub fn new(key_id: impl Into<String>, secret_key: impl Into<String>) -> BrokerKeys {
        BrokerKeys {
            key_id: SecretString::from(key_id.into()),
            secret_key: SecretString::from(secret_key.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_parse_and_print() {
        for env in [Environment::Paper, Environment::Live, Environment::Sim] {
            assert_eq!(env.as_str().parse::<Environment>(), Ok(env));
            assert_eq!(serde_json::to_string(&env).unwrap(), format!("\"{env}\""));
        }
        assert!("Paper".parse::<Environment>().is_err());
    }

    #[test]
    fn urls_default_to_alpaca_and_sim_goes_everywhere() {
        let urls = Urls::parse(&BrokerUrls::default()).unwrap();
        let (trading, data) = urls.for_env(Environment::Live).unwrap();
        assert_eq!(trading.as_str(), "https://api.alpaca.markets/");
        assert_eq!(data.as_str(), "https://data.alpaca.markets/");
        assert!(urls.for_env(Environment::Sim).is_none());
        let urls = Urls::parse(&BrokerUrls {
            sim: Some("http://127.0.0.1:8787".into()),
            ..BrokerUrls::default()
        })
        .unwrap();
        let (trading, data) = urls.for_env(Environment::Sim).unwrap();
        assert_eq!(trading, data);
        assert_eq!(trading.as_str(), "http://127.0.0.1:8787/");
    }

    #[test]
    fn bad_urls_are_refused() {
        for bad in ["", "paper-api.alpaca.markets", "ftp://x", "http://h/?a=b"] {
            let urls = BrokerUrls {
                paper: bad.to_string(),
                ..BrokerUrls::default()
            };
            assert!(
                matches!(
                    Urls::parse(&urls),
                    Err(ConfigError::Url { which: "paper", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_do_not_show_in_debug() {
        let keys = BrokerKeys::new("PKVISIBLE", "very-secret");
        let shown = format!("{keys:?}");
        assert!(!shown.contains("PKVISIBLE") && !shown.contains("very-secret"));
    }
}
