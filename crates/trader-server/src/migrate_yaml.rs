//! `alpaca-trader migrate-yaml`: imports the Python version's
//! `accounts.yaml`, `watchlist.yaml` and `settings.yaml` for one user.
//!
//! The order of work makes a failure harmless: every file is read and
//! checked first (an error names the file, the line and the field, and
//! nothing is written); then the keys are checked with the broker; then
//! everything is written in one write transaction (so a failure there
//! leaves the database as it was, and `--dry-run` rolls the same
//! transaction back). Running it again imports nothing twice: an account
//! whose name the user already has, a symbol already on the list and
//! settings already changed from the defaults are left alone.
//!
//! Keys never reach the output or a log: only the last four characters of
//! a key id (the hint the web app shows) are printed.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;
use serde_norway::Value;
use trader_api_types::UserId;
use trader_api_types::broker::Environment;
use trader_api_types::signals::Settings as UserSettings;
use trader_db::trading_accounts::{self, NewTradingAccount};
use trader_db::{DbError, Pool, users, watchlists};
use trader_security::KeyRing;

use crate::services::broker::{broker_env, key_aad};
use crate::settings::ServeArgs;

/// Flags of `migrate-yaml`.
#[derive(Debug, Args)]
pub struct MigrateYamlArgs {
    /// The Python version's `config/` folder (accounts.yaml, watchlist.yaml,
    /// settings.yaml; a missing file is skipped).
    #[arg(long, value_name = "DIR")]
    pub config_dir: PathBuf,

    /// The user who gets everything (an existing username).
    #[arg(long, value_name = "NAME")]
    pub user: String,

    /// Check and report, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Also import accounts with `paper: false` (live money).
    #[arg(long)]
    pub allow_live: bool,

    /// Do not check the keys with the broker.
    #[arg(long)]
    pub no_verify: bool,

    /// The environment of accounts with `paper: true`: Alpaca's paper API,
    /// or the simulator (`sim`, with ALPACA_SIM_URL).
    #[arg(long, value_enum, default_value = "paper")]
    pub environment: PaperTarget,

    #[command(flatten)]
    pub server: ServeArgs,
}

/// Where `paper: true` accounts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaperTarget {
    Paper,
    Sim,
}

// ---------------------------------------------------------------- lines

/// Where each key of a block-style YAML file is, by path
/// (`accounts[1].api_key`, `indicators.rsi.period`), 1-based. serde_norway
/// gives positions only for syntax errors; this finds the line of a field
/// that parsed but is not acceptable. The Python version's files are plain
/// block YAML; a path not found (flow style, say) just has no line.
#[derive(Debug, Default)]
struct Lines(BTreeMap<String, usize>);

impl Lines {
    fn scan(text: &str) -> Self {
        struct Frame {
            indent: usize,
            path: String,
            item: bool,
        }
        let mut map = BTreeMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut counters: BTreeMap<String, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.trim_start();
            if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
                continue;
            }
            let mut indent = raw.len() - content.len();
            let mut rest = content;
            if rest == "-" || rest.starts_with("- ") {
                while stack
                    .last()
                    .is_some_and(|f| f.indent > indent || (f.indent == indent && f.item))
                {
                    stack.pop();
                }
                let parent = stack.last().map(|f| f.path.clone()).unwrap_or_default();
                let n = counters.entry(parent.clone()).or_insert(0);
                let path = format!("{parent}[{n}]");
                *n += 1;
                map.entry(path.clone()).or_insert(line);
                stack.push(Frame {
                    indent,
                    path,
                    item: true,
                });
                let after = &rest[1..];
                let inner = after.trim_start();
                indent += 1 + after.len() - inner.len();
                rest = inner;
                if rest.is_empty() {
                    continue;
                }
            } else {
                while stack.last().is_some_and(|f| f.indent >= indent) {
                    stack.pop();
                }
            }
            let Some(key) = key_of(rest) else { continue };
            let parent = stack.last().map(|f| f.path.as_str()).unwrap_or_default();
            let path = if parent.is_empty() {
                key
            } else {
                format!("{parent}.{key}")
            };
            map.entry(path.clone()).or_insert(line);
            // A new mapping starts its items' numbering afresh.
            counters.remove(&path);
            stack.push(Frame {
                indent,
                path,
                item: false,
            });
        }
        Self(map)
    }

    /// The line of `path`, or of the nearest enclosing key that has one.
    fn of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(line) = self.0.get(p) {
                return Some(*line);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// The key of a `key: value` or `key:` line.
fn key_of(s: &str) -> Option<String> {
    let (key, after) = if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = s[1..].find(q)? + 1;
        (s[1..end].to_owned(), &s[end + 1..])
    } else {
        let colon = s.find(": ").or_else(|| s.strip_suffix(':').map(str::len))?;
        (s[..colon].trim_end().to_owned(), &s[colon..])
    };
    after.starts_with(':').then_some(key)
}

