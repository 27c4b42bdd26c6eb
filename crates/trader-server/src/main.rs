//! `alpaca-trader`: see `alpaca-trader --help`.

use std::process::ExitCode;

use clap::Parser;
use trader_server::cli::{Cli, run};

/// mimalloc returns freed memory to the system (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A `.env` in the working folder fills in variables not already set.
    // Only this folder: searching parent folders could pick up another
    // project's secrets.
    if let Err(e) = load_dotenv() {
        eprintln!("error: .env: {e}");
        return ExitCode::from(1);
    }
    // Usage errors exit 2 (clap), --help and --version exit 0.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` puts the whole cause chain on one line.
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn load_dotenv() -> Result<(), dotenvy::Error> {
    match dotenvy::from_path(".env") {
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
