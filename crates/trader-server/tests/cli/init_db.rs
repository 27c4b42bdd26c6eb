use trader_db::Backend;
use trader_db::test_support::TestDb;

use crate::support::{alpaca_trader, stderr, stdout};

fn init_db_creates_the_tables_and_a_second_run_changes_nothing(backend: Backend) {
    let db = TestDb::empty(backend);
    let dir = tempfile::tempdir().unwrap();

    let first = alpaca_trader(dir.path())
        .args(["init-db", "--database-url", &db.url_string()])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("applied"), "{}", stdout(&first));

    // The tables exist: the users table answers a count.
    let mut conn = db.conn();
    assert_eq!(trader_db::users::count_users(&mut conn).unwrap(), 0);
    let applied = trader_db::applied_migrations(&mut conn).unwrap();
    assert!(!applied.is_empty());
    drop(conn);

    let second = alpaca_trader(dir.path())
        .args(["init-db", "--database-url", &db.url_string()])
        .output()
        .unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("nothing changed"),
        "{}",
        stdout(&second)
    );
    let mut conn = db.conn();
    assert_eq!(trader_db::applied_migrations(&mut conn).unwrap(), applied);
}

crate::cli_backend_tests!(init_db_creates_the_tables_and_a_second_run_changes_nothing);

#[test]
fn init_db_on_the_default_sqlite_file_creates_it_under_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path()).arg("init-db").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("data/alpaca-trader.db").is_file());
}

#[test]
fn an_unknown_scheme_exits_1_listing_the_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    let out = alpaca_trader(dir.path())
        .args(["init-db"])
        .env("DATABASE_URL", "mysql://root@localhost/trader")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("unsupported database URL scheme `mysql`"),
        "{err}"
    );
    assert!(err.contains("sqlite://PATH"), "{err}");
    assert!(
        err.contains("postgres://USER:PASSWORD@HOST:PORT/DATABASE"),
        "{err}"
    );
}
