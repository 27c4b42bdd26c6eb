//! Typed configuration. Values come from CLI flags, then environment
//! variables, then a `.env` file in the working folder (clap's `env`
//! feature; `main` loads `.env` before parsing, and it never overrides a
//! variable already set). [`Settings`] is built once and passed in; there
//! is no global.
//!
//! Keys: in production a missing or short `SECRET_KEY` or `ENCRYPTION_KEY`
//! stops start-up with instructions. In development they are generated once
//! into `<DATA_DIR>/secrets.env` (mode 0600) and reused after that.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use trader_db::DatabaseUrl;
use trader_security::{EncryptionKey, SecretKey};

use crate::telemetry::LogFormat;

/// The settings `serve` refuses to start without in production (in
/// development they are generated). Deployments (docker/) must name each.
pub const REQUIRED_IN_PRODUCTION: [&str; 2] = ["SECRET_KEY", "ENCRYPTION_KEY"];

/// Where the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    /// Strict: keys must be configured; cookies are `Secure`.
    Production,
    /// Local use: keys are generated if missing; cookies work over plain http.
    Development,
}

/// `DATABASE_URL` and where local data lives; shared by every command that
/// touches the database.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// The database: sqlite://PATH (or a plain file path), or
    /// postgres://USER:PASSWORD@HOST:PORT/DB. Default: <DATA_DIR>/alpaca-trader.db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Folder for local data: the default SQLite file, generated
    /// development keys, the setup token.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl DatabaseArgs {
    /// The parsed URL (the default SQLite file when unset).
    pub fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        match self.database_url.as_deref() {
            Some(url) => url.parse().map_err(ConfigError::DatabaseUrl),
            None => Ok(DatabaseUrl::Sqlite(self.data_dir.join("alpaca-trader.db"))),
        }
    }
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 5000)]
    pub port: u16,

    /// Worker threads (default: the number of cores).
    #[arg(long, env = "WORKERS")]
    pub workers: Option<usize>,

    /// Do not run the signal scheduler in this instance.
    #[arg(long)]
    pub no_scheduler: bool,

    /// production (default) or development.
    #[arg(long, env = "APP_ENV", value_enum, default_value = "production")]
    pub app_env: AppEnv,

    /// Signs sessions and tokens; at least 64 bytes. Prefer the environment
    /// or `.env` to this flag (flags show up in `ps`).
    #[arg(long, env = "SECRET_KEY", hide = true, hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Seals API keys and TOTP secrets at rest: 32 bytes, base64.
    #[arg(long, env = "ENCRYPTION_KEY", hide = true, hide_env_values = true)]
    pub encryption_key: Option<String>,

    /// Earlier encryption keys still accepted for opening, comma-separated.
    #[arg(long, env = "ENCRYPTION_KEYS_OLD", hide = true, hide_env_values = true)]
    pub encryption_keys_old: Option<String>,

    /// Earlier SECRET_KEYs, comma-separated: recovery codes made under them
    /// keep working (sessions and tokens signed with them do not).
    #[arg(long, env = "SECRET_KEYS_OLD", hide = true, hide_env_values = true)]
    pub secret_keys_old: Option<String>,

    /// Who may register once the first admin exists: closed (admins create
    /// users) or open.
    #[arg(long, env = "REGISTRATION", value_enum, default_value = "closed")]
    pub registration: Registration,

    /// The address people use to reach this server, e.g.
    /// https://trader.example.com; its origin is accepted on state-changing
    /// requests, and https turns on HSTS.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// More origins allowed to send state-changing requests with the
    /// session cookie, comma-separated (e.g. the trunk dev server).
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Reverse proxies whose X-Forwarded-For is believed: addresses or
    /// CIDR blocks, comma-separated.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Served over TLS by a reverse proxy: send HSTS and Secure cookies.
    #[arg(long, env = "BEHIND_TLS_PROXY")]
    pub behind_tls_proxy: bool,

    /// Sign-in endpoints (login, verify-2fa, reauth, register): requests
    /// allowed at once per client address.
    #[arg(long, env = "AUTH_RATE_BURST", default_value_t = 5)]
    pub auth_rate_burst: u32,

    /// Sign-in endpoints: seconds until one more request is allowed.
    #[arg(long, env = "AUTH_RATE_PERIOD_SECS", default_value_t = 12)]
    pub auth_rate_period_secs: u64,

    /// The rest of /api: requests allowed at once per client address.
    #[arg(long, env = "API_RATE_BURST", default_value_t = 120)]
    pub api_rate_burst: u32,

    /// The rest of /api: milliseconds until one more request is allowed.
    #[arg(long, env = "API_RATE_PERIOD_MS", default_value_t = 100)]
    pub api_rate_period_ms: u64,

    /// Alpaca's paper trading API (default: Alpaca's paper host).
    #[arg(long, env = "ALPACA_PAPER_URL")]
    pub alpaca_paper_url: Option<String>,

    /// Alpaca's live trading API (default: Alpaca's live host).
    #[arg(long, env = "ALPACA_LIVE_URL")]
    pub alpaca_live_url: Option<String>,

    /// Alpaca's market data API (default: Alpaca's data host).
    #[arg(long, env = "ALPACA_DATA_URL")]
    pub alpaca_data_url: Option<String>,

    /// An alpaca-sim for `sim` accounts (trading and data); offers the `sim`
    /// environment.
    #[arg(long, env = "ALPACA_SIM_URL")]
    pub alpaca_sim_url: Option<String>,

    /// Also run the Alpaca simulator in this process (replay clock, so
    /// orders fill at any hour) and offer the `sim` environment. On by
    /// default in development unless ALPACA_SIM_URL is set.
    #[arg(long, conflicts_with = "no_demo")]
    pub demo: bool,

    /// In development, do not start the built-in simulator.
    #[arg(long)]
    pub no_demo: bool,

    /// How long a broker read (account, positions, open orders, clock) is
    /// shared by concurrent callers, in milliseconds.
    #[arg(long, env = "BROKER_CACHE_MS", default_value_t = 2000)]
    pub broker_cache_ms: u64,

    /// An operator's market-data key id: when set (with the secret), the
    /// scheduler fetches every user's bars through it, each symbol once per
    /// pass; otherwise each user's data comes through their own account.
    #[arg(long, env = "MARKET_DATA_KEY_ID", hide_env_values = true)]
    pub market_data_key_id: Option<String>,

    /// The operator's market-data secret key.
    #[arg(
        long,
        env = "MARKET_DATA_SECRET_KEY",
        hide = true,
        hide_env_values = true
    )]
    pub market_data_secret_key: Option<String>,

    /// The environment of the operator's market-data key: paper, live or sim.
    #[arg(long, env = "MARKET_DATA_ENV", default_value = "paper")]
    pub market_data_env: String,

    /// Days BUY and SELL signals are kept (HOLD signals: 7 days).
    #[arg(long, env = "SIGNALS_RETENTION_DAYS", default_value_t = 365)]
    pub signals_retention_days: u32,

    /// Seconds between the scheduler's checks for users who are due.
    #[arg(long, env = "SCHEDULER_TICK_SECS", default_value_t = 15)]
    pub scheduler_tick_secs: u64,

    /// The built web app (scripts/build-spa), served at `/`.
    #[arg(long, env = "SPA_DIR", default_value = "./frontend/dist")]
    pub spa_dir: PathBuf,

    /// Serve Prometheus metrics at /metrics to requests carrying
    /// `Authorization: Bearer <METRICS_TOKEN>` (at least 16 characters).
    /// Off unless this or METRICS_BIND is set.
    #[arg(long, env = "METRICS_TOKEN", hide = true, hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Serve /metrics on this separate address (HOST:PORT, e.g. a private
    /// interface) instead of the public one; with METRICS_TOKEN set too, it
    /// also asks for the token.
    #[arg(long, env = "METRICS_BIND")]
    pub metrics_bind: Option<String>,

    /// Log lines as json or text (default: json in production, text in
    /// development).
    #[arg(long, env = "LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Keep verified sessions and tokens in memory for reads (on), or read
    /// them from the database on every request (off). A logout or a
    /// revocation holds at once on the instance that made it and within a
    /// second on the others either way.
    #[arg(long, env = "AUTH_CACHE", value_enum, default_value = "on")]
    pub auth_cache: Switch,
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Who may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    /// Only admins create users (after the first admin).
    Closed,
    /// Anyone who reaches the server may register.
    Open,
}

