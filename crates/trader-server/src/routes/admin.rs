//! User administration, for admins with two-factor authentication on.
//! Nobody can remove, deactivate or demote the last active admin.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use trader_api_types::auth::{
    AdminUser as AdminUserDto, AdminUserList, AuditPage, CreateUserRequest, Sensitive,
    UpdateUserRequest, UserWithTemporaryPassword,
};
use trader_api_types::{Email, ErrorBody, Role, UserId, Username};
use trader_db::users::{self, NewUser, User, UserChanges};
use trader_db::{DbConnection, sessions};
use trader_security::{NewPassword, SecretString};

use crate::auth::AdminUser;
use crate::error::{ApiError, blocking};
use crate::json::ApiJson;
use crate::meta::{Event, RequestMeta, audit};
use crate::routes::audit::{AuditQuery, page};
use crate::state::AppState;

fn dto(u: &User) -> AdminUserDto {
    AdminUserDto {
        id: u.id,
        username: u.username.clone(),
        email: u.email.clone(),
        role: u.role,
        active: u.is_active,
        two_factor_enabled: u.totp_enabled,
        must_change_password: u.must_change_password,
        created_at: u.created_at,
        last_login_at: u.last_login_at,
    }
}

/// A random temporary password (24 characters from an unambiguous
/// alphabet, ~140 bits), which passes the policy.
fn temporary_password() -> Result<(SecretString, String), ApiError> {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    let text: String = (0..24)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    let password =
        NewPassword::new(SecretString::from(text.clone())).map_err(ApiError::internal)?;
    let hash = trader_security::hash_password(&password).map_err(ApiError::internal)?;
    Ok((SecretString::from(text), hash))
}

fn conflict_last_admin() -> ApiError {
    ApiError::Conflict(
        "the last active admin cannot be removed, deactivated or demoted".to_owned(),
        Default::default(),
    )
}

/// Refuses a change that would leave no active admin. Call it inside
/// `write_transaction`: it locks the admin rows (PostgreSQL) or runs under
/// the write lock (SQLite), so two admins demoting each other at once run
/// one after the other and the second is refused.
fn guard_last_admin(
    conn: &mut DbConnection,
    target: &User,
    removes_admin: bool,
) -> Result<(), ApiError> {
    if removes_admin
        && target.role == Role::Admin
        && target.is_active
        && users::lock_active_admins(conn)? <= 1
    {
        return Err(conflict_last_admin());
    }
    Ok(())
}

/// Every admin change needs a confirmation within the last 10 minutes: a
/// stolen admin session alone cannot take over other accounts.
fn confirmed(admin: &AdminUser, state: &AppState) -> Result<(), ApiError> {
    admin.0.require_recent_confirmation(state.clock.now())
}

/// An admin's own password and 2FA change through their own endpoints,
/// which check the current password or a code.
fn not_self(admin: &AdminUser, target: i64, what: &str) -> Result<(), ApiError> {
    if admin.0.id().0 == target {
        return Err(ApiError::forbidden(
            trader_api_types::ErrorCode::Forbidden,
            format!("change your own {what} on your security page, not here"),
        ));
    }
    Ok(())
}

fn find(conn: &mut DbConnection, id: i64) -> Result<User, ApiError> {
    users::find_user_by_id(conn, UserId(id))?.ok_or(ApiError::NotFound)
}

/// Every user.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_users",
    responses((status = 200, body = AdminUserList), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []))
)]
#[get("/users")]
pub(crate) async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminUser,
) -> Result<web::Json<AdminUserList>, ApiError> {
    let st = state.clone();
    let all = blocking(move || Ok(users::list_users(&mut *st.pool.get()?)?)).await?;
    Ok(web::Json(AdminUserList {
        users: all.iter().map(dto).collect(),
    }))
}

/// Creates a user with a temporary password (shown once), to be changed at
/// their first sign-in.
#[utoipa::path(
    tag = "admin",
    operation_id = "create_user",
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserWithTemporaryPassword),
        (status = 403, description = "Confirm first (reauth_required)", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/users")]
pub(crate) async fn create_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    meta: RequestMeta,
    body: ApiJson<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    confirmed(&admin, &state)?;
    let body = body.into_inner();
    let mut fields = std::collections::BTreeMap::new();
    let username = Username::parse(body.username.trim())
        .map_err(|e| fields.insert("username".to_owned(), e))
        .ok();
    let email = Email::parse(&body.email)
        .map_err(|e| fields.insert("email".to_owned(), e))
        .ok();
    let (Some(username), Some(email)) = (username, email) else {
        return Err(ApiError::Validation {
            message: "some fields are not acceptable".to_owned(),
            fields,
        });
    };
    let role = body.role.unwrap_or(Role::User);
    let st = state.clone();
    let admin_id = admin.0.id();
    let _permit = state.password_permit().await?;
    let (user, password) = blocking(move || {
        let (password, hash) = temporary_password()?;
        let mut conn = st.pool.get()?;
        let user = users::create_user(
            &mut conn,
            &NewUser {
                username: username.as_str(),
                email: email.as_str(),
                password_hash: &hash,
                role,
                must_change_password: true,
            },
        )
        .map_err(crate::routes::auth::username_taken)?;
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "admin_user_created").by(admin_id),
            st.clock.now(),
        )?;
        Ok((user, password))
    })
    .await?;
    Ok(HttpResponse::Created().json(UserWithTemporaryPassword {
        user: dto(&user),
        temporary_password: Sensitive::new(trader_security::ExposeSecret::expose_secret(&password)),
    }))
}

