use trader_api_types::Role;
use trader_db::Backend;
use trader_db::test_support::TestDb;
use trader_security::{SecretString, verify_password};

use crate::support::{alpaca_trader, run_with_stdin, stderr, stdout};

fn create_admin(db: &TestDb, username: &str, password: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    run_with_stdin(
        alpaca_trader(dir.path()).args([
            "create-admin",
            "--database-url",
            &db.url_string(),
            "--username",
            username,
            "--email",
            "admin@example.com",
            "--password-stdin",
        ]),
        &format!("{password}\n"),
    )
}

fn password_matches(db: &TestDb, username: &str, password: &str) -> bool {
    let mut conn = db.conn();
    let user = trader_db::users::find_user_by_username(&mut conn, username)
        .unwrap()
        .unwrap();
    verify_password(&SecretString::from(password), &user.password_hash).unwrap()
}

fn create_admin_from_stdin_makes_an_admin(backend: Backend) {
    let db = TestDb::empty(backend);
    let out = create_admin(&db, "Root", "a long and unusual passphrase");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("created admin `Root`"),
        "{}",
        stdout(&out)
    );

    let mut conn = db.conn();
    let user = trader_db::users::find_user_by_username(&mut conn, "root")
        .unwrap()
        .unwrap();
    assert_eq!(user.role, Role::Admin);
    assert_eq!(user.email, "admin@example.com");
    assert!(user.password_hash.starts_with("$argon2id$"));
    assert!(!stdout(&out).contains("passphrase") && !stderr(&out).contains("passphrase"));
    assert!(password_matches(
        &db,
        "Root",
        "a long and unusual passphrase"
    ));
}

fn the_same_username_in_another_case_exits_1(backend: Backend) {
    let db = TestDb::empty(backend);
    assert!(
        create_admin(&db, "Root", "a long and unusual passphrase")
            .status
            .success()
    );
    let out = create_admin(&db, "rOOT", "another long passphrase");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let mut conn = db.conn();
    assert_eq!(trader_db::users::count_users(&mut conn).unwrap(), 1);
}

fn weak_passwords_exit_1_naming_the_rule(backend: Backend) {
    let db = TestDb::empty(backend);
    let short = create_admin(&db, "root", "short pw");
    assert_eq!(short.status.code(), Some(1));
    assert!(
        stderr(&short).contains("at least 12 characters"),
        "{}",
        stderr(&short)
    );
    let common = create_admin(&db, "root", "1qaz2wsx3edc");
    assert_eq!(common.status.code(), Some(1));
    assert!(
        stderr(&common).contains("most commonly used passwords"),
        "{}",
        stderr(&common)
    );
    let too_long = create_admin(&db, "root", &"z".repeat(129));
    assert_eq!(too_long.status.code(), Some(1));
    assert!(
        stderr(&too_long).contains("at most 128"),
        "{}",
        stderr(&too_long)
    );
    let mut conn = db.conn();
    assert_eq!(
        trader_db::users::count_users(&mut conn).unwrap(),
        0,
        "nothing stored"
    );
}

fn reset_password_lets_only_the_new_password_in(backend: Backend) {
    let db = TestDb::empty(backend);
    assert!(
        create_admin(&db, "root", "the first long passphrase")
            .status
            .success()
    );
    let stamp_before = {
        let mut conn = db.conn();
        trader_db::users::find_user_by_username(&mut conn, "root")
            .unwrap()
            .unwrap()
            .security_stamp
    };
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_stdin(
        alpaca_trader(dir.path()).args([
            "reset-password",
            "--database-url",
            &db.url_string(),
            "--username",
            "ROOT",
            "--password-stdin",
        ]),
        "the second long passphrase\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(password_matches(&db, "root", "the second long passphrase"));
    assert!(!password_matches(&db, "root", "the first long passphrase"));
    let mut conn = db.conn();
    let after = trader_db::users::find_user_by_username(&mut conn, "root")
        .unwrap()
        .unwrap();
    assert_ne!(after.security_stamp, stamp_before, "old sessions end");

    let unknown = run_with_stdin(
        alpaca_trader(dir.path()).args([
            "reset-password",
            "--database-url",
            &db.url_string(),
            "--username",
            "nobody",
            "--password-stdin",
        ]),
        "the third long passphrase\n",
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no user named `nobody`"));
}

crate::cli_backend_tests!(
    create_admin_from_stdin_makes_an_admin,
    the_same_username_in_another_case_exits_1,
    weak_passwords_exit_1_naming_the_rule,
    reset_password_lets_only_the_new_password_in,
    reset_2fa_turns_two_factor_off_for_a_locked_out_admin,
);

#[test]
fn create_admin_without_a_terminal_or_stdin_flag_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .args(["create-admin", "--username", "root", "--email", "a@b.co"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_username_and_email_are_refused() {
    let db = TestDb::empty(Backend::Sqlite);
    let out = create_admin(&db, "a b", "a long and unusual passphrase");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid username"),
        "{}",
        stderr(&out)
    );
}

fn reset_2fa_turns_two_factor_off_for_a_locked_out_admin(backend: Backend) {
    let db = TestDb::empty(backend);
    assert!(
        create_admin(&db, "root", "the first long passphrase")
            .status
            .success()
    );
    let id = {
        let mut conn = db.conn();
        let user = trader_db::users::find_user_by_username(&mut conn, "root")
            .unwrap()
            .unwrap();
        trader_db::users::set_totp_pending(&mut conn, user.id, Some("v1:pending")).unwrap();
        let enabled =
            trader_db::users::enable_totp(&mut conn, user.id, "v1:pending", "v1:sealed-secret", 5)
                .unwrap();
        assert!(enabled);
        user.id
    };
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .args([
            "reset-2fa",
            "--database-url",
            &db.url_string(),
            "--username",
            "ROOT",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut conn = db.conn();
    let user = trader_db::users::find_user_by_id(&mut conn, id)
        .unwrap()
        .unwrap();
    assert!(!user.totp_enabled);
    assert_eq!(user.totp_secret, None);
    let events: Vec<String> = trader_db::audit::list(&mut conn, Some(id), None, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["cli_two_factor_reset"]);
    let unknown = alpaca_trader(dir.path())
        .args([
            "reset-2fa",
            "--database-url",
            &db.url_string(),
            "--username",
            "nobody",
        ])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
}
