//! Auto-trade: after the scheduler computes a user's signals, orders from
//! the BUY and SELL ones, by the Python version's rules, on the one account
//! the user chose, within their guardrails.
//!
//! What keeps it safe:
//! - **One order per decision.** Each order's client_order_id is derived
//!   from (user, account, symbol, timeframe, bar, action). The decision is
//!   claimed in the log in a write transaction (the user's row locked)
//!   before the order is sent, so a repeated pass or a second server finds
//!   the claim and sends nothing; and should two ever send, the broker
//!   refuses the reused id, which counts as "already placed".
//! - **Fresh bars only.** A signal counts only if its bar closed within one
//!   timeframe (for daily bars: before the next session's close), so
//!   nothing is caught up after downtime.
//! - **The settings are re-read before each order** (in the claim's
//!   transaction): off, another account, dry run or any changed limit ends
//!   the user's pass. On PostgreSQL the scheduler's lock connection is
//!   checked alive first.
//! - **The kill switch wins.** [`stop`] saves "off" before it asks the
//!   broker anything and then cancels the open orders auto-trade sent on
//!   the account; an order a running pass was sending at that moment is
//!   cancelled by the pass itself, which reads the settings again once the
//!   broker has answered.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use sha2::{Digest, Sha256};
use trader_alpaca::{AccountClient, BrokerError, NewOrder, Side, TimeInForce};
use trader_api_types::UserId;
use trader_api_types::auto_trade as dto;
use trader_api_types::broker::Environment;
use trader_api_types::signals::Settings;
use trader_db::DbConnection;
use trader_db::auto_trade::{self as log, Outcome, Sizing};

use crate::error::{ApiError, blocking};
use crate::services::broker::{self, Target};
use crate::services::scheduler::{ComputedSignal, Leadership};
use crate::services::signals::{bar_length, closed};
use crate::state::AppState;

/// Every auto-trade order's client_order_id starts with this.
pub const ID_PREFIX: &str = "at-";

/// The client_order_id of the order for one decision: `at-` and 45
/// characters of the base32 SHA-256 of what identifies the decision (48 in
/// all, Alpaca's limit is 128).
pub fn client_order_id(
    user: UserId,
    account: i64,
    symbol: &str,
    timeframe: &str,
    bar_time: DateTime<Utc>,
    action: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(
        format!(
            "{}\n{account}\n{symbol}\n{timeframe}\n{}\n{action}",
            user.0,
            bar_time.to_rfc3339()
        )
        .as_bytes(),
    );
    let encoded = data_encoding::BASE32_NOPAD
        .encode(&h.finalize())
        .to_ascii_lowercase();
    format!("{ID_PREFIX}{}", &encoded[..45])
}

/// New York midnight of `now`'s New York day (for `max_orders_per_day`).
pub fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let ny = now.with_timezone(&chrono_tz::America::New_York);
    chrono_tz::America::New_York
        .with_ymd_and_hms(ny.year(), ny.month(), ny.day(), 0, 0, 0)
        .earliest()
        .map_or(now - Duration::days(1), |t| t.with_timezone(&Utc))
}

/// Sessions (New York dates and closes) the freshness of daily bars is
/// judged by.
pub type Sessions = Vec<(NaiveDate, DateTime<Utc>)>;

/// Whether a signal's bar may still be traded at `now`: it closed within
/// one timeframe. For daily bars that is until the next session closes
/// (by the broker's calendar: weekends and holidays do not count); for
/// shorter bars, one bar's length after its close; for weeks and months,
/// until the next bar closes. `Err` says why not.
pub fn fresh(
    bar_time: DateTime<Utc>,
    timeframe: &str,
    now: DateTime<Utc>,
    sessions: Option<&Sessions>,
) -> Result<(), String> {
    if !closed(bar_time, timeframe, now) {
        return Err("the bar has not closed yet".to_owned());
    }
    let len = bar_length(timeframe);
    let stale = || {
        Err(format!(
            "stale: the bar of {} closed more than one {timeframe} bar ago (no catch-up orders)",
            bar_time.to_rfc3339()
        ))
    };
    if timeframe == "1Day" {
        let Some(sessions) = sessions else {
            return Err(
                "the market calendar could not be read: not trading on daily bars".to_owned(),
            );
        };
        let bar_date = bar_time
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        return match sessions.iter().find(|(date, _)| *date > bar_date) {
            Some((_, close)) if now < *close => Ok(()),
            Some(_) => stale(),
            None => Err("the market calendar does not reach past the bar".to_owned()),
        };
    }
    if len < Duration::days(1) {
        return if now < bar_time + len + len {
            Ok(())
        } else {
            stale()
        };
    }
    // Weeks and months: the next bar has not closed.
    let next = if timeframe.ends_with("Month") {
        let n: u32 = timeframe.trim_end_matches("Month").parse().unwrap_or(1);
        bar_time.checked_add_months(chrono::Months::new(n))
    } else {
        Some(bar_time + len)
    };
    match next {
        Some(next) if !closed(next, timeframe, now) => Ok(()),
        _ => stale(),
    }
}

/// The account as the broker shows it, kept up to date as a pass places
/// orders.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub equity: f64,
    pub last_equity: f64,
    /// Held positions: symbol to (signed quantity, quantity available to
    /// sell or cover as the broker writes it, unsigned).
    pub positions: HashMap<String, (f64, String)>,
    pub open_buys: HashSet<String>,
    pub open_sells: HashSet<String>,
}

fn number(s: &str) -> f64 {
    s.trim().parse::<f64>().unwrap_or(0.0)
}

impl Book {
    pub fn from_broker(
        account: &trader_alpaca::Account,
        positions: &[trader_alpaca::Position],
        open_orders: &[trader_alpaca::Order],
    ) -> Book {
        let mut book = Book {
            equity: number(&account.equity),
            last_equity: number(&account.last_equity),
            ..Book::default()
        };
        for p in positions {
            let qty = number(&p.qty).abs();
            let signed = if p.side == "short" { -qty } else { qty };
            let available = p
                .qty_available
                .clone()
                .unwrap_or_else(|| p.qty.clone())
                .trim_start_matches('-')
                .to_owned();
            book.positions.insert(p.symbol.clone(), (signed, available));
        }
        for o in open_orders.iter().filter(|o| o.is_open()) {
            if o.side == "buy" {
                book.open_buys.insert(o.symbol.clone());
            } else {
                book.open_sells.insert(o.symbol.clone());
            }
        }
        book
    }

