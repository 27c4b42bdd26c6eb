//! The audit log: who did what, when, from where. Entries name users by id
//! and username but hold no foreign key, so they outlive the user.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::audit_log;
use crate::{DbConnection, DbError};

/// An entry to write.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry<'a> {
    pub user_id: Option<UserId>,
    pub username: Option<&'a str>,
    /// The admin who acted on `user_id`, when not the user themself.
    pub actor_id: Option<UserId>,
    /// A snake_case event name, e.g. `login_failed`.
    pub event: &'a str,
    /// A small JSON object with details (a reason code, a token name); never
    /// a secret.
    pub detail: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntryRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub actor_id: Option<i64>,
    pub event: String,
    pub detail: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Writes an entry at `at`.
pub fn record(
    conn: &mut DbConnection,
    entry: &NewAuditEntry<'_>,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::at.eq(at.naive_utc()),
            audit_log::user_id.eq(entry.user_id.map(|u| u.0)),
            audit_log::username.eq(entry.username),
            audit_log::actor_id.eq(entry.actor_id.map(|u| u.0)),
            audit_log::event.eq(entry.event),
            audit_log::detail.eq(entry.detail),
            audit_log::ip.eq(entry.ip),
            audit_log::user_agent.eq(entry.user_agent),
        ))
        .execute(conn)?;
    Ok(())
}

/// A page of entries, newest first: those about `user` (all when `None`),
/// with ids below `before` (the previous page's last id), at most `limit`.
pub fn list(
    conn: &mut DbConnection,
    user: Option<UserId>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntryRow>, DbError> {
    let mut query = audit_log::table.into_boxed();
    if let Some(user) = user {
        query = query.filter(audit_log::user_id.eq(user.0));
    }
    if let Some(before) = before {
        query = query.filter(audit_log::id.lt(before));
    }
    Ok(query
        .order(audit_log::id.desc())
        .limit(limit)
        .select(AuditEntryRow::as_select())
        .load(conn)?)
}
