use std::os::unix::fs::PermissionsExt;

use crate::support::{alpaca_trader, stderr, stdout};

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = stdout(&out);
    for command in [
        "serve",
        "init-db",
        "create-admin",
        "reset-password",
        "gen-key",
        "migrate-yaml",
        "rotate-key",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .arg("no-such-command")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = alpaca_trader(dir.path())
        .args(["serve", "--port", "not-a-port"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn gen_key_prints_usable_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path()).arg("gen-key").output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("SECRET_KEY="))
        .unwrap();
    let enc = text
        .lines()
        .find_map(|l| l.strip_prefix("ENCRYPTION_KEY="))
        .unwrap();
    assert!(secret.len() >= 64);
    assert!(trader_security::EncryptionKey::from_base64(enc).is_ok());
}

#[test]
fn production_without_keys_exits_1_saying_how_to_make_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .args(["serve", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("SECRET_KEY is not set"), "{err}");
    assert!(err.contains("alpaca-trader gen-key"), "{err}");
    assert!(!dir.path().join("data/secrets.env").exists());
}

#[test]
fn production_with_a_short_key_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .args(["serve", "--port", "0"])
        .env("SECRET_KEY", "too-short-secret")
        .env("ENCRYPTION_KEY", trader_security::generate_encryption_key())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("SECRET_KEY must be at least 64 bytes"),
        "{err}"
    );
    assert!(
        !err.contains("too-short-secret"),
        "the key is not echoed: {err}"
    );

    let bad_enc = alpaca_trader(dir.path())
        .args(["serve", "--port", "0"])
        .env("SECRET_KEY", trader_security::generate_secret_key())
        .env("ENCRYPTION_KEY", "c2hvcnQ=")
        .output()
        .unwrap();
    assert_eq!(bad_enc.status.code(), Some(1));
    assert!(
        stderr(&bad_enc).contains("ENCRYPTION_KEY must decode to exactly 32 bytes"),
        "{}",
        stderr(&bad_enc)
    );
}

#[test]
fn development_generates_keys_once_into_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("data/secrets.env");
    let mut server = crate::serve::Server::start(
        alpaca_trader(dir.path())
            .args(["serve", "--port", "0"])
            .env("APP_ENV", "development"),
    );
    assert!(secrets.is_file());
    let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "secrets.env mode {mode:o}");
    let dir_mode = std::fs::metadata(dir.path().join("data"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "data folder mode {dir_mode:o}");
    let first = std::fs::read_to_string(&secrets).unwrap();
    assert!(first.contains("SECRET_KEY=") && first.contains("ENCRYPTION_KEY="));
    let log = server.stop();
    assert!(log.contains("generated development keys"), "{log}");
    let key_line = first
        .lines()
        .find(|l| l.starts_with("SECRET_KEY="))
        .unwrap();
    assert!(
        !log.contains(&key_line["SECRET_KEY=".len()..]),
        "no key in the log"
    );

    // A second start reuses them.
    let mut again = crate::serve::Server::start(
        alpaca_trader(dir.path())
            .args(["serve", "--port", "0"])
            .env("APP_ENV", "development"),
    );
    again.stop();
    assert_eq!(std::fs::read_to_string(&secrets).unwrap(), first);
}

#[test]
fn a_dotenv_file_in_the_working_folder_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "DATABASE_URL=ftp://nowhere\n").unwrap();
    let out = alpaca_trader(dir.path()).arg("init-db").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`ftp`"), "{}", stderr(&out));
}

#[test]
fn bad_metrics_settings_exit_1_without_echoing_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .args(["serve", "--port", "0"])
        .env("APP_ENV", "development")
        .env("METRICS_TOKEN", "short-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("METRICS_TOKEN") && err.contains("at least 16"),
        "{err}"
    );
    assert!(!err.contains("short-secret"), "{err}");
    let out = alpaca_trader(dir.path())
        .args(["serve", "--port", "0"])
        .env("APP_ENV", "development")
        .env("METRICS_BIND", "not an address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("METRICS_BIND"), "{}", stderr(&out));
}

/// Every environment variable `serve` reads (each `env = "..."` in
/// settings.rs) is in the operator guide's settings table and in
/// `.env.example`, so neither drifts when a setting is added.
#[test]
fn the_operator_guide_and_env_example_name_every_setting() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let source =
        std::fs::read_to_string(root.join("crates/trader-server/src/settings.rs")).unwrap();
    let guide = std::fs::read_to_string(root.join("docs/operator-guide.md")).unwrap();
    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    let names: Vec<&str> = source
        .split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(names.len() > 30, "{names:?}");
    for name in names {
        assert!(
            guide.contains(&format!("| `{name}`")) || guide.contains(&format!(", `{name}`")),
            "docs/operator-guide.md's settings table lacks {name}"
        );
        assert!(
            example.contains(&format!("\n{name}=")) || example.contains(&format!("\n# {name}=")),
            ".env.example lacks {name}"
        );
    }
}
