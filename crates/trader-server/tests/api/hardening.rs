//! The sign-in hardening: each test here failed on the sign-in code as it
//! stood before (second-factor brute force across networks, a named account
//! kept locked by strangers, factor checks that ignored the lock, admin
//! changes without a fresh confirmation, half-finished logins outliving a
//! password change, a racing 2FA enable, and the smaller findings).

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp, error_code};
use crate::two_factor::{code_now, enable_2fa};

const WRONG: &str = "wrong password, typed by someone else";

/// A different wrong code than the right one.
fn wrong_code(app: &TestApp, secret: &str) -> &'static str {
    if code_now(app, secret) == "123456" {
        "654321"
    } else {
        "123456"
    }
}

fn proxied(s: &mut trader_server::Settings) {
    s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// A browser behind our proxy at `xff`, signed in up to the code step.
async fn pending_login(app: &TestApp, xff: &str, password: &str) -> (Client, StatusCode, Value) {
    let client = app.client();
    let res = client
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", xff)
        .json(&json!({"username": "alice", "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (client, status, body)
}

async fn send_code(app: &TestApp, client: &Client, xff: &str, code: &str) -> reqwest::Response {
    client
        .post(app.url("/api/auth/verify-2fa"))
        .header("X-Forwarded-For", xff)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
}

/// Alice with 2FA on, signed out; answers her TOTP secret and recovery codes.
async fn alice_with_2fa(app: &TestApp) -> (String, Vec<String>) {
    app.create_user("alice", Role::User);
    let client = app.client();
    let (csrf, secret, codes) = enable_2fa(app, &client, "alice").await;
    app.send(&client, Method::POST, "/api/auth/logout", None, Some(&csrf))
        .await;
    (secret, codes)
}

fn stored_user(app: &TestApp, name: &str) -> trader_db::users::User {
    let mut conn = app.db.conn();
    trader_db::users::find_user_by_username(&mut conn, name)
        .unwrap()
        .unwrap()
}

/// Item 1, end to end: someone with the password tries codes from 50
/// networks; at most 10 wrong codes are ever checked, then even the right
/// code is refused until the lock ends, and a full sign-in clears it.
async fn fifty_networks_get_at_most_ten_wrong_codes(backend: Backend) {
    let app = TestApp::spawn_with(backend, proxied).await;
    let (secret, _) = alice_with_2fa(&app).await;
    let bad = wrong_code(&app, &secret);
    let mut checked = 0;
    let mut locked = 0;
    for i in 0..50 {
        let xff = format!("203.0.{i}.7");
        let (client, status, body) = pending_login(&app, &xff, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["two_factor_required"], true);
        for _ in 0..5 {
            let res = send_code(&app, &client, &xff, bad).await;
            match error_code(res).await {
                (StatusCode::UNAUTHORIZED, c) if c == "invalid_credentials" => checked += 1,
                (StatusCode::TOO_MANY_REQUESTS, c) if c == "rate_limited" => {
                    locked += 1;
                    break;
                }
                other => panic!("unexpected answer {other:?}"),
            }
        }
    }
    assert_eq!(checked, 10, "wrong codes checked in all");
    assert!(locked >= 40, "{locked}");

    // The right code fails while the lock lasts.
    let (client, _, _) = pending_login(&app, "198.51.100.1", PASSWORD).await;
    let right = send_code(&app, &client, "198.51.100.1", &code_now(&app, &secret)).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(right.headers().contains_key("retry-after"));
    let user = stored_user(&app, "alice");
    assert_eq!(user.factor_failures, 10);
    assert!(
        user.must_change_password,
        "whoever reached the lock knows the password"
    );
    assert!(
        app.audit_events(Some(user.id))
            .contains(&"two_factor_locked".to_owned())
    );

    // After the lock, a full sign-in works and clears the count.
    app.clock.advance(chrono::Duration::minutes(2));
    let (client, _, _) = pending_login(&app, "198.51.100.1", PASSWORD).await;
    let res = send_code(&app, &client, "198.51.100.1", &code_now(&app, &secret)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["must_change_password"], true);
    assert_eq!(stored_user(&app, "alice").factor_failures, 0);
    // The user changes the password first, then sees the lock in their
    // own audit log.
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    app.secret(csrf.clone());
    app.secret("a fresh long passphrase");
    let res = app
        .post(
            &client,
            "/api/profile/password",
            json!({"current_password": PASSWORD, "new_password": "a fresh long passphrase"}),
            Some(&csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let own: Value = app.get(&client, "/api/audit").await.json().await.unwrap();
    assert!(own.to_string().contains("two_factor_locked"), "{own}");
}

/// Item 1: attempts are reserved before the code is checked, so parallel
/// requests get no extra guesses, per account and per pending login.
async fn parallel_wrong_codes_get_no_extra_guesses(backend: Backend) {
    let app = TestApp::spawn_with(backend, proxied).await;
    let (secret, _) = alice_with_2fa(&app).await;
    let bad = wrong_code(&app, &secret);

    // One pending login, ten codes at once: at most five are checked.
    let (client, _, _) = pending_login(&app, "198.51.100.1", PASSWORD).await;
    let answers = futures_util::future::join_all(
        (0..10).map(|_| send_code(&app, &client, "198.51.100.1", bad)),
    )
    .await;
    let mut checked = 0;
    for res in answers {
        if error_code(res).await.1 == "invalid_credentials" {
            checked += 1;
        }
    }
    assert!(
        checked <= 5,
        "{checked} codes checked for one pending login"
    );

    // Four more pending logins, twenty codes at once: the account's count
    // reaches exactly ten, never more.
    let mut clients = Vec::new();
    for i in 0..4 {
        clients.push(
            pending_login(&app, &format!("203.0.{i}.9"), PASSWORD)
                .await
                .0,
        );
    }
    let answers = futures_util::future::join_all(
        clients
            .iter()
            .flat_map(|c| (0..5).map(move |_| c))
            .map(|c| send_code(&app, c, "203.0.0.9", bad)),
    )
    .await;
    for res in answers {
        let status = res.status();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    assert_eq!(
        stored_user(&app, "alice").factor_failures,
        10,
        "no request checked a code past the lock"
    );
}

/// Item 2: ten wrong passwords from one network do not lock the owner out
/// elsewhere; more than 50 an hour across networks answer 429, except to a
/// browser that completed a sign-in before.
async fn the_hourly_ceiling_spares_a_known_browser(backend: Backend) {
    let app = TestApp::spawn_with(backend, proxied).await;
    app.create_user("alice", Role::User);
    app.secret(WRONG);
    // The owner signed in from this browser last week.
    let (owner, _) = app.browser();
    let res = owner
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", "192.0.2.10")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.clock.advance(chrono::Duration::days(7));

    // 50 wrong passwords from 50 networks.
    for i in 0..50 {
        let (_, status, _) = pending_login(&app, &format!("203.0.{i}.1"), WRONG).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The ceiling: a new browser on a new network is refused, even with
    // the right password.
    let (_, status, body) = pending_login(&app, "198.51.100.77", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The owner's browser is exempt and signs in.
    let res = owner
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", "198.51.100.78")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A forged device cookie is not.
    let forged = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", "198.51.100.79")
        .header("Cookie", "alpaca_device=v1.1.1999999999")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
    // An hour later the ceiling resets.
    app.clock.advance(chrono::Duration::minutes(61));
    let (_, status, _) = pending_login(&app, "198.51.100.80", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

/// Item 3: reauth, 2FA changes and the password change refuse while the
/// second factor is locked, and five wrong answers in a row end the session.
async fn signed_in_checks_obey_the_lock_and_end_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, proxied).await;
    let (secret, _) = alice_with_2fa(&app).await;
    let bad = wrong_code(&app, &secret);
    // Alice signs in (from 192.0.2.1).
    let (me, _, _) = pending_login(&app, "192.0.2.1", PASSWORD).await;
    let res = send_code(&app, &me, "192.0.2.1", &code_now(&app, &secret)).await;
    let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.secret(csrf.clone());
    app.clock.advance(chrono::Duration::seconds(30));
    // Someone else, with her password, locks her second factor.
    for i in 0..2 {
        let xff = format!("203.0.113.{i}");
        let (c, _, _) = pending_login(&app, &xff, PASSWORD).await;
        for _ in 0..5 {
            send_code(&app, &c, &xff, bad).await;
        }
    }
    assert_eq!(stored_user(&app, "alice").factor_failures, 10);
    // The lock makes her change the password (someone knows it); that is
    // a password check, not a code, so it works.
    app.secret("a fresh long passphrase");
    let res = me
        .post(app.url("/api/profile/password"))
        .header("X-CSRF-Token", &csrf)
        .header("X-Forwarded-For", "192.0.2.1")
        .json(&json!({"current_password": PASSWORD, "new_password": "a fresh long passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Her own session cannot turn 2FA off or make codes, even with the
    // right code, while the second factor is locked.
    for path in [
        "/api/2fa/disable",
        "/api/2fa/recovery-codes",
        "/api/auth/reauth",
    ] {
        let res = me
            .post(app.url(path))
            .header("X-CSRF-Token", &csrf)
            .header("X-Forwarded-For", "192.0.2.1")
            .json(&json!({"code": code_now(&app, &secret)}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(res).await,
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited".to_owned()),
            "{path}"
        );
    }
    // Five wrong passwords in a row end the session.
    for attempt in 1..=5 {
        let res = me
            .post(app.url("/api/auth/reauth"))
            .header("X-CSRF-Token", &csrf)
            .header("X-Forwarded-For", "192.0.2.1")
            .json(&json!({"password": WRONG}))
            .send()
            .await
            .unwrap();
        let expected = if attempt < 5 {
            "invalid_credentials"
        } else {
            "unauthenticated"
        };
        assert_eq!(error_code(res).await.1, expected, "attempt {attempt}");
    }
    app.secret(WRONG);
    assert_eq!(
        app.get(&me, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let events = app.audit_events(Some(stored_user(&app, "alice").id));
    assert!(events.contains(&"session_ended_after_failures".to_owned()));
}

/// Item 3 (review): a stolen session gets at most five guesses even in
/// parallel, and codes for a user without 2FA are refused, not counted
/// (no stranger can lock a factor the user does not have).
async fn a_stolen_session_gets_five_guesses_in_parallel(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    app.secret(WRONG);
    let client = app.client();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let codes = futures_util::future::join_all((0..10).map(|_| {
        app.post(
            &client,
            "/api/auth/reauth",
            json!({"code": "123456"}),
            Some(&csrf),
        )
    }))
    .await;
    for res in codes {
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let alice = stored_user(&app, "alice");
    assert_eq!(alice.factor_failures, 0);
    assert!(!alice.must_change_password);

    let answers = futures_util::future::join_all((0..12).map(|_| {
        app.post(
            &client,
            "/api/auth/reauth",
            json!({"password": WRONG}),
            Some(&csrf),
        )
    }))
    .await;
    for res in answers {
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let checked = app
        .audit_events(Some(alice.id))
        .iter()
        .filter(|e| e.as_str() == "reauth_failed")
        .count();
    assert!(checked <= 5, "{checked} passwords checked in one session");
    assert_eq!(
        app.get(&client, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Twenty correct sign-ins of one account at once (a script's threads) all
/// succeed: the attempt counters' compare-and-swap retries outlast the
/// contention instead of answering "locked".
async fn parallel_sign_ins_of_one_account_all_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let answers = futures_util::future::join_all((0..20).map(|_| {
        let client = app.client();
        let url = app.url("/api/auth/login");
        async move {
            client
                .post(url)
                .json(&json!({"username": "alice", "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .status()
        }
    }))
    .await;
    let log = app.log_text();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request failed"))
        .take(3)
        .collect();
    assert!(
        answers.iter().all(|s| *s == StatusCode::OK),
        "{answers:?} {failures:#?}"
    );
}

/// Item 3: the 2FA and password endpoints sit under the strict limiter.
async fn factor_endpoints_are_under_the_strict_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.auth_rate = trader_server::rate_limit::Limit {
            burst: 5,
            period: Duration::from_secs(3600),
        };
    })
    .await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    // The login used one of five.
    let mut last = StatusCode::OK;
    for _ in 0..5 {
        last = app
            .post(
                &client,
                "/api/2fa/disable",
                json!({"code": "000000"}),
                Some(&csrf),
            )
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let res = app
        .post(
            &client,
            "/api/profile/password",
            json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
            Some(&csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Item 4: every admin change needs a confirmation in the last 10 minutes,
/// and an admin's own password goes through the normal change.
async fn admin_changes_need_a_fresh_confirmation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("root", Role::Admin);
    let bob = app.create_user("bob", Role::User);
    let client = app.client();
    let (csrf, secret, _) = enable_2fa(&app, &client, "root").await;
    app.clock.advance(chrono::Duration::minutes(11));
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/admin/users".to_owned(),
            Some(json!({"username": "carol", "email": "carol@example.com"})),
        ),
        (
            Method::PATCH,
            format!("/api/admin/users/{}", bob.0),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::POST,
            format!("/api/admin/users/{}/reset-password", bob.0),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{}/reset-2fa", bob.0),
            None,
        ),
        (Method::DELETE, format!("/api/admin/users/{}", bob.0), None),
    ];
    for (method, path, body) in &calls {
        let res = app
            .send(&client, method.clone(), path, body.clone(), Some(&csrf))
            .await;
        assert_eq!(
            error_code(res).await,
            (StatusCode::FORBIDDEN, "reauth_required".to_owned()),
            "{method} {path}"
        );
    }
    assert_eq!(stored_user(&app, "bob").role, Role::User);
    // After a confirmation they work.
    let res = app
        .post(
            &client,
            "/api/auth/reauth",
            json!({"code": code_now(&app, &secret)}),
            Some(&csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post(
            &client,
            &format!("/api/admin/users/{}/reset-2fa", bob.0),
            json!({}),
            Some(&csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Not on their own account.
    let root = stored_user(&app, "root");
    let res = app
        .post(
            &client,
            &format!("/api/admin/users/{}/reset-password", root.id.0),
            json!({}),
            Some(&csrf),
        )
        .await;
    assert_eq!(error_code(res).await.0, StatusCode::FORBIDDEN);
    assert_eq!(stored_user(&app, "root").password_hash, root.password_hash);
}

/// Item 6: a password change or "log out everywhere" ends a sign-in that is
/// waiting for its code, and pending sessions carry their user.
async fn half_finished_logins_end_with_a_password_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (secret, _) = alice_with_2fa(&app).await;
    // Someone with the password waits at the code step.
    let (pending, _, _) = pending_login(&app, "127.0.0.1", PASSWORD).await;
    // Alice signs in and changes her password.
    let me = app.client();
    let res = app
        .post(
            &me,
            "/api/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = send_code(&app, &me, "127.0.0.1", &code_now(&app, &secret)).await;
    let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.secret(csrf.clone());
    app.secret("a brand new long passphrase");
    let res = app
        .post(
            &me,
            "/api/profile/password",
            json!({"current_password": PASSWORD, "new_password": "a brand new long passphrase"}),
            Some(&csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The waiting sign-in is over, even with the right code.
    app.clock.advance(chrono::Duration::seconds(30));
    let res = send_code(&app, &pending, "127.0.0.1", &code_now(&app, &secret)).await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned())
    );
    assert_eq!(
        app.get(&pending, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Item 6: "log out everywhere" deletes pending sessions: their rows carry
/// the user.
async fn log_out_everywhere_ends_pending_logins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (secret, _) = alice_with_2fa(&app).await;
    let (pending, _, _) = pending_login(&app, "127.0.0.1", PASSWORD).await;
    let alice = stored_user(&app, "alice");
    {
        let mut conn = app.db.conn();
        use trader_server::clock::Clock;
        let rows =
            trader_db::sessions::list_for_user(&mut conn, alice.id, app.clock.now()).unwrap();
        assert_eq!(rows.len(), 1, "the pending session belongs to alice");
    }
    let me = app.client();
    app.post(
        &me,
        "/api/auth/login",
        json!({"username": "alice", "password": PASSWORD}),
        None,
    )
    .await;
    let res = send_code(&app, &me, "127.0.0.1", &code_now(&app, &secret)).await;
    let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.secret(csrf.clone());
    let res = app
        .send(&me, Method::POST, "/api/auth/logout-all", None, Some(&csrf))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.clock.advance(chrono::Duration::seconds(30));
    let res = send_code(&app, &pending, "127.0.0.1", &code_now(&app, &secret)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// Item 7: enabling 2FA needs a recent confirmation, and a double-clicked
/// Enable answers 409 the second time while the first codes stay valid.
async fn enabling_2fa_is_confirmed_and_happens_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let csrf = app.login(&client, "alice", PASSWORD).await;
    let setup: Value = app
        .send(&client, Method::POST, "/api/2fa/setup", None, Some(&csrf))
        .await
        .json()
        .await
        .unwrap();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    app.secret(secret.clone());
    app.clock.advance(chrono::Duration::minutes(11));
    let res = app
        .post(
            &client,
            "/api/2fa/enable",
            json!({"code": code_now(&app, &secret)}),
            Some(&csrf),
        )
        .await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::FORBIDDEN, "reauth_required".to_owned())
    );
    let res = app
        .post(
            &client,
            "/api/auth/reauth",
            json!({"password": PASSWORD}),
            Some(&csrf),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A double click: two Enables at once with the same code.
    let code = code_now(&app, &secret);
    let (a, b) = tokio::join!(
        app.post(
            &client,
            "/api/2fa/enable",
            json!({"code": code}),
            Some(&csrf)
        ),
        app.post(
            &client,
            "/api/2fa/enable",
            json!({"code": code}),
            Some(&csrf)
        ),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let ok = if a.status() == StatusCode::OK { a } else { b };
    let codes: Vec<String> = ok.json::<Value>().await.unwrap()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    for c in &codes {
        app.secret(c.clone());
    }
    // The codes shown are the ones that work.
    let other = app.client();
    app.post(
        &other,
        "/api/auth/login",
        json!({"username": "alice", "password": PASSWORD}),
        None,
    )
    .await;
    let res = app
        .post(
            &other,
            "/api/auth/verify-2fa",
            json!({"code": codes[0]}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Item 8: a failed sign-in's audit entry never keeps an unknown typed
/// username (people type passwords there), and caps known ones.
async fn audit_keeps_no_typed_username(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let typed = "my secret passphrase typed in the wrong box";
    app.secret(typed);
    app.secret("whatever it is");
    let res = app
        .post(
            &app.client(),
            "/api/auth/login",
            json!({"username": typed, "password": "whatever it is"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let mut conn = app.db.conn();
    let rows = trader_db::audit::list(&mut conn, None, None, 10).unwrap();
    let entry = rows.iter().find(|r| r.event == "login_failed").unwrap();
    let shown = entry.username.clone().unwrap();
    assert!(shown.starts_with("unknown-user:"), "{shown}");
    assert!(!shown.contains("passphrase"), "{shown}");
    assert!(shown.chars().count() <= 64);
}

/// Item 8: the setup token lives in the database: a token one instance
/// printed claims the install on another instance sharing the database.
async fn the_setup_token_works_on_every_instance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.setup_token();
    let (base_b, handle_b, _dir_b) = app.second_instance().await;
    let res = reqwest::Client::new()
        .post(format!("{base_b}/api/auth/register"))
        .json(&json!({"username": "root", "email": "root@example.com", "password": PASSWORD, "setup_token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    // Used once: instance A refuses it now.
    let res = app
        .post(
            &app.client(),
            "/api/auth/register",
            json!({"username": "mallory", "email": "m@example.com", "password": PASSWORD, "setup_token": token}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    drop(handle_b.stop(false));
}

/// Item 8: the rate limiter runs before the session middleware: a refused
/// request does not touch the session (no database work for it).
async fn a_refused_request_costs_no_session_work(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.api_rate = trader_server::rate_limit::Limit {
            burst: 3,
            period: Duration::from_secs(3600),
        };
    })
    .await;
    app.create_user("alice", Role::User);
    let client = app.client();
    app.login(&client, "alice", PASSWORD).await; // 1 of 3
    let expires = || {
        let mut conn = app.db.conn();
        let alice = stored_user(&app, "alice");
        use trader_server::clock::Clock;
        trader_db::sessions::list_for_user(&mut conn, alice.id, app.clock.now())
            .unwrap()
            .iter()
            .map(|s| s.expires_at)
            .max()
            .unwrap()
    };
    assert_eq!(
        app.get(&client, "/api/auth/me").await.status(),
        StatusCode::OK
    ); // 2
    assert_eq!(
        app.get(&client, "/api/auth/me").await.status(),
        StatusCode::OK
    ); // 3
    let before = expires();
    app.clock.advance(chrono::Duration::minutes(5));
    let refused = app.get(&client, "/api/auth/me").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        expires(),
        before,
        "the refused request extended the session"
    );
}

/// Item 8: two admins demoting each other at once never leave no admin.
async fn two_admins_demoting_each_other_leave_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("ann", Role::Admin);
    app.create_user("ben", Role::Admin);
    let ann = app.client();
    let ben = app.client();
    let ann_csrf = enable_2fa(&app, &ann, "ann").await.0;
    let ben_csrf = enable_2fa(&app, &ben, "ben").await.0;
    let ann_id = stored_user(&app, "ann").id.0;
    let ben_id = stored_user(&app, "ben").id.0;
    let (ben_path, ann_path) = (
        format!("/api/admin/users/{ben_id}"),
        format!("/api/admin/users/{ann_id}"),
    );
    for round in 0..8 {
        let (a, b) = tokio::join!(
            app.send(
                &ann,
                Method::PATCH,
                &ben_path,
                Some(json!({"role": "user"})),
                Some(&ann_csrf)
            ),
            app.send(
                &ben,
                Method::PATCH,
                &ann_path,
                Some(json!({"role": "user"})),
                Some(&ben_csrf)
            ),
        );
        let mut conn = app.db.conn();
        let admins = trader_db::users::count_active_admins(&mut conn).unwrap();
        assert_eq!(
            admins,
            1,
            "round {round}: {} and {}",
            a.status(),
            b.status()
        );
        // Put both back for the next round.
        for id in [ann_id, ben_id] {
            trader_db::users::update_user(
                &mut conn,
                trader_api_types::UserId(id),
                &trader_db::users::UserChanges {
                    role: Some(Role::Admin),
                    ..Default::default()
                },
            )
            .unwrap();
        }
    }
}

/// Item 5: in production, X-Forwarded-For from a peer that is not trusted
/// is ignored and logged once, naming the setting to change.
async fn untrusted_forwarding_is_logged_once_in_production(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.app_env = trader_server::settings::AppEnv::Production;
    })
    .await;
    for _ in 0..3 {
        let res = reqwest::Client::new()
            .get(app.url("/api/auth/setup-status"))
            .header("X-Forwarded-For", "198.51.100.1")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let log = app.log_text();
    let warnings = log
        .lines()
        .filter(|l| l.contains("sent X-Forwarded-For") && l.contains("TRUSTED_PROXIES"))
        .count();
    assert_eq!(warnings, 1, "{log}");
}

crate::api_tests!(
    fifty_networks_get_at_most_ten_wrong_codes,
    parallel_wrong_codes_get_no_extra_guesses,
    the_hourly_ceiling_spares_a_known_browser,
    signed_in_checks_obey_the_lock_and_end_the_session,
    a_stolen_session_gets_five_guesses_in_parallel,
    parallel_sign_ins_of_one_account_all_succeed,
    factor_endpoints_are_under_the_strict_limit,
    admin_changes_need_a_fresh_confirmation,
    half_finished_logins_end_with_a_password_change,
    log_out_everywhere_ends_pending_logins,
    enabling_2fa_is_confirmed_and_happens_once,
    audit_keeps_no_typed_username,
    the_setup_token_works_on_every_instance,
    a_refused_request_costs_no_session_work,
    two_admins_demoting_each_other_leave_one,
);

// The warning is logged once per process, so this runs on one backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_forwarding_warning() {
    untrusted_forwarding_is_logged_once_in_production(Backend::Sqlite).await;
}
