//! `alpaca-sim`: the simulator as its own program, with the same arguments
//! as `alpaca-trader sim` (which embeds [`alpaca_sim::SimArgs`]).

use clap::Parser;

/// A local simulator of Alpaca's Trading API v2 and Market Data v2.
#[derive(Debug, Parser)]
#[command(name = "alpaca-sim", version)]
struct Cli {
    #[command(flatten)]
    args: alpaca_sim::SimArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    alpaca_sim::run(Cli::parse().args).await
}
