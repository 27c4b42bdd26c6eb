//! The user's settings: the Python version's `settings.yaml` groups as
//! JSON, with its defaults, validated as a whole so one 422 names every bad
//! field by its JSON path.

use std::collections::BTreeMap;

use trader_api_types::UserId;
use trader_api_types::signals::{Settings, SignalMode};
use trader_indicators::SignalConfig;

use trader_api_types::ErrorCode;

use crate::auth::{AuthUser, SessionUser};
use crate::error::{ApiError, blocking};
use crate::state::AppState;

/// The Python version's settings as the indicators library reads them.
pub fn signal_config(s: &Settings) -> SignalConfig {
    use trader_indicators::signal as c;
    SignalConfig {
        indicators: c::IndicatorSettings {
            rsi: c::RsiSettings {
                enabled: s.indicators.rsi.enabled,
                period: s.indicators.rsi.period,
                overbought: s.indicators.rsi.overbought,
                oversold: s.indicators.rsi.oversold,
            },
            sma_crossover: c::SmaCrossoverSettings {
                enabled: s.indicators.sma_crossover.enabled,
                short_period: s.indicators.sma_crossover.short_period,
                long_period: s.indicators.sma_crossover.long_period,
            },
            macd: c::MacdSettings {
                enabled: s.indicators.macd.enabled,
                fast_period: s.indicators.macd.fast_period,
                slow_period: s.indicators.macd.slow_period,
                signal_period: s.indicators.macd.signal_period,
            },
            bollinger_bands: c::BollingerSettings {
                enabled: s.indicators.bollinger_bands.enabled,
                period: s.indicators.bollinger_bands.period,
                std_dev: s.indicators.bollinger_bands.std_dev,
            },
        },
        signal: c::SignalSettings {
            mode: match s.signal.mode {
                SignalMode::Any => c::SignalMode::Any,
                SignalMode::Majority => c::SignalMode::Majority,
                SignalMode::Unanimous => c::SignalMode::Unanimous,
            },
            min_agree: s.signal.min_agree,
        },
    }
}

/// The most bars a lookback may span (each signal reads them all).
pub const MAX_LOOKBACK_BARS: u64 = 10_000;

/// Whether `tf` is one of Alpaca's bar timeframes.
pub fn is_timeframe(tf: &str) -> bool {
    let digits: String = tf.chars().take_while(char::is_ascii_digit).collect();
    let unit = &tf[digits.len()..];
    let Ok(n) = digits.parse::<u32>() else {
        return false;
    };
    if digits.starts_with('0') {
        return false;
    }
    match unit {
        "Min" => (1..=59).contains(&n),
        "Hour" => (1..=23).contains(&n),
        "Day" | "Week" => n == 1,
        "Month" => matches!(n, 1 | 2 | 3 | 4 | 6 | 12),
        _ => false,
    }
}

