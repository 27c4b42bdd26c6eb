use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp, error_code};

/// The server's JWT signing key, derived as documented (HKDF-SHA256 of
/// SECRET_KEY, info "alpaca-trader jwt v1"), so the test can sign tokens
/// the way an attacker who had the key could, and forge the rest.
fn signing_key(app: &TestApp) -> [u8; 32] {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, app.settings.secret_key.expose_bytes());
    let mut key = [0u8; 32];
    hk.expand(b"alpaca-trader jwt v1", &mut key).unwrap();
    key
}

fn sign(key: &[u8], alg: &str, claims: &Value) -> String {
    use hmac::Mac;
    let header = B64.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = B64.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let signature = match alg {
        "HS256" => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            mac.update(input.as_bytes());
            B64.encode(mac.finalize().into_bytes())
        }
        "HS512" => {
            let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
            mac.update(input.as_bytes());
            B64.encode(mac.finalize().into_bytes())
        }
        _ => String::new(),
    };
    format!("{input}.{signature}")
}

/// The claims of a real token, decoded.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

async fn read_tokens_read_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let (id, token) = app.create_token(&client, &csrf, "read").await;

    let me = app.bearer(Method::GET, "/api/auth/me", &token, None).await;
    assert_eq!(me.status(), StatusCode::OK);
    let body: Value = me.json().await.unwrap();
    assert_eq!(body["auth"], "token");
    assert!(body.get("csrf_token").is_none());
    let audit = app.bearer(Method::GET, "/api/audit", &token, None).await;
    assert_eq!(audit.status(), StatusCode::OK);

    for (method, path, body) in [
        (
            Method::PATCH,
            "/api/profile",
            json!({"email": "x@example.com"}),
        ),
        (Method::POST, "/api/auth/logout", json!({})),
        (
            Method::POST,
            "/api/tokens",
            json!({"name": "more", "scopes": ["trade"], "expires_in_days": 5}),
        ),
        (Method::POST, "/api/2fa/setup", json!({})),
        (Method::DELETE, "/api/sessions/1", json!({})),
    ] {
        let res = app.bearer(method.clone(), path, &token, Some(body)).await;
        assert_eq!(
            error_code(res).await,
            (StatusCode::FORBIDDEN, "insufficient_scope".to_owned()),
            "{method} {path}"
        );
    }
    // Tokens never manage tokens, even to list them.
    let list = app.bearer(Method::GET, "/api/tokens", &token, None).await;
    assert_eq!(list.status(), StatusCode::FORBIDDEN);

    // The list shows it (never the token) with its last use.
    let listed: Value = app.get(&client, "/api/tokens").await.json().await.unwrap();
    assert_eq!(listed["tokens"][0]["id"], id);
    assert!(listed["tokens"][0]["last_used_at"].is_string());
    assert!(!listed.to_string().contains(&token));

    // Revoked: refused at the next request.
    let del = app
        .send(
            &client,
            Method::DELETE,
            &format!("/api/tokens/{id}"),
            None,
            Some(&csrf),
        )
        .await;
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let after = app.bearer(Method::GET, "/api/auth/me", &token, None).await;
    assert_eq!(
        error_code(after).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned())
    );
}