    /// Positions held plus open buy orders for symbols not held: what
    /// `max_positions` counts.
    pub fn slots_used(&self) -> usize {
        self.positions.len()
            + self
                .open_buys
                .iter()
                .filter(|s| !self.positions.contains_key(*s))
                .count()
    }

    /// The day's P&L as % of the last close's equity.
    pub fn day_pnl_pct(&self) -> Option<f64> {
        (self.last_equity > 0.0)
            .then(|| (self.equity - self.last_equity) / self.last_equity * 100.0)
    }
}

/// What the broker says of an asset, for sizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssetFacts {
    pub fractionable: bool,
    pub shortable: bool,
}

/// An order a signal calls for, or why none.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Skip(String),
    Order {
        order: NewOrder,
        /// It opens or adds exposure (a BUY, or a SELL that opens a short).
        opens: bool,
    },
}

fn time_in_force(s: &str) -> TimeInForce {
    match s {
        "gtc" => TimeInForce::Gtc,
        "opg" => TimeInForce::Opg,
        "cls" => TimeInForce::Cls,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        _ => TimeInForce::Day,
    }
}

/// The checks every order that opens exposure passes: positions, the
/// day's loss, and its size.
fn opening_checks(s: &Settings, book: &Book) -> Result<f64, String> {
    let x = &s.execution;
    let at = &s.auto_trade;
    let used = book.slots_used();
    if used >= usize::try_from(x.max_positions).unwrap_or(usize::MAX) {
        return Err(format!(
            "{used} positions and open buy orders reach max_positions {}",
            x.max_positions
        ));
    }
    match book.day_pnl_pct() {
        Some(pnl) if pnl < -at.max_daily_loss_pct => {
            return Err(format!(
                "the day's P&L is {pnl:.2}%, below -{}% (max_daily_loss_pct): no new positions today",
                at.max_daily_loss_pct
            ));
        }
        Some(_) => {}
        None => return Err("the account's last equity is unknown: no new positions".to_owned()),
    }
    let amount = (book.equity * x.position_size_pct / 100.0 * 100.0).floor() / 100.0;
    if amount > at.max_order_notional {
        return Err(format!(
            "the order's ${amount:.2} ({}% of equity) is above max_order_notional ${:.2}",
            x.position_size_pct, at.max_order_notional
        ));
    }
    Ok(amount)
}

/// Whole shares of `amount` at `price`, or why none.
fn whole_shares(amount: f64, price: Option<f64>) -> Result<u64, String> {
    let Some(price) = price.filter(|p| p.is_finite() && *p > 0.0) else {
        return Err("no last close to size whole shares by".to_owned());
    };
    let shares = (amount / price).floor();
    if shares < 1.0 {
        return Err(format!(
            "one share at ${price:.2} costs more than the position's ${amount:.2}"
        ));
    }
    // Bounded by max_order_notional / price.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a floored positive share count far below u64::MAX"
    )]
    Ok(shares as u64)
}

/// A market order opening `amount` dollars of whole shares at `price`.
fn whole_share_order(
    symbol: &str,
    side: Side,
    amount: f64,
    price: Option<f64>,
    tif: TimeInForce,
) -> Plan {
    match whole_shares(amount, price) {
        Ok(n) => {
            let mut order = NewOrder::market(symbol, side, n.to_string());
            order.time_in_force = tif;
            Plan::Order { order, opens: true }
        }
        Err(why) => Plan::Skip(why),
    }
}

/// The order the Python version's rules call for on `action` for `symbol`
/// (its last close `price`), given the account `book` and the asset.
pub fn plan(
    s: &Settings,
    book: &Book,
    symbol: &str,
    action: &str,
    price: Option<f64>,
    asset: Option<AssetFacts>,
) -> Plan {
    let Some(asset) = asset else {
        return Plan::Skip(format!("{symbol} is not a tradable asset at the broker"));
    };
    let tif = time_in_force(&s.execution.time_in_force);
    let held = book.positions.get(symbol);
    match action {
        "buy" => {
            if let Some((qty, _)) = held {
                let side = if *qty < 0.0 { "short" } else { "long" };
                return Plan::Skip(format!("{symbol} is already held ({side})"));
            }
            if book.open_buys.contains(symbol) {
                return Plan::Skip(format!("an open buy order for {symbol} exists"));
            }
            let amount = match opening_checks(s, book) {
                Ok(a) => a,
                Err(why) => return Plan::Skip(why),
            };
            if asset.fractionable && tif == TimeInForce::Day {
                if amount < 1.0 {
                    return Plan::Skip(format!(
                        "the order's ${amount:.2} is below the broker's $1 minimum"
                    ));
                }
                let order = NewOrder::notional(symbol, Side::Buy, format!("{amount:.2}"));
                return Plan::Order { order, opens: true };
            }
            whole_share_order(symbol, Side::Buy, amount, price, tif)
        }
        "sell" => {
            if let Some((qty, available)) = held {
                if *qty < 0.0 {
                    return Plan::Skip(format!("{symbol} is already short"));
                }
                if number(available) <= 0.0 {
                    return Plan::Skip(format!(
                        "no {symbol} shares are available: an open order holds them"
                    ));
                }
                let mut order = NewOrder::market(symbol, Side::Sell, available.clone());
                // Fractional quantities trade only for the day.
                order.time_in_force = if available.contains('.') {
                    TimeInForce::Day
                } else {
                    tif
                };
                return Plan::Order {
                    order,
                    opens: false,
                };
            }
            if !s.execution.allow_short {
                return Plan::Skip(format!("{symbol} is not held and allow_short is off"));
            }
            if book.open_sells.contains(symbol) {
                return Plan::Skip(format!("an open sell order for {symbol} exists"));
            }
            if !asset.shortable {
                return Plan::Skip(format!("{symbol} cannot be sold short at the broker"));
            }
            let amount = match opening_checks(s, book) {
                Ok(a) => a,
                Err(why) => return Plan::Skip(why),
            };
            // Alpaca's notional orders cannot open shorts: whole shares.
            whole_share_order(symbol, Side::Sell, amount, price, tif)
        }
        other => Plan::Skip(format!("no order for a {other} signal")),
    }
}

fn sizing(order: &NewOrder) -> Sizing {
    Sizing {
        side: Some(order.side.as_str().to_owned()),
        qty: order.qty.clone(),
        notional: order.notional.clone(),
    }
}

fn describe(order: &NewOrder) -> String {
    match (&order.qty, &order.notional) {
        (Some(q), _) => format!("{} {q} {}", order.side.as_str(), order.symbol),
        (_, Some(n)) => format!("{} ${n} of {}", order.side.as_str(), order.symbol),
        _ => format!("{} {}", order.side.as_str(), order.symbol),
    }
}