// ---------------------------------------------------------------- files

/// One file as read: its name (for messages), text, parsed value and
/// key lines.
struct YamlFile {
    path: PathBuf,
    value: Value,
    lines: Lines,
}

impl YamlFile {
    /// Reads and parses `dir/name`; `None` when it does not exist.
    fn read(dir: &Path, name: &str) -> anyhow::Result<Option<Self>> {
        let path = dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
        };
        // serde_norway's syntax errors carry "at line L column C".
        let value: Value = serde_norway::from_str(&text).map_err(|e| {
            anyhow!(
                "{}: not valid YAML: {}",
                path.display(),
                crate::routes::sanitize_serde_message(&e.to_string())
            )
        })?;
        if value.is_null() {
            bail!("{}: the file is empty", path.display());
        }
        Ok(Some(Self {
            path,
            value,
            lines: Lines::scan(&text),
        }))
    }

    /// An error about `field`, naming the file and the line.
    fn error(&self, field: &str, problem: &str) -> anyhow::Error {
        match self.lines.of(field) {
            Some(line) => anyhow!("{} line {line}, {field}: {problem}", self.path.display()),
            None => anyhow!("{}, {field}: {problem}", self.path.display()),
        }
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }

    /// Compares the file with `schema` (the keys it may hold; an array's
    /// first element stands for every item): keys not in it are removed
    /// and reported in `unknown`; with `require`, a missing key is an
    /// error (a partial file).
    fn check_keys(
        &mut self,
        schema: &serde_json::Value,
        require: bool,
        unknown: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let mut found = Vec::new();
        let missing = walk(&mut self.value, schema, "", require, &mut found);
        for path in found {
            let at = self
                .lines
                .of(&path)
                .map_or_else(String::new, |l| format!(" line {l}"));
            unknown.push(format!("{}{at}: {path}", self.name()));
        }
        match missing {
            Some((path, key)) => Err(self.error(
                if path.is_empty() { &key } else { &path },
                &format!("missing field `{key}` (is the file complete?)"),
            )),
            None => Ok(()),
        }
    }

    /// Deserializes the (checked) value; an error names the field's path
    /// and line, never the value.
    fn parse<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_path_to_error::deserialize(self.value.clone()).map_err(|e| {
            let path = e.path().to_string();
            let message = crate::routes::sanitize_serde_message(&e.inner().to_string());
            self.error(if path == "." { "(top)" } else { &path }, &message)
        })
    }
}

/// Removes and lists keys of `value` that `schema` lacks; answers the
/// first missing one (`(parent path, key)`) when `require`.
fn walk(
    value: &mut Value,
    schema: &serde_json::Value,
    path: &str,
    require: bool,
    unknown: &mut Vec<String>,
) -> Option<(String, String)> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    let mut missing = None;
    match (value, schema) {
        (Value::Mapping(map), serde_json::Value::Object(known)) => {
            let keys: Vec<Value> = map.keys().cloned().collect();
            for k in keys {
                let name = match &k {
                    Value::String(s) => s.clone(),
                    other => serde_norway::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                match known.get(&name) {
                    None => {
                        unknown.push(join(&name));
                        map.remove(&k);
                    }
                    Some(sub) => {
                        if let Some(v) = map.get_mut(&k) {
                            let m = walk(v, sub, &join(&name), require, unknown);
                            missing = missing.or(m);
                        }
                    }
                }
            }
            if require && missing.is_none() {
                missing = known
                    .keys()
                    .find(|k| !map.contains_key(k.as_str()))
                    .map(|k| (path.to_owned(), k.clone()));
            }
        }
        (Value::Sequence(items), serde_json::Value::Array(item_schema)) => {
            if let Some(item_schema) = item_schema.first() {
                for (i, item) in items.iter_mut().enumerate() {
                    let m = walk(item, item_schema, &format!("{path}[{i}]"), require, unknown);
                    missing = missing.or(m);
                }
            }
        }
        _ => {}
    }
    missing
}

