use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The binary under test, with a clean environment (no DATABASE_URL or keys
/// from the developer's shell) run in `cwd`.
pub(crate) fn alpaca_trader(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alpaca-trader"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(cwd)
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with `stdin` as standard input.
pub(crate) fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Declares one test per backend, as `trader_db::backend_tests!` does.
#[macro_export]
macro_rules! cli_backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(trader_db::Backend::Sqlite) } )+
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(trader_db::Backend::Postgres) } )+
        }
    };
}
