//! The user's settings: the Python version's `settings.yaml` groups as
//! JSON, with its defaults, validated as a whole so one 422 names every bad
//! field by its JSON path.

use std::collections::BTreeMap;

use trader_api_types::UserId;
use trader_api_types::signals::{Settings, SignalMode};
use trader_indicators::SignalConfig;

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

fn stored_settings(stored: Option<String>) -> Result<Settings, ApiError> {
    match stored {
        None => Ok(Settings::default()),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored settings do not parse: {e}"))),
    }
}

/// Replaces the settings with `value` (missing fields take the defaults),
/// checked first.
pub async fn replace(
    state: &AppState,
    user: UserId,
    value: serde_json::Value,
) -> Result<Settings, ApiError> {
    let settings = parse(value)?;
    validate(&settings)?;
    let json = serde_json::to_string(&settings).map_err(ApiError::internal)?;
    let pool = state.pool.clone();
    blocking(move || {
        trader_db::user_settings::update(&mut *pool.get()?, user, |_| Ok::<_, ApiError>(json))
    })
    .await?;
    Ok(settings)
}

/// Applies a JSON merge patch (RFC 7396) to the stored settings, in one
/// write transaction (two patches at once both apply): the result must
/// still be a whole, valid settings document.
pub async fn patch(
    state: &AppState,
    user: UserId,
    patch: serde_json::Value,
) -> Result<Settings, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::BadRequest(
            "a merge patch is a JSON object".to_owned(),
        ));
    }
    let pool = state.pool.clone();
    let json = blocking(move || {
        trader_db::user_settings::update(&mut *pool.get()?, user, |stored| {
            let current = stored_settings(stored)?;
            let mut doc = serde_json::to_value(current).map_err(ApiError::internal)?;
            json_patch::merge(&mut doc, &patch);
            let merged = parse(doc)?;
            validate(&merged)?;
            serde_json::to_string(&merged).map_err(ApiError::internal)
        })
    })
    .await?;
    stored_settings(Some(json))
}