/// An account of `accounts.yaml`. No `Debug`: it holds the keys.
#[derive(Deserialize)]
struct YamlAccount {
    name: String,
    api_key: String,
    secret_key: String,
    paper: bool,
    active: bool,
}

#[derive(Deserialize)]
struct AccountsFile {
    accounts: Vec<YamlAccount>,
}

#[derive(Debug, Deserialize)]
struct YamlSymbol {
    symbol: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WatchlistFile {
    watchlist: Vec<YamlSymbol>,
}

fn accounts_schema() -> serde_json::Value {
    serde_json::json!({"accounts": [{
        "name": "", "api_key": "", "secret_key": "", "paper": true, "active": true
    }]})
}

fn watchlist_schema() -> serde_json::Value {
    serde_json::json!({"watchlist": [{"symbol": "", "name": ""}]})
}

/// The Python version's settings.yaml: our settings without `auto_trade`
/// (which it did not have) and `data.feed` (which it may lack).
fn settings_schema() -> serde_json::Value {
    let mut s = serde_json::to_value(UserSettings::default()).unwrap_or_default();
    if let Some(map) = s.as_object_mut() {
        map.remove("auto_trade");
    }
    s
}

// ---------------------------------------------------------------- checks

/// What a key id looks like: Alpaca's are `PK…` (paper) or `AK…` (live)
/// followed by upper-case letters and digits, 20 characters today.
fn key_id_problem(key: &str, live: bool) -> Option<&'static str> {
    let shaped = (16..=40).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && (key.starts_with("PK") || key.starts_with("AK"));
    if !shaped {
        return Some(
            "not shaped like an Alpaca key id (PK… or AK…, letters and digits); a placeholder?",
        );
    }
    match (live, key.starts_with("AK")) {
        (false, true) => Some("starts with AK, a live key, but the account says paper: true"),
        (true, false) => Some("starts with PK, a paper key, but the account says paper: false"),
        _ => None,
    }
}

/// Secrets: 16-128 visible characters, and not a placeholder such as
/// `YOUR_SECRET_KEY_HERE` (upper-case words joined by `_`).
fn secret_problem(secret: &str) -> Option<&'static str> {
    let placeholder =
        secret.contains('_') && secret.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if placeholder
        || !(16..=128).contains(&secret.len())
        || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        Some("not shaped like an Alpaca secret key; a placeholder?")
    } else {
        None
    }
}