/// What auto-trade did for one user in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserReport {
    pub placed: usize,
    pub dry_run: usize,
    pub skipped: usize,
    pub refused: usize,
    pub failed: usize,
    pub errors: Vec<String>,
}

/// Why a user's pass ended early.
enum Halt {
    /// Auto-trade is off now, or its settings changed: nothing more.
    Stopped(String),
    Error(ApiError),
}

impl From<ApiError> for Halt {
    fn from(e: ApiError) -> Self {
        Halt::Error(e)
    }
}

fn parse_settings(json: Option<String>) -> Settings {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

/// How long a claim may stay `submitting` before a later pass asks the
/// broker what became of it (the sender died).
const STALE_CLAIM: Duration = Duration::minutes(2);

/// Records a decision that sends nothing (skipped, dry run) unless the
/// bar was decided for good meanwhile; the user's row locked, as claims
/// lock it.
fn record(
    conn: &mut DbConnection,
    new: &log::NewDecision<'_>,
    outcome: Outcome,
    reason: &str,
    sizing: &Sizing,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    conn.write_transaction(|conn| {
        trader_db::user_settings::lock(conn, new.user_id)?;
        record_in(conn, new, outcome, reason, sizing, now)
    })
}

/// [`record`] inside the caller's write transaction.
fn record_in(
    conn: &mut DbConnection,
    new: &log::NewDecision<'_>,
    outcome: Outcome,
    reason: &str,
    sizing: &Sizing,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    match log::find(conn, new.user_id, new.client_order_id)? {
        Some(d) if d.outcome.may_retry() => {
            log::update(conn, d.id, outcome, reason, None, Some(sizing), None, now)?;
        }
        Some(_) => {}
        None => {
            log::insert(conn, new, outcome, reason, sizing, None, now)?;
        }
    }
    Ok(())
}

/// One user's auto-trade for this pass, on the signals just computed at
/// the market's time `market_now` (the broker's clock) from bars of
/// `data_env`.
pub async fn run_for_user(
    state: &AppState,
    lead: Option<&Leadership>,
    user: UserId,
    settings: &Settings,
    signals: &[ComputedSignal],
    market_now: DateTime<Utc>,
    data_env: Option<Environment>,
) -> UserReport {
    let mut report = UserReport::default();
    let pass = Pass {
        state,
        lead,
        user,
        settings,
        // The market's time moves on with the server's during the pass.
        offset: market_now - state.clock.now(),
    };
    if let Err(halt) = pass.run(signals, data_env, &mut report).await {
        match halt {
            Halt::Stopped(why) => {
                tracing::info!(user = user.0, why, "auto-trade stopped for this pass");
            }
            Halt::Error(e) => report
                .errors
                .push(format!("user {user}: auto-trade: {}", e.public_message())),
        }
    }
    let decided = report.placed + report.dry_run + report.skipped + report.refused + report.failed;
    if decided > 0 {
        // Tells the user's open pages to show the new decisions.
        let pool = state.pool.clone();
        let payload = serde_json::json!({
            "at": market_now,
            "placed": report.placed,
            "dry_run": report.dry_run,
            "skipped": report.skipped,
            "refused": report.refused,
            "failed": report.failed,
        });
        let published = blocking(move || {
            crate::services::events::publish(
                &mut *pool.get()?,
                user,
                crate::services::events::kinds::AUTO_TRADE,
                &payload,
                None,
            )
        })
        .await;
        if let Err(e) = published {
            tracing::warn!(error = %e, "could not record the auto-trade event");
        }
    }
    report
}

/// What becomes of a planned order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// The broker holds it.
    Stands,
    /// It may stand (no answer), or another pass decided this bar: count
    /// it as standing.
    Maybe,
    /// Nothing stands (refused, or a limit held it back).
    Nothing,
}

/// One user's auto-trade in one pass.
struct Pass<'a> {
    state: &'a AppState,
    lead: Option<&'a Leadership>,
    user: UserId,
    settings: &'a Settings,
    /// Market time minus server time.
    offset: Duration,
}

