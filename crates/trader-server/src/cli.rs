//! The `alpaca-trader` command line.
//!
//! Exit codes: 0 success; 2 a usage error (clap's own); 1 any other failure,
//! with one line on stderr that says what went wrong and, where it can, how
//! to fix it.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use trader_api_types::{Email, Role, Username};
use trader_db::users::{self, NewUser};
use trader_db::{DbError, Pool};
use trader_security::{NewPassword, hash_password};

use crate::settings::{DatabaseArgs, KeySource, ServeArgs, Settings};
use crate::{Application, telemetry};

/// A self-hosted, multi-user trading dashboard and signal engine for
/// Alpaca's brokerage API.
#[derive(Debug, Parser)]
#[command(name = "alpaca-trader", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (API, dashboard and scheduler).
    #[command(alias = "dashboard-secure")]
    Serve(Box<ServeArgs>),
    /// Create or update the database's tables; a second run changes nothing.
    InitDb(DatabaseArgs),
    /// Create an administrator (asks for what the flags do not give).
    CreateAdmin(CreateAdminArgs),
    /// Set a new password for a user and end their sessions and tokens.
    ResetPassword(ResetPasswordArgs),
    /// Print fresh SECRET_KEY and ENCRYPTION_KEY lines for a .env file.
    GenKey,
    /// Ask a running server's /healthz whether it answers: exit 0 when it
    /// answers 200, 1 otherwise (for container health checks).
    Healthcheck(HealthcheckArgs),
    /// Turn off a user's two-factor authentication (for a locked-out admin)
    /// and end their sessions.
    #[command(name = "reset-2fa")]
    ResetTwoFactor(ResetTwoFactorArgs),
    /// Run the local Alpaca simulator (Trading API v2 and Market Data v2).
    Sim(alpaca_sim::SimArgs),
    /// One scheduler pass (signals) for every user due, under the same
    /// lock as the scheduler, then exit: for cron, as the Python version's
    /// headless trader.
    RunOnce(Box<ServeArgs>),
    /// Import the Python version's accounts.yaml, watchlist.yaml and
    /// settings.yaml for one user (keys sealed; a second run imports
    /// nothing twice; nothing is written when a file is wrong).
    MigrateYaml(Box<crate::migrate_yaml::MigrateYamlArgs>),
    /// Write a portable, checksummed copy of the whole database to FILE
    /// (mode 0600), in one consistent snapshot while servers run. It never
    /// holds ENCRYPTION_KEY: keep that key apart.
    Backup(crate::backup::BackupArgs),
    /// Load a backup into an empty database (SQLite or PostgreSQL, either
    /// way), after checking the file and that ENCRYPTION_KEY opens its
    /// sealed values; refuses a database in use, and one with data unless
    /// --force.
    Restore(Box<crate::backup::RestoreArgs>),
    /// Re-seal every sealed value (trading-account keys, TOTP secrets)
    /// under ENCRYPTION_KEY while the servers run; resumable. `--check`
    /// reports which keys still seal what.
    RotateKey(Box<crate::rotate_key::RotateKeyArgs>),
    /// Print the OpenAPI document of the JSON API.
    Openapi,
    /// Compute indicators (TA-Lib-exact) over a CSV of bars and print a CSV
    /// with one column per output.
    Indicators(IndicatorsArgs),
    /// Replay the signal rules of a settings.yaml (the Python version's)
    /// over every window of N bars of a CSV and print each window's signal.
    Signals(SignalsArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to ask. Default: http://HOST:PORT/healthz with serve's HOST
    /// and PORT (a wildcard HOST such as 0.0.0.0 becomes loopback).
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub url: Option<reqwest::Url>,

    /// The address `serve` listens on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// The port `serve` listens on.
    #[arg(long, env = "PORT", default_value_t = 5000)]
    pub port: u16,

    /// Seconds to wait for the whole answer.
    #[arg(long, value_name = "SECS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout_secs: u64,
}

fn parse_http_url(s: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(s).map_err(|e| e.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("`{other}` is not http or https")),
    }
}

