//! Personal access tokens: the records behind bearer JWTs. The JWT itself
//! is never stored; its `jti` is, so a token can be listed, revoked, and its
//! last use recorded.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use trader_api_types::UserId;

use crate::schema::api_tokens;
use crate::{DbConnection, DbError};

/// A stored token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    pub jti: String,
    /// `read` or `trade`.
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// A `trade` token may act on live accounts.
    pub live: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
struct Row {
    id: i64,
    user_id: i64,
    name: String,
    jti: String,
    scope: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
    live: bool,
}

impl From<Row> for ApiToken {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            user_id: UserId(r.user_id),
            name: r.name,
            jti: r.jti,
            scope: r.scope,
            created_at: r.created_at.and_utc(),
            expires_at: r.expires_at.and_utc(),
            last_used_at: r.last_used_at.map(|t| t.and_utc()),
            revoked_at: r.revoked_at.map(|t| t.and_utc()),
            live: r.live,
        }
    }
}

/// A token to record.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    pub user_id: UserId,
    pub name: &'a str,
    pub jti: &'a str,
    pub scope: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// For a `trade` token: may act on live accounts.
    pub live: bool,
}

/// Records a token; answers it.
pub fn create(conn: &mut DbConnection, new: &NewApiToken<'_>) -> Result<ApiToken, DbError> {
    conn.transaction(|conn| {
        diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::user_id.eq(new.user_id.0),
                api_tokens::name.eq(new.name),
                api_tokens::jti.eq(new.jti),
                api_tokens::scope.eq(new.scope),
                api_tokens::created_at.eq(new.created_at.naive_utc()),
                api_tokens::expires_at.eq(new.expires_at.naive_utc()),
                api_tokens::live.eq(new.live),
            ))
            .execute(conn)?;
        Ok(api_tokens::table
            .filter(api_tokens::jti.eq(new.jti))
            .select(Row::as_select())
            .first(conn)?
            .into())
    })
}

/// A user's tokens that are neither revoked nor expired, newest first.
pub fn list_for_user(
    conn: &mut DbConnection,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<ApiToken>, DbError> {
    Ok(api_tokens::table
        .filter(api_tokens::user_id.eq(user.0))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now.naive_utc()))
        .order(api_tokens::id.desc())
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(ApiToken::from)
        .collect())
}

/// The token with this `jti`, if any.
pub fn find_by_jti(conn: &mut DbConnection, jti: &str) -> Result<Option<ApiToken>, DbError> {
    Ok(api_tokens::table
        .filter(api_tokens::jti.eq(jti))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(ApiToken::from))
}

/// Revokes token `id` of `user`; answers whether a live token was revoked.
pub fn revoke(
    conn: &mut DbConnection,
    user: UserId,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    Ok(diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::user_id.eq(user.0))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(now.naive_utc())))
    .execute(conn)?
        == 1)
}

/// Revokes all of a user's tokens; answers how many.
pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        api_tokens::table
            .filter(api_tokens::user_id.eq(user.0))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(Some(now.naive_utc())))
    .execute(conn)?)
}

/// Records a use of the token.
pub fn touch(conn: &mut DbConnection, id: i64, now: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::last_used_at.eq(Some(now.naive_utc())))
        .execute(conn)?;
    Ok(())
}

/// Whether the token with this id is neither revoked nor expired.
pub fn live_by_id(conn: &mut DbConnection, id: i64, now: DateTime<Utc>) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.gt(now.naive_utc())),
    ))
    .get_result(conn)?)
}
