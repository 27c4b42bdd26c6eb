//! `sim --port 0 --clock replay` (issue 4, "Must show"): prints its address
//! and fills a market order within seconds at any hour of the day. Runs the
//! crate's `alpaca-sim` binary, which takes exactly `alpaca-trader sim`'s
//! arguments ([`alpaca_sim::SimArgs`]).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alpaca_sim::{ClockMode, Mode, SimArgs};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: SimArgs,
}

#[test]
fn arguments_parse_as_documented() {
    let cli = Cli::try_parse_from([
        "sim",
        "--port",
        "0",
        "--clock",
        "replay",
        "--seed",
        "9",
        "--mode",
        "live",
        "--rate-limit",
        "50",
    ])
    .unwrap();
    assert_eq!(cli.args.port, 0);
    assert_eq!(cli.args.clock, ClockMode::Replay);
    assert_eq!(cli.args.mode, Mode::Live);
    assert_eq!(cli.args.seed, 9);
    assert_eq!(cli.args.rate_limit, 50);
    let config = cli.args.config();
    assert!(config.control_on_loopback_only);
    let fixed = Cli::try_parse_from(["sim", "--clock", "fixed:2024-07-10T14:00:00Z"]).unwrap();
    assert!(matches!(fixed.args.clock, ClockMode::Fixed(_)));
    assert!(Cli::try_parse_from(["sim", "--clock", "sometimes"]).is_err());
    assert!(Cli::try_parse_from(["sim", "--mode", "demo"]).is_err());
}

#[tokio::test]
async fn replay_clock_prints_its_address_and_fills_a_market_order() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alpaca-sim"))
        .args(["--port", "0", "--clock", "replay"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"));

    let started = Instant::now();
    let http = reqwest::Client::new();
    let clock: Value = http
        .get(format!("{base}/v2/clock"))
        .header("APCA-API-KEY-ID", "PKDEMO")
        .header("APCA-API-SECRET-KEY", "demo")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["is_open"], true, "replay plays a session: {clock}");
    let order: Value = http
        .post(format!("{base}/v2/orders"))
        .header("APCA-API-KEY-ID", "PKDEMO")
        .header("APCA-API-SECRET-KEY", "demo")
        .json(
            &json!({"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "filled", "{order}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // SIGTERM stops it cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