/// Activates or deactivates a user, or changes their role.
#[utoipa::path(
    tag = "admin",
    operation_id = "update_user",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = AdminUserDto),
        (status = 403, description = "Confirm first (reauth_required)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "It would leave no active admin", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[patch("/users/{id}")]
pub(crate) async fn update_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    meta: RequestMeta,
    path: web::Path<i64>,
    body: ApiJson<UpdateUserRequest>,
) -> Result<web::Json<AdminUserDto>, ApiError> {
    confirmed(&admin, &state)?;
    let id = path.into_inner();
    let body = body.into_inner();
    let st = state.clone();
    let admin_id = admin.0.id();
    let user = blocking(move || {
        let mut conn = st.pool.get()?;
        conn.write_transaction::<_, ApiError, _>(|conn| {
            let target = find(conn, id)?;
            let removes_admin = body.active == Some(false) || body.role == Some(Role::User);
            guard_last_admin(conn, &target, removes_admin)?;
            let updated = users::update_user(
                conn,
                target.id,
                &UserChanges {
                    role: body.role,
                    is_active: body.active,
                    ..UserChanges::default()
                },
            )?
            .ok_or(ApiError::NotFound)?;
            if body.active == Some(false) {
                sessions::delete_all_for_user(conn, target.id)?;
            }
            let detail = serde_json::json!({"active": body.active, "role": body.role});
            audit(
                conn,
                &meta,
                Event::of(&updated, "admin_user_updated")
                    .by(admin_id)
                    .detail(&detail),
                st.clock.now(),
            )?;
            Ok(updated)
        })
    })
    .await?;
    Ok(web::Json(dto(&user)))
}

/// Gives a user a temporary password (shown once) that they must change at
/// their next sign-in; their sessions and tokens end.
#[utoipa::path(
    tag = "admin",
    operation_id = "reset_user_password",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, body = UserWithTemporaryPassword),
        (status = 403, description = "Confirm first (reauth_required), or it is your own account", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/users/{id}/reset-password")]
pub(crate) async fn reset_user_password(
    state: web::Data<AppState>,
    admin: AdminUser,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<web::Json<UserWithTemporaryPassword>, ApiError> {
    confirmed(&admin, &state)?;
    let id = path.into_inner();
    not_self(&admin, id, "password")?;
    let st = state.clone();
    let admin_id = admin.0.id();
    let _permit = state.password_permit().await?;
    let (user, password) = blocking(move || {
        let (password, hash) = temporary_password()?;
        let mut conn = st.pool.get()?;
        let target = find(&mut conn, id)?;
        users::set_password_with(&mut conn, target.id, &hash, true)?.ok_or(ApiError::NotFound)?;
        sessions::delete_all_for_user(&mut conn, target.id)?;
        trader_db::tokens::revoke_all_for_user(&mut conn, target.id, st.clock.now())?;
        audit(
            &mut conn,
            &meta,
            Event::of(&target, "admin_password_reset").by(admin_id),
            st.clock.now(),
        )?;
        let user = find(&mut conn, id)?;
        Ok((user, password))
    })
    .await?;
    Ok(web::Json(UserWithTemporaryPassword {
        user: dto(&user),
        temporary_password: Sensitive::new(trader_security::ExposeSecret::expose_secret(&password)),
    }))
}

/// Turns a user's two-factor authentication off (a lost phone); their
/// sessions end.
#[utoipa::path(
    tag = "admin",
    operation_id = "reset_user_two_factor",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, body = AdminUserDto),
        (status = 403, description = "Confirm first (reauth_required), or it is your own account", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/users/{id}/reset-2fa")]
pub(crate) async fn reset_user_two_factor(
    state: web::Data<AppState>,
    admin: AdminUser,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<web::Json<AdminUserDto>, ApiError> {
    confirmed(&admin, &state)?;
    let id = path.into_inner();
    not_self(&admin, id, "two-factor authentication")?;
    let st = state.clone();
    let admin_id = admin.0.id();
    let user = blocking(move || {
        let mut conn = st.pool.get()?;
        let target = find(&mut conn, id)?;
        users::disable_totp(&mut conn, target.id)?;
        sessions::delete_all_for_user(&mut conn, target.id)?;
        audit(
            &mut conn,
            &meta,
            Event::of(&target, "admin_two_factor_reset").by(admin_id),
            st.clock.now(),
        )?;
        find(&mut conn, id)
    })
    .await?;
    Ok(web::Json(dto(&user)))
}

/// Deletes a user (their audit entries stay).
#[utoipa::path(
    tag = "admin",
    operation_id = "delete_user",
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Confirm first (reauth_required)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "It would leave no active admin", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[delete("/users/{id}")]
pub(crate) async fn delete_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    confirmed(&admin, &state)?;
    let id = path.into_inner();
    let st = state.clone();
    let admin_id = admin.0.id();
    blocking(move || {
        let mut conn = st.pool.get()?;
        conn.write_transaction::<_, ApiError, _>(|conn| {
            let target = find(conn, id)?;
            guard_last_admin(conn, &target, true)?;
            users::delete_user(conn, target.id)?;
            audit(
                conn,
                &meta,
                Event::of(&target, "admin_user_deleted").by(admin_id),
                st.clock.now(),
            )?;
            Ok(())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Everyone's audit events.
#[utoipa::path(
    tag = "admin",
    operation_id = "list_all_audit",
    params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []))
)]
#[get("/audit")]
pub(crate) async fn list_all_audit(
    state: web::Data<AppState>,
    _admin: AdminUser,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditPage>, ApiError> {
    Ok(web::Json(page(&state, None, query.into_inner()).await?))
}
