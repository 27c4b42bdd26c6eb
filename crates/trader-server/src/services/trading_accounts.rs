//! Trading accounts: adding one (keys checked with the broker first, then
//! sealed), renaming, replacing keys, activating and deleting. Keys never
//! leave this module except sealed, and never reach a log, an audit entry
//! or an error.

use trader_alpaca::{AccountKey, BrokerError, BrokerKeys};
use trader_api_types::broker::{self as dto, Environment};
use trader_api_types::{ErrorCode, UserId};
use trader_db::trading_accounts::{self, NewTradingAccount, TradingAccount};

use crate::auth::SessionUser;
use crate::error::{ApiError, blocking};
use crate::meta::{Event, RequestMeta, audit};
use crate::services::broker::{broker_env, key_aad, map_error};
use crate::state::AppState;

/// A trading account as the API lists it.
pub fn dto(a: &TradingAccount) -> dto::TradingAccount {
    dto::TradingAccount {
        id: a.id,
        name: a.name.clone(),
        environment: Environment::parse(&a.environment).unwrap_or(Environment::Paper),
        key_hint: a.key_hint.clone(),
        active: a.is_active,
        verified: a.verified,
        created_at: a.created_at,
        updated_at: a.updated_at,
        last_verified_at: a.last_verified_at,
    }
}

/// A checked account name: trimmed, 1-64 characters, no control characters.
fn parse_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 64 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A checked key: 1-128 visible ASCII characters. The message never
/// repeats the value.
fn parse_key(field: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 128 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::field(
            field,
            "must be 1 to 128 visible ASCII characters, as Alpaca shows it",
        ));
    }
    Ok(v.to_owned())
}

/// The key id's last four characters, shown to tell accounts apart.
fn hint(key_id: &str) -> String {
    let chars: Vec<char> = key_id.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Adding or replacing keys of a live account: a confirmation in the last
/// 10 minutes, 2FA on, and `"confirm_live": true`.
fn guard_live(caller: &SessionUser, state: &AppState, confirm_live: bool) -> Result<(), ApiError> {
    if !confirm_live {
        return Err(ApiError::field(
            "confirm_live",
            "a live account trades real money: send \"confirm_live\": true",
        ));
    }
    if !caller.user.totp_enabled {
        return Err(ApiError::forbidden(
            ErrorCode::TwoFactorSetupRequired,
            "turn on two-factor authentication before adding live keys",
        ));
    }
    caller.require_recent_confirmation(state.clock.now())
}

/// Asks the broker whether `keys` open an account in `env`, before
/// anything is saved. Never cached or shared: nothing names these keys yet.
async fn verify(state: &AppState, env: Environment, keys: &BrokerKeys) -> Result<(), ApiError> {
    let client = state
        .broker
        .for_account(AccountKey(0), broker_env(env), keys)
        .map_err(map_error)?;
    match client.verify_keys().await {
        Ok(_) => Ok(()),
        Err(BrokerError::KeysRejected) => Err(ApiError::BrokerKeysRejected(match env {
            Environment::Live => "the broker refused these keys as live keys: check the key id and secret, and that they are live keys (paper keys start with PK and work only as paper)".to_owned(),
            Environment::Paper => "the broker refused these keys as paper keys: check the key id and secret, and that they are paper keys (live keys work only as live)".to_owned(),
            Environment::Sim => "the simulator refused these keys: check the key id and secret (simulator keys start with PK)".to_owned(),
        })),
        // Anything else the broker refused while checking keys is about the
        // keys or the account, not an order.
        Err(
            BrokerError::Forbidden { message }
            | BrokerError::NotFound { message }
            | BrokerError::Unprocessable { message }
            | BrokerError::BadRequest { message },
        ) => Err(ApiError::BrokerKeysRejected(format!(
            "the broker would not show the account for these keys: {message}"
        ))),
        Err(other) => Err(map_error(other)),
    }
}

fn offered(state: &AppState, env: Environment) -> Result<(), ApiError> {
    if state.environments.contains(&env) {
        Ok(())
    } else {
        Err(ApiError::field(
            "environment",
            format!(
                "{} is not offered by this server (GET /api/meta lists them)",
                env.as_str()
            ),
        ))
    }
}

fn seal(
    state: &AppState,
    user: UserId,
    row: i64,
    key_id: &str,
    secret: &str,
) -> Result<(String, String), ApiError> {
    let seal_one = |value: &str, field: &str| {
        state
            .keyring
            .seal_str(value, &key_aad(user, row, field))
            .map_err(|e| ApiError::internal(anyhow::anyhow!("sealing failed: {e}")))
    };
    Ok((seal_one(key_id, "key_id")?, seal_one(secret, "secret_key")?))
}

fn name_taken(e: trader_db::DbError) -> ApiError {
    match e {
        trader_db::DbError::Conflict { constraint }
            if constraint
                .as_deref()
                .is_none_or(|c| c.contains("user_name")) =>
        {
            ApiError::Conflict(
                "you already have an account with that name".to_owned(),
                [("name".to_owned(), "is taken".to_owned())].into(),
            )
        }
        other => other.into(),
    }
}

/// Adds an account: checks the fields, the keys with the broker, then
/// stores it with the keys sealed. The user's first account becomes active.
pub async fn create(
    state: &actix_web::web::Data<AppState>,
    caller: &SessionUser,
    meta: &RequestMeta,
    body: dto::CreateTradingAccountRequest,
) -> Result<dto::TradingAccount, ApiError> {
    let name = parse_name(&body.name)?;
    let key_id = parse_key("key_id", body.key_id.expose())?;
    let secret = parse_key("secret_key", body.secret_key.expose())?;
    offered(state, body.environment)?;
    if body.environment == Environment::Live {
        guard_live(caller, state, body.confirm_live)?;
    }
    verify(
        state,
        body.environment,
        &BrokerKeys::new(key_id.clone(), secret.clone()),
    )
    .await?;
    let st = state.clone();
    let (user, meta, env) = (caller.user.clone(), meta.clone(), body.environment);
    blocking(move || {
        let mut conn = st.pool.get()?;
        let now = st.clock.now();
        let key_hint = hint(&key_id);
        let created = trading_accounts::create(
            &mut conn,
            &NewTradingAccount {
                user_id: user.id,
                name: &name,
                environment: env.as_str(),
                key_hint: &key_hint,
                verified_at: now,
            },
            |row| seal(&st, user.id, row, &key_id, &secret),
        )
        .map_err(name_taken)??;
        let detail = serde_json::json!({
            "account_id": created.id, "name": created.name, "environment": env.as_str(),
        });
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "trading_account_added").detail(&detail),
            now,
        )?;
        Ok(dto(&created))
    })
    .await
}