impl Pass<'_> {
    /// The market's time now.
    fn market_now(&self) -> DateTime<Utc> {
        self.state.clock.now() + self.offset
    }

    async fn run(
        &self,
        signals: &[ComputedSignal],
        data_env: Option<Environment>,
        report: &mut UserReport,
    ) -> Result<(), Halt> {
        let (state, user, settings) = (self.state, self.user, self.settings);
        let at = &settings.auto_trade;
        let Some(account_id) = at.account_id.filter(|_| at.enabled) else {
            return Ok(());
        };
        let actionable: Vec<&ComputedSignal> = signals
            .iter()
            .filter(|s| s.action == "buy" || s.action == "sell")
            .collect();
        if actionable.is_empty() {
            return Ok(());
        }
        let target = broker::target(state, user, Some(account_id)).await?;
        // Simulated prices never size a real order, nor real ones a
        // simulated order.
        let data_is_sim = data_env == Some(Environment::Sim);
        if data_is_sim != (target.env == Environment::Sim) {
            return Err(Halt::Error(ApiError::forbidden(
                trader_api_types::ErrorCode::Forbidden,
                format!(
                    "the bars come from {} but auto-trade's account is a {} account: not trading",
                    if data_is_sim {
                        "the simulator"
                    } else {
                        "Alpaca"
                    },
                    target.env.as_str()
                ),
            )));
        }
        let timeframe = settings.data.timeframe.as_str();
        let intraday = bar_length(timeframe) < Duration::days(1);
        let sessions = if timeframe == "1Day" {
            sessions(&target.client, self.market_now()).await
        } else {
            None
        };
        // Fresh reads, one after the other (open orders first: an order
        // that fills between the two reads is then seen as a position, not
        // missed by both). A cached answer could be another pass's.
        state.broker.forget(broker::account_key(&target.account));
        let to_api = |e| broker::broker_error(state, &target.account, e);
        let market_open = if intraday {
            target.client.clock().await.map_err(to_api)?.is_open
        } else {
            true
        };
        let orders = open_orders(&target.client).await.map_err(to_api)?;
        let positions = target.client.positions().await.map_err(to_api)?;
        let account = target.client.account().await.map_err(to_api)?;
        let mut book = Book::from_broker(&account, &positions, &orders.0);

        for signal in actionable {
            let coid = client_order_id(
                user,
                account_id,
                &signal.symbol,
                timeframe,
                signal.bar_time,
                &signal.action,
            );
            let new = log::NewDecision {
                user_id: user,
                account_id,
                symbol: &signal.symbol,
                timeframe,
                bar_time: signal.bar_time,
                action: &signal.action,
                client_order_id: &coid,
            };
            match self.reconcile(&target, &coid).await? {
                Reconciled::Decided => continue,
                Reconciled::Stands => {
                    report.placed += 1;
                    book.open(&signal.symbol, &signal.action);
                    continue;
                }
                Reconciled::Open => {}
            }
            let decided = match fresh(
                signal.bar_time,
                timeframe,
                self.market_now(),
                sessions.as_ref(),
            ) {
                Err(why) => Plan::Skip(why),
                Ok(()) if !market_open => Plan::Skip(
                    "the market is closed: an intraday signal is not queued for the next open"
                        .to_owned(),
                ),
                Ok(()) => {
                    let asset = broker::find_asset(state, &target, &signal.symbol)
                        .await?
                        .map(|a| AssetFacts {
                            fractionable: a.fractionable,
                            shortable: a.shortable,
                        });
                    plan(
                        settings,
                        &book,
                        &signal.symbol,
                        &signal.action,
                        signal.price,
                        asset,
                    )
                }
            };
            let now = state.clock.now();
            match decided {
                Plan::Skip(why) => {
                    save(state, &new, Outcome::Skipped, &why, &Sizing::default(), now).await?;
                    report.skipped += 1;
                }
                Plan::Order { order, .. } if at.dry_run => {
                    let why = format!("dry run: would {}", describe(&order));
                    save(state, &new, Outcome::DryRun, &why, &sizing(&order), now).await?;
                    report.dry_run += 1;
                }
                Plan::Order { order, .. } => {
                    let order = order.with_client_order_id(coid.clone());
                    let sent = self
                        .send(
                            &target,
                            &new,
                            &order,
                            signal.bar_time,
                            sessions.as_ref(),
                            report,
                        )
                        .await?;
                    if sent != Sent::Nothing {
                        book.open(&signal.symbol, &signal.action);
                    }
                }
            }
        }
        Ok(())
    }

    /// What the log already says of this decision: decided for good, an
    /// order the broker turned out to hold (sent before without an answer,
    /// or by a sender that died), or open to decide.
    async fn reconcile(&self, target: &Target, coid: &str) -> Result<Reconciled, Halt> {
        let (state, user) = (self.state, self.user);
        let pool = state.pool.clone();
        let key = coid.to_owned();
        let existing = blocking(move || Ok(log::find(&mut *pool.get()?, user, &key)?)).await?;
        let Some(d) = existing else {
            return Ok(Reconciled::Open);
        };
        let stale_claim =
            d.outcome == Outcome::Submitting && d.updated_at < state.clock.now() - STALE_CLAIM;
        let uncertain = d.outcome == Outcome::Failed && d.sent_at.is_some();
        if !stale_claim && !uncertain {
            return Ok(if d.outcome.may_retry() {
                Reconciled::Open
            } else {
                Reconciled::Decided
            });
        }
        match target.client.order_by_client_order_id(coid).await {
            Ok(found) => {
                let pool = state.pool.clone();
                let at = state.clock.now();
                let why = format!("placed: the broker holds order {}", found.id);
                blocking(move || {
                    Ok(log::update(
                        &mut *pool.get()?,
                        d.id,
                        Outcome::Placed,
                        &why,
                        Some(&found.id),
                        None,
                        None,
                        at,
                    )?)
                })
                .await?;
                Ok(Reconciled::Stands)
            }
            // Never reached the broker: free to decide again.
            Err(BrokerError::NotFound { .. }) => Ok(Reconciled::Open),
            Err(e) => Err(broker::broker_error(state, &target.account, e).into()),
        }
    }

    /// Claims the decision (the settings re-read, the limits checked, the
    /// bar still fresh), sends the order, records the broker's answer, and
    /// cancels it if auto-trade was stopped meanwhile.
    async fn send(
        &self,
        target: &Target,
        new: &log::NewDecision<'_>,
        order: &NewOrder,
        bar_time: DateTime<Utc>,
        sessions: Option<&Sessions>,
        report: &mut UserReport,
    ) -> Result<Sent, Halt> {
        let (state, user) = (self.state, self.user);
        if let Some(lead) = self.lead
            && !lead.alive(state, state.clock.now()).await?
        {
            return Err(Halt::Stopped(
                "this scheduler no longer holds the scheduler's lock".to_owned(),
            ));
        }
        let now = self.market_now();
        if let Err(why) = fresh(bar_time, &self.settings.data.timeframe, now, sessions) {
            save(
                state,
                new,
                Outcome::Skipped,
                &why,
                &sizing(order),
                state.clock.now(),
            )
            .await?;
            report.skipped += 1;
            return Ok(Sent::Nothing);
        }
        let account_id = new.account_id;
        let pool = state.pool.clone();
        let (decision, planned, sized) = (owned(new), self.settings.clone(), sizing(order));
        let server_now = state.clock.now();
        let claim = blocking(move || {
            let mut conn = pool.get()?;
            conn.write_transaction(|conn| -> Result<Claim, ApiError> {
                trader_db::user_settings::lock(conn, user)?;
                let fresh = parse_settings(trader_db::user_settings::get(conn, user)?);
                if !fresh.auto_trade.enabled {
                    return Ok(Claim::Halt("auto-trade was turned off".to_owned()));
                }
                if fresh.auto_trade != planned.auto_trade || fresh.execution != planned.execution {
                    return Ok(Claim::Halt(
                        "the auto-trade settings changed during the pass".to_owned(),
                    ));
                }
                let d = decision.borrow();
                let existing = log::find(conn, user, d.client_order_id)?;
                if let Some(e) = &existing {
                    let stale =
                        e.outcome == Outcome::Submitting && e.updated_at < server_now - STALE_CLAIM;
                    if !e.outcome.may_retry() && !stale {
                        return Ok(Claim::Taken);
                    }
                }
                let sent_today = log::count_sent_since(conn, user, account_id, day_start(now))?
                    - i64::from(existing.as_ref().is_some_and(|e| e.sent_at.is_some()));
                let limit = i64::from(fresh.auto_trade.max_orders_per_day);
                if sent_today >= limit {
                    let why = format!(
                        "{sent_today} orders were sent today, max_orders_per_day is {limit}"
                    );
                    record_in(conn, &d, Outcome::Skipped, &why, &sized, server_now)?;
                    return Ok(Claim::Limit);
                }
                let why = "sending the order";
                let id = match existing {
                    Some(e) => {
                        log::update(
                            conn,
                            e.id,
                            Outcome::Submitting,
                            why,
                            None,
                            Some(&sized),
                            Some(now),
                            server_now,
                        )?;
                        e.id
                    }
                    None => log::insert(
                        conn,
                        &d,
                        Outcome::Submitting,
                        why,
                        &sized,
                        Some(now),
                        server_now,
                    )?,
                };
                Ok(Claim::Mine(id))
            })
        })
        .await?;
        let id = match claim {
            Claim::Halt(why) => return Err(Halt::Stopped(why)),
            Claim::Taken => return Ok(Sent::Maybe),
            Claim::Limit => {
                report.skipped += 1;
                return Ok(Sent::Nothing);
            }
            Claim::Mine(id) => id,
        };

        let answer = target.client.submit_order(order).await;
        let (outcome, reason, order_id, sent) = match answer {
            Ok(placed) => (
                Outcome::Placed,
                format!("placed: {}", describe(order)),
                Some(placed.id),
                Sent::Stands,
            ),
            Err(BrokerError::DuplicateClientOrderId { existing }) => (
                Outcome::Placed,
                format!(
                    "already placed: the broker holds order {} under this client_order_id",
                    existing.id
                ),
                Some(existing.id),
                Sent::Stands,
            ),
            Err(
                e @ (BrokerError::Forbidden { .. }
                | BrokerError::Unprocessable { .. }
                | BrokerError::BadRequest { .. }
                | BrokerError::InvalidRequest(_)
                | BrokerError::KeysRejected),
            ) => (Outcome::Refused, e.to_string(), None, Sent::Nothing),
            // No answer that settles it (a timeout, a 5xx, a rate limit
            // after a try that may have arrived): the order may stand. The
            // next pass asks the broker under the same client_order_id.
            Err(e) => (
                Outcome::Failed,
                format!("{e}; the order may stand: the next pass checks by its client_order_id"),
                None,
                Sent::Maybe,
            ),
        };
        match outcome {
            Outcome::Placed => report.placed += 1,
            Outcome::Refused => report.refused += 1,
            _ => report.failed += 1,
        }
        let pool = state.pool.clone();
        let detail = serde_json::json!({
            "account_id": account_id,
            "symbol": order.symbol,
            "side": order.side.as_str(),
            "qty": order.qty,
            "notional": order.notional,
            "client_order_id": order.client_order_id,
            "order_id": order_id,
        })
        .to_string();
        let (o, r) = (order_id.clone(), reason.clone());
        let at = state.clock.now();
        blocking(move || {
            let mut conn = pool.get()?;
            conn.write_transaction(|conn| -> Result<(), ApiError> {
                log::update(conn, id, outcome, &r, o.as_deref(), None, None, at)?;
                if sent == Sent::Nothing {
                    log::clear_sent(conn, id)?;
                }
                if outcome == Outcome::Placed {
                    trader_db::audit::record(
                        conn,
                        &trader_db::audit::NewAuditEntry {
                            user_id: Some(user),
                            username: None,
                            actor_id: None,
                            event: "auto_trade_order_placed",
                            detail: Some(&detail),
                            ip: None,
                            user_agent: None,
                        },
                        at,
                    )?;
                }
                Ok(())
            })
        })
        .await?;
        if outcome == Outcome::Refused {
            tracing::info!(user = user.0, symbol = %order.symbol, reason, "auto-trade order refused");
        }
        if sent == Sent::Nothing {
            return Ok(sent);
        }
        // Stopped while the order was on its way? Then it must not stand.
        let pool = state.pool.clone();
        let current = blocking(move || {
            Ok(parse_settings(trader_db::user_settings::get(
                &mut *pool.get()?,
                user,
            )?))
        })
        .await?;
        if current.auto_trade.enabled && current.auto_trade.account_id == Some(account_id) {
            return Ok(sent);
        }
        let coid = order.client_order_id.clone().unwrap_or_default();
        let order_id = match order_id {
            Some(id) => Some(id),
            None => match target.client.order_by_client_order_id(&coid).await {
                Ok(found) => Some(found.id),
                Err(_) => None,
            },
        };
        if let Some(order_id) = order_id {
            let cancelled = target.client.cancel_order(&order_id).await;
            let (outcome, why) = match &cancelled {
                Ok(()) => (
                    Outcome::Cancelled,
                    "auto-trade was stopped while this order was sent: cancelled".to_owned(),
                ),
                Err(e) => {
                    // The kill switch may have cancelled it first: then
                    // "not cancelable" means it is gone, as it should be.
                    let gone = matches!(
                        target.client.order(&order_id).await.map(|o| o.status),
                        Ok(status) if matches!(status.as_str(), "canceled" | "expired" | "rejected")
                    );
                    if gone {
                        (
                            Outcome::Cancelled,
                            "auto-trade was stopped while this order was sent: cancelled"
                                .to_owned(),
                        )
                    } else {
                        (
                            Outcome::Placed,
                            format!(
                                "auto-trade was stopped while this order was sent; cancelling it failed: {e}"
                            ),
                        )
                    }
                }
            };
            let pool = state.pool.clone();
            let at = state.clock.now();
            blocking(move || {
                Ok(log::update(
                    &mut *pool.get()?,
                    id,
                    outcome,
                    &why,
                    Some(&order_id),
                    None,
                    None,
                    at,
                )?)
            })
            .await?;
        }
        Err(Halt::Stopped("auto-trade was stopped".to_owned()))
    }
}

