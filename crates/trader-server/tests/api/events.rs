//! Issue 13: `GET /api/events`, each user's live updates as Server-Sent
//! Events, read over real HTTP as a browser's EventSource would.

use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use trader_api_types::Role;
use trader_db::Backend;

use crate::support::{PASSWORD, TestApp, error_code};

/// One parsed SSE message.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
}

/// An open stream, read message by message.
pub(crate) struct Stream {
    res: Response,
    buf: String,
    heartbeats: usize,
}

impl Stream {
    pub(crate) async fn open(client: &Client, url: String, last_id: Option<i64>) -> Self {
        let mut req = client.get(url);
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let headers = res.headers();
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(headers["x-accel-buffering"], "no");
        assert_eq!(headers["cache-control"], "no-store");
        Self {
            res,
            buf: String::new(),
            heartbeats: 0,
        }
    }

    /// The next message with an event name, or None when the stream ended
    /// or `wait` passed.
    pub(crate) async fn next(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, None);
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.heartbeats += 1;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let Some(event) = event {
                    return Some(Message {
                        id,
                        event,
                        data: data.unwrap_or(Value::Null),
                    });
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Whether the server ended the stream within `wait`.
    async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Records an event for `user` as any instance would.
fn publish(app: &TestApp, user: trader_api_types::UserId, kind: &str, payload: Value) {
    let mut conn = app.db.conn();
    trader_db::events::insert(
        &mut conn,
        &trader_db::events::NewEvent {
            user_id: user,
            kind,
            payload: &payload.to_string(),
            dedupe: None,
            at: chrono::Utc::now(),
        },
    )
    .unwrap();
}

fn fast(s: &mut trader_server::Settings) {
    s.event_timings = trader_server::services::events::Timings {
        recheck: Duration::from_millis(300),
        heartbeat: Duration::from_millis(200),
        order_poll: Duration::from_millis(300),
    };
}

async fn user_b_never_sees_user_as_events(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    let alice = app.create_user("alice", Role::User);
    let bob = app.create_user("bob", Role::User);
    let (a, b) = (app.client(), app.client());
    app.login(&a, "alice", PASSWORD).await;
    app.login(&b, "bob", PASSWORD).await;
    let mut a_stream = Stream::open(&a, app.url("/api/events"), None).await;
    let mut b_stream = Stream::open(&b, app.url("/api/events"), None).await;
    // Let both streams subscribe before anything happens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..20 {
        publish(
            &app,
            alice,
            "signals",
            json!({"secret_of": "alice", "n": i}),
        );
    }
    publish(&app, bob, "signals", json!({"mine": "bob"}));
    for i in 0..5 {
        publish(&app, alice, "order", json!({"secret_of": "alice", "n": i}));
    }
    publish(
        &app,
        bob,
        "scheduler_pass",
        json!({"mine": "bob", "last": true}),
    );

    let mut seen = Vec::new();
    while let Some(m) = b_stream.next(Duration::from_secs(5)).await {
        assert_ne!(m.data["secret_of"], "alice", "bob saw {m:?}");
        let last = m.data["last"] == true;
        seen.push(m);
        if last {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|m| m.data["mine"] == "bob"));
    assert!(seen[0].id < seen[1].id);
    // Alice gets hers, in order.
    let mut n = 0;
    while n < 25 {
        let m = a_stream.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(m.data["secret_of"], "alice");
        n += 1;
    }
}

/// A page that reconnects with Last-Event-ID gets what it missed, and only
/// its own.
async fn a_reconnect_gets_what_it_missed(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    let alice = app.create_user("alice", Role::User);
    let bob = app.create_user("bob", Role::User);
    let a = app.client();
    app.login(&a, "alice", PASSWORD).await;
    let mut stream = Stream::open(&a, app.url("/api/events"), None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish(&app, alice, "signals", json!({"n": 1}));
    let first = stream.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.data["n"], 1);
    drop(stream);
    // Missed while away.
    publish(&app, alice, "signals", json!({"n": 2}));
    publish(&app, bob, "signals", json!({"n": "bob's"}));
    publish(&app, alice, "order", json!({"n": 3}));
    let mut again = Stream::open(&a, app.url("/api/events"), first.id).await;
    let m2 = again.next(Duration::from_secs(5)).await.unwrap();
    let m3 = again.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (m2.data["n"].clone(), m3.data["n"].clone()),
        (json!(2), json!(3))
    );
    assert_eq!(m3.event, "order");
    // And then what comes next, once.
    publish(&app, alice, "signals", json!({"n": 4}));
    let m4 = again.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(m4.data["n"], 4);
    assert!(again.next(Duration::from_millis(600)).await.is_none());
    assert!(again.heartbeats > 0, "no heartbeat");
}