async fn forged_and_expired_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let (_, token) = app.create_token(&client, &csrf, "trade").await;
    let claims = claims_of(&token);
    let key = signing_key(&app);

    // Signed by us with the right key: accepted (the forgeries below differ
    // from it in one thing each).
    let resigned = sign(&key, "HS256", &claims);
    app.secret(resigned.clone());
    assert_eq!(
        app.bearer(Method::GET, "/api/auth/me", &resigned, None)
            .await
            .status(),
        StatusCode::OK
    );

    let mut string_exp = claims.clone();
    string_exp["exp"] = json!(claims["exp"].as_i64().unwrap().to_string());
    let foreign_key = [7u8; 32];
    let forgeries = [
        ("alg none", sign(&key, "none", &claims)),
        ("HS512", sign(&key, "HS512", &claims)),
        ("a foreign key", sign(&foreign_key, "HS256", &claims)),
        ("a string exp", sign(&key, "HS256", &string_exp)),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, forged) in forgeries {
        app.secret(forged.clone());
        let res = app.bearer(Method::GET, "/api/auth/me", &forged, None).await;
        assert_eq!(
            error_code(res).await,
            (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned()),
            "{what}"
        );
    }

    // Expired (by the server's clock, past the record's expiry).
    app.clock.advance(chrono::Duration::days(31));
    let expired = app.bearer(Method::GET, "/api/auth/me", &token, None).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    // And a token whose own exp has passed, signed with the right key.
    let mut past = claims.clone();
    past["exp"] = json!(1_000_000_000);
    past["iat"] = json!(999_999_000);
    let past = sign(&key, "HS256", &past);
    app.secret(past.clone());
    assert_eq!(
        app.bearer(Method::GET, "/api/auth/me", &past, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn token_requests_are_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    for (body, field) in [
        (
            json!({"name": "", "scopes": ["read"], "expires_in_days": 30}),
            "name",
        ),
        (
            json!({"name": "x", "scopes": [], "expires_in_days": 30}),
            "scopes",
        ),
        (
            json!({"name": "x", "scopes": ["read", "trade"], "expires_in_days": 30}),
            "scopes",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "expires_in_days": 366}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "expires_in_days": 0}),
            "expires_in_days",
        ),
    ] {
        let res = app
            .post(&client, "/api/tokens", body.clone(), Some(&csrf))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: Value = res.json().await.unwrap();
        assert!(err["error"]["fields"][field].is_string(), "{err}");
    }
    let bad_scope = app
        .post(
            &client,
            "/api/tokens",
            json!({"name": "x", "scopes": ["admin"], "expires_in_days": 3}),
            Some(&csrf),
        )
        .await;
    assert_eq!(bad_scope.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app
        .post(
            &client,
            "/api/tokens",
            json!({"name": "x", "scopes": ["read"], "expires_in_days": 365}),
            Some(&csrf),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    app.secret(ok.json::<Value>().await.unwrap()["token"].as_str().unwrap());
    let mut conn = app.db.conn();
    let stored = trader_db::tokens::list_for_user(
        &mut conn,
        trader_api_types::UserId(1),
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(stored.len(), 1, "only the valid request stored a token");
}

async fn csrf_is_needed_with_cookies_and_not_with_bearer_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let body = json!({"email": "alice@new.example.com"});

    let no_header = app
        .send(
            &client,
            Method::PATCH,
            "/api/profile",
            Some(body.clone()),
            None,
        )
        .await;
    assert_eq!(
        error_code(no_header).await,
        (StatusCode::FORBIDDEN, "csrf_failed".to_owned())
    );
    let wrong_header = app
        .send(
            &client,
            Method::PATCH,
            "/api/profile",
            Some(body.clone()),
            Some("not-the-token"),
        )
        .await;
    assert_eq!(wrong_header.status(), StatusCode::FORBIDDEN);
    let foreign = client
        .patch(app.url("/api/profile"))
        .header("X-CSRF-Token", &csrf)
        .header("Origin", "https://evil.example.com")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(foreign).await,
        (StatusCode::FORBIDDEN, "csrf_failed".to_owned())
    );
    let own = client
        .patch(app.url("/api/profile"))
        .header("X-CSRF-Token", &csrf)
        .header("Origin", app.base.clone())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);

    // A bearer request needs neither, but the email (where account mail
    // goes) changes only in a browser session: not even a `trade` token.
    let (_, token) = app.create_token(&client, &csrf, "trade").await;
    let res = reqwest::Client::new()
        .patch(app.url("/api/profile"))
        .bearer_auth(&token)
        .header("Origin", "https://evil.example.com")
        .json(&json!({"email": "alice@bearer.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res).await,
        (StatusCode::FORBIDDEN, "forbidden".to_owned())
    );
    let mut conn = app.db.conn();
    let stored = trader_db::users::find_user_by_username(&mut conn, "alice")
        .unwrap()
        .unwrap();
    assert_ne!(stored.email, "alice@bearer.example.com");
}

crate::api_tests!(
    read_tokens_read_and_nothing_else,
    forged_and_expired_tokens_are_refused,
    token_requests_are_validated,
    csrf_is_needed_with_cookies_and_not_with_bearer_tokens,
);
