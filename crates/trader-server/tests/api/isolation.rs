use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp, error_code};
use crate::two_factor::login_and_enable_2fa;

async fn users_never_see_each_others_sessions_tokens_or_audit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    app.create_user("bob", Role::User);
    let alice = app.client();
    let bob = app.client();
    let a_csrf = app.login(&alice, "alice", PASSWORD).await;
    let b_csrf = app.login(&bob, "bob", PASSWORD).await;
    let (a_token_id, _) = app.create_token(&alice, &a_csrf, "read").await;
    let a_sessions: Value = app.get(&alice, "/api/sessions").await.json().await.unwrap();
    let a_session_id = a_sessions["sessions"][0]["id"].as_i64().unwrap();

    let b_tokens: Value = app.get(&bob, "/api/tokens").await.json().await.unwrap();
    assert_eq!(b_tokens["tokens"], json!([]));
    let b_sessions: Value = app.get(&bob, "/api/sessions").await.json().await.unwrap();
    assert!(
        b_sessions["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != a_session_id)
    );
    let b_audit: Value = app.get(&bob, "/api/audit").await.json().await.unwrap();
    assert!(
        b_audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["username"] == "bob"),
        "{b_audit}"
    );

    let del_token = app
        .send(
            &bob,
            Method::DELETE,
            &format!("/api/tokens/{a_token_id}"),
            None,
            Some(&b_csrf),
        )
        .await;
    assert_eq!(
        error_code(del_token).await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );
    let del_session = app
        .send(
            &bob,
            Method::DELETE,
            &format!("/api/sessions/{a_session_id}"),
            None,
            Some(&b_csrf),
        )
        .await;
    assert_eq!(del_session.status(), StatusCode::NOT_FOUND);
    // Alice's things are untouched.
    assert_eq!(
        app.get(&alice, "/api/auth/me").await.status(),
        StatusCode::OK
    );
    let a_tokens: Value = app.get(&alice, "/api/tokens").await.json().await.unwrap();
    assert_eq!(a_tokens["tokens"].as_array().unwrap().len(), 1);
    // A path id that is not a number is simply not found.
    let odd = app
        .send(&bob, Method::DELETE, "/api/tokens/abc", None, Some(&b_csrf))
        .await;
    assert_eq!(odd.status(), StatusCode::NOT_FOUND);
}

async fn admin_routes_need_an_admin_with_2fa_and_keep_the_last_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register_admin("root").await;
    let bob_id = app.create_user("bob", Role::User);
    let bob = app.client();
    app.login(&bob, "bob", PASSWORD).await;
    let denied = app.get(&bob, "/api/admin/users").await;
    assert_eq!(
        error_code(denied).await,
        (StatusCode::FORBIDDEN, "forbidden".to_owned())
    );

    let admin = app.client();
    let csrf = app.login(&admin, "root", PASSWORD).await;
    let no_2fa = app.get(&admin, "/api/admin/users").await;
    let (status, code) = error_code(no_2fa).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "two_factor_setup_required")
    );
    app.send(&admin, Method::POST, "/api/auth/logout", None, Some(&csrf))
        .await;

    let csrf = login_and_enable_2fa(&app, &admin, "root").await;
    let list: Value = app
        .get(&admin, "/api/admin/users")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["users"].as_array().unwrap().len(), 2);
    let root_id = list["users"][0]["id"].as_i64().unwrap();

    // The last admin cannot be demoted, deactivated or deleted.
    for (method, body) in [
        (Method::PATCH, Some(json!({"role": "user"}))),
        (Method::PATCH, Some(json!({"active": false}))),
        (Method::DELETE, None),
    ] {
        let res = app
            .send(
                &admin,
                method.clone(),
                &format!("/api/admin/users/{root_id}"),
                body,
                Some(&csrf),
            )
            .await;
        assert_eq!(
            error_code(res).await,
            (StatusCode::CONFLICT, "conflict".to_owned()),
            "{method}"
        );
    }

    // Create a user with a temporary password; deactivate bob (his session
    // ends); promote and delete.
    let created = app
        .post(
            &admin,
            "/api/admin/users",
            json!({"username": "carol", "email": "carol@example.com"}),
            Some(&csrf),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    app.secret(created["temporary_password"].as_str().unwrap());
    assert_eq!(created["user"]["must_change_password"], true);
    let off = app
        .send(
            &admin,
            Method::PATCH,
            &format!("/api/admin/users/{bob_id}"),
            Some(json!({"active": false})),
            Some(&csrf),
        )
        .await;
    assert_eq!(off.status(), StatusCode::OK);
    assert_eq!(
        app.get(&bob, "/api/auth/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let up = app
        .send(
            &admin,
            Method::PATCH,
            &format!("/api/admin/users/{bob_id}"),
            Some(json!({"role": "admin", "active": true})),
            Some(&csrf),
        )
        .await;
    assert_eq!(up.status(), StatusCode::OK);
    let gone = app
        .send(
            &admin,
            Method::DELETE,
            &format!("/api/admin/users/{bob_id}"),
            None,
            Some(&csrf),
        )
        .await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let missing = app
        .send(
            &admin,
            Method::DELETE,
            &format!("/api/admin/users/{bob_id}"),
            None,
            Some(&csrf),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // The audit log keeps bob's entries after he is gone.
    let audit: Value = app
        .get(&admin, "/api/admin/audit?limit=200")
        .await
        .json()
        .await
        .unwrap();
    let events: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "admin_user_created",
        "admin_user_updated",
        "admin_user_deleted",
        "login_succeeded",
    ] {
        assert!(events.contains(&expected), "{expected} in {events:?}");
    }
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["username"] == "bob" && e["event"] == "login_succeeded")
    );
    let reset = app
        .send(
            &admin,
            Method::POST,
            "/api/admin/users/9999/reset-2fa",
            None,
            Some(&csrf),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NOT_FOUND);
}

crate::api_tests!(
    users_never_see_each_others_sessions_tokens_or_audit,
    admin_routes_need_an_admin_with_2fa_and_keep_the_last_admin,
);