#[derive(Debug, Args)]
pub struct IndicatorsArgs {
    /// A CSV with open,high,low,close,volume columns (others are ignored).
    #[arg(long, value_name = "FILE.csv")]
    pub bars: std::path::PathBuf,
    /// An indicator and its periods, repeatable: sma:20, ema:12, wma:10,
    /// rsi:14, macd:12:26:9, bbands:20:2:2, atr:14, stoch:14:3:3, adx:14,
    /// cci:20, mfi:14, willr:14, roc:10, obv.
    #[arg(long = "ind", value_name = "SPEC", required = true, value_parser = parse_spec)]
    pub indicators: Vec<trader_indicators::IndicatorSpec>,
}

fn parse_spec(s: &str) -> Result<trader_indicators::IndicatorSpec, String> {
    trader_indicators::parse_indicator_spec(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct SignalsArgs {
    /// A CSV with open,high,low,close,volume columns (others are ignored).
    #[arg(long, value_name = "FILE.csv")]
    pub bars: std::path::PathBuf,
    /// The Python version's settings.yaml (its `indicators` and `signal`
    /// groups are used).
    #[arg(long, value_name = "settings.yaml")]
    pub settings: std::path::PathBuf,
    /// Bars per window.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub window: u32,
}

#[derive(Debug, Args)]
pub struct ResetTwoFactorArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Whose two-factor authentication to turn off.
    #[arg(long)]
    pub username: String,
}

#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// The new admin's username (3-32 ASCII letters, digits, '.', '_', '-').
    #[arg(long)]
    pub username: Option<String>,
    /// The new admin's email address.
    #[arg(long)]
    pub email: Option<String>,
    /// Read the password from the first line of standard input (for scripts).
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct ResetPasswordArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// Whose password to set.
    #[arg(long)]
    pub username: Option<String>,
    /// Read the new password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(&args),
        Command::RunOnce(args) => run_once(&args),
        Command::InitDb(args) => init_db(&args),
        Command::MigrateYaml(args) => crate::migrate_yaml::run(&args),
        Command::Backup(args) => crate::backup::run_backup(&args),
        Command::Restore(args) => crate::backup::run_restore(&args),
        Command::RotateKey(args) => crate::rotate_key::run(&args),
        Command::Healthcheck(args) => healthcheck(&args),
        Command::CreateAdmin(args) => create_admin(&args),
        Command::ResetPassword(args) => reset_password(&args),
        Command::ResetTwoFactor(args) => reset_two_factor(&args),
        Command::Openapi => {
            let doc = crate::routes::openapi_document();
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Indicators(args) => {
            let bars = read_file(&args.bars)?;
            let csv = trader_indicators::indicators_csv(&bars, &args.indicators)
                .map_err(|e| anyhow!("{}: {e}", args.bars.display()))?;
            write_stdout(&csv)
        }
        Command::Signals(args) => {
            let bars = read_file(&args.bars)?;
            let settings = read_file(&args.settings)?;
            let window = usize::try_from(args.window)?;
            let csv =
                trader_indicators::signals_csv(&bars, &settings, window).map_err(|e| match e {
                    trader_indicators::SignalsCsvError::Bars(e) => {
                        anyhow!("{}: {e}", args.bars.display())
                    }
                    other => anyhow!("{}: {other}", args.settings.display()),
                })?;
            write_stdout(&csv)
        }
        Command::Sim(args) => {
            telemetry::init(telemetry::LogFormat::Text);
            actix_web::rt::System::new().block_on(alpaca_sim::run(args))
        }
        Command::GenKey => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "SECRET_KEY={}", trader_security::generate_secret_key())?;
            writeln!(
                out,
                "ENCRYPTION_KEY={}",
                trader_security::generate_encryption_key()
            )?;
            Ok(())
        }
    }
}

