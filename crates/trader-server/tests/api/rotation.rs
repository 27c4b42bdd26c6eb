//! `rotate-key` (the real command, a separate process) while this server
//! runs with the new key as ENCRYPTION_KEY and the old one in
//! ENCRYPTION_KEYS_OLD: sign-in with 2FA and account calls keep working
//! throughout, a user's changes made meanwhile are kept, and afterwards the
//! new key alone opens every value.

use std::process::{Command, Stdio};
use std::time::Duration;

use alpaca_sim::Mode;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;
use trader_db::sealed::SealedColumn;
use trader_security::{EncryptionKey, KeyRing};

use crate::sealed_seed::{self, Seeded};
use crate::support::{PASSWORD, TestApp};
use crate::two_factor::totp;

const ACCOUNTS: usize = 30;

fn wednesday_10am() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2024-07-10T14:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Password, then the TOTP code of the app's clock (advanced a step, so
/// each sign-in has a fresh code); answers the CSRF token.
async fn sign_in_with_2fa(app: &TestApp, client: &Client, secret: &str) -> String {
    let res = app
        .post(
            client,
            "/api/auth/login",
            json!({"username": "alice", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"two_factor_required": true})
    );
    app.clock.advance(chrono::Duration::seconds(30));
    let code = totp(secret, app.clock_now());
    app.secret(code.clone());
    let res = app
        .post(client, "/api/auth/verify-2fa", json!({"code": code}), None)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.secret(csrf.clone());
    csrf
}

/// The account calls a user makes: the broker account of the active
/// trading account (its keys opened), and the list of accounts.
async fn account_calls(app: &TestApp, client: &Client, csrf: &str) {
    let res = app
        .send(client, Method::GET, "/api/account", None, Some(csrf))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let res = app
        .send(client, Method::GET, "/api/accounts", None, Some(csrf))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Value = res.json().await.unwrap();
    assert!(list["accounts"].as_array().unwrap().len() >= ACCOUNTS);
}

