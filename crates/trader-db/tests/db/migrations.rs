use std::collections::BTreeSet;
use std::path::Path;

use trader_db::test_support::TestDb;
use trader_db::{Backend, applied_migrations, run_migrations};

fn migration_names(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} must exist: {e}", dir.display()))
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Both backends must have the same migrations, or one of them would be
/// missing a table the code relies on.
#[test]
fn sqlite_and_postgres_migration_folders_have_the_same_names() {
    let sqlite = migration_names("sqlite");
    let postgres = migration_names("postgres");
    assert!(!sqlite.is_empty());
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "migrations/sqlite and migrations/postgres differ: only in sqlite: {only_sqlite:?}, only in postgres: {only_postgres:?}"
    );
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../migrations")
                    .join(backend)
                    .join(name)
                    .join(file);
                assert!(path.is_file(), "{} is missing", path.display());
            }
        }
    }
}

fn migrations_apply_once_and_then_change_nothing(backend: Backend) {
    let db = TestDb::empty(backend);
    let mut conn = db.conn();
    let first = run_migrations(&mut conn).unwrap();
    assert_eq!(
        first.len(),
        migration_names("sqlite").len(),
        "every migration applied on a fresh database"
    );
    let second = run_migrations(&mut conn).unwrap();
    assert!(second.is_empty(), "second run applied {second:?}");
    let applied = applied_migrations(&mut conn).unwrap();
    assert_eq!(applied.len(), first.len());
    assert_eq!(trader_db::users::count_users(&mut conn).unwrap(), 0);
}

trader_db::backend_tests!(migrations_apply_once_and_then_change_nothing);
