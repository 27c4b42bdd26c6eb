//! Issue 15: reads reuse verified sessions and tokens (and the user's
//! watchlists, settings and trading accounts) from memory, yet a logout, a
//! revocation or a change holds at once on the instance that made it and
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

/// The JSON `path` answers `token` on `base`.
async fn read_json(base: &str, path: &str, token: &str) -> serde_json::Value {
    let res = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Polls `path` on `base` until `seen` holds of its answer; answers how
/// long that took.
async fn seen_within(
    base: &str,
    path: &str,
    token: &str,
    limit: Duration,
    seen: impl Fn(&serde_json::Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if seen(&read_json(base, path, token).await) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() <= limit,
            "{path} still answers the old value after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The RSI period in `state`'s settings of `user`, as reads see them (the
/// cache when it holds them).
async fn rsi_period(state: &trader_server::state::AppState, user: trader_api_types::UserId) -> u32 {
    trader_server::services::settings::load_read(state, user)
        .await
        .unwrap()
        .indicators
        .rsi
        .period
}

/// Watchlists and settings are cached for reads too: a change shows at once
/// on the instance that made it and within a second on the other.
async fn a_watchlist_or_settings_change_reaches_every_instance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.create_user("alice", Role::User);
    let (client, _jar) = app.browser();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let (_, token) = app.create_token(&client, &csrf, "read").await;
    let (base_b, handle_b, _dir_b, state_b) = app.second_instance_state().await;
    let base_a = app.url("");
    let base_a = base_a.trim_end_matches('/');

    // Both instances hold the lists and the settings in memory.
    let warm = Instant::now();
    let list_id = loop {
        let mut id = 0;
        for base in [base_a, base_b.as_str()] {
            let list = read_json(base, "/api/watchlist", &token).await;
            assert_ne!(list["name"], "Tech");
            id = list["id"].as_i64().unwrap();
        }
        for state in [&app.state, &state_b] {
            assert_eq!(rsi_period(state, alice).await, 14);
        }
        let (lists, settings, _) = state_b.auth_cache.reads_len();
        let (lists_a, settings_a, _) = app.state.auth_cache.reads_len();
        if lists >= 1 && settings >= 1 && lists_a >= 1 && settings_a >= 1 {
            break id;
        }
        assert!(warm.elapsed() < Duration::from_secs(5), "never cached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // On A: rename the list and change a setting.
    let renamed = app
        .send(
            &client,
            Method::PUT,
            &format!("/api/watchlists/{list_id}"),
            Some(serde_json::json!({"name": "Tech"})),
            Some(&csrf),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let patched = app
        .send(
            &client,
            Method::PATCH,
            "/api/indicators",
            Some(serde_json::json!({"indicators": {"rsi": {"period": 9}}})),
            Some(&csrf),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);

    // At once on A.
    assert_eq!(
        read_json(base_a, "/api/watchlist", &token).await["name"],
        "Tech"
    );
    assert_eq!(rsi_period(&app.state, alice).await, 9);
    // Within a second on B.
    let started = Instant::now();
    let limit = Duration::from_secs(1);
    seen_within(&base_b, "/api/watchlist", &token, limit, |l| {
        l["name"] == "Tech"
    })
    .await;
    seen_within(
        &base_b,
        "/api/watchlists",
        &token,
        limit.saturating_sub(started.elapsed()),
        |l| l["watchlists"][0]["name"] == "Tech",
    )
    .await;
    while rsi_period(&state_b, alice).await != 9 {
        assert!(
            started.elapsed() <= limit,
            "B still reads the old settings after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(handle_b.stop(false));
}

crate::api_tests!(
    a_logout_and_a_revocation_reach_every_instance,
    a_password_change_holds_at_once_where_it_was_made,
    a_watchlist_or_settings_change_reaches_every_instance
);
