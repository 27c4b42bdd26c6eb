//! Issue 15: reads reuse verified sessions and tokens from memory, yet a
//! logout or a revocation holds at once on the instance that made it and
//! within a second on every other instance sharing the database.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp};

/// GET `path` on `base` with this cookie or this bearer token.
async fn get(base: &str, path: &str, cookie: Option<&str>, token: Option<&str>) -> StatusCode {
    let mut req = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(cookie) = cookie {
        req = req.header("Cookie", cookie);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap().status()
}

/// Polls until `path` on `base` is refused; answers how long that took.
async fn refused_within(
    base: &str,
    path: &str,
    cookie: Option<&str>,
    token: Option<&str>,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let status = get(base, path, cookie, token).await;
        if status == StatusCode::UNAUTHORIZED {
            return started.elapsed();
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            started.elapsed() <= limit,
            "still served after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_logout_and_a_revocation_reach_every_instance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let (client, jar) = app.browser();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let cookie = app.cookies(&jar);
    let (token_id, token) = app.create_token(&client, &csrf, "read").await;
    let (base_b, handle_b, _dir_b, state_b) = app.second_instance_state().await;
    let base_a = app.url("");
    let base_a = base_a.trim_end_matches('/');

    // Both instances serve both, and B has them in memory: what follows is
    // refused despite its cache, not for want of one.
    let cached = Instant::now();
    loop {
        for base in [base_a, base_b.as_str()] {
            assert_eq!(
                get(base, "/api/auth/me", Some(&cookie), None).await,
                StatusCode::OK
            );
            assert_eq!(
                get(base, "/api/auth/me", None, Some(&token)).await,
                StatusCode::OK
            );
        }
        let (sessions, users, tokens) = state_b.auth_cache.len();
        if sessions >= 1 && users >= 1 && tokens >= 1 {
            break;
        }
        // The cache is used once each instance has read the auth epoch.
        assert!(cached.elapsed() < Duration::from_secs(5), "B never cached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // On A: revoke the token, then log the session out.
    let revoked = app
        .send(
            &client,
            Method::DELETE,
            &format!("/api/tokens/{token_id}"),
            None,
            Some(&csrf),
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let out = app
        .send(&client, Method::POST, "/api/auth/logout", None, Some(&csrf))
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);

    // At once on A.
    assert_eq!(
        get(base_a, "/api/auth/me", None, Some(&token)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(base_a, "/api/auth/me", Some(&cookie), None).await,
        StatusCode::UNAUTHORIZED
    );
    // Within a second on B.
    let limit = Duration::from_secs(1);
    let took = refused_within(&base_b, "/api/auth/me", None, Some(&token), limit).await;
    refused_within(&base_b, "/api/auth/me", Some(&cookie), None, limit - took).await;
    drop(handle_b.stop(false));
}

/// A password change made on one instance ends the user's other sessions
/// and their tokens there at once, cached or not.
async fn a_password_change_holds_at_once_where_it_was_made(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let (client, jar) = app.browser();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let cookie = app.cookies(&jar);
    let (_, token) = app.create_token(&client, &csrf, "read").await;
    let laptop = app.client();
    let laptop_csrf = app.login(&laptop, "alice", PASSWORD).await;
    let base = app.url("");
    let base = base.trim_end_matches('/');
    // Warm the cache (it is used once the epoch has been read).
    let warm = Instant::now();
    loop {
        assert_eq!(
            get(base, "/api/auth/me", Some(&cookie), None).await,
            StatusCode::OK
        );
        assert_eq!(
            get(base, "/api/auth/me", None, Some(&token)).await,
            StatusCode::OK
        );
        let (sessions, _, tokens) = app.state.auth_cache.len();
        if sessions >= 1 && tokens >= 1 {
            break;
        }
        assert!(warm.elapsed() < Duration::from_secs(5), "never cached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_password = "an entirely new horse battery";
    app.secret(new_password);
    let res = app
        .post(
            &laptop,
            "/api/profile/password",
            serde_json::json!({"current_password": PASSWORD, "new_password": new_password}),
            Some(&laptop_csrf),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert_eq!(
        get(base, "/api/auth/me", Some(&cookie), None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(base, "/api/auth/me", None, Some(&token)).await,
        StatusCode::UNAUTHORIZED
    );
}

crate::api_tests!(
    a_logout_and_a_revocation_reach_every_instance,
    a_password_change_holds_at_once_where_it_was_made
);