/// Checks every group; answers one 422 naming each bad field by its path.
pub fn validate(s: &Settings) -> Result<(), ApiError> {
    let mut fields = BTreeMap::new();
    if let Err(errors) = signal_config(s).validate() {
        for e in errors.errors {
            fields.insert(e.path, e.message);
        }
    }
    let enabled = [
        s.indicators.rsi.enabled,
        s.indicators.sma_crossover.enabled,
        s.indicators.macd.enabled,
        s.indicators.bollinger_bands.enabled,
    ];
    if !enabled.iter().any(|e| *e) {
        fields.insert(
            "indicators".to_owned(),
            "enable at least one rule".to_owned(),
        );
    }
    let x = &s.execution;
    if x.order_type != "market" {
        fields.insert(
            "execution.order_type".to_owned(),
            "must be market (the only type auto-trade places)".to_owned(),
        );
    }
    if !matches!(
        x.time_in_force.as_str(),
        "day" | "gtc" | "opg" | "cls" | "ioc" | "fok"
    ) {
        fields.insert(
            "execution.time_in_force".to_owned(),
            "must be day, gtc, opg, cls, ioc or fok".to_owned(),
        );
    }
    if !(0.1..=100.0).contains(&x.position_size_pct) || !x.position_size_pct.is_finite() {
        fields.insert(
            "execution.position_size_pct".to_owned(),
            "must be 0.1 to 100".to_owned(),
        );
    }
    if !(1..=100).contains(&x.max_positions) {
        fields.insert(
            "execution.max_positions".to_owned(),
            "must be 1 to 100".to_owned(),
        );
    }
    let d = &s.data;
    if !is_timeframe(&d.timeframe) {
        fields.insert(
            "data.timeframe".to_owned(),
            "must be one of Alpaca's: 1Min-59Min, 1Hour-23Hour, 1Day, 1Week, 1/2/3/4/6/12Month"
                .to_owned(),
        );
    }
    if !(1..=3650).contains(&d.lookback_days) {
        fields.insert(
            "data.lookback_days".to_owned(),
            "must be 1 to 3650".to_owned(),
        );
    } else if is_timeframe(&d.timeframe)
        && crate::services::signals::bars_in_days(d.lookback_days, &d.timeframe) > MAX_LOOKBACK_BARS
    {
        fields.insert(
            "data.lookback_days".to_owned(),
            format!(
                "spans more than {MAX_LOOKBACK_BARS} bars of {}: choose fewer days or a longer timeframe",
                d.timeframe
            ),
        );
    }
    if !matches!(d.feed.as_str(), "iex" | "sip") {
        fields.insert("data.feed".to_owned(), "must be iex or sip".to_owned());
    }
    let sc = &s.schedule;
    if !(1..=1440).contains(&sc.interval_minutes) {
        fields.insert(
            "schedule.interval_minutes".to_owned(),
            "must be 1 to 1440".to_owned(),
        );
    }
    if let Some(cron) = &sc.cron {
        let five_fields = cron.split_whitespace().count() == 5;
        if !five_fields || cron.len() > 100 || croner::Cron::new(cron).parse().is_err() {
            fields.insert(
                "schedule.cron".to_owned(),
                "must be a 5-field cron expression (minute hour day month weekday), in New York time"
                    .to_owned(),
            );
        }
    }
    let at = &s.auto_trade;
    if at.enabled && at.account_id.is_none() {
        fields.insert(
            "auto_trade.account_id".to_owned(),
            "choose the trading account auto-trade uses before turning it on".to_owned(),
        );
    }
    if !(1.0..=10_000_000.0).contains(&at.max_order_notional) {
        fields.insert(
            "auto_trade.max_order_notional".to_owned(),
            "must be 1 to 10000000 (dollars)".to_owned(),
        );
    }
    if !(1..=1000).contains(&at.max_orders_per_day) {
        fields.insert(
            "auto_trade.max_orders_per_day".to_owned(),
            "must be 1 to 1000".to_owned(),
        );
    }
    if !(0.1..=100.0).contains(&at.max_daily_loss_pct) {
        fields.insert(
            "auto_trade.max_daily_loss_pct".to_owned(),
            "must be 0.1 to 100 (%)".to_owned(),
        );
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation {
            message: format!(
                "some settings are not acceptable: {}",
                fields.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            fields,
        })
    }
}

/// Reads settings from JSON; a wrong type or an unknown key answers a 422
/// naming the field by its JSON path (`indicators.rsi.period`).
pub fn parse(value: serde_json::Value) -> Result<Settings, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = crate::routes::sanitize_serde_message(&e.inner().to_string());
        let mut path = e.path().to_string();
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            path = if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
        }
        if path == "." {
            path = "settings".to_owned();
        }
        ApiError::field(&path, message)
    })
}

/// The user's settings (the defaults until they save any).
pub async fn load(state: &AppState, user: UserId) -> Result<Settings, ApiError> {
    let pool = state.pool.clone();
    let stored =
        blocking(move || Ok(trader_db::user_settings::get(&mut *pool.get()?, user)?)).await?;
    stored_settings(stored)
}

/// The user's settings for a read (GET): from the cache when it holds
/// them (see `auth::cache`), else as [`load`], then kept.
pub async fn load_read(
    state: &AppState,
    user: UserId,
) -> Result<std::sync::Arc<Settings>, ApiError> {
    if let Some(settings) = state.auth_cache.settings(user) {
        return Ok(settings);
    }
    let ticket = state.auth_cache.ticket();
    let settings = std::sync::Arc::new(load(state, user).await?);
    state
        .auth_cache
        .put_settings(ticket, user, std::sync::Arc::clone(&settings));
    Ok(settings)
}

fn stored_settings(stored: Option<String>) -> Result<Settings, ApiError> {
    match stored {
        None => Ok(Settings::default()),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored settings do not parse: {e}"))),
    }
}