/// `run-once`: builds the application (no HTTP server runs; no demo
/// simulator unless asked), takes the scheduler's lock and makes one pass.
fn run_once(args: &ServeArgs) -> anyhow::Result<()> {
    let (mut settings, _) = Settings::from_serve_args(args)?;
    telemetry::init(settings.log_format);
    settings.scheduler = false;
    settings.port = 0;
    settings.host = "127.0.0.1".to_owned();
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        let state = app.state();
        let leadership =
            crate::services::scheduler::Leadership::new(state.settings.database_url.clone());
        let now = state.clock.now();
        let lease = chrono::Duration::minutes(5);
        if !leadership
            .check(&state, now, lease)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            anyhow::bail!("another scheduler is running passes on this database; nothing done");
        }
        let report = crate::services::scheduler::run_led_pass(&state, &leadership, now).await;
        leadership
            .release(&state)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        app.deregister().await;
        let report = report.map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "run-once: {} users, {} symbols, {} signals stored, {} auto-trade decisions, {} orders placed, {} errors",
            report.users,
            report.symbols,
            report.signals_stored,
            report.decisions,
            report.orders_placed,
            report.errors.len()
        );
        for e in &report.errors {
            println!("  {e}");
        }
        Ok(())
    })
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let (settings, keys) = Settings::from_serve_args(args)?;
    telemetry::init(settings.log_format);
    match keys {
        KeySource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "SECRET_KEY/ENCRYPTION_KEY not set: generated development keys into this file (mode 0600); never use them in production"
        ),
        KeySource::LoadedFrom(path) => tracing::warn!(
            path = %path.display(),
            "using development keys from this file"
        ),
        KeySource::Configured => {}
    }
    tracing::info!(
        database = %settings.database_url,
        env = ?settings.app_env,
        workers = settings.workers,
        "starting"
    );
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        let address = app.address();
        app.stop_on_signals()?;
        tracing::info!(%address, "listening");
        println!("listening on http://{address}");
        if let Some(metrics) = app.metrics_address() {
            println!("metrics on http://{metrics}/metrics");
        }
        app.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// `healthcheck`: one GET, no redirects followed, no proxy (a container's
/// HTTP_PROXY must not answer for the server), the whole answer within the
/// timeout. Docker runs it in the container (`HEALTHCHECK`), where `/bin/sh`
/// has no `/dev/tcp` and there is no curl.
fn healthcheck(args: &HealthcheckArgs) -> anyhow::Result<()> {
    let url = match &args.url {
        Some(url) => url.clone(),
        None => default_health_url(&args.host, args.port)?,
    };
    let timeout = std::time::Duration::from_secs(args.timeout_secs);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        client.get(url.clone()).send().await
    });
    let status = match answer {
        Ok(response) => response.status(),
        Err(e) if e.is_timeout() => bail!("{url}: no answer within {} s", args.timeout_secs),
        Err(e) if e.is_connect() => bail!("{url}: cannot connect: {}", root_cause(&e)),
        Err(e) => bail!("{url}: {}", root_cause(&e)),
    };
    if status != reqwest::StatusCode::OK {
        bail!("{url} answered {status}, not 200 OK");
    }
    println!("{url}: {status}");
    Ok(())
}

/// `http://HOST:PORT/healthz`, where a wildcard HOST (what a container
/// listens on) becomes the loopback address of its family.
fn default_health_url(host: &str, port: u16) -> anyhow::Result<reqwest::Url> {
    if port == 0 {
        bail!("PORT is 0 (a free port chosen at start): pass --url");
    }
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let host = match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        Ok(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        Ok(std::net::IpAddr::V4(ip)) => ip.to_string(),
        Err(_) if host.is_empty() => "127.0.0.1".to_owned(),
        Err(_) => host.to_owned(),
    };
    let url = format!("http://{host}:{port}/healthz");
    reqwest::Url::parse(&url).with_context(|| format!("HOST: `{url}` is not a URL"))
}

/// The innermost cause: reqwest's own message only says "error sending
/// request"; the cause says why (connection refused, a DNS failure).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn open_migrated(db: &DatabaseArgs) -> anyhow::Result<Pool> {
    let url = db.database_url()?;
    let pool = Pool::open(&url, 2)?;
    let mut conn = pool.get()?;
    trader_db::run_migrations(&mut conn)?;
    Ok(pool)
}