/// The server's configuration, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub data_dir: PathBuf,
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub scheduler: bool,
    pub app_env: AppEnv,
    pub secret_key: SecretKey,
    pub encryption_key: EncryptionKey,
    pub encryption_keys_old: Vec<EncryptionKey>,
    /// Earlier `SECRET_KEY`s: recovery codes hashed under them still verify.
    pub secret_keys_old: Vec<SecretKey>,
    pub registration: Registration,
    /// Origins (scheme://host[:port]) accepted on cookie requests besides
    /// the server's own.
    pub allowed_origins: Vec<String>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Send `Strict-Transport-Security` and mark cookies Secure.
    pub tls: bool,
    pub auth_rate: crate::rate_limit::Limit,
    pub api_rate: crate::rate_limit::Limit,
    /// Where the broker is, per environment.
    pub broker_urls: trader_alpaca::BrokerUrls,
    /// Run alpaca-sim in this process for the `sim` environment.
    pub demo: bool,
    /// Deadlines, tries and the shared-read lifetime of broker calls.
    pub broker: trader_alpaca::ClientConfig,
    /// The operator's market-data source for the scheduler, if any.
    pub market_data: Option<(
        trader_api_types::broker::Environment,
        trader_alpaca::BrokerKeys,
    )>,
    /// Days BUY and SELL signals are kept.
    pub signals_retention_days: u32,
    /// How often the scheduler looks for users who are due.
    pub scheduler_tick: std::time::Duration,
    /// The built web app, served at `/`.
    pub spa_dir: PathBuf,
    /// How log lines look.
    pub log_format: LogFormat,
    /// Prometheus metrics: off, behind a token, and/or on their own address.
    pub metrics: MetricsSettings,
    /// Cache verified sessions and tokens for reads (see `auth::cache`).
    pub auth_cache: bool,
    /// How often live streams re-check their sign-in, send heartbeats and
    /// ask the broker for orders (fixed; tests shorten them).
    pub event_timings: crate::services::events::Timings,
}