async fn sign_in_with_2fa_and_account_calls_work_while_rotate_key_runs(backend: Backend) {
    let sim = crate::support::pinned_sim(wednesday_10am(), Mode::Paper).await;
    let old_key = trader_security::generate_encryption_key();
    let new_key = trader_security::generate_encryption_key();
    let sim_url = sim.base_url();
    let (old_b64, new_b64) = (old_key.clone(), new_key.clone());
    let app = TestApp::spawn_with(backend, move |s| {
        s.encryption_key = EncryptionKey::from_base64(&new_b64).unwrap();
        s.encryption_keys_old = vec![EncryptionKey::from_base64(&old_b64).unwrap()];
        s.broker_urls.sim = Some(sim_url);
    })
    .await;
    let new_id = EncryptionKey::from_base64(&new_key).unwrap().key_id();

    // Alice's TOTP secret and trading accounts, sealed before the restart
    // under the old key.
    let old = KeyRing::new(EncryptionKey::from_base64(&old_key).unwrap(), vec![]);
    let alice = app.create_user("alice", Role::User);
    let mut seeded = Seeded::default();
    let mut ids = Vec::new();
    let secret = {
        let mut conn = app.db.conn();
        let secret = sealed_seed::totp(&mut conn, &old, alice, true, &mut seeded);
        for i in 0..ACCOUNTS {
            let (key, sec) = (
                format!("PKROTATEAPI{i:09}"),
                format!("rotate-api-secret-{i:09}"),
            );
            app.secret(key.clone());
            app.secret(sec.clone());
            ids.push(sealed_seed::account(
                &mut conn,
                &old,
                alice,
                &format!("sim {i}"),
                "sim",
                (&key, &sec),
                &mut seeded,
            ));
        }
        secret
    };
    for plain in seeded.plaintexts() {
        app.secret(plain);
    }
    let total = seeded.0.len();

    let cwd = tempfile::tempdir().unwrap();
    let mut rotate = Command::new(env!("CARGO_BIN_EXE_alpaca-trader"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(cwd.path())
        .args(["rotate-key", "--batch-size", "5"])
        .env("DATABASE_URL", app.db.url_string())
        .env("SECRET_KEY", trader_security::generate_secret_key())
        .env("ENCRYPTION_KEY", &new_key)
        .env("ENCRYPTION_KEYS_OLD", &old_key)
        .env("ALPACA_TRADER_TEST_ROTATE_DELAY_MS", "100")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut rounds = 0;
    let mut rounds_halfway = 0;
    let (replaced_key, replaced_secret) = ("PKREPLACEDKEY0000001", "replaced-secret-000000001");
    app.secret(replaced_key);
    app.secret(replaced_secret);
    loop {
        let running = rotate.try_wait().unwrap().is_none();
        let done = sealed_seed::count_under(&mut app.db.conn(), &new_id);
        if !running {
            break;
        }
        if done > 0 && done < total {
            rounds_halfway += 1;
        }
        let client = app.client();
        let csrf = sign_in_with_2fa(&app, &client, &secret).await;
        account_calls(&app, &client, &csrf).await;
        if rounds == 0 {
            // The user replaces the keys of an account meanwhile: rotation
            // must not put the old ones back.
            let last = *ids.last().unwrap();
            let res = app
                .send(
                    &client,
                    Method::PUT,
                    &format!("/api/accounts/{last}"),
                    Some(json!({"key_id": replaced_key, "secret_key": replaced_secret})),
                    Some(&csrf),
                )
                .await;
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "{}",
                res.text().await.unwrap()
            );
            seeded
                .0
                .insert((SealedColumn::AccountKeyId, last), replaced_key.to_owned());
            seeded.0.insert(
                (SealedColumn::AccountSecretKey, last),
                replaced_secret.to_owned(),
            );
        }
        if rounds == 1 {
            // And adds one.
            let res = app
                .post(
                    &client,
                    "/api/accounts",
                    json!({"name": "added meanwhile", "environment": "sim", "key_id": "PKADDEDMEANWHILE0001", "secret_key": "added-secret-0000001"}),
                    Some(&csrf),
                )
                .await;
            assert_eq!(res.status(), StatusCode::CREATED);
            let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
            seeded.0.insert(
                (SealedColumn::AccountKeyId, id),
                "PKADDEDMEANWHILE0001".to_owned(),
            );
            seeded.0.insert(
                (SealedColumn::AccountSecretKey, id),
                "added-secret-0000001".to_owned(),
            );
        }
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = rotate.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        rounds_halfway >= 2,
        "sign-ins while rotation was halfway: {rounds_halfway} of {rounds}"
    );

    // The new key alone opens everything, the replaced keys included.
    sealed_seed::assert_all_open_with(
        &mut app.db.conn(),
        &KeyRing::new(EncryptionKey::from_base64(&new_key).unwrap(), vec![]),
        &seeded,
    );
    // And it still works.
    let client = app.client();
    let csrf = sign_in_with_2fa(&app, &client, &secret).await;
    account_calls(&app, &client, &csrf).await;
}

/// SECRET_KEY changes (the old one in SECRET_KEYS_OLD): every session and
/// token signed with the old key ends, recovery codes made under it keep
/// working; without SECRET_KEYS_OLD they do not.
async fn a_new_secret_key_ends_sessions_and_tokens_and_old_keys_keep_recovery_codes(
    backend: Backend,
) {
    use trader_security::{SecretKey, SecretString};
    let old_secret =
        SecretKey::new(SecretString::from(trader_security::generate_secret_key())).unwrap();
    let new_secret =
        SecretKey::new(SecretString::from(trader_security::generate_secret_key())).unwrap();
    let before = old_secret.clone();
    let app = TestApp::spawn_with(backend, move |s| s.secret_key = before).await;
    app.create_user("alice", Role::User);
    let browser = app.client();
    let (csrf, _secret, recovery) = crate::two_factor::enable_2fa(&app, &browser, "alice").await;
    let (_, token) = app.create_token(&browser, &csrf, "read").await;

    // The servers restart with a new SECRET_KEY, the old one kept in
    // SECRET_KEYS_OLD.
    let (old, new) = (old_secret.clone(), new_secret.clone());
    let (rotated, handle, _dir, _) = app
        .second_instance_with(move |s| {
            s.secret_key = new;
            s.secret_keys_old = vec![old];
        })
        .await;
    let new_only = new_secret.clone();
    let (without_old, handle_2, _dir_2, _) = app
        .second_instance_with(move |s| s.secret_key = new_only)
        .await;

    // The session cookie and the bearer token are signed with the old key.
    let me = browser
        .get(format!("{rotated}/api/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let by_token = Client::new()
        .get(format!("{rotated}/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(by_token.status(), StatusCode::UNAUTHORIZED);

    // A recovery code made under the old key signs in (password first).
    let recover = |base: String, code: String| async move {
        let client = Client::builder().cookie_store(true).build().unwrap();
        let res = client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"username": "alice", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        client
            .post(format!("{base}/api/auth/verify-2fa"))
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        recover(without_old.clone(), recovery[0].clone()).await,
        StatusCode::UNAUTHORIZED,
        "without SECRET_KEYS_OLD the old codes do not verify"
    );
    assert_eq!(
        recover(rotated.clone(), recovery[1].clone()).await,
        StatusCode::OK,
        "with SECRET_KEYS_OLD they do"
    );
    drop(handle.stop(false));
    drop(handle_2.stop(false));
}

crate::api_tests!(
    sign_in_with_2fa_and_account_calls_work_while_rotate_key_runs,
    a_new_secret_key_ends_sessions_and_tokens_and_old_keys_keep_recovery_codes,
);