fn init_db(db: &DatabaseArgs) -> anyhow::Result<()> {
    let url = db.database_url()?;
    let pool = Pool::open(&url, 1)?;
    let mut conn = pool.get()?;
    let applied = trader_db::run_migrations(&mut conn)?;
    if applied.is_empty() {
        println!("{url}: already up to date; nothing changed");
    } else {
        println!(
            "{url}: applied {} migration(s): {}",
            applied.len(),
            applied.join(", ")
        );
    }
    Ok(())
}

fn create_admin(args: &CreateAdminArgs) -> anyhow::Result<()> {
    let pool = open_migrated(&args.db)?;
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt_line("Username: ")?,
    };
    let username = Username::parse(username.trim()).map_err(|e| anyhow!("invalid {e}"))?;
    let email = match &args.email {
        Some(e) => e.clone(),
        None => prompt_line("Email: ")?,
    };
    let email = Email::parse(&email).map_err(|e| anyhow!("invalid {e}"))?;

    let mut conn = pool.get()?;
    if users::find_user_by_username(&mut conn, username.as_str())?.is_some() {
        bail!(
            "a user named `{username}` already exists (usernames are unique without regard to case)"
        );
    }
    let password = new_password(args.password_stdin)?;
    let hash = hash_password(&password)?;
    let created = users::create_user(
        &mut conn,
        &NewUser {
            username: username.as_str(),
            email: email.as_str(),
            password_hash: &hash,
            role: Role::Admin,
            must_change_password: false,
        },
    )
    .map_err(|e| match e {
        DbError::Conflict { .. } => anyhow!("a user named `{username}` already exists"),
        other => other.into(),
    })?;
    println!("created admin `{}` (id {})", created.username, created.id);
    Ok(())
}

fn reset_password(args: &ResetPasswordArgs) -> anyhow::Result<()> {
    let pool = open_migrated(&args.db)?;
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt_line("Username: ")?,
    };
    let mut conn = pool.get()?;
    let user = users::find_user_by_username(&mut conn, username.trim())?
        .ok_or_else(|| anyhow!("no user named `{}`", username.trim()))?;
    let password = new_password(args.password_stdin)?;
    let hash = hash_password(&password)?;
    users::set_password(&mut conn, user.id, &hash)?;
    println!(
        "new password set for `{}`; their sessions and tokens have ended",
        user.username
    );
    Ok(())
}

fn reset_two_factor(args: &ResetTwoFactorArgs) -> anyhow::Result<()> {
    let pool = open_migrated(&args.db)?;
    let mut conn = pool.get()?;
    let user = users::find_user_by_username(&mut conn, args.username.trim())?
        .ok_or_else(|| anyhow!("no user named `{}`", args.username.trim()))?;
    users::disable_totp(&mut conn, user.id)?;
    trader_db::sessions::delete_all_for_user(&mut conn, user.id)?;
    trader_db::audit::record(
        &mut conn,
        &trader_db::audit::NewAuditEntry {
            user_id: Some(user.id),
            username: Some(&user.username),
            event: "cli_two_factor_reset",
            ..Default::default()
        },
        users::now(),
    )?;
    println!(
        "two-factor authentication of `{}` is off and their sessions have ended; they can sign in with their password and set it up again",
        user.username
    );
    Ok(())
}

/// Reads a new password, from stdin's first line or twice from the terminal
/// without echo, and checks the policy.
fn new_password(from_stdin: bool) -> anyhow::Result<NewPassword> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        // Only the line ending is removed: spaces are part of a password.
        let trimmed = line.strip_suffix('\n').unwrap_or(&line);
        let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
        if trimmed.is_empty() {
            bail!("no password on standard input");
        }
        SecretString::from(trimmed.to_owned())
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to ask for a password: use --password-stdin");
        }
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password (again): ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        SecretString::from(first)
    };
    NewPassword::new(password).map_err(|e| anyhow!("weak password: {e}"))
}

fn read_file(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    let mut out = std::io::stderr().lock();
    write!(out, "{prompt}")?;
    out.flush()?;
    let mut line = String::new();
    let n = std::io::stdin().lock().read_line(&mut line)?;
    if n == 0 {
        bail!(
            "standard input ended while asking for {}",
            prompt.trim_end_matches([':', ' ']).to_lowercase()
        );
    }
    Ok(line.trim().to_owned())
}