/// An account that passed the checks and will be imported.
struct Candidate {
    line: Option<usize>,
    name: String,
    env: Environment,
    key_id: String,
    secret: String,
    active: bool,
    verified_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Candidate {
    fn hint(&self) -> String {
        let chars: Vec<char> = self.key_id.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    }
}

/// What was found, checked, and will be written.
#[derive(Default)]
struct Plan {
    accounts: Vec<Candidate>,
    symbols: Vec<(String, Option<String>)>,
    settings: Option<UserSettings>,
    /// Lines of "skipped" and "warning" output.
    warnings: Vec<String>,
    unknown: Vec<String>,
    /// accounts.yaml was there (and holds keys in plain text).
    had_accounts_file: bool,
}

fn plan_accounts(
    file: &mut YamlFile,
    args: &MigrateYamlArgs,
    plan: &mut Plan,
) -> anyhow::Result<()> {
    file.check_keys(&accounts_schema(), false, &mut plan.unknown)?;
    let parsed: AccountsFile = file.parse()?;
    let name = file.name();
    let mut names = HashSet::new();
    let mut active_seen = false;
    for (i, a) in parsed.accounts.into_iter().enumerate() {
        let at = format!("accounts[{i}]");
        let line = file.lines.of(&at);
        let where_ = |field: &str| {
            let p = format!("{at}.{field}");
            file.lines.of(&p).map_or_else(
                || format!("{name}, {p}"),
                |l| format!("{name} line {l}, {p}"),
            )
        };
        let account_name = a.name.trim().to_owned();
        if account_name.is_empty()
            || account_name.chars().count() > 64
            || account_name.chars().any(char::is_control)
        {
            return Err(file.error(
                &format!("{at}.name"),
                "must be 1 to 64 characters without control characters",
            ));
        }
        let skip = |why: String| format!("warning: skipped account \"{account_name}\": {why}");
        if !names.insert(account_name.to_ascii_lowercase()) {
            plan.warnings.push(skip(format!(
                "{}: a second account with this name",
                where_("name")
            )));
            continue;
        }
        let live = !a.paper;
        if live && !args.allow_live {
            plan.warnings.push(skip(format!(
                "{}: paper: false is live money; pass --allow-live to import it",
                where_("paper")
            )));
            continue;
        }
        let key_id = a.api_key.trim().to_owned();
        let secret = a.secret_key.trim().to_owned();
        if let Some(problem) = key_id_problem(&key_id, live) {
            plan.warnings
                .push(skip(format!("{}: {problem}", where_("api_key"))));
            continue;
        }
        if let Some(problem) = secret_problem(&secret) {
            plan.warnings
                .push(skip(format!("{}: {problem}", where_("secret_key"))));
            continue;
        }
        let env = match (live, args.environment) {
            (true, _) => Environment::Live,
            (false, PaperTarget::Paper) => Environment::Paper,
            (false, PaperTarget::Sim) => Environment::Sim,
        };
        let active = a.active && !active_seen;
        if a.active && active_seen {
            plan.warnings.push(format!(
                "warning: {}: more than one account says active: true; the first one is made active",
                where_("active")
            ));
        }
        active_seen |= a.active;
        plan.accounts.push(Candidate {
            line,
            name: account_name,
            env,
            key_id,
            secret,
            active,
            verified_at: None,
        });
    }
    Ok(())
}

/// `^[A-Z][A-Z0-9.]{0,9}$` after upper-casing, as the watchlist API takes.
fn symbol_ok(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_uppercase())
        && s.len() <= 10
        && b.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'.')
}

fn plan_watchlist(file: &mut YamlFile, plan: &mut Plan) -> anyhow::Result<()> {
    file.check_keys(&watchlist_schema(), false, &mut plan.unknown)?;
    let parsed: WatchlistFile = file.parse()?;
    let mut seen = HashSet::new();
    for (i, s) in parsed.watchlist.into_iter().enumerate() {
        let symbol = s.symbol.trim().to_ascii_uppercase();
        if !symbol_ok(&symbol) {
            return Err(file.error(
                &format!("watchlist[{i}].symbol"),
                "must be 1 to 10 letters, digits or dots, starting with a letter (AAPL, BRK.B)",
            ));
        }
        let name = s
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if name.as_ref().is_some_and(|n| n.chars().count() > 128) {
            return Err(file.error(
                &format!("watchlist[{i}].name"),
                "must be at most 128 characters",
            ));
        }
        if seen.insert(symbol.clone()) {
            plan.symbols.push((symbol, name));
        }
    }
    Ok(())
}

fn plan_settings(file: &mut YamlFile, plan: &mut Plan) -> anyhow::Result<()> {
    let mut schema = settings_schema();
    // `data.feed` is ours: optional in the file.
    let had_feed = file.value.get("data").and_then(|d| d.get("feed")).is_some();
    if !had_feed && let Some(data) = schema.get_mut("data").and_then(|d| d.as_object_mut()) {
        data.remove("feed");
    }
    file.check_keys(&schema, true, &mut plan.unknown)?;
    let mut settings: UserSettings = file.parse()?;
    // The Python version's schedule.enabled meant trading; here it means
    // computing signals, and auto-trade stays off until the user turns it
    // on in the web app (with its guardrails).
    settings.auto_trade = trader_api_types::signals::AutoTradeSettings::default();
    if let Err(crate::error::ApiError::Validation { fields, .. }) =
        crate::services::settings::validate(&settings)
        && let Some((field, problem)) = fields.into_iter().next()
    {
        return Err(file.error(&field, &problem));
    }
    plan.settings = Some(settings);
    Ok(())
}

// ---------------------------------------------------------------- run