/// What the log already says of a decision.
enum Reconciled {
    Decided,
    Stands,
    Open,
}

/// The claim's verdict.
enum Claim {
    Mine(i64),
    /// Decided for good by another pass.
    Taken,
    /// `max_orders_per_day` is reached (recorded as a skip).
    Limit,
    Halt(String),
}

impl Book {
    /// Counts an order just sent for `symbol` (a slot, and no second order
    /// for it in this pass).
    fn open(&mut self, symbol: &str, action: &str) {
        if action == "buy" {
            self.open_buys.insert(symbol.to_owned());
        } else {
            self.open_sells.insert(symbol.to_owned());
        }
        match self.positions.get_mut(symbol) {
            Some(p) => p.1 = "0".to_owned(),
            None => {
                let side = if action == "buy" { 1.0 } else { -1.0 };
                self.positions
                    .insert(symbol.to_owned(), (side, "0".to_owned()));
            }
        }
    }
}

/// Orders that can list at once (Alpaca's most).
const ORDERS_PAGE: u32 = 500;

/// The account's open orders, up to 500, and whether there may be more.
async fn open_orders(
    client: &AccountClient,
) -> Result<(Vec<trader_alpaca::Order>, bool), BrokerError> {
    let orders = client
        .orders(&trader_alpaca::ListOrders {
            status: Some(trader_alpaca::OrderStatusFilter::Open),
            limit: Some(ORDERS_PAGE),
            ..Default::default()
        })
        .await?;
    let more = orders.len() >= usize::try_from(ORDERS_PAGE).unwrap_or(usize::MAX);
    Ok((orders, more))
}