/// Renames an account and/or replaces its keys (checked with the broker
/// first).
pub async fn update(
    state: &actix_web::web::Data<AppState>,
    caller: &SessionUser,
    meta: &RequestMeta,
    id: i64,
    body: dto::UpdateTradingAccountRequest,
) -> Result<dto::TradingAccount, ApiError> {
    let name = body.name.as_deref().map(parse_name).transpose()?;
    let keys = match (&body.key_id, &body.secret_key) {
        (Some(k), Some(s)) => Some((
            parse_key("key_id", k.expose())?,
            parse_key("secret_key", s.expose())?,
        )),
        (None, None) => None,
        _ => {
            return Err(ApiError::field(
                "secret_key",
                "send key_id and secret_key together",
            ));
        }
    };
    if name.is_none() && keys.is_none() {
        return Err(ApiError::field(
            "name",
            "send a new name, new keys, or both",
        ));
    }
    let st = state.clone();
    let user = caller.user.id;
    let account = blocking(move || {
        trading_accounts::find(&mut *st.pool.get()?, user, id)?.ok_or(ApiError::NotFound)
    })
    .await?;
    let env = Environment::parse(&account.environment).unwrap_or(Environment::Paper);
    if let Some((key_id, secret)) = &keys {
        if env == Environment::Live {
            guard_live(caller, state, body.confirm_live)?;
        }
        verify(state, env, &BrokerKeys::new(key_id.clone(), secret.clone())).await?;
    }
    let st = state.clone();
    let (u, meta) = (caller.user.clone(), meta.clone());
    let updated = blocking(move || {
        let mut conn = st.pool.get()?;
        let now = st.clock.now();
        diesel::Connection::transaction::<_, ApiError, _>(&mut *conn, |conn| {
            if let Some(name) = &name {
                trading_accounts::rename(conn, u.id, id, name)
                    .map_err(name_taken)?
                    .ok_or(ApiError::NotFound)?;
            }
            if let Some((key_id, secret)) = &keys {
                let sealed = seal(&st, u.id, id, key_id, secret)?;
                if !trading_accounts::replace_keys(conn, u.id, id, &sealed, &hint(key_id), now)? {
                    return Err(ApiError::NotFound);
                }
            }
            let detail = serde_json::json!({
                "account_id": id, "renamed": name.is_some(), "keys_replaced": keys.is_some(),
            });
            audit(
                conn,
                &meta,
                Event::of(&u, "trading_account_changed").detail(&detail),
                now,
            )?;
            trading_accounts::find(conn, u.id, id)?.ok_or(ApiError::NotFound)
        })
    })
    .await?;
    // Shared reads are kept under the keys' tag (services::broker::account_key):
    // reads made with the old keys never answer for the new ones.
    Ok(dto(&updated))
}

