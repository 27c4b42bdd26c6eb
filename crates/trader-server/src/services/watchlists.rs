//! Watchlists: several per user, one the default (made on first use), and
//! the Python version's single list as the default one.
//!
//! A symbol is upper-cased and checked against `^[A-Z][A-Z0-9.]{0,9}$`;
//! with an active trading account it must also be a tradable asset of the
//! broker, whose name it takes unless one is given.

use trader_api_types::UserId;
use trader_api_types::signals::{Watchlist, WatchlistSymbol};
use trader_db::watchlists::{self as db, ListError};

use crate::auth::AuthUser;
use crate::error::{ApiError, blocking};
use crate::meta::{RequestMeta, audit_user};
use crate::services::broker::{self, parse_symbol};
use crate::state::AppState;

fn list_error(e: ListError) -> ApiError {
    match e {
        ListError::TooManyLists => ApiError::Conflict(
            format!("you already have {} watchlists", db::MAX_LISTS),
            Default::default(),
        ),
        ListError::TooManySymbols => ApiError::Conflict(
            format!("a watchlist holds at most {} symbols", db::MAX_SYMBOLS),
            Default::default(),
        ),
        ListError::DefaultInUse => ApiError::Conflict(
            "the default watchlist cannot be deleted while you have others: make another the default first".to_owned(),
            Default::default(),
        ),
        ListError::Db(trader_db::DbError::Conflict { .. }) => ApiError::Conflict(
            "that is already there".to_owned(),
            Default::default(),
        ),
        ListError::Db(e) => e.into(),
    }
}

fn name_conflict(e: ListError) -> ApiError {
    match e {
        ListError::Db(trader_db::DbError::Conflict { .. }) => ApiError::Conflict(
            "you already have a watchlist with that name".to_owned(),
            [("name".to_owned(), "is taken".to_owned())].into(),
        ),
        other => list_error(other),
    }
}

/// A checked list name: trimmed, 1-64 characters, no control characters.
pub fn parse_name(name: &str) -> Result<String, ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 64 characters without control characters",
        ));
    }
    Ok(n.to_owned())
}

fn dto(list: &db::Watchlist, entries: &[db::Entry]) -> Watchlist {
    Watchlist {
        id: list.id,
        name: list.name.clone(),
        is_default: list.is_default,
        symbols: entries
            .iter()
            .map(|e| WatchlistSymbol {
                symbol: e.symbol.clone(),
                name: e.name.clone(),
                added_at: e.added_at,
            })
            .collect(),
        created_at: list.created_at,
        updated_at: list.updated_at,
    }
}

/// Every list of the user, the default first (made when there is none).
pub async fn list(state: &AppState, user: UserId) -> Result<Vec<Watchlist>, ApiError> {
    let pool = state.pool.clone();
    blocking(move || {
        let mut conn = pool.get()?;
        db::default_for(&mut conn, user)?;
        let mut out = Vec::new();
        for l in db::list(&mut conn, user)? {
            let entries = db::symbols(&mut conn, l.id)?;
            out.push(dto(&l, &entries));
        }
        Ok(out)
    })
    .await
}

/// Every list of the user for a read (GET): from the cache when it holds
/// them (see `auth::cache`), else as [`list`], then kept.
pub async fn list_read(
    state: &AppState,
    user: UserId,
) -> Result<std::sync::Arc<Vec<Watchlist>>, ApiError> {
    if let Some(lists) = state.auth_cache.watchlists(user) {
        return Ok(lists);
    }
    let ticket = state.auth_cache.ticket();
    let lists = std::sync::Arc::new(list(state, user).await?);
    state
        .auth_cache
        .put_watchlists(ticket, user, std::sync::Arc::clone(&lists));
    Ok(lists)
}

/// One list for a read (GET): `Some(id)`, or the default; out of
/// [`list_read`].
pub async fn get_read(
    state: &AppState,
    user: UserId,
    id: Option<i64>,
) -> Result<Watchlist, ApiError> {
    let lists = list_read(state, user).await?;
    let found = match id {
        Some(id) => lists.iter().find(|l| l.id == id),
        None => lists.iter().find(|l| l.is_default),
    };
    found.cloned().ok_or(ApiError::NotFound)
}

/// One list: `Some(id)`, or the default.
pub async fn get(state: &AppState, user: UserId, id: Option<i64>) -> Result<Watchlist, ApiError> {
    let pool = state.pool.clone();
    blocking(move || {
        let mut conn = pool.get()?;
        let list = match id {
            Some(id) => db::find(&mut conn, user, id)?.ok_or(ApiError::NotFound)?,
            None => db::default_for(&mut conn, user)?,
        };
        let entries = db::symbols(&mut conn, list.id)?;
        Ok(dto(&list, &entries))
    })
    .await
}

async fn audit_change(
    state: &AppState,
    caller: &AuthUser,
    meta: &RequestMeta,
    event: &'static str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    audit_user(state, &caller.user, meta, event, Some(detail)).await
}