async fn save(
    state: &AppState,
    new: &log::NewDecision<'_>,
    outcome: Outcome,
    reason: &str,
    sizing: &Sizing,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let pool = state.pool.clone();
    let (new, reason, sizing) = (owned(new), reason.to_owned(), sizing.clone());
    blocking(move || {
        record(
            &mut *pool.get()?,
            &new.borrow(),
            outcome,
            &reason,
            &sizing,
            now,
        )
    })
    .await
}

/// A [`log::NewDecision`] that can cross into a blocking task.
#[derive(Debug, Clone)]
struct OwnedDecision {
    user_id: UserId,
    account_id: i64,
    symbol: String,
    timeframe: String,
    bar_time: DateTime<Utc>,
    action: String,
    client_order_id: String,
}

impl OwnedDecision {
    fn borrow(&self) -> log::NewDecision<'_> {
        log::NewDecision {
            user_id: self.user_id,
            account_id: self.account_id,
            symbol: &self.symbol,
            timeframe: &self.timeframe,
            bar_time: self.bar_time,
            action: &self.action,
            client_order_id: &self.client_order_id,
        }
    }
}

fn owned(d: &log::NewDecision<'_>) -> OwnedDecision {
    OwnedDecision {
        user_id: d.user_id,
        account_id: d.account_id,
        symbol: d.symbol.to_owned(),
        timeframe: d.timeframe.to_owned(),
        bar_time: d.bar_time,
        action: d.action.to_owned(),
        client_order_id: d.client_order_id.to_owned(),
    }
}

/// The broker's sessions from three weeks back to a week ahead (for the
/// freshness of daily bars); `None` when it cannot tell.
async fn sessions(client: &AccountClient, now: DateTime<Utc>) -> Option<Sessions> {
    let today = now
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let days = client
        .calendar(today - Duration::days(21), today + Duration::days(7))
        .await
        .ok()?;
    Some(
        days.into_iter()
            .filter_map(|d| {
                let close = d.date.and_time(d.close);
                chrono_tz::America::New_York
                    .from_local_datetime(&close)
                    .earliest()
                    .map(|t| (d.date, t.with_timezone(&Utc)))
            })
            .collect(),
    )
}

/// The kill switch: saves auto-trade "off" first (never waiting on the
/// broker), then cancels every open order auto-trade sent on its account:
/// those the open orders list, and those whose sending had no answer,
/// asked for by their client_order_id.
pub async fn stop(state: &AppState, user: UserId) -> Result<dto::StopReport, ApiError> {
    let pool = state.pool.clone();
    let (was_enabled, account_id) = blocking(move || {
        let mut conn = pool.get()?;
        let mut before = (false, None);
        trader_db::user_settings::update(
            &mut conn,
            user,
            |_, stored| -> Result<String, ApiError> {
                let Some(json) = stored else {
                    return serde_json::to_string(&Settings::default()).map_err(ApiError::internal);
                };
                // Settings that do not parse cannot have auto-trade on (a pass
                // reads them as the defaults): leave them as they are.
                let Ok(mut s) = serde_json::from_str::<Settings>(&json) else {
                    return Ok(json);
                };
                before = (s.auto_trade.enabled, s.auto_trade.account_id);
                s.auto_trade.enabled = false;
                serde_json::to_string(&s).map_err(ApiError::internal)
            },
        )?;
        Ok(before)
    })
    .await?;
    let mut report = dto::StopReport {
        enabled: false,
        was_enabled,
        account_id,
        cancelled: Vec::new(),
        failed: Vec::new(),
    };
    if let Some(account_id) = account_id {
        cancel_orders(state, user, account_id, &mut report).await;
    }
    Ok(report)
}

/// The kill switch's second half: never fails, says what it could not do.
async fn cancel_orders(
    state: &AppState,
    user: UserId,
    account_id: i64,
    report: &mut dto::StopReport,
) {
    let failed = |message: String| dto::UncancelledOrder {
        order_id: None,
        symbol: None,
        message,
    };
    let target = match broker::target(state, user, Some(account_id)).await {
        Ok(t) => t,
        Err(e) => {
            report
                .failed
                .push(failed(format!("the account: {}", e.public_message())));
            return;
        }
    };
    state.broker.forget(broker::account_key(&target.account));
    let (open, more) = match open_orders(&target.client).await {
        Ok(o) => o,
        Err(e) => {
            report
                .failed
                .push(failed(format!("listing the open orders: {e}")));
            return;
        }
    };
    if more {
        report.failed.push(failed(format!(
            "the account has {ORDERS_PAGE} or more open orders: those not listed were not looked at; press stop again"
        )));
    }
    let listed: HashSet<String> = open.iter().map(|o| o.client_order_id.clone()).collect();
    let candidates: Vec<String> = listed
        .iter()
        .filter(|c| c.starts_with(ID_PREFIX))
        .cloned()
        .collect();
    let pool = state.pool.clone();
    let found = blocking(move || {
        let mut conn = pool.get()?;
        Ok((
            log::logged_among(&mut conn, user, account_id, &candidates)?,
            log::uncertain(&mut conn, user, account_id)?,
        ))
    })
    .await;
    let (ours, uncertain) = match found {
        Ok((ours, uncertain)) => (ours.into_iter().collect::<HashSet<String>>(), uncertain),
        Err(e) => {
            report.failed.push(failed(format!(
                "reading the decision log: {}",
                e.public_message()
            )));
            return;
        }
    };
    let mut to_cancel: Vec<(String, String, String)> = open
        .iter()
        .filter(|o| ours.contains(&o.client_order_id))
        .map(|o| (o.id.clone(), o.client_order_id.clone(), o.symbol.clone()))
        .collect();
    // Sent without an answer, or being sent: not listed yet, maybe placed.
    for coid in uncertain.iter().filter(|c| !listed.contains(*c)) {
        match target.client.order_by_client_order_id(coid).await {
            Ok(o) if o.is_open() => to_cancel.push((o.id, o.client_order_id, o.symbol)),
            Ok(_) | Err(BrokerError::NotFound { .. }) => {}
            Err(e) => report.failed.push(dto::UncancelledOrder {
                order_id: None,
                symbol: None,
                message: format!("looking up {coid}: {e}"),
            }),
        }
    }
    let mut cancelled_ids = Vec::new();
    for (order_id, coid, symbol) in to_cancel {
        match target.client.cancel_order(&order_id).await {
            Ok(()) => {
                cancelled_ids.push(coid.clone());
                report.cancelled.push(dto::CancelledOrder {
                    order_id,
                    client_order_id: coid,
                    symbol,
                });
            }
            Err(e) => report.failed.push(dto::UncancelledOrder {
                order_id: Some(order_id),
                symbol: Some(symbol),
                message: e.to_string(),
            }),
        }
    }
    let pool = state.pool.clone();
    let at = state.clock.now();
    let marked = blocking(move || {
        Ok(log::mark_cancelled(
            &mut *pool.get()?,
            user,
            &cancelled_ids,
            "cancelled by the kill switch",
            at,
        )?)
    })
    .await;
    if let Err(e) = marked {
        tracing::warn!(error = %e, "the kill switch's cancellations were not written to the decision log");
    }
}