/// Whether the caller may raise auto-trade's risk: only in a signed-in
/// session, with 2FA on and a confirmation (sign-in, password or code)
/// within the last 10 minutes. Tokens never may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    Confirmed,
    NoTwoFactor,
    NotConfirmed,
    /// A `trade` token (`read` ones never get here).
    Token,
    /// A `trade` token made with `live`.
    LiveToken,
}

impl Authority {
    pub fn of(caller: &AuthUser, now: chrono::DateTime<chrono::Utc>) -> Self {
        let session = match &caller.via {
            crate::auth::Via::Session(s) => s,
            crate::auth::Via::Token(t) if t.live => return Self::LiveToken,
            crate::auth::Via::Token(_) => return Self::Token,
        };
        if !caller.user.totp_enabled {
            return Self::NoTwoFactor;
        }
        let who = SessionUser {
            user: caller.user.clone(),
            auth: session.clone(),
        };
        if who.require_recent_confirmation(now).is_ok() {
            Self::Confirmed
        } else {
            Self::NotConfirmed
        }
    }

    fn allow(self, what: &str) -> Result<(), ApiError> {
        match self {
            Self::Confirmed => Ok(()),
            Self::Token | Self::LiveToken => Err(ApiError::forbidden(
                ErrorCode::InsufficientScope,
                format!(
                    "{what} raises auto-trade's risk: that takes a signed-in session with 2FA and a recent confirmation, never a token (a trade token may turn auto-trade off or stop it)"
                ),
            )),
            Self::NoTwoFactor => Err(ApiError::forbidden(
                ErrorCode::TwoFactorSetupRequired,
                format!("{what} raises auto-trade's risk: turn on two-factor authentication first"),
            )),
            Self::NotConfirmed => Err(ApiError::forbidden(
                ErrorCode::ReauthRequired,
                format!(
                    "{what} raises auto-trade's risk: confirm it is you first (POST /api/auth/reauth with your password or a code)"
                ),
            )),
        }
    }
}

/// What in a change of settings raises the risk auto-trade takes (empty
/// when nothing does): any change of the `auto_trade` group that does, and
/// while auto-trade is on, a larger position, more positions or shorts. `live` says whether the new `auto_trade.account_id`
/// is a live account.
pub fn risk_raised(old: &Settings, new: &Settings, live: bool) -> Vec<&'static str> {
    let (o, n) = (&old.auto_trade, &new.auto_trade);
    let (ox, nx) = (&old.execution, &new.execution);
    let mut out = Vec::new();
    let mut flag = |raised: bool, what: &'static str| {
        if raised {
            out.push(what);
        }
    };
    flag(n.enabled && !o.enabled, "auto_trade.enabled");
    flag(!n.dry_run && o.dry_run, "auto_trade.dry_run");
    flag(
        n.account_id.is_some() && n.account_id != o.account_id,
        "auto_trade.account_id",
    );
    flag(
        live && n.account_id.is_some() && n.account_id != o.account_id,
        "a live account",
    );
    flag(
        n.max_order_notional > o.max_order_notional,
        "auto_trade.max_order_notional",
    );
    flag(
        n.max_orders_per_day > o.max_orders_per_day,
        "auto_trade.max_orders_per_day",
    );
    flag(
        n.max_daily_loss_pct > o.max_daily_loss_pct,
        "auto_trade.max_daily_loss_pct",
    );
    // The execution group sizes auto-trade's orders: while auto-trade is
    // off it changes nothing (and turning it on takes the confirmation).
    if n.enabled {
        flag(
            nx.position_size_pct > ox.position_size_pct,
            "execution.position_size_pct",
        );
        flag(
            nx.max_positions > ox.max_positions,
            "execution.max_positions",
        );
        flag(nx.allow_short && !ox.allow_short, "execution.allow_short");
    }
    out
}

/// Settings before and after a change.
#[derive(Debug, Clone)]
pub struct Change {
    pub old: Settings,
    pub new: Settings,
}

