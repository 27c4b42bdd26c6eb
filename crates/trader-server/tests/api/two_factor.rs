use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp, error_code};

/// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), written here independently of
/// the server's implementation.
pub fn totp(secret_base32: &str, unix: i64) -> String {
    use hmac::{Hmac, Mac};
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_base32.trim_end_matches('=').as_bytes())
        .unwrap();
    let counter = u64::try_from(unix / 30).unwrap();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", bin % 1_000_000)
}

/// The code for the app's clock now, registered as a secret.
pub fn code_now(app: &TestApp, secret: &str) -> String {
    let code = totp(secret, app.clock_now());
    app.secret(code.clone());
    code
}

impl TestApp {
    pub fn clock_now(&self) -> i64 {
        use trader_server::clock::Clock;
        self.clock.now().timestamp()
    }
}

/// Signs `username` in, turns 2FA on; answers `(csrf, secret, recovery codes)`.
pub async fn enable_2fa(
    app: &TestApp,
    client: &Client,
    username: &str,
) -> (String, String, Vec<String>) {
    let csrf = app.login(client, username, PASSWORD).await;
    let setup: Value = app
        .send(client, Method::POST, "/api/2fa/setup", None, Some(&csrf))
        .await
        .json()
        .await
        .unwrap();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    app.secret(secret.clone());
    assert!(
        setup["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/alpaca-trader:")
    );
    assert!(
        setup["otpauth_uri"]
            .as_str()
            .unwrap()
            .contains("issuer=alpaca-trader")
    );
    let code = code_now(app, &secret);
    let res = app
        .post(
            client,
            "/api/2fa/enable",
            json!({"code": code}),
            Some(&csrf),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let codes: Vec<String> = res.json::<Value>().await.unwrap()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    for c in &codes {
        app.secret(c.clone());
    }
    // The next code must come from a later step.
    app.clock.advance(chrono::Duration::seconds(30));
    (csrf, secret, codes)
}

/// For admin tests: sign in and turn 2FA on; answers the CSRF token.
pub async fn login_and_enable_2fa(app: &TestApp, client: &Client, username: &str) -> String {
    enable_2fa(app, client, username).await.0
}

async fn two_factor_sign_in_replay_and_recovery_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_user("alice", Role::User);
    let client = app.client();
    let (csrf, secret, recovery) = enable_2fa(&app, &client, "alice").await;
    assert_eq!(recovery.len(), 10);
    let me: Value = app.get(&client, "/api/auth/me").await.json().await.unwrap();
    assert_eq!(
        me["user"]["two_factor_enabled"], true,
        "this session goes on after enabling"
    );
    app.send(&client, Method::POST, "/api/auth/logout", None, Some(&csrf))
        .await;

    let login = |c: Client| {
        let app = &app;
        async move {
            let res = app
                .post(
                    &c,
                    "/api/auth/login",
                    json!({"username": "alice", "password": PASSWORD}),
                    None,
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let body: Value = res.json().await.unwrap();
            assert_eq!(body, json!({"two_factor_required": true}));
            c
        }
    };
    let client = login(app.client()).await;
    // Pending is not signed in.
    assert_eq!(
        app.get(&client, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong_code = if code_now(&app, &secret) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let wrong = app
        .post(
            &client,
            "/api/auth/verify-2fa",
            json!({"code": wrong_code}),
            None,
        )
        .await;
    assert_eq!(
        error_code(wrong).await,
        (StatusCode::UNAUTHORIZED, "invalid_credentials".to_owned())
    );
    let code = code_now(&app, &secret);
    let ok = app
        .post(&client, "/api/auth/verify-2fa", json!({"code": code}), None)
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["user"]["username"], "alice");
    app.secret(body["csrf_token"].as_str().unwrap());
    assert_eq!(
        app.get(&client, "/api/auth/me").await.status(),
        StatusCode::OK
    );

    // The same code again (same step) is a replay.
    let other = login(app.client()).await;
    let replay = app
        .post(&other, "/api/auth/verify-2fa", json!({"code": code}), None)
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);

    // A recovery code works, once.
    let ok = app
        .post(
            &other,
            "/api/auth/verify-2fa",
            json!({"code": recovery[0]}),
            None,
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    app.secret(
        ok.json::<Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap(),
    );
    let third = login(app.client()).await;
    let used = app
        .post(
            &third,
            "/api/auth/verify-2fa",
            json!({"code": recovery[0]}),
            None,
        )
        .await;
    assert_eq!(used.status(), StatusCode::UNAUTHORIZED);
    // Typed in upper case without the dash, another code works.
    let typed = recovery[1].replace('-', "").to_uppercase();
    app.secret(typed.clone());
    let ok = app
        .post(&third, "/api/auth/verify-2fa", json!({"code": typed}), None)
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    app.secret(
        ok.json::<Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap(),
    );

    let events = app.audit_events(Some(id));
    assert!(
        events.contains(&"two_factor_enabled".to_owned()),
        "{events:?}"
    );
    assert!(
        events.contains(&"two_factor_failed".to_owned()),
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "recovery_code_used").count(),
        2,
        "{events:?}"
    );
}

async fn the_sixth_wrong_code_ends_the_pending_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let (csrf, secret, _) = enable_2fa(&app, &client, "alice").await;
    app.send(&client, Method::POST, "/api/auth/logout", None, Some(&csrf))
        .await;

    let (browser, jar) = app.browser();
    let res = app
        .post(
            &browser,
            "/api/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let pending_cookie = app.cookies(&jar);
    let good = code_now(&app, &secret);
    let bad = if good == "123456" { "654321" } else { "123456" };
    for attempt in 1..=5 {
        let r = app
            .post(&browser, "/api/auth/verify-2fa", json!({"code": bad}), None)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // The sixth try, even with the right code, finds the login ended.
    let sixth = app
        .post(
            &browser,
            "/api/auth/verify-2fa",
            json!({"code": good}),
            None,
        )
        .await;
    assert_eq!(sixth.status(), StatusCode::UNAUTHORIZED);
    let body: Value = sixth.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in"),
        "{body}"
    );
    // Replaying the cookie from the pending login gets no more tries.
    let replay = app
        .with_cookie(
            Method::POST,
            "/api/auth/verify-2fa",
            &pending_cookie,
            None,
            Some(json!({"code": good})),
        )
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get(&browser, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn disabling_needs_a_code_and_a_recent_confirmation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = app.client();
    let (csrf, secret, _) = enable_2fa(&app, &client, "alice").await;
    // The QR code of a pending secret is a PNG; with none pending, 404.
    let qr = app.get(&client, "/api/2fa/qrcode").await;
    assert_eq!(qr.status(), StatusCode::NOT_FOUND);

    app.clock.advance(chrono::Duration::minutes(11));
    let code = code_now(&app, &secret);
    let late = app
        .post(
            &client,
            "/api/2fa/disable",
            json!({"code": code}),
            Some(&csrf),
        )
        .await;
    assert_eq!(
        error_code(late).await,
        (StatusCode::FORBIDDEN, "reauth_required".to_owned())
    );
    let re = app
        .post(
            &client,
            "/api/auth/reauth",
            json!({"code": code}),
            Some(&csrf),
        )
        .await;
    assert_eq!(re.status(), StatusCode::OK);
    app.clock.advance(chrono::Duration::seconds(30));
    let code = code_now(&app, &secret);
    let off = app
        .post(
            &client,
            "/api/2fa/disable",
            json!({"code": code}),
            Some(&csrf),
        )
        .await;
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    let me: Value = app.get(&client, "/api/auth/me").await.json().await.unwrap();
    assert_eq!(me["user"]["two_factor_enabled"], false);
}

async fn setup_gives_a_qr_code_png(backend: Backend) {
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
    app.secret(setup["secret"].as_str().unwrap());
    let qr = app.get(&client, "/api/2fa/qrcode").await;
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/png");
    let bytes = qr.bytes().await.unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

crate::api_tests!(
    two_factor_sign_in_replay_and_recovery_codes,
    the_sixth_wrong_code_ends_the_pending_login,
    disabling_needs_a_code_and_a_recent_confirmation,
    setup_gives_a_qr_code_png,
);