/// What the transaction did.
#[derive(Debug, Default)]
struct Outcome {
    imported: Vec<String>,
    existing: Vec<String>,
    activated: Option<String>,
    watchlist: Option<(String, Vec<String>, usize)>,
    settings: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
enum TxError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Other(String),
    /// `--dry-run`: roll back and report what would have been done.
    #[error("dry run")]
    DryRun(Box<Outcome>),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Runs `migrate-yaml`.
pub fn run(args: &MigrateYamlArgs) -> anyhow::Result<()> {
    let dir = &args.config_dir;
    if !dir.is_dir() {
        bail!("{}: no such folder", dir.display());
    }
    let mut plan = Plan::default();
    let mut accounts_file = YamlFile::read(dir, "accounts.yaml")?;
    let mut watchlist_file = YamlFile::read(dir, "watchlist.yaml")?;
    let mut settings_file = YamlFile::read(dir, "settings.yaml")?;
    if accounts_file.is_none() && watchlist_file.is_none() && settings_file.is_none() {
        bail!(
            "{}: none of accounts.yaml, watchlist.yaml, settings.yaml is there",
            dir.display()
        );
    }
    if let Some(f) = &mut accounts_file {
        plan.had_accounts_file = true;
        plan_accounts(f, args, &mut plan)?;
    }
    if let Some(f) = &mut watchlist_file {
        plan_watchlist(f, &mut plan)?;
    }
    if let Some(f) = &mut settings_file {
        plan_settings(f, &mut plan)?;
    }

    let (settings, _) = crate::Settings::from_serve_args(&args.server)?;
    crate::telemetry::init(settings.log_format);
    let pool = Pool::open(&settings.database_url, 2)?;
    trader_db::run_migrations(&mut *pool.get()?)?;
    let user = users::find_user_by_username(&mut *pool.get()?, args.user.trim())?
        .ok_or_else(|| anyhow!("no user named `{}`", args.user.trim()))?;

    let offered = settings.environments();
    for c in &plan.accounts {
        if !offered.contains(&c.env) {
            bail!(
                "the {} environment is not offered by this server (set ALPACA_SIM_URL for sim)",
                c.env.as_str()
            );
        }
    }

    // Accounts the user already has are left alone (and not checked).
    if !args.no_verify {
        verify_all(&settings, &pool, user.id, &mut plan)?;
    }

    let keyring = KeyRing::new(
        settings.encryption_key.clone(),
        settings.encryption_keys_old.clone(),
    );
    let mut conn = pool.get()?;
    let written = conn.write_transaction(|conn| {
        let outcome = apply(conn, &keyring, &user, &plan)?;
        if args.dry_run {
            Err(TxError::DryRun(Box::new(outcome)))
        } else {
            Ok(outcome)
        }
    });
    let (outcome, dry) = match written {
        Ok(o) => (o, false),
        Err(TxError::DryRun(o)) => (*o, true),
        Err(TxError::Db(e)) => {
            return Err(anyhow!(e).context("nothing was written"));
        }
        Err(TxError::Other(e)) => bail!("{e}; nothing was written"),
    };
    print_report(&plan, &outcome, &user.username, dry);
    Ok(())
}

/// Checks each new account's keys with the broker; refused keys are
/// skipped with a warning, an unreachable broker stops everything.
fn verify_all(
    settings: &crate::Settings,
    pool: &Pool,
    user: UserId,
    plan: &mut Plan,
) -> anyhow::Result<()> {
    let broker = trader_alpaca::Broker::new(settings.broker_urls.clone(), settings.broker.clone())
        .map_err(|e| anyhow!("broker configuration: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut conn = pool.get()?;
    let mut kept = Vec::new();
    for mut c in std::mem::take(&mut plan.accounts) {
        if trading_accounts::find_by_name(&mut conn, user, &c.name)?.is_some() {
            kept.push(c);
            continue;
        }
        if c.env == Environment::Sim && settings.broker_urls.sim.is_none() {
            plan.warnings.push(format!(
                "warning: account \"{}\" not checked: the built-in simulator runs only inside `serve --demo`",
                c.name
            ));
            kept.push(c);
            continue;
        }
        let keys = trader_alpaca::BrokerKeys::new(c.key_id.clone(), c.secret.clone());
        let client = broker
            .for_account(trader_alpaca::AccountKey(0), broker_env(c.env), &keys)
            .map_err(|e| anyhow!("{e}"))?;
        match runtime.block_on(client.verify_keys()) {
            Ok(_) => {
                c.verified_at = Some(trader_db::users::now());
                kept.push(c);
            }
            Err(
                trader_alpaca::BrokerError::KeysRejected
                | trader_alpaca::BrokerError::Forbidden { .. }
                | trader_alpaca::BrokerError::NotFound { .. },
            ) => plan.warnings.push(format!(
                "warning: skipped account \"{}\"{}: the broker refused its keys (key …{}) as {} keys",
                c.name,
                c.line.map_or_else(String::new, |l| format!(" (accounts.yaml line {l})")),
                c.hint(),
                c.env.as_str()
            )),
            Err(e) => bail!(
                "cannot check the keys of account \"{}\" with the broker: {e}; nothing was written (--no-verify imports without checking)",
                c.name
            ),
        }
    }
    plan.accounts = kept;
    Ok(())
}

fn apply(
    conn: &mut trader_db::DbConnection,
    keyring: &KeyRing,
    user: &users::User,
    plan: &Plan,
) -> Result<Outcome, TxError> {
    let mut out = Outcome::default();
    let mut to_activate = None;
    let mut first_new = None;
    for c in &plan.accounts {
        if trading_accounts::find_by_name(conn, user.id, &c.name)?.is_some() {
            out.existing.push(c.name.clone());
            continue;
        }
        let hint = c.hint();
        let created = trading_accounts::insert_in(
            conn,
            &NewTradingAccount {
                user_id: user.id,
                name: &c.name,
                environment: c.env.as_str(),
                key_hint: &hint,
                verified_at: c.verified_at.unwrap_or_else(trader_db::users::now),
            },
            c.verified_at,
            |row| {
                let seal = |value: &str, field: &str| {
                    keyring
                        .seal_str(value, &key_aad(user.id, row, field))
                        .map_err(|e| TxError::Other(format!("sealing failed: {e}")))
                };
                Ok::<_, TxError>((seal(&c.key_id, "key_id")?, seal(&c.secret, "secret_key")?))
            },
        )?;
        out.imported.push(format!(
            "imported account \"{}\" ({}, key …{}{})",
            c.name,
            c.env.as_str(),
            hint,
            if c.verified_at.is_some() {
                ", keys checked with the broker"
            } else {
                ", keys not checked"
            }
        ));
        first_new.get_or_insert(created.id);
        if c.active {
            to_activate = Some((created.id, c.name.clone()));
        }
    }
    let has_active = trading_accounts::find_active(conn, user.id)?.is_some();
    if let Some((id, name)) = to_activate {
        trading_accounts::activate_in(conn, user.id, id)?;
        out.activated = Some(name);
    } else if !has_active && let Some(id) = first_new {
        // The user's first account is the active one, as in the web app.
        trading_accounts::activate_in(conn, user.id, id)?;
        out.activated = trading_accounts::find(conn, user.id, id)?.map(|a| a.name);
    }

    if !plan.symbols.is_empty() {
        let list = watchlists::default_in(conn, user.id)?;
        let have: HashSet<String> = watchlists::symbols(conn, list.id)?
            .into_iter()
            .map(|e| e.symbol)
            .collect();
        let new: Vec<(String, Option<String>)> = plan
            .symbols
            .iter()
            .filter(|(s, _)| !have.contains(s))
            .cloned()
            .collect();
        watchlists::add_symbols_in(conn, list.id, &new).map_err(|e| match e {
            watchlists::ListError::Db(e) => TxError::Db(e),
            other => TxError::Other(format!("watchlist \"{}\": {other}", list.name)),
        })?;
        let already = plan.symbols.len() - new.len();
        out.watchlist = Some((
            list.name,
            new.into_iter().map(|(s, _)| s).collect(),
            already,
        ));
    }

    if let Some(wanted) = &plan.settings {
        trader_db::user_settings::lock(conn, user.id)?;
        let stored = trader_db::user_settings::get(conn, user.id)?;
        let current: Option<UserSettings> =
            match &stored {
                None => None,
                Some(json) => Some(serde_json::from_str(json).map_err(|e| {
                    TxError::Other(format!("the stored settings do not parse: {e}"))
                })?),
            };
        let current_or_default = current.clone().unwrap_or_default();
        out.settings = Some(if &current_or_default == wanted {
            "settings.yaml: the user's settings already equal it; nothing changed"
        } else if current_or_default != UserSettings::default() {
            "skipped settings.yaml: the user's settings were changed from the defaults; not overwritten"
        } else {
            let json = serde_json::to_string(wanted).map_err(|e| TxError::Other(e.to_string()))?;
            trader_db::user_settings::put(conn, user.id, &json)?;
            "imported settings.yaml (auto-trade stays off: the Python version's schedule.enabled traded; here it computes signals, and auto-trade is turned on in the web app)"
        });
    }

    let detail = serde_json::json!({
        "accounts_imported": out.imported.len(),
        "symbols_added": out.watchlist.as_ref().map_or(0, |w| w.1.len()),
        "settings_imported": out.settings.is_some_and(|s| s.starts_with("imported")),
    })
    .to_string();
    trader_db::audit::record(
        conn,
        &trader_db::audit::NewAuditEntry {
            user_id: Some(user.id),
            username: Some(&user.username),
            event: "yaml_imported",
            detail: Some(&detail),
            ..Default::default()
        },
        trader_db::users::now(),
    )?;
    Ok(out)
}

fn print_report(plan: &Plan, out: &Outcome, username: &str, dry: bool) {
    let mut lines = Vec::new();
    if dry {
        lines.push("dry run: nothing was written; this is what would be done".to_owned());
    }
    lines.push(format!("migrate-yaml for `{username}`:"));
    lines.extend(out.imported.iter().cloned());
    for name in &out.existing {
        lines.push(format!(
            "skipped account \"{name}\": the user already has an account with this name"
        ));
    }
    if let Some(name) = &out.activated {
        lines.push(format!("active account: \"{name}\""));
    }
    lines.extend(plan.warnings.iter().cloned());
    if let Some((list, added, already)) = &out.watchlist {
        lines.push(format!(
            "watchlist \"{list}\": {} symbol(s) added{}{}",
            added.len(),
            if added.is_empty() {
                String::new()
            } else {
                format!(" ({})", added.join(", "))
            },
            if *already > 0 {
                format!(", {already} already there")
            } else {
                String::new()
            }
        ));
    }
    if let Some(s) = out.settings {
        lines.push(s.to_owned());
    }
    for u in &plan.unknown {
        lines.push(format!("warning: unknown key ignored: {u}"));
    }
    if plan.had_accounts_file {
        lines.push(
            "warning: accounts.yaml holds API keys in plain text: delete it (and its copies and backups) once the import is done"
                .to_owned(),
        );
    }
    // The report on standard output, warnings on standard error.
    let (warnings, report): (Vec<String>, Vec<String>) =
        lines.into_iter().partition(|l| l.starts_with("warning:"));
    println!("{}", report.join("\n"));
    if !warnings.is_empty() {
        eprintln!("{}", warnings.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_nested_keys_and_list_items() {
        let text = "accounts:\n  - name: \"A\"\n    api_key: \"x\"\n  - name: B\n    paper: true\nwatchlist:\n- name: Apple\n  symbol: AAPL\n- name: M\n  symbol: MSFT\n";
        let l = Lines::scan(text);
        assert_eq!(l.of("accounts"), Some(1));
        assert_eq!(l.of("accounts[0]"), Some(2));
        assert_eq!(l.of("accounts[0].api_key"), Some(3));
        assert_eq!(l.of("accounts[1].paper"), Some(5));
        assert_eq!(l.of("accounts[1].secret_key"), Some(4));
        assert_eq!(l.of("watchlist[1].symbol"), Some(10));
        assert_eq!(l.of("watchlist[0].name"), Some(7));
    }

    #[test]
    fn key_shapes() {
        assert!(key_id_problem("YOUR_API_KEY_HERE", false).is_some());
        assert!(key_id_problem("PKABCDEFGHIJ12345678", false).is_none());
        assert!(key_id_problem("AKABCDEFGHIJ12345678", false).is_some());
        assert!(key_id_problem("AKABCDEFGHIJ12345678", true).is_none());
        assert!(secret_problem("YOUR_SECRET_KEY_HERE").is_some());
        assert!(secret_problem("abcdefghijABCDEFGHIJ0123456789abcdefghij").is_none());
        assert_eq!(key_of("x: 1").as_deref(), Some("x"));
        assert_eq!(key_of("\"a b\": 1").as_deref(), Some("a b"));
        assert_eq!(key_of("just text"), None);
    }
}
