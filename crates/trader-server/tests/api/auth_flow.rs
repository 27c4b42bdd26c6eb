use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;
use trader_server::settings::Registration;

use crate::support::{PASSWORD, TestApp, error_code};

fn register_body(username: &str, token: Option<&str>) -> Value {
    let mut body = json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD});
    if let Some(t) = token {
        body["setup_token"] = json!(t);
    }
    body
}

async fn setup_needs_the_token_once_then_registration_follows_the_setting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.secret(PASSWORD);
    let client = app.client();
    let status: Value = app
        .get(&client, "/api/auth/setup-status")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({"setup_required": true, "registration_open": false})
    );

    let token = app.setup_token();
    let without = app
        .post(
            &client,
            "/api/auth/register",
            register_body("root", None),
            None,
        )
        .await;
    assert_eq!(
        error_code(without).await,
        (StatusCode::FORBIDDEN, "forbidden".to_owned())
    );
    let wrong = app
        .post(
            &client,
            "/api/auth/register",
            register_body("root", Some("nope")),
            None,
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    let created = app
        .post(
            &client,
            "/api/auth/register",
            register_body("root", Some(&token)),
            None,
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let user: Value = created.json().await.unwrap();
    assert_eq!(user["role"], "admin");
    assert!(
        !app.data_dir.path().join("setup-token").exists(),
        "the token file is gone"
    );

    // The token no longer works: registration is closed.
    let again = app
        .post(
            &client,
            "/api/auth/register",
            register_body("root2", Some(&token)),
            None,
        )
        .await;
    assert_eq!(
        error_code(again).await,
        (StatusCode::FORBIDDEN, "forbidden".to_owned())
    );
    let status: Value = app
        .get(&client, "/api/auth/setup-status")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["setup_required"], false);
    assert_eq!(
        app.audit_events(None),
        ["setup_failed", "setup_failed", "setup_completed"]
    );
}

async fn open_registration_makes_plain_users(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.registration = Registration::Open).await;
    app.register_admin("root").await;
    let client = app.client();
    let res = app
        .post(
            &client,
            "/api/auth/register",
            register_body("alice", None),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["role"], "user");
    // Taken in another case: 409 naming the field.
    let dup = app
        .post(
            &client,
            "/api/auth/register",
            register_body("ALICE", None),
            None,
        )
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let body: Value = dup.json().await.unwrap();
    assert_eq!(body["error"]["fields"]["username"], "is taken");
    // A weak password names the rule, and nothing is stored.
    let weak = app
        .post(
            &client,
            "/api/auth/register",
            json!({"username": "bob", "email": "bob@example.com", "password": "short"}),
            None,
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = weak.json().await.unwrap();
    assert!(
        body["error"]["fields"]["password"]
            .as_str()
            .unwrap()
            .contains("at least 12")
    );
    let mut conn = app.db.conn();
    assert_eq!(trader_db::users::count_users(&mut conn).unwrap(), 2);
}

async fn login_me_logout_and_old_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let (client, jar) = app.browser();

    let before = app.get(&client, "/api/auth/me").await;
    assert_eq!(
        error_code(before).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned())
    );

    app.login(&client, "alice", PASSWORD).await;
    let first_cookie = app.cookies(&jar);
    assert!(first_cookie.contains("alpaca_session="), "{first_cookie}");
    let me: Value = app.get(&client, "/api/auth/me").await.json().await.unwrap();
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["user"]["two_factor_enabled"], false);
    assert_eq!(me["auth"], "session");
    assert!(me["user"]["last_login_at"].is_string());
    assert_eq!(me["user"]["last_login_ip"], "127.0.0.1");

    // Signing in again gives a new session id: the cookie kept from before
    // this login no longer works.
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let second_cookie = app.cookies(&jar);
    assert_ne!(first_cookie, second_cookie);
    let replay = app
        .with_cookie(Method::GET, "/api/auth/me", &first_cookie, None, None)
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);

    let out = app
        .send(&client, Method::POST, "/api/auth/logout", None, Some(&csrf))
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&client, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The cookie kept from before logout is refused too.
    let replay = app
        .with_cookie(Method::GET, "/api/auth/me", &second_cookie, None, None)
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let events = app.audit_events(None);
    assert_eq!(events, ["login_succeeded", "login_succeeded", "logout"]);
}

