use reqwest::StatusCode;
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp, error_code};

async fn bad_input_of_every_kind_answers_in_the_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("alice", Role::User);
    let client = reqwest::Client::new();
    let url = app.url("/api/auth/login");
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"username\":"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "wrong type",
            client
                .post(&url)
                .json(&json!({"username": 5, "password": "x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "missing field",
            client.post(&url).json(&json!({"username": "alice"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "unknown field",
            client
                .post(&url)
                .json(&json!({"username": "a", "password": "b", "admin": true})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "not JSON",
            client
                .post(&url)
                .header("content-type", "text/plain")
                .body("username=alice"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "no content type",
            client.post(&url).body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "too large",
            client
                .post(&url)
                .header("content-type", "application/json")
                .body(format!("{{\"username\":\"{}\"}}", "a".repeat(70 * 1024))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "unknown route",
            client.get(app.url("/api/no/such/thing")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong method",
            client.get(&url),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "wrong method with id",
            client.put(app.url("/api/tokens/3")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (what, req, status, code) in cases {
        let res = req.send().await.unwrap();
        assert_eq!(res.headers()["cache-control"], "no-store", "{what}");
        assert!(res.headers().contains_key("x-request-id"), "{what}");
        assert_eq!(error_code(res).await, (status, code.to_owned()), "{what}");
    }
    // The missing field is named.
    let res = client
        .post(&url)
        .json(&json!({"username": "alice"}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["fields"]["password"], "is required");
    // A wrong-typed value is not echoed back.
    let res = client
        .post(&url)
        .json(&json!({"username": "alice", "password": 12345678901234_i64}))
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert!(!text.contains("12345678901234"), "{text}");
    // A bad query string, from a signed-in user.
    let browser = app.client();
    app.login(&browser, "alice", PASSWORD).await;
    let res = app.get(&browser, "/api/audit?limit=lots").await;
    assert_eq!(
        error_code(res).await,
        (StatusCode::BAD_REQUEST, "bad_request".to_owned())
    );
    let res = app.get(&browser, "/api/audit?limit=0").await;
    assert_eq!(
        error_code(res).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed".to_owned()
        )
    );
    // 405 says what is allowed.
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.headers()["allow"], "POST");
}

async fn security_headers_are_on_every_response(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/",
        "/api/auth/setup-status",
        "/api/auth/me",
        "/docs/",
        "/healthz",
        "/api/openapi.json",
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(
            csp.contains("object-src 'none'") && csp.contains("base-uri 'self'"),
            "{path}: {csp}"
        );
        if path != "/docs/" {
            assert!(
                csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
                "{path}: {csp}"
            );
        }
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin", "{path}");
        assert!(h.contains_key("permissions-policy"), "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
        assert!(
            !h.contains_key("strict-transport-security"),
            "plain http: no HSTS"
        );
    }
    let docs = client.get(app.url("/docs")).send().await.unwrap();
    assert!(docs.status().is_redirection());
    assert_eq!(docs.headers()["location"], "/docs/");
}

async fn hsts_behind_a_tls_proxy(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.tls = true).await;
    let res = reqwest::get(app.url("/healthz")).await.unwrap();
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
}

async fn swagger_ui_uses_only_local_assets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = reqwest::get(app.url("/docs/")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            let target = piece.split('"').next().unwrap();
            assert!(
                !target.contains("://") && !target.starts_with("//"),
                "remote asset {target}"
            );
            let url = if target.starts_with('/') {
                app.url(target)
            } else {
                app.url(&format!("/docs/{target}"))
            };
            let res = reqwest::get(&url).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{url}");
        }
    }
    let init = reqwest::get(app.url("/docs/swagger-initializer.js"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/api/openapi.json"), "{init}");
    let doc: Value = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/auth/login"]["post"].is_object());
}

crate::api_tests!(
    bad_input_of_every_kind_answers_in_the_envelope,
    security_headers_are_on_every_response,
    hsts_behind_a_tls_proxy,
    swagger_ui_uses_only_local_assets,
);
