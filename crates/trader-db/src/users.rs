//! The `users` table.
//!
//! Usernames are unique without regard to ASCII case (the app allows only
//! ASCII usernames, and both backends' `lower()` fold exactly those letters).
//! A user's security stamp changes whenever everything they are signed in
//! with must end (password change, "log out everywhere", deactivation);
//! sessions and tokens carry it and are refused once it differs.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::prelude::*;
use trader_api_types::{Role, UserId};

use crate::schema::users;
use crate::{DbConnection, DbError};

diesel::define_sql_function! {
    /// SQL `lower(text)`, the same in SQLite and PostgreSQL for ASCII.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    /// An argon2 PHC string. Not a secret in itself, but never logged.
    pub password_hash: String,
    pub role: Role,
    pub is_active: bool,
    pub security_stamp: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub last_login_ip: Option<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: i64,
    username: String,
    email: String,
    password_hash: String,
    role: String,
    is_active: bool,
    security_stamp: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    last_login_at: Option<NaiveDateTime>,
    last_login_ip: Option<String>,
}

impl TryFrom<UserRow> for User {
    type Error = DbError;

    fn try_from(row: UserRow) -> Result<Self, DbError> {
        Ok(Self {
            id: UserId(row.id),
            role: row
                .role
                .parse()
                .map_err(|e| DbError::Corrupt(format!("users.role of user {}: {e}", row.id)))?,
            username: row.username,
            email: row.email,
            password_hash: row.password_hash,
            is_active: row.is_active,
            security_stamp: row.security_stamp,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            last_login_at: row.last_login_at.map(|t| t.and_utc()),
            last_login_ip: row.last_login_ip,
        })
    }
}

/// A user to insert. The caller has already checked the username and the
/// password policy and hashed the password.
#[derive(Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
}

impl fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUserRow<'a> {
    username: &'a str,
    email: &'a str,
    password_hash: &'a str,
    role: &'a str,
    is_active: bool,
    security_stamp: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Fields an admin or the user may change. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges<'a> {
    pub email: Option<&'a str>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangesRow<'a> {
    email: Option<&'a str>,
    role: Option<&'static str>,
    is_active: Option<bool>,
    updated_at: NaiveDateTime,
}

/// Now, rounded to microseconds: what PostgreSQL keeps, so a time read back
/// equals the time written on both backends.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A fresh random security stamp.
pub fn new_security_stamp() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Inserts a user. A username taken in any case is [`DbError::Conflict`].
pub fn create_user(conn: &mut DbConnection, new: &NewUser<'_>) -> Result<User, DbError> {
    let at = now().naive_utc();
    let row = NewUserRow {
        username: new.username,
        email: new.email,
        password_hash: new.password_hash,
        role: new.role.as_str(),
        is_active: true,
        security_stamp: new_security_stamp(),
        created_at: at,
        updated_at: at,
    };
    conn.transaction(|conn| {
        diesel::insert_into(users::table)
            .values(&row)
            .execute(conn)?;
        // Read back by the unique key instead of RETURNING: portable across
        // both backends through the MultiConnection.
        users::table
            .filter(lower(users::username).eq(lower(new.username)))
            .select(UserRow::as_select())
            .first(conn)
            .map_err(DbError::from)
            .and_then(User::try_from)
    })
}

/// The user with this id, if any.
pub fn find_user_by_id(conn: &mut DbConnection, id: UserId) -> Result<Option<User>, DbError> {
    users::table
        .find(id.0)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// The user with this username in any case, if any.
pub fn find_user_by_username(
    conn: &mut DbConnection,
    username: &str,
) -> Result<Option<User>, DbError> {
    users::table
        .filter(lower(users::username).eq(lower(username)))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?
        .map(User::try_from)
        .transpose()
}

/// Every user, oldest first.
pub fn list_users(conn: &mut DbConnection) -> Result<Vec<User>, DbError> {
    users::table
        .order(users::id.asc())
        .select(UserRow::as_select())
        .load(conn)?
        .into_iter()
        .map(User::try_from)
        .collect()
}

/// How many users exist (0 means the install still needs its first admin).
pub fn count_users(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(conn)?)
}

/// How many active admins exist.
pub fn count_active_admins(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::is_active.eq(true))
        .count()
        .get_result(conn)?)
}

/// Replaces the password hash and the security stamp, so every session and
/// token of the user ends. Answers `false` when there is no such user.
pub fn set_password(
    conn: &mut DbConnection,
    id: UserId,
    password_hash: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::password_hash.eq(password_hash),
            users::security_stamp.eq(new_security_stamp()),
            users::updated_at.eq(now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Replaces only the hash (a transparent rehash after login with stronger
/// parameters); sessions stay valid.
pub fn update_password_hash(
    conn: &mut DbConnection,
    id: UserId,
    password_hash: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.0))
        .set(users::password_hash.eq(password_hash))
        .execute(conn)?;
    Ok(n == 1)
}

/// Changes the security stamp ("log out everywhere").
pub fn rotate_security_stamp(conn: &mut DbConnection, id: UserId) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::security_stamp.eq(new_security_stamp()),
            users::updated_at.eq(now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Records a successful sign-in.
pub fn record_login(
    conn: &mut DbConnection,
    id: UserId,
    at: DateTime<Utc>,
    ip: Option<&str>,
) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::last_login_at.eq(Some(at.naive_utc())),
            users::last_login_ip.eq(ip),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Applies `changes`; answers the updated user, or `None` if there is none.
/// Deactivating a user also changes the stamp, ending their sessions.
pub fn update_user(
    conn: &mut DbConnection,
    id: UserId,
    changes: &UserChanges<'_>,
) -> Result<Option<User>, DbError> {
    conn.transaction(|conn| {
        let row = UserChangesRow {
            email: changes.email,
            role: changes.role.map(Role::as_str),
            is_active: changes.is_active,
            updated_at: now().naive_utc(),
        };
        let n = diesel::update(users::table.find(id.0))
            .set(&row)
            .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        if changes.is_active == Some(false) {
            rotate_security_stamp(conn, id)?;
        }
        find_user_by_id(conn, id)
    })
}

/// Deletes a user; answers whether one was deleted.
pub fn delete_user(conn: &mut DbConnection, id: UserId) -> Result<bool, DbError> {
    Ok(diesel::delete(users::table.find(id.0)).execute(conn)? == 1)
}
