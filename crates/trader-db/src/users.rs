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
    /// The TOTP secret, sealed by the secret box; set while 2FA is on.
    pub totp_secret: Option<String>,
    /// A TOTP secret set up but not yet confirmed with a code.
    pub totp_pending_secret: Option<String>,
    pub totp_enabled: bool,
    /// The last TOTP time step accepted (replay guard).
    pub totp_last_step: Option<i64>,
    /// Set by an admin's password reset: the user must choose a new one.
    pub must_change_password: bool,
    /// Wrong second-factor codes since the last full sign-in (password
    /// failures are counted per client network in `login_failures`).
    pub factor_failures: i32,
    /// Second-factor checks are refused until then.
    pub factor_locked_until: Option<DateTime<Utc>>,
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
    totp_secret: Option<String>,
    totp_pending_secret: Option<String>,
    totp_enabled: bool,
    totp_last_step: Option<i64>,
    must_change_password: bool,
    factor_failures: i32,
    factor_locked_until: Option<NaiveDateTime>,
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
            totp_secret: row.totp_secret,
            totp_pending_secret: row.totp_pending_secret,
            totp_enabled: row.totp_enabled,
            totp_last_step: row.totp_last_step,
            must_change_password: row.must_change_password,
            factor_failures: row.factor_failures,
            factor_locked_until: row.factor_locked_until.map(|t| t.and_utc()),
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
    /// The user must choose a new password at the first sign-in (users an
    /// admin creates with a temporary password).
    pub must_change_password: bool,
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
    must_change_password: bool,
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
        must_change_password: new.must_change_password,
    };
    conn.transaction(|conn| {
        diesel::insert_into(users::table)
            .values(&row)
            .execute(conn)?;
        // Read back by the unique key instead of RETURNING: portable across
        // both backends through the MultiConnection.
        let user = users::table
            .filter(lower(users::username).eq(lower(new.username)))
            .select(UserRow::as_select())
            .first(conn)
            .map_err(DbError::from)
            .and_then(User::try_from)?;
        // Every user starts with their default watchlist.
        crate::watchlists::create_default(conn, user.id)?;
        Ok(user)
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

/// Locks the active admins' rows until the transaction ends (PostgreSQL
/// `SELECT ... FOR UPDATE`) and answers how many there are. Call it inside
/// [`DbConnection::write_transaction`]: on SQLite that transaction already
/// holds the database's write lock. Two admins demoting each other at once
/// then run one after the other, and the second sees one admin left.
pub fn lock_active_admins(conn: &mut DbConnection) -> Result<i64, DbError> {
    match conn {
        DbConnection::Postgres(pg) => {
            let ids: Vec<i64> = users::table
                .filter(users::role.eq(Role::Admin.as_str()))
                .filter(users::is_active.eq(true))
                .select(users::id)
                .for_update()
                .load(pg)?;
            Ok(i64::try_from(ids.len()).unwrap_or(i64::MAX))
        }
        DbConnection::Sqlite(_) => count_active_admins(conn),
    }
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
/// token of the user ends. A second-factor lock stays (only a full sign-in
/// clears it). `must_change` marks a
/// temporary password (an admin's reset). Answers `false` when there is no
/// such user.
pub fn set_password(
    conn: &mut DbConnection,
    id: UserId,
    password_hash: &str,
) -> Result<bool, DbError> {
    set_password_with(conn, id, password_hash, false).map(|stamp| stamp.is_some())
}

/// Like [`set_password`], choosing whether the user must change it at the
/// next sign-in; answers the new security stamp.
pub fn set_password_with(
    conn: &mut DbConnection,
    id: UserId,
    password_hash: &str,
    must_change: bool,
) -> Result<Option<String>, DbError> {
    let stamp = new_security_stamp();
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::password_hash.eq(password_hash),
            users::security_stamp.eq(&stamp),
            users::must_change_password.eq(must_change),
            users::updated_at.eq(now().naive_utc()),
        ))
        .execute(conn)?;
    Ok((n == 1).then_some(stamp))
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

/// Changes the security stamp ("log out everywhere"); answers the new one,
/// or `None` when there is no such user.
pub fn rotate_security_stamp(
    conn: &mut DbConnection,
    id: UserId,
) -> Result<Option<String>, DbError> {
    let stamp = new_security_stamp();
    let n = diesel::update(users::table.find(id.0))
        .set((
            users::security_stamp.eq(&stamp),
            users::updated_at.eq(now().naive_utc()),
        ))
        .execute(conn)?;
    Ok((n == 1).then_some(stamp))
}

/// Stores a sealed TOTP secret that is set up but not yet enabled.
pub fn set_totp_pending(
    conn: &mut DbConnection,
    id: UserId,
    sealed: Option<&str>,
) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.0))
        .set(users::totp_pending_secret.eq(sealed))
        .execute(conn)?;
    Ok(n == 1)
}

