//! `alpaca-trader healthcheck`, as Docker's HEALTHCHECK runs it: exit 0
//! when the server's /healthz answers 200, 1 with one line otherwise.

use std::time::{Duration, Instant};

use crate::serve::Server;
use crate::support::{alpaca_trader, stderr, stdout};

fn port_of(base_url: &str) -> String {
    base_url.rsplit(':').next().unwrap().to_owned()
}

/// Asserts exit 1 with exactly one line on stderr, and answers it.
fn fails_with_one_line(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn healthcheck_answers_0_for_a_running_server_and_1_for_other_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        alpaca_trader(dir.path())
            .args(["serve", "--port", "0", "--workers", "1", "--no-demo"])
            .env("APP_ENV", "development"),
    );
    let port = port_of(&server.base_url);

    // Serve's own settings, as in the container: HOST=0.0.0.0 (what the
    // server listens on there) means loopback for the check.
    for host in ["127.0.0.1", "0.0.0.0"] {
        let out = alpaca_trader(dir.path())
            .arg("healthcheck")
            .env("HOST", host)
            .env("PORT", &port)
            .output()
            .unwrap();
        assert!(out.status.success(), "HOST={host}: {}", stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            format!("http://127.0.0.1:{port}/healthz: 200 OK")
        );
    }
    // The same from a .env in the working folder, as serve reads it.
    std::fs::write(dir.path().join(".env"), format!("PORT={port}\n")).unwrap();
    let out = alpaca_trader(dir.path())
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let url = format!("{}/healthz", server.base_url);
    let out = alpaca_trader(dir.path())
        .args(["healthcheck", "--url", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // Anything but 200 is unhealthy.
    let url = format!("{}/api/nothing-here", server.base_url);
    let out = alpaca_trader(dir.path())
        .args(["healthcheck", "--url", &url])
        .output()
        .unwrap();
    let err = fails_with_one_line(&out);
    assert!(
        err.contains(&format!("{url} answered 404 Not Found, not 200 OK")),
        "{err}"
    );
    server.stop();
}

#[test]
fn healthcheck_fails_fast_on_a_closed_port() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = alpaca_trader(dir.path())
        .args(["healthcheck", "--port", &port])
        .output()
        .unwrap();
    let err = fails_with_one_line(&out);
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/healthz: cannot connect")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A server that accepts the connection and never answers (hung): the
/// check gives up after its timeout instead of hanging Docker's check.
#[test]
fn healthcheck_gives_up_after_its_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = alpaca_trader(dir.path())
        .args(["healthcheck", "--port", &port, "--timeout-secs", "1"])
        .output()
        .unwrap();
    let err = fails_with_one_line(&out);
    assert!(err.contains("no answer within 1 s"), "{err}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "{took:?}"
    );
    drop(listener);
}

#[test]
fn healthcheck_refuses_a_url_that_is_not_http_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["not a url", "ftp://127.0.0.1/healthz"] {
        let out = alpaca_trader(dir.path())
            .args(["healthcheck", "--url", url])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
    }
}
