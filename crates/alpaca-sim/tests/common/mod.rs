//! Helpers shared by the integration tests: a simulator on port 0 with a
//! pinned clock, and a plain HTTP client that sends Alpaca's key headers.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "shared test helpers: each test binary uses a part, and a failed step should panic"
)]

use alpaca_sim::{ClockMode, SimConfig, SimHandle, Simulator};
use chrono::{DateTime, Utc};
use serde_json::Value;

pub const KEY: &str = "PKTEST0000000000001";
pub const SECRET: &str = "secret-one";

/// 2024-07-10 (a Wednesday) 10:00 New York, in the middle of a session.
pub fn wednesday_10am() -> DateTime<Utc> {
    t("2024-07-10T14:00:00Z")
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub async fn start_at(at: DateTime<Utc>) -> SimHandle {
    start_with(SimConfig {
        clock: ClockMode::Fixed(at),
        ..SimConfig::default()
    })
    .await
}

pub async fn start_with(config: SimConfig) -> SimHandle {
    Simulator::start(config, "127.0.0.1:0").await.unwrap()
}

pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub key: String,
    pub secret: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

impl Client {
    pub fn new(sim: &SimHandle) -> Client {
        Client::with_keys(sim, KEY, SECRET)
    }

    pub fn with_keys(sim: &SimHandle, key: &str, secret: &str) -> Client {
        Client {
            base: sim.base_url(),
            http: reqwest::Client::new(),
            key: key.to_string(),
            secret: secret.to_string(),
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let res = rb
            .header("APCA-API-KEY-ID", &self.key)
            .header("APCA-API-SECRET-KEY", &self.secret)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let raw = res.text().await.unwrap();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or(Value::Null)
        };
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{}", self.base, path)))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(format!("{}{}", self.base, path)))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.post(format!("{}{}", self.base, path)).json(&body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(
            self.http
                .patch(format!("{}{}", self.base, path))
                .json(&body),
        )
        .await
    }

    /// POSTs a raw body with a JSON content type.
    pub async fn send_raw(&self, path: &str, body: &str) -> Resp {
        self.send(
            self.http
                .post(format!("{}{}", self.base, path))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// Submits an order and asserts 200.
    pub async fn order(&self, body: Value) -> Value {
        let r = self.post("/v2/orders", body).await;
        assert_eq!(r.status, 200, "{}", r.raw);
        r.body
    }
}

/// A decimal-string field as f64.
pub fn num(v: &Value) -> f64 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .parse()
        .unwrap()
}