/// Turns 2FA on with the pending secret (sealed again by the caller for its
/// new field), recording `step` as the last accepted code; answers whether
/// it did. A conditional update: it happens only while 2FA is off and the
/// pending secret is still `pending_sealed`, so of two requests racing (a
/// double-clicked "Enable") exactly one wins. The security stamp stays, so
/// the session that turned it on (and a racing click in it) goes on; the
/// caller ends the other sessions and tokens itself.
pub fn enable_totp(
    conn: &mut DbConnection,
    id: UserId,
    pending_sealed: &str,
    sealed_secret: &str,
    step: i64,
) -> Result<bool, DbError> {
    let n = diesel::update(
        users::table
            .find(id.0)
            .filter(users::totp_enabled.eq(false))
            .filter(users::totp_pending_secret.eq(pending_sealed)),
    )
    .set((
        users::totp_secret.eq(Some(sealed_secret)),
        users::totp_pending_secret.eq(None::<&str>),
        users::totp_enabled.eq(true),
        users::totp_last_step.eq(Some(step)),
        users::factor_failures.eq(0),
        users::factor_locked_until.eq(None::<NaiveDateTime>),
        users::updated_at.eq(now().naive_utc()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks that the user must choose a new password before anything else
/// (someone else knows it).
pub fn require_password_change(conn: &mut DbConnection, id: UserId) -> Result<bool, DbError> {
    let n = diesel::update(users::table.find(id.0))
        .set(users::must_change_password.eq(true))
        .execute(conn)?;
    Ok(n == 1)
}

/// Turns 2FA off, forgets the secrets and recovery codes, changes the
/// stamp; answers the new stamp.
pub fn disable_totp(conn: &mut DbConnection, id: UserId) -> Result<Option<String>, DbError> {
    conn.transaction(|conn| {
        let stamp = new_security_stamp();
        let n = diesel::update(users::table.find(id.0))
            .set((
                users::totp_secret.eq(None::<&str>),
                users::totp_pending_secret.eq(None::<&str>),
                users::totp_enabled.eq(false),
                users::totp_last_step.eq(None::<i64>),
                users::factor_failures.eq(0),
                users::factor_locked_until.eq(None::<NaiveDateTime>),
                users::security_stamp.eq(&stamp),
                users::updated_at.eq(now().naive_utc()),
            ))
            .execute(conn)?;
        crate::recovery_codes::delete_all(conn, id)?;
        Ok((n == 1).then_some(stamp))
    })
}

/// Records `step` as the last accepted TOTP step, only if it is above the
/// one recorded: a conditional update, so of two requests racing with the
/// same code exactly one wins. Answers whether this call won.
pub fn accept_totp_step(conn: &mut DbConnection, id: UserId, step: i64) -> Result<bool, DbError> {
    let n = diesel::update(
        users::table.find(id.0).filter(
            users::totp_last_step
                .is_null()
                .or(users::totp_last_step.lt(step)),
        ),
    )
    .set(users::totp_last_step.eq(Some(step)))
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