/// Checks a whole new settings document against the stored one, inside
/// the write transaction: valid, its auto-trade account one of the user's,
/// and any raise of risk allowed to the caller.
fn check_change(
    conn: &mut trader_db::DbConnection,
    user: UserId,
    authority: Authority,
    old: &Settings,
    new: &Settings,
) -> Result<(), ApiError> {
    validate(new)?;
    // While auto-trade trades a live account, a token that may not act on
    // live accounts may not steer it either: only turn it off or lower
    // its limits.
    if authority == Authority::Token
        && old.auto_trade.enabled
        && let Some(id) = old.auto_trade.account_id
        && trader_db::trading_accounts::find(conn, user, id)?
            .is_some_and(|a| a.environment == "live")
    {
        let others_changed = old.indicators != new.indicators
            || old.signal != new.signal
            || old.data != new.data
            || old.schedule != new.schedule
            || old.execution != new.execution;
        if others_changed {
            return Err(ApiError::forbidden(
                ErrorCode::InsufficientScope,
                "auto-trade is trading a live account: this token may only turn it off or lower its limits; create a trade token with \"live\": true",
            ));
        }
    }
    let mut live = false;
    if let Some(id) = new.auto_trade.account_id {
        let Some(account) = trader_db::trading_accounts::find(conn, user, id)? else {
            return Err(ApiError::field(
                "auto_trade.account_id",
                "is not one of your trading accounts",
            ));
        };
        live = account.environment == "live";
    }
    let raised = risk_raised(old, new, live);
    if !raised.is_empty() {
        authority.allow(&format!("changing {}", raised.join(", ")))?;
    }
    Ok(())
}

/// Replaces the settings with `value` (missing fields take the defaults),
/// checked first.
pub async fn replace(
    state: &AppState,
    user: UserId,
    authority: Authority,
    value: serde_json::Value,
) -> Result<Change, ApiError> {
    let settings = parse(value)?;
    validate(&settings)?;
    let pool = state.pool.clone();
    blocking(move || {
        let mut old = None;
        trader_db::user_settings::update(
            &mut *pool.get()?,
            user,
            |conn, stored| -> Result<String, ApiError> {
                let current = stored_settings(stored)?;
                check_change(conn, user, authority, &current, &settings)?;
                old = Some(current);
                serde_json::to_string(&settings).map_err(ApiError::internal)
            },
        )?;
        Ok(Change {
            old: old.unwrap_or_default(),
            new: settings,
        })
    })
    .await
}

/// Applies a JSON merge patch (RFC 7396) to the stored settings, in one
/// write transaction (two patches at once both apply): the result must
/// still be a whole, valid settings document.
pub async fn patch(
    state: &AppState,
    user: UserId,
    authority: Authority,
    patch: serde_json::Value,
) -> Result<Change, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::BadRequest(
            "a merge patch is a JSON object".to_owned(),
        ));
    }
    let pool = state.pool.clone();
    blocking(move || {
        let mut change = None;
        trader_db::user_settings::update(
            &mut *pool.get()?,
            user,
            |conn, stored| -> Result<String, ApiError> {
                let current = stored_settings(stored)?;
                let mut doc = serde_json::to_value(&current).map_err(ApiError::internal)?;
                json_patch::merge(&mut doc, &patch);
                let merged = parse(doc)?;
                check_change(conn, user, authority, &current, &merged)?;
                let json = serde_json::to_string(&merged).map_err(ApiError::internal)?;
                change = Some(Change {
                    old: current,
                    new: merged,
                });
                Ok(json)
            },
        )?;
        change.ok_or_else(|| ApiError::internal(anyhow::anyhow!("the settings change was lost")))
    })
    .await
}

/// Audits a change of settings: `settings_changed`, and for the
/// `auto_trade` group `auto_trade_enabled`, `auto_trade_disabled` or
/// `auto_trade_changed` with what changed.
pub async fn audit_change(
    state: &AppState,
    caller: &AuthUser,
    meta: &crate::meta::RequestMeta,
    change: &Change,
) -> Result<(), ApiError> {
    use crate::meta::audit_user;
    audit_user(state, &caller.user, meta, "settings_changed", None).await?;
    let (o, n) = (&change.old.auto_trade, &change.new.auto_trade);
    if o == n {
        return Ok(());
    }
    let event = match (o.enabled, n.enabled) {
        (false, true) => "auto_trade_enabled",
        (true, false) => "auto_trade_disabled",
        _ => "auto_trade_changed",
    };
    let detail = serde_json::json!({
        "before": o, "after": n,
        "via": if caller.session().is_some() { "session" } else { "token" },
    });
    audit_user(state, &caller.user, meta, event, Some(detail)).await
}