/// At most five streams per user; a sixth is refused in the envelope, and
/// one slot comes back when a stream closes.
async fn at_most_five_streams_per_user(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    app.create_user("alice", Role::User);
    let a = app.client();
    app.login(&a, "alice", PASSWORD).await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(Stream::open(&a, app.url("/api/events"), None).await);
    }
    let sixth = app.get(&a, "/api/events").await;
    assert_eq!(
        error_code(sixth).await,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited".to_owned())
    );
    drop(open.pop());
    // The server notices the closed stream at its next write (a heartbeat).
    let mut reopened = None;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let res = app.get(&a, "/api/events").await;
        if res.status() == StatusCode::OK {
            reopened = Some(res);
            break;
        }
    }
    assert!(reopened.is_some(), "the slot never came back");
}

/// A stream ends soon after its session is logged out (elsewhere), and its
/// token's stream when the token is revoked, long before the periodic
/// re-check (set to a minute here) would come; unauthenticated is refused.
async fn a_stream_ends_when_its_sign_in_does(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        fast(s);
        s.event_timings.recheck = Duration::from_secs(60);
    })
    .await;
    app.create_user("alice", Role::User);
    let anonymous = app.get(&app.client(), "/api/events").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (laptop, phone) = (app.client(), app.client());
    app.login(&laptop, "alice", PASSWORD).await;
    let csrf = app.login(&phone, "alice", PASSWORD).await;
    let (token_id, token) = app.create_token(&phone, &csrf, "read").await;
    let mut session_stream = Stream::open(&laptop, app.url("/api/events"), None).await;
    let bearer = Client::new();
    let res = bearer
        .get(app.url("/api/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut token_stream = Stream {
        res,
        buf: String::new(),
        heartbeats: 0,
    };
    assert!(!session_stream.ends_within(Duration::from_millis(800)).await);

    let del = app
        .send(
            &phone,
            Method::DELETE,
            &format!("/api/tokens/{token_id}"),
            None,
            Some(&csrf),
        )
        .await;
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert!(token_stream.ends_within(Duration::from_secs(3)).await);

    // "Log out everywhere" from the phone: the laptop's page hears of it,
    // and its stream ends.
    let out = app
        .send(
            &phone,
            Method::POST,
            "/api/auth/logout-all",
            None,
            Some(&csrf),
        )
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let mut events = Vec::new();
    while let Some(m) = session_stream.next(Duration::from_secs(3)).await {
        events.push(m.event);
    }
    assert!(events.iter().any(|e| e == "session_ended"), "{events:?}");
}

/// Reloading a page over and over leaves one order watcher for the user,
/// not one per reload (each would ask the broker every 5 s).
async fn reloads_leave_one_order_watcher(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    app.create_user("alice", Role::User);
    let a = app.client();
    app.login(&a, "alice", PASSWORD).await;
    for _ in 0..8 {
        let stream = Stream::open(&a, app.url("/api/events"), None).await;
        drop(stream);
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let _open = Stream::open(&a, app.url("/api/events"), None).await;
    assert!(app.state.events.order_watchers() <= 1);
    // Closed for good: the watcher stops too.
    drop(_open);
    let started = std::time::Instant::now();
    while app.state.events.order_watchers() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the watcher never stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Shutting down ends the streams at once (a graceful stop does not wait
/// out its timeout for them).
async fn streams_end_when_the_server_stops(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    app.create_user("alice", Role::User);
    let a = app.client();
    app.login(&a, "alice", PASSWORD).await;
    let mut stream = Stream::open(&a, app.url("/api/events"), None).await;
    assert_eq!(app.state.events.open_streams(), 1);
    app.state.events.close_streams();
    assert!(stream.ends_within(Duration::from_secs(2)).await);
}

crate::api_tests!(
    user_b_never_sees_user_as_events,
    a_reconnect_gets_what_it_missed,
    at_most_five_streams_per_user,
    a_stream_ends_when_its_sign_in_does,
    reloads_leave_one_order_watcher,
    streams_end_when_the_server_stops
);