/// The user's decisions, newest first, a page at a time.
pub async fn decisions(
    state: &AppState,
    user: UserId,
    symbol: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    cursor: Option<i64>,
    limit: i64,
) -> Result<dto::DecisionPage, ApiError> {
    let pool = state.pool.clone();
    let rows = blocking(move || {
        Ok(log::list(
            &mut *pool.get()?,
            user,
            &log::LogQuery {
                symbol: symbol.as_deref(),
                from,
                to,
                before_id: cursor,
                limit: limit + 1,
            },
        )?)
    })
    .await?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    let decisions: Vec<dto::Decision> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|d| dto::Decision {
            id: d.id,
            account_id: d.account_id,
            symbol: d.symbol,
            timeframe: d.timeframe,
            bar_time: d.bar_time,
            action: d.action,
            outcome: d.outcome.as_str().to_owned(),
            reason: d.reason,
            client_order_id: d.client_order_id,
            order_id: d.order_id,
            side: d.side,
            qty: d.qty,
            notional: d.notional,
            created_at: d.created_at,
            updated_at: d.updated_at,
        })
        .collect();
    let next_cursor = if more {
        decisions.last().map(|d| d.id)
    } else {
        None
    };
    Ok(dto::DecisionPage {
        decisions,
        next_cursor,
    })
}

/// Refuses a `trade` token made without `live` anything that steers
/// auto-trade (the watchlists it trades) while auto-trade trades a live
/// account: such a token may not act on live accounts, directly or
/// through auto-trade.
pub async fn guard_steering(
    state: &AppState,
    caller: &crate::auth::AuthUser,
) -> Result<(), ApiError> {
    let crate::auth::Via::Token(token) = &caller.via else {
        return Ok(());
    };
    if token.live {
        return Ok(());
    }
    let user = caller.id();
    let pool = state.pool.clone();
    let live = blocking(move || {
        let mut conn = pool.get()?;
        let s = parse_settings(trader_db::user_settings::get(&mut conn, user)?);
        let Some(id) = s.auto_trade.account_id.filter(|_| s.auto_trade.enabled) else {
            return Ok(false);
        };
        Ok(trader_db::trading_accounts::find(&mut conn, user, id)?
            .is_some_and(|a| a.environment == "live"))
    })
    .await?;
    if live {
        return Err(ApiError::forbidden(
            trader_api_types::ErrorCode::InsufficientScope,
            "auto-trade is trading a live account: this token may not change the watchlists it trades; create a trade token with \"live\": true",
        ));
    }
    Ok(())
}

