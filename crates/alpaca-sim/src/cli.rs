//! `alpaca-trader sim`: the simulator on its own. The binary adds
//! `Sim(alpaca_sim::SimArgs)` to its subcommands and calls [`run`].

use crate::clock::ClockMode;
use crate::server::{Mode, SimConfig, Simulator};

/// Arguments of `alpaca-trader sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on. The control API (`/_sim`) answers only
    /// loopback peers unless `--control-anywhere` is given.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Seed of every price path and id: the same seed gives the same market.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// `real`, `replay` (the last full session in real time, so orders fill
    /// at any hour) or `fixed:<RFC 3339 time>`.
    #[arg(long, default_value = "real", value_parser = ClockMode::parse)]
    pub clock: ClockMode,
    /// Which key ids to accept: paper (`PK…`) or live (`AK…`).
    #[arg(long, value_enum, default_value_t = Mode::Paper)]
    pub mode: Mode,
    /// Requests a minute per key id (0: no limit).
    #[arg(long, default_value_t = 200)]
    pub rate_limit: u32,
    /// Let non-loopback peers use the control API.
    #[arg(long)]
    pub control_anywhere: bool,
}

impl SimArgs {
    /// The simulator configuration these arguments describe.
    pub fn config(&self) -> SimConfig {
        SimConfig {
            seed: self.seed,
            clock: self.clock,
            mode: self.mode,
            rate_limit_per_min: self.rate_limit,
            control_on_loopback_only: !self.control_anywhere,
        }
    }
}

/// Runs the simulator until SIGINT or SIGTERM. Prints
/// `listening on http://ADDR` on standard output once it accepts requests.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let handle = Simulator::start(args.config(), &format!("{}:{}", args.host, args.port)).await?;
    println!("listening on {}", handle.base_url());
    // Flushed at once so a parent process reading the pipe sees the address.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!(addr = %handle.addr(), seed = args.seed, "alpaca-sim started");
    shutdown_signal().await;
    handle.stop().await;
    Ok(())
}

#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