/// Creates a list.
pub async fn create(
    state: &AppState,
    caller: &AuthUser,
    meta: &RequestMeta,
    name: &str,
) -> Result<Watchlist, ApiError> {
    let name = parse_name(name)?;
    let pool = state.pool.clone();
    let user = caller.id();
    let created = blocking(move || {
        let mut conn = pool.get()?;
        db::default_for(&mut conn, user)?;
        let l = db::create(&mut conn, user, &name).map_err(name_conflict)?;
        Ok(dto(&l, &[]))
    })
    .await?;
    let detail = serde_json::json!({"watchlist_id": created.id, "name": created.name});
    audit_change(state, caller, meta, "watchlist_created", detail).await?;
    Ok(created)
}

/// Renames a list and/or makes it the default.
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    meta: &RequestMeta,
    id: i64,
    name: Option<&str>,
    make_default: bool,
) -> Result<Watchlist, ApiError> {
    crate::services::auto_trade::guard_steering(state, caller).await?;
    let name = name.map(parse_name).transpose()?;
    if name.is_none() && !make_default {
        return Err(ApiError::field(
            "name",
            "send a new name, is_default: true, or both",
        ));
    }
    let pool = state.pool.clone();
    let user = caller.id();
    let n = name.clone();
    let updated = blocking(move || {
        let mut conn = pool.get()?;
        let l = db::update(&mut conn, user, id, n.as_deref(), make_default)
            .map_err(name_conflict)?
            .ok_or(ApiError::NotFound)?;
        let entries = db::symbols(&mut conn, l.id)?;
        Ok(dto(&l, &entries))
    })
    .await?;
    let detail =
        serde_json::json!({"watchlist_id": id, "name": name, "made_default": make_default});
    audit_change(state, caller, meta, "watchlist_changed", detail).await?;
    Ok(updated)
}

/// Deletes a list.
pub async fn delete(
    state: &AppState,
    caller: &AuthUser,
    meta: &RequestMeta,
    id: i64,
) -> Result<(), ApiError> {
    crate::services::auto_trade::guard_steering(state, caller).await?;
    let pool = state.pool.clone();
    let user = caller.id();
    let deleted =
        blocking(move || db::delete(&mut *pool.get()?, user, id).map_err(list_error)).await?;
    if !deleted {
        return Err(ApiError::NotFound);
    }
    audit_change(
        state,
        caller,
        meta,
        "watchlist_deleted",
        serde_json::json!({"watchlist_id": id}),
    )
    .await
}

/// Adds a symbol to list `id` (or the default): checked, and with an
/// active trading account checked against the broker's tradable assets.
pub async fn add_symbol(
    state: &AppState,
    caller: &AuthUser,
    meta: &RequestMeta,
    id: Option<i64>,
    symbol: &str,
    name: Option<&str>,
) -> Result<WatchlistSymbol, ApiError> {
    crate::services::auto_trade::guard_steering(state, caller).await?;
    let symbol = parse_symbol("symbol", symbol)?;
    if name.is_some_and(|n| n.chars().count() > 128 || n.chars().any(char::is_control)) {
        return Err(ApiError::field("name", "must be at most 128 characters"));
    }
    let list = get(state, caller.id(), id).await?;
    let mut name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    match broker::target(state, caller.id(), None).await {
        Ok(target) => {
            let found = broker::find_asset(state, &target, &symbol).await?;
            match found {
                Some(asset) => {
                    name = name.or(Some(asset.name));
                }
                None => {
                    return Err(ApiError::field(
                        "symbol",
                        format!("{symbol} is not a tradable asset at your broker"),
                    ));
                }
            }
        }
        Err(ApiError::NoActiveAccount) => {}
        Err(e) => return Err(e),
    }
    let pool = state.pool.clone();
    let user = caller.id();
    let (sym, nm, list_id) = (symbol.clone(), name.clone(), list.id);
    let entry = blocking(move || {
        db::add_symbol(&mut *pool.get()?, user, list_id, &sym, nm.as_deref())
            .map_err(|e| match e {
                ListError::Db(trader_db::DbError::Conflict { .. }) => ApiError::Conflict(
                    format!("{sym} is already on this watchlist"),
                    [("symbol".to_owned(), "is already there".to_owned())].into(),
                ),
                other => list_error(other),
            })?
            .ok_or(ApiError::NotFound)
    })
    .await?;
    let detail = serde_json::json!({"watchlist_id": list.id, "symbol": symbol});
    audit_change(state, caller, meta, "watchlist_symbol_added", detail).await?;
    Ok(WatchlistSymbol {
        symbol: entry.symbol,
        name: entry.name,
        added_at: entry.added_at,
    })
}

/// Removes a symbol from list `id` (or the default).
pub async fn remove_symbol(
    state: &AppState,
    caller: &AuthUser,
    meta: &RequestMeta,
    id: Option<i64>,
    symbol: &str,
) -> Result<(), ApiError> {
    crate::services::auto_trade::guard_steering(state, caller).await?;
    let symbol = symbol.trim().to_ascii_uppercase();
    let list = get(state, caller.id(), id).await?;
    let pool = state.pool.clone();
    let user = caller.id();
    let sym = symbol.clone();
    let removed =
        blocking(move || Ok(db::remove_symbol(&mut *pool.get()?, user, list.id, &sym)?)).await?;
    if !removed {
        return Err(ApiError::NotFound);
    }
    let detail = serde_json::json!({"watchlist_id": list.id, "symbol": symbol});
    audit_change(state, caller, meta, "watchlist_symbol_removed", detail).await
}
