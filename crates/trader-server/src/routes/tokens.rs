//! Personal access tokens for scripts: `Authorization: Bearer <token>`.
//! Named, scoped (`read` or `trade`), expiring within a year, listed,
//! revocable; the token is shown once. Only a browser session manages them.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::Duration;
use trader_api_types::ErrorBody;
use trader_api_types::auth::{
    CreateTokenRequest, CreatedToken, Sensitive, Token, TokenList, TokenScope,
};
use trader_db::tokens::{self, ApiToken, NewApiToken};
use trader_security::{Claims, Scope};

use crate::auth::SessionUser;
use crate::error::{ApiError, blocking};
use crate::json::ApiJson;
use crate::meta::{Event, RequestMeta, audit};
use crate::state::AppState;

/// The longest a token may live.
pub(crate) const MAX_TOKEN_DAYS: i64 = 365;

fn token_info(t: &ApiToken) -> Token {
    Token {
        id: t.id,
        name: t.name.clone(),
        scopes: TokenScope::parse(&t.scope).into_iter().collect(),
        live: t.live,
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
    }
}

/// The user's live tokens (never the tokens themselves).
#[utoipa::path(
    tag = "tokens",
    operation_id = "list_tokens",
    responses((status = 200, body = TokenList), (status = "default", description = "An error", body = ErrorBody)),
    security(("session" = []))
)]
#[get("/tokens")]
pub(crate) async fn list_tokens(
    state: web::Data<AppState>,
    caller: SessionUser,
) -> Result<web::Json<TokenList>, ApiError> {
    let st = state.clone();
    let id = caller.user.id;
    let rows = blocking(move || {
        Ok(tokens::list_for_user(
            &mut *st.pool.get()?,
            id,
            st.clock.now(),
        )?)
    })
    .await?;
    Ok(web::Json(TokenList {
        tokens: rows.iter().map(token_info).collect(),
    }))
}

/// Creates a token and answers it once; needs a recent confirmation.
#[utoipa::path(
    tag = "tokens",
    operation_id = "create_token",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "The token, shown this once", body = CreatedToken),
        (status = 403, description = "Confirm first (reauth_required)", body = ErrorBody),
        (status = 422, description = "A field is not acceptable", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[post("/tokens")]
pub(crate) async fn create_token(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    body: ApiJson<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    caller.require_recent_confirmation(now)?;
    let body = body.into_inner();
    let name = body.name.trim().to_owned();
    let mut fields = std::collections::BTreeMap::new();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        fields.insert(
            "name".to_owned(),
            "must be 1 to 64 printable characters".to_owned(),
        );
    }
    if body.scopes.len() != 1 {
        fields.insert(
            "scopes".to_owned(),
            "give exactly one scope: read or trade".to_owned(),
        );
    }
    if !(1..=MAX_TOKEN_DAYS).contains(&body.expires_in_days) {
        fields.insert(
            "expires_in_days".to_owned(),
            format!("must be 1 to {MAX_TOKEN_DAYS}"),
        );
    }
    if body.live && body.scopes.first() != Some(&TokenScope::Trade) {
        fields.insert(
            "live".to_owned(),
            "only a trade token can act on live accounts".to_owned(),
        );
    }
    if !fields.is_empty() {
        return Err(ApiError::Validation {
            message: "some fields are not acceptable".to_owned(),
            fields,
        });
    }
    let scope = body.scopes[0];
    let live = body.live;
    let expires_at = now + Duration::days(body.expires_in_days);
    let claims = Claims::new(
        caller.user.id.0,
        &caller.user.security_stamp,
        match scope {
            TokenScope::Read => Scope::Read,
            TokenScope::Trade => Scope::Trade,
        },
        now.timestamp(),
        expires_at.timestamp(),
    );
    let jwt = state.jwt.issue(&claims).map_err(ApiError::internal)?;
    let st = state.clone();
    let user = caller.user.clone();
    let record = blocking(move || {
        let mut conn = st.pool.get()?;
        let jti = claims.jti.to_string();
        let record = tokens::create(
            &mut conn,
            &NewApiToken {
                user_id: user.id,
                name: &name,
                jti: &jti,
                scope: scope.as_str(),
                created_at: now,
                expires_at,
                live,
            },
        )?;
        let detail = serde_json::json!({"token_id": record.id, "name": name, "scope": scope.as_str(), "live": live});
        audit(
            &mut conn,
            &meta,
            Event::of(&user, "token_created").detail(&detail),
            now,
        )?;
        Ok(record)
    })
    .await?;
    Ok(HttpResponse::Created().json(CreatedToken {
        info: token_info(&record),
        token: Sensitive::new(jwt),
    }))
}

/// Revokes a token; it stops working at the next request.
#[utoipa::path(
    tag = "tokens",
    operation_id = "delete_token",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token of yours", body = ErrorBody),
        (status = "default", description = "An error", body = ErrorBody),
    ),
    security(("session" = [], "csrf" = []))
)]
#[delete("/tokens/{id}")]
pub(crate) async fn delete_token(
    state: web::Data<AppState>,
    caller: SessionUser,
    meta: RequestMeta,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let st = state.clone();
    blocking(move || {
        let mut conn = st.pool.get()?;
        let now = st.clock.now();
        if !tokens::revoke(&mut conn, caller.user.id, id, now)? {
            return Err(ApiError::NotFound);
        }
        let detail = serde_json::json!({"token_id": id});
        audit(
            &mut conn,
            &meta,
            Event::of(&caller.user, "token_revoked").detail(&detail),
            now,
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
