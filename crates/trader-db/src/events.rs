//! The events behind each user's live stream (`GET /api/events`): new
//! signals, order changes, fills, scheduler passes, auto-trade decisions, a
//! session ended elsewhere. Every instance reads the table in id order and
//! hands each row to its open streams of that user; a reconnecting page
//! asks for what came after its `Last-Event-ID`.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::events;
use crate::{DbConnection, DbError};

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub user_id: UserId,
    pub kind: String,
    /// JSON.
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
struct Row {
    id: i64,
    user_id: i64,
    kind: String,
    payload: String,
    created_at: NaiveDateTime,
}

impl From<Row> for Event {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            user_id: UserId(r.user_id),
            kind: r.kind,
            payload: r.payload,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// An event to record. With `dedupe`, a second event of the user with the
/// same key is not recorded (two instances saw the same order change).
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub user_id: UserId,
    pub kind: &'a str,
    pub payload: &'a str,
    pub dedupe: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// Records an event; answers whether it was recorded (not a duplicate).
pub fn insert(conn: &mut DbConnection, e: &NewEvent<'_>) -> Result<bool, DbError> {
    let row = (
        events::user_id.eq(e.user_id.0),
        events::kind.eq(e.kind),
        events::payload.eq(e.payload),
        events::dedupe.eq(e.dedupe),
        events::created_at.eq(e.at.naive_utc()),
    );
    let n = match conn {
        DbConnection::Postgres(pg) => diesel::insert_into(events::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::insert_or_ignore_into(events::table)
            .values(row)
            .execute(sqlite)?,
    };
    Ok(n == 1)
}

/// Every user's events with an id above `after`, oldest first, at most
/// `limit`.
pub fn after(conn: &mut DbConnection, after: i64, limit: i64) -> Result<Vec<Event>, DbError> {
    Ok(events::table
        .filter(events::id.gt(after))
        .order(events::id.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Event::from)
        .collect())
}

/// One user's events with an id above `after`, oldest first, at most
/// `limit`.
pub fn for_user_after(
    conn: &mut DbConnection,
    user: UserId,
    after: i64,
    limit: i64,
) -> Result<Vec<Event>, DbError> {
    Ok(events::table
        .filter(events::user_id.eq(user.0))
        .filter(events::id.gt(after))
        .order(events::id.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Event::from)
        .collect())
}

/// The highest id so far (0 when there is none).
pub fn latest_id(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(events::table
        .select(diesel::dsl::max(events::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Deletes events recorded before `before`; answers how many.
pub fn prune(conn: &mut DbConnection, before: DateTime<Utc>) -> Result<usize, DbError> {
    Ok(
        diesel::delete(events::table.filter(events::created_at.lt(before.naive_utc())))
            .execute(conn)?,
    )
}