/// Makes an account the active one.
pub async fn activate(
    state: &actix_web::web::Data<AppState>,
    caller: &SessionUser,
    meta: &RequestMeta,
    id: i64,
) -> Result<dto::TradingAccount, ApiError> {
    let st = state.clone();
    let (u, meta) = (caller.user.clone(), meta.clone());
    blocking(move || {
        let mut conn = st.pool.get()?;
        if !trading_accounts::activate(&mut conn, u.id, id)? {
            return Err(ApiError::NotFound);
        }
        let detail = serde_json::json!({"account_id": id});
        audit(
            &mut conn,
            &meta,
            Event::of(&u, "trading_account_activated").detail(&detail),
            st.clock.now(),
        )?;
        Ok(dto(
            &trading_accounts::find(&mut conn, u.id, id)?.ok_or(ApiError::NotFound)?
        ))
    })
    .await
}

/// Deletes an account (its audit entries stay).
pub async fn delete(
    state: &actix_web::web::Data<AppState>,
    caller: &SessionUser,
    meta: &RequestMeta,
    id: i64,
) -> Result<(), ApiError> {
    // Auto-trade's own account: stop it first, which cancels the open
    // orders it sent there (after the delete nothing could).
    let settings = crate::services::settings::load(state, caller.id()).await;
    let mut stopped = false;
    if settings.is_ok_and(|s| s.auto_trade.account_id == Some(id)) {
        let report = crate::services::auto_trade::stop(state, caller.id()).await?;
        stopped = report.was_enabled;
        if !report.failed.is_empty() {
            tracing::warn!(
                failed = report.failed.len(),
                "some of auto-trade's orders on a deleted account could not be cancelled"
            );
        }
    }
    let st = state.clone();
    let (u, meta) = (caller.user.clone(), meta.clone());
    blocking(move || {
        let mut conn = st.pool.get()?;
        // Auto-trade never moves to another account: deleting its account
        // turns it off, in the same transaction.
        let mut auto_trade_off = stopped;
        let deleted = trading_accounts::delete_with(&mut conn, u.id, id, |conn| {
            trader_db::user_settings::lock(conn, u.id)?;
            let Some(json) = trader_db::user_settings::get(conn, u.id)? else {
                return Ok::<_, ApiError>(());
            };
            // Settings that do not parse cannot have auto-trade on.
            let Ok(mut settings) =
                serde_json::from_str::<trader_api_types::signals::Settings>(&json)
            else {
                return Ok(());
            };
            if settings.auto_trade.account_id == Some(id) {
                auto_trade_off |= settings.auto_trade.enabled;
                settings.auto_trade.enabled = false;
                settings.auto_trade.account_id = None;
                let json = serde_json::to_string(&settings).map_err(ApiError::internal)?;
                trader_db::user_settings::put(conn, u.id, &json)?;
            }
            Ok(())
        })?;
        if !deleted {
            return Err(ApiError::NotFound);
        }
        let now = st.clock.now();
        let detail = serde_json::json!({"account_id": id});
        audit(
            &mut conn,
            &meta,
            Event::of(&u, "trading_account_deleted").detail(&detail),
            now,
        )?;
        if auto_trade_off {
            let detail =
                serde_json::json!({"account_id": id, "why": "its trading account was deleted"});
            audit(
                &mut conn,
                &meta,
                Event::of(&u, "auto_trade_disabled").detail(&detail),
                now,
            )?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}
