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

/// The user's settings (the defaults until they save any).
pub async fn load(state: &AppState, user: UserId) -> Result<Settings, ApiError> {
    let pool = state.pool.clone();
    let stored =
        blocking(move || Ok(trader_db::user_settings::get(&mut *pool.get()?, user)?)).await?;
    match stored {
        None => Ok(Settings::default()),
        Some(json) => serde_json::from_str(&json).map_err(|e| {
            ApiError::internal(anyhow::anyhow!(
                "stored settings of user {user} do not parse: {e}"
            ))
        }),
    }
}

/// Validates and stores `settings`.
pub async fn save(state: &AppState, user: UserId, settings: &Settings) -> Result<(), ApiError> {
    validate(settings)?;
    let json = serde_json::to_string(settings).map_err(ApiError::internal)?;
    let pool = state.pool.clone();
    blocking(move || {
        Ok(trader_db::user_settings::put(
            &mut *pool.get()?,
            user,
            &json,
        )?)
    })
    .await
}

/// Applies a JSON merge patch (RFC 7396) to `current`: the result must
/// still be a whole, valid settings document.
pub fn merge(current: &Settings, patch: &serde_json::Value) -> Result<Settings, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::BadRequest(
            "a merge patch is a JSON object".to_owned(),
        ));
    }
    let mut doc = serde_json::to_value(current).map_err(ApiError::internal)?;
    json_patch::merge(&mut doc, patch);
    serde_json::from_value(doc).map_err(|e| crate::routes::body_error(&e))
}