async fn sessions_end_one_at_a_time_or_all_together(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let laptop = app.client();
    let phone = app.client();
    let laptop_csrf = app.login(&laptop, "alice", PASSWORD).await;
    let phone_csrf = app.login(&phone, "alice", PASSWORD).await;

    // Logging out on the laptop leaves the phone signed in.
    app.send(
        &laptop,
        Method::POST,
        "/api/auth/logout",
        None,
        Some(&laptop_csrf),
    )
    .await;
    assert_eq!(
        app.get(&laptop, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&phone, "/api/auth/me").await.status(),
        StatusCode::OK
    );

    // A third session, listed and ended from the phone.
    let tablet = app.client();
    app.login(&tablet, "alice", PASSWORD).await;
    let list: Value = app.get(&phone, "/api/sessions").await.json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let tablet_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(sessions[0]["ip"].is_string() && sessions[0]["last_seen_at"].is_string());
    let del = app
        .send(
            &phone,
            Method::DELETE,
            &format!("/api/sessions/{tablet_id}"),
            None,
            Some(&phone_csrf),
        )
        .await;
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&tablet, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&phone, "/api/auth/me").await.status(),
        StatusCode::OK
    );

    // Log out everywhere: both remaining sessions end.
    let laptop_csrf = app.login(&laptop, "alice", PASSWORD).await;
    let all = app
        .send(
            &laptop,
            Method::POST,
            "/api/auth/logout-all",
            None,
            Some(&laptop_csrf),
        )
        .await;
    assert_eq!(all.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&laptop, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&phone, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn reauth_window_guards_token_creation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let create = |csrf: String| {
        let app = &app;
        let client = client.clone();
        async move {
            app.post(
                &client,
                "/api/tokens",
                json!({"name": "bot", "scopes": ["read"], "expires_in_days": 7}),
                Some(&csrf),
            )
            .await
        }
    };
    let first = create(csrf.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    app.secret(
        first.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap(),
    );

    app.clock.advance(chrono::Duration::minutes(11));
    let late = create(csrf.clone()).await;
    assert_eq!(
        error_code(late).await,
        (StatusCode::FORBIDDEN, "reauth_required".to_owned())
    );

    let wrong = app
        .post(
            &client,
            "/api/auth/reauth",
            json!({"password": "not my password at all"}),
            Some(&csrf),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    app.secret("not my password at all");
    let ok = app
        .post(
            &client,
            "/api/auth/reauth",
            json!({"password": PASSWORD}),
            Some(&csrf),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let again = create(csrf.clone()).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    app.secret(
        again.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap(),
    );

    app.clock.advance(chrono::Duration::minutes(11));
    let late = create(csrf.clone()).await;
    assert_eq!(
        error_code(late).await,
        (StatusCode::FORBIDDEN, "reauth_required".to_owned())
    );
    let events = app.audit_events(None);
    assert_eq!(
        events,
        [
            "login_succeeded",
            "token_created",
            "reauth_failed",
            "reauth",
            "token_created"
        ]
    );
}

async fn a_password_change_ends_other_sessions_and_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let here = app.client();
    let there = app.client();
    let csrf = app.login(&here, "alice", PASSWORD).await;
    app.login(&there, "alice", PASSWORD).await;
    let (_, token) = app.create_token(&here, &csrf, "read").await;
    assert_eq!(
        app.bearer(Method::GET, "/api/auth/me", &token, None)
            .await
            .status(),
        StatusCode::OK
    );

    let new_password = "a brand new long passphrase";
    app.secret(new_password);
    let wrong = app
        .post(
            &here,
            "/api/profile/password",
            json!({"current_password": "wrong wrong wrong", "new_password": new_password}),
            Some(&csrf),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let weak = app
        .post(
            &here,
            "/api/profile/password",
            json!({"current_password": PASSWORD, "new_password": "password1234"}),
            Some(&csrf),
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let changed = app
        .post(
            &here,
            "/api/profile/password",
            json!({"current_password": PASSWORD, "new_password": new_password}),
            Some(&csrf),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        app.get(&here, "/api/auth/me").await.status(),
        StatusCode::OK,
        "this session goes on"
    );
    assert_eq!(
        app.get(&there, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.bearer(Method::GET, "/api/auth/me", &token, None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Only the new password signs in.
    let old = app
        .post(
            &app.client(),
            "/api/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    app.login(&app.client(), "alice", new_password).await;
}

async fn unknown_user_and_wrong_password_look_the_same(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    app.secret("wrong password here");
    let unknown = app
        .post(
            &client,
            "/api/auth/login",
            json!({"username": "nobody", "password": "wrong password here"}),
            None,
        )
        .await;
    let wrong = app
        .post(
            &client,
            "/api/auth/login",
            json!({"username": "alice", "password": "wrong password here"}),
            None,
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), wrong.status());
    let a: Value = unknown.json().await.unwrap();
    let b: Value = wrong.json().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a["error"]["code"], "invalid_credentials");
}

async fn admin_reset_password_forces_a_change_at_next_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.client();
    app.register_admin("root").await;
    let admin_csrf = crate::two_factor::login_and_enable_2fa(&app, &admin, "root").await;
    let alice = app.create_user("alice", Role::User);

    let res = app
        .send(
            &admin,
            Method::POST,
            &format!("/api/admin/users/{alice}/reset-password"),
            None,
            Some(&admin_csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let temporary = body["temporary_password"].as_str().unwrap().to_owned();
    app.secret(temporary.clone());
    assert_eq!(body["user"]["must_change_password"], true);

    let client = app.client();
    let old = app
        .post(
            &client,
            "/api/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let csrf = app.login(&client, "alice", &temporary).await;
    let me: Value = app.get(&client, "/api/auth/me").await.json().await.unwrap();
    assert_eq!(me["user"]["must_change_password"], true);
    let blocked = app.get(&client, "/api/tokens").await;
    assert_eq!(
        error_code(blocked).await,
        (StatusCode::FORBIDDEN, "password_change_required".to_owned())
    );
    let mine = "my own new passphrase again";
    app.secret(mine);
    let changed = app
        .post(
            &client,
            "/api/profile/password",
            json!({"current_password": temporary, "new_password": mine}),
            Some(&csrf),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&client, "/api/tokens").await.status(),
        StatusCode::OK
    );
}

crate::api_tests!(
    setup_needs_the_token_once_then_registration_follows_the_setting,
    open_registration_makes_plain_users,
    login_me_logout_and_old_cookies,
    sessions_end_one_at_a_time_or_all_together,
    reauth_window_guards_token_creation,
    a_password_change_ends_other_sessions_and_tokens,
    unknown_user_and_wrong_password_look_the_same,
    admin_reset_password_forces_a_change_at_next_login,
);