/// Where and to whom `/metrics` is served.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// The bearer token `/metrics` asks for.
    pub token: Option<SecretString>,
    /// A separate address serving only `/metrics`.
    pub bind: Option<String>,
}

impl MetricsSettings {
    /// Whether metrics are recorded and served at all.
    pub fn enabled(&self) -> bool {
        self.token.is_some() || self.bind.is_some()
    }
}

fn metrics_settings(args: &ServeArgs) -> Result<MetricsSettings, ConfigError> {
    let token = args
        .metrics_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(t) = token
        && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(ConfigError::Invalid {
            name: "METRICS_TOKEN",
            value: "(hidden)".to_owned(),
            problem: "must be at least 16 visible ASCII characters (e.g. from `openssl rand -hex 32`)",
        });
    }
    let bind = args
        .metrics_bind
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty());
    if let Some(b) = bind
        && std::net::ToSocketAddrs::to_socket_addrs(b).is_err()
    {
        return Err(ConfigError::Invalid {
            name: "METRICS_BIND",
            value: b.to_owned(),
            problem: "is not HOST:PORT",
        });
    }
    Ok(MetricsSettings {
        token: token.map(|t| SecretString::from(t.to_owned())),
        bind: bind.map(str::to_owned),
    })
}

/// Why the configuration was refused. Messages name the variable and how to
/// fix it, and never contain a key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("DATABASE_URL: {0}")]
    DatabaseUrl(trader_db::UrlError),
    #[error(
        "{0} is not set. Generate keys with `alpaca-trader gen-key` and put its lines in .env or the environment (or set APP_ENV=development to have them generated for local use)"
    )]
    MissingKey(&'static str),
    #[error(
        "{name} {problem}. Generate keys with `alpaca-trader gen-key` and put its lines in .env or the environment"
    )]
    BadKey {
        name: &'static str,
        problem: trader_security::KeyError,
    },
    #[error("{name}: `{value}` {problem}")]
    Invalid {
        name: &'static str,
        value: String,
        problem: &'static str,
    },
    #[error("cannot write generated keys to {path}: {source}")]
    WriteSecrets {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The operator's market-data key for the scheduler, when both halves are set.
fn market_data(
    args: &ServeArgs,
) -> Result<
    Option<(
        trader_api_types::broker::Environment,
        trader_alpaca::BrokerKeys,
    )>,
    ConfigError,
> {
    let key = args.market_data_key_id.as_deref().filter(|k| !k.is_empty());
    let secret = args
        .market_data_secret_key
        .as_deref()
        .filter(|k| !k.is_empty());
    match (key, secret) {
        (None, None) => Ok(None),
        (Some(k), Some(s)) => {
            let env = trader_api_types::broker::Environment::parse(&args.market_data_env)
                .ok_or_else(|| ConfigError::Invalid {
                    name: "MARKET_DATA_ENV",
                    value: args.market_data_env.clone(),
                    problem: "must be paper, live or sim",
                })?;
            Ok(Some((env, trader_alpaca::BrokerKeys::new(k, s))))
        }
        _ => Err(ConfigError::Invalid {
            name: "MARKET_DATA_KEY_ID",
            value: String::new(),
            problem: "and MARKET_DATA_SECRET_KEY must be set together",
        }),
    }
}

/// The broker's base URLs: Alpaca's unless overridden.
fn broker_urls(args: &ServeArgs) -> Result<trader_alpaca::BrokerUrls, ConfigError> {
    let pick = |name: &'static str, value: &Option<String>, default: &str| {
        let v = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
        match v {
            None => Ok(default.to_owned()),
            Some(v) if v.starts_with("http://") || v.starts_with("https://") => {
                Ok(v.trim_end_matches('/').to_owned())
            }
            Some(v) => Err(ConfigError::Invalid {
                name,
                value: v.to_owned(),
                problem: "must be an http:// or https:// URL",
            }),
        }
    };
    Ok(trader_alpaca::BrokerUrls {
        paper: pick(
            "ALPACA_PAPER_URL",
            &args.alpaca_paper_url,
            trader_alpaca::PAPER_URL,
        )?,
        live: pick(
            "ALPACA_LIVE_URL",
            &args.alpaca_live_url,
            trader_alpaca::LIVE_URL,
        )?,
        data: pick(
            "ALPACA_DATA_URL",
            &args.alpaca_data_url,
            trader_alpaca::DATA_URL,
        )?,
        sim: match args
            .alpaca_sim_url
            .as_deref()
            .filter(|v| !v.trim().is_empty())
        {
            Some(_) => Some(pick("ALPACA_SIM_URL", &args.alpaca_sim_url, "")?),
            None => None,
        },
    })
}