/// Audits the kill switch.
pub async fn audit_stop(
    state: &AppState,
    caller: &crate::auth::AuthUser,
    meta: &crate::meta::RequestMeta,
    report: &dto::StopReport,
) -> Result<(), ApiError> {
    let detail = serde_json::json!({
        "account_id": report.account_id,
        "was_enabled": report.was_enabled,
        "cancelled": report.cancelled.iter().map(|c| &c.order_id).collect::<Vec<_>>(),
        "failed": report.failed.len(),
        "via": if caller.session().is_some() { "session" } else { "token" },
    });
    crate::meta::audit_user(
        state,
        &caller.user,
        meta,
        "auto_trade_stopped",
        Some(detail),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.auto_trade.enabled = true;
        s.auto_trade.account_id = Some(1);
        s.auto_trade.dry_run = false;
        s.auto_trade.max_order_notional = 10_000.0;
        s
    }

    fn book(equity: f64) -> Book {
        Book {
            equity,
            last_equity: equity,
            ..Book::default()
        }
    }

    const FRACTIONABLE: Option<AssetFacts> = Some(AssetFacts {
        fractionable: true,
        shortable: true,
    });
    const WHOLE: Option<AssetFacts> = Some(AssetFacts {
        fractionable: false,
        shortable: false,
    });

    fn skipped(p: &Plan) -> &str {
        match p {
            Plan::Skip(why) => why,
            Plan::Order { order, .. } => panic!("expected a skip, got {order:?}"),
        }
    }

    fn order(p: &Plan) -> &NewOrder {
        match p {
            Plan::Order { order, .. } => order,
            Plan::Skip(why) => panic!("expected an order, skipped: {why}"),
        }
    }

    #[test]
    fn the_client_order_id_is_48_characters_and_names_the_decision() {
        let bar = t("2024-07-09T04:00:00Z");
        let id = client_order_id(UserId(7), 3, "AAPL", "1Day", bar, "buy");
        assert_eq!(id.len(), 48);
        assert!(id.starts_with("at-"));
        assert_eq!(
            id,
            client_order_id(UserId(7), 3, "AAPL", "1Day", bar, "buy")
        );
        for other in [
            client_order_id(UserId(8), 3, "AAPL", "1Day", bar, "buy"),
            client_order_id(UserId(7), 4, "AAPL", "1Day", bar, "buy"),
            client_order_id(UserId(7), 3, "MSFT", "1Day", bar, "buy"),
            client_order_id(UserId(7), 3, "AAPL", "1Hour", bar, "buy"),
            client_order_id(UserId(7), 3, "AAPL", "1Day", bar + Duration::days(1), "buy"),
            client_order_id(UserId(7), 3, "AAPL", "1Day", bar, "sell"),
        ] {
            assert_ne!(id, other);
        }
    }

    #[test]
    fn a_buy_is_a_notional_order_of_the_position_size_when_fractionable() {
        let p = plan(
            &settings(),
            &book(100_000.0),
            "AAPL",
            "buy",
            Some(190.0),
            FRACTIONABLE,
        );
        let o = order(&p);
        assert_eq!(o.side, Side::Buy);
        assert_eq!(o.notional.as_deref(), Some("5000.00"));
        assert_eq!(o.qty, None);
        assert_eq!(o.time_in_force, TimeInForce::Day);
    }

    #[test]
    fn whole_shares_when_not_fractionable_or_not_a_day_order() {
        let p = plan(
            &settings(),
            &book(100_000.0),
            "BRK",
            "buy",
            Some(190.0),
            WHOLE,
        );
        assert_eq!(order(&p).qty.as_deref(), Some("26"), "floor(5000 / 190)");
        let mut gtc = settings();
        gtc.execution.time_in_force = "gtc".to_owned();
        let p = plan(
            &gtc,
            &book(100_000.0),
            "AAPL",
            "buy",
            Some(190.0),
            FRACTIONABLE,
        );
        assert_eq!(order(&p).qty.as_deref(), Some("26"));
        assert_eq!(order(&p).time_in_force, TimeInForce::Gtc);
        let p = plan(
            &settings(),
            &book(100_000.0),
            "BRK",
            "buy",
            Some(600_000.0),
            WHOLE,
        );
        assert!(skipped(&p).contains("costs more"), "{p:?}");
    }

    #[test]
    fn a_buy_is_skipped_when_held_ordered_or_at_max_positions() {
        let s = settings();
        let mut b = book(100_000.0);
        b.positions.insert("AAPL".into(), (10.0, "10".into()));
        assert!(
            skipped(&plan(&s, &b, "AAPL", "buy", Some(1.0), FRACTIONABLE)).contains("already held")
        );
        b.open_buys.insert("MSFT".into());
        assert!(
            skipped(&plan(&s, &b, "MSFT", "buy", Some(1.0), FRACTIONABLE))
                .contains("open buy order")
        );
        let mut s2 = s.clone();
        s2.execution.max_positions = 2;
        let why = plan(&s2, &b, "TSLA", "buy", Some(1.0), FRACTIONABLE);
        assert!(skipped(&why).contains("max_positions 2"), "{why:?}");
        s2.execution.max_positions = 3;
        order(&plan(&s2, &b, "TSLA", "buy", Some(1.0), FRACTIONABLE));
    }

    #[test]
    fn the_notional_and_daily_loss_limits_stop_new_positions() {
        let mut s = settings();
        s.auto_trade.max_order_notional = 4_999.0;
        let p = plan(
            &s,
            &book(100_000.0),
            "AAPL",
            "buy",
            Some(10.0),
            FRACTIONABLE,
        );
        assert!(skipped(&p).contains("max_order_notional"), "{p:?}");
        let s = settings();
        let mut b = book(100_000.0);
        b.last_equity = 104_000.0;
        let p = plan(&s, &b, "AAPL", "buy", Some(10.0), FRACTIONABLE);
        assert!(skipped(&p).contains("max_daily_loss_pct"), "{p:?}");
        b.last_equity = 102_000.0;
        order(&plan(&s, &b, "AAPL", "buy", Some(10.0), FRACTIONABLE));
    }

    #[test]
    fn a_sell_sells_what_is_available_and_shorts_only_when_allowed() {
        let s = settings();
        let mut b = book(100_000.0);
        b.positions.insert("AAPL".into(), (12.5, "12.5".into()));
        let o = order(&plan(&s, &b, "AAPL", "sell", Some(10.0), FRACTIONABLE)).clone();
        assert_eq!((o.side, o.qty.as_deref()), (Side::Sell, Some("12.5")));
        // Closing is never held back by the opening limits.
        let mut tight = s.clone();
        tight.auto_trade.max_order_notional = 1.0;
        tight.execution.max_positions = 1;
        order(&plan(&tight, &b, "AAPL", "sell", Some(10.0), FRACTIONABLE));
        b.positions.insert("MSFT".into(), (5.0, "0".into()));
        assert!(
            skipped(&plan(&s, &b, "MSFT", "sell", Some(10.0), FRACTIONABLE))
                .contains("open order holds")
        );
        let p = plan(&s, &b, "TSLA", "sell", Some(10.0), FRACTIONABLE);
        assert!(skipped(&p).contains("allow_short is off"));
        let mut short = s.clone();
        short.execution.allow_short = true;
        let o = order(&plan(&short, &b, "TSLA", "sell", Some(190.0), FRACTIONABLE)).clone();
        assert_eq!(o.qty.as_deref(), Some("26"), "whole shares, never notional");
        assert_eq!(o.notional, None);
        let p = plan(&short, &b, "BRK", "sell", Some(190.0), WHOLE);
        assert!(skipped(&p).contains("cannot be sold short"));
    }

    #[test]
    fn only_a_bar_closed_within_one_timeframe_counts() {
        // 15-minute bars: the 10:00 bar closes 10:15 and counts until 10:30.
        let bar = t("2024-07-10T14:00:00Z");
        assert!(
            fresh(bar, "15Min", t("2024-07-10T14:10:00Z"), None).is_err(),
            "still forming"
        );
        assert!(fresh(bar, "15Min", t("2024-07-10T14:20:00Z"), None).is_ok());
        assert!(fresh(bar, "15Min", t("2024-07-10T14:30:00Z"), None).is_err());
        // Daily bars: Friday's counts until Monday's close, not Tuesday.
        let sessions: Sessions = vec![
            (
                NaiveDate::from_ymd_opt(2024, 7, 5).unwrap(),
                t("2024-07-05T20:00:00Z"),
            ),
            (
                NaiveDate::from_ymd_opt(2024, 7, 8).unwrap(),
                t("2024-07-08T20:00:00Z"),
            ),
            (
                NaiveDate::from_ymd_opt(2024, 7, 9).unwrap(),
                t("2024-07-09T20:00:00Z"),
            ),
        ];
        let friday = t("2024-07-05T04:00:00Z");
        assert!(fresh(friday, "1Day", t("2024-07-08T14:00:00Z"), Some(&sessions)).is_ok());
        let stale = fresh(friday, "1Day", t("2024-07-09T14:00:00Z"), Some(&sessions));
        assert!(stale.unwrap_err().contains("stale"));
        assert!(
            fresh(friday, "1Day", t("2024-07-08T14:00:00Z"), None).is_err(),
            "no calendar, no trade"
        );
    }

    #[test]
    fn the_day_starts_at_midnight_in_new_york() {
        assert_eq!(
            day_start(t("2024-07-10T14:00:00Z")),
            t("2024-07-10T04:00:00Z")
        );
        assert_eq!(
            day_start(t("2024-01-10T03:00:00Z")),
            t("2024-01-09T05:00:00Z")
        );
    }
}
