//! What `serve` logs, as a log collector reads it.

use crate::serve::Server;
use crate::support::alpaca_trader;

/// LOG_FORMAT=json: every line on stderr is one JSON object; a request's
/// lines carry its id (the X-Request-Id the client got); no key, password,
/// token or query string shows up.
#[tokio::test]
async fn json_logs_carry_the_request_id_and_no_secret() {
    let secret_key = trader_security::generate_secret_key();
    let encryption_key = trader_security::generate_encryption_key();
    let password = "a-password-that-must-never-be-logged";
    let token = "not-a-real-token-but-never-logged";
    let query = "query-value-never-logged";

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        alpaca_trader(dir.path())
            .args(["serve", "--port", "0", "--workers", "1", "--no-scheduler"])
            .env("APP_ENV", "production")
            .env("LOG_FORMAT", "json")
            .env("SECRET_KEY", &secret_key)
            .env("ENCRYPTION_KEY", &encryption_key),
    );
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz?token={query}", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let request_id = health.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let login = client
        .post(format!("{}/api/auth/login", server.base_url))
        .json(&serde_json::json!({"username": "nobody", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401);
    let me = client
        .get(format!("{}/api/auth/me", server.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let log = server.stop();

    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["message"].is_string())
    );
    let finished = lines
        .iter()
        .find(|l| l["message"] == "request finished" && l["span"]["path"] == "/healthz")
        .unwrap_or_else(|| panic!("no access-log line for /healthz in:\n{log}"));
    assert_eq!(
        finished["span"]["request_id"],
        request_id.as_str(),
        "{finished}"
    );
    assert_eq!(finished["span"]["method"], "GET");
    assert_eq!(finished["status"], 200);
    // Each request's lines carry their own id.
    let ids: std::collections::HashSet<&str> = lines
        .iter()
        .filter(|l| l["message"] == "request finished")
        .filter_map(|l| l["span"]["request_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3, "{log}");

    for secret in [
        secret_key.as_str(),
        encryption_key.as_str(),
        password,
        token,
        query,
    ] {
        assert!(!log.contains(secret), "`{secret}` is in the log:\n{log}");
    }
}

/// Without LOG_FORMAT, development logs readable text; an unknown format
/// is a usage error.
#[test]
fn log_format_defaults_to_text_in_development_and_refuses_unknown_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        alpaca_trader(dir.path())
            .args(["serve", "--port", "0", "--workers", "1", "--no-demo"])
            .env("APP_ENV", "development"),
    );
    let log = server.stop();
    assert!(log.contains("listening"), "{log}");
    assert!(
        log.lines().all(|l| !l.trim_start().starts_with('{')),
        "{log}"
    );

    let out = alpaca_trader(dir.path())
        .args(["serve", "--port", "0"])
        .env("APP_ENV", "development")
        .env("LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