/// What happened to the keys while building the settings, for a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// All keys came from the configuration.
    Configured,
    /// Development keys were generated into this file just now.
    Generated(PathBuf),
    /// Development keys were read from this earlier-generated file.
    LoadedFrom(PathBuf),
}

impl Settings {
    /// Checks `args` and builds the settings. In development, missing keys
    /// come from (or are generated into) `<DATA_DIR>/secrets.env`.
    pub fn from_serve_args(args: &ServeArgs) -> Result<(Self, KeySource), ConfigError> {
        let database_url = args.db.database_url()?;
        let mut secret_key = args.secret_key.clone().filter(|s| !s.is_empty());
        let mut encryption_key = args.encryption_key.clone().filter(|s| !s.is_empty());
        let mut source = KeySource::Configured;

        if args.app_env == AppEnv::Development && (secret_key.is_none() || encryption_key.is_none())
        {
            let path = args.db.data_dir.join("secrets.env");
            let (values, how) = dev_secrets(&path)?;
            source = how;
            secret_key = secret_key.or(values.secret_key);
            encryption_key = encryption_key.or(values.encryption_key);
        }

        let secret_key = secret_key.ok_or(ConfigError::MissingKey("SECRET_KEY"))?;
        let secret_key = SecretKey::new(SecretString::from(secret_key)).map_err(|problem| {
            ConfigError::BadKey {
                name: "SECRET_KEY",
                problem,
            }
        })?;
        let encryption_key = encryption_key.ok_or(ConfigError::MissingKey("ENCRYPTION_KEY"))?;
        let encryption_key =
            EncryptionKey::from_base64(&encryption_key).map_err(|problem| ConfigError::BadKey {
                name: "ENCRYPTION_KEY",
                problem,
            })?;
        let encryption_keys_old = args
            .encryption_keys_old
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|k| {
                EncryptionKey::from_base64(k).map_err(|problem| ConfigError::BadKey {
                    name: "ENCRYPTION_KEYS_OLD",
                    problem,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let secret_keys_old = args
            .secret_keys_old
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|k| {
                SecretKey::new(SecretString::from(k.to_owned())).map_err(|problem| {
                    ConfigError::BadKey {
                        name: "SECRET_KEYS_OLD",
                        problem,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut allowed_origins = Vec::new();
        let mut tls = args.behind_tls_proxy;
        if let Some(url) = args.public_url.as_deref().filter(|u| !u.is_empty()) {
            let origin = origin_of(url).ok_or_else(|| ConfigError::Invalid {
                name: "PUBLIC_URL",
                value: url.to_owned(),
                problem: "must be an http:// or https:// URL",
            })?;
            tls |= origin.starts_with("https://");
            allowed_origins.push(origin);
        }
        for o in args
            .allowed_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
        {
            allowed_origins.push(origin_of(o).ok_or_else(|| ConfigError::Invalid {
                name: "ALLOWED_ORIGINS",
                value: o.to_owned(),
                problem: "must be an origin such as http://localhost:8080",
            })?);
        }
        let trusted_proxies = args
            .trusted_proxies
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ConfigError::Invalid {
                        name: "TRUSTED_PROXIES",
                        value: p.to_owned(),
                        problem: "must be an IP address or a CIDR block",
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let settings = Self {
            database_url,
            data_dir: args.db.data_dir.clone(),
            host: args.host.clone(),
            port: args.port,
            workers: args
                .workers
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
            scheduler: !args.no_scheduler,
            app_env: args.app_env,
            secret_key,
            encryption_key,
            encryption_keys_old,
            secret_keys_old,
            registration: args.registration,
            allowed_origins,
            trusted_proxies,
            tls,
            auth_rate: crate::rate_limit::Limit {
                burst: args.auth_rate_burst.max(1),
                period: std::time::Duration::from_secs(args.auth_rate_period_secs.max(1)),
            },
            api_rate: crate::rate_limit::Limit {
                burst: args.api_rate_burst.max(1),
                period: std::time::Duration::from_millis(args.api_rate_period_ms.max(1)),
            },
            broker_urls: broker_urls(args)?,
            demo: args.demo
                || (args.app_env == AppEnv::Development
                    && !args.no_demo
                    && args.alpaca_sim_url.as_deref().is_none_or(str::is_empty)),
            broker: trader_alpaca::ClientConfig {
                cache_ttl: std::time::Duration::from_millis(args.broker_cache_ms),
                ..trader_alpaca::ClientConfig::default()
            },
            market_data: market_data(args)?,
            signals_retention_days: args.signals_retention_days.max(1),
            scheduler_tick: std::time::Duration::from_secs(args.scheduler_tick_secs.max(1)),
            spa_dir: args.spa_dir.clone(),
            log_format: args
                .log_format
                .unwrap_or_else(|| LogFormat::default_for(args.app_env)),
            metrics: metrics_settings(args)?,
            auth_cache: args.auth_cache == Switch::On,
            event_timings: crate::services::events::Timings::default(),
        };
        Ok((settings, source))
    }

    /// Settings for tests: a given database, port 0, development mode,
    /// fresh random keys, no scheduler.
    pub fn for_tests(database_url: DatabaseUrl, data_dir: PathBuf) -> Self {
        Self {
            // No web app unless a test builds a fake one.
            spa_dir: data_dir.join("no-spa"),
            database_url,
            data_dir,
            host: "127.0.0.1".to_owned(),
            port: 0,
            workers: 2,
            scheduler: false,
            app_env: AppEnv::Development,
            secret_key: SecretKey::new(SecretString::from(trader_security::generate_secret_key()))
                .unwrap_or_else(|_| unreachable!("generated keys have 88 bytes")),
            encryption_key: EncryptionKey::from_base64(&trader_security::generate_encryption_key())
                .unwrap_or_else(|_| unreachable!("generated keys are 32 bytes")),
            encryption_keys_old: Vec::new(),
            secret_keys_old: Vec::new(),
            registration: Registration::Closed,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            tls: false,
            // High enough that ordinary tests never meet them; rate-limit
            // tests lower them.
            auth_rate: crate::rate_limit::Limit {
                burst: 10_000,
                period: std::time::Duration::from_millis(1),
            },
            api_rate: crate::rate_limit::Limit {
                burst: 10_000,
                period: std::time::Duration::from_millis(1),
            },
            broker_urls: trader_alpaca::BrokerUrls::default(),
            demo: false,
            broker: trader_alpaca::ClientConfig::default(),
            market_data: None,
            signals_retention_days: 365,
            scheduler_tick: std::time::Duration::from_secs(15),
            log_format: LogFormat::Text,
            metrics: MetricsSettings::default(),
            auth_cache: true,
            event_timings: crate::services::events::Timings::default(),
        }
    }

    /// The environments a trading account may use: paper and live always,
    /// `sim` with the built-in simulator or ALPACA_SIM_URL.
    pub fn environments(&self) -> Vec<trader_api_types::broker::Environment> {
        use trader_api_types::broker::Environment;
        let mut envs = vec![Environment::Paper, Environment::Live];
        if self.demo || self.broker_urls.sim.is_some() {
            envs.push(Environment::Sim);
        }
        envs
    }

    /// Whether cookies are marked `Secure` (and named `__Host-`): always
    /// outside development, and in development behind TLS.
    pub fn secure_cookies(&self) -> bool {
        self.app_env == AppEnv::Production || self.tls
    }
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, without a path.
pub fn origin_of(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    if host.is_empty() || host.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

#[derive(Default)]
struct DevSecrets {
    secret_key: Option<String>,
    encryption_key: Option<String>,
}

impl fmt::Debug for DevSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DevSecrets([REDACTED])")
    }
}

/// Reads `path`, or creates it with fresh keys (mode 0600) when missing.
fn dev_secrets(path: &Path) -> Result<(DevSecrets, KeySource), ConfigError> {
    let write_err = |source| ConfigError::WriteSecrets {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        let mut values = DevSecrets::default();
        let iter = dotenvy::from_path_iter(path).map_err(|e| ConfigError::WriteSecrets {
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?;
        for item in iter.flatten() {
            match item.0.as_str() {
                "SECRET_KEY" => values.secret_key = Some(item.1),
                "ENCRYPTION_KEY" => values.encryption_key = Some(item.1),
                _ => {}
            }
        }
        return Ok((values, KeySource::LoadedFrom(path.to_owned())));
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(write_err)?;
    }
    let values = DevSecrets {
        secret_key: Some(trader_security::generate_secret_key()),
        encryption_key: Some(trader_security::generate_encryption_key()),
    };
    let text = format!(
        "# Generated by alpaca-trader for development only. Do not use in production.\n\
         SECRET_KEY={}\nENCRYPTION_KEY={}\n",
        values.secret_key.as_deref().unwrap_or_default(),
        values.encryption_key.as_deref().unwrap_or_default(),
    );
    write_private_file(path, text.as_bytes()).map_err(write_err)?;
    Ok((values, KeySource::Generated(path.to_owned())))
}

/// Creates `dir` (and missing parents) readable by its owner only, when it
/// does not exist yet: it holds the database, keys and the setup token.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` readable by its owner only, refusing to overwrite.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
