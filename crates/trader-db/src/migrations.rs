//! Embedded migrations, one folder per backend (`migrations/sqlite` and
//! `migrations/postgres`, with the same migration names; a test checks).

use diesel::RunQueryDsl;
use diesel::migration::{Migration, MigrationSource};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{Backend, DbConnection, DbError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// A fixed key for `pg_advisory_lock`, so two instances starting at once do
/// not run the same migration twice.
pub(crate) const MIGRATION_LOCK_KEY: i64 = 0x616c_7061_6361_6d67; // "alpacamg"

/// Applies every pending migration; answers the versions applied (empty
/// when the database was already up to date).
pub fn run_migrations(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE)
            .map(|v| v.iter().map(ToString::to_string).collect())
            .map_err(|e| DbError::Migration(e.to_string())),
        DbConnection::Postgres(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .execute(c)?;
            let result = c
                .run_pending_migrations(POSTGRES)
                .map(|v| v.iter().map(ToString::to_string).collect())
                .map_err(|e| DbError::Migration(e.to_string()));
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(c)?;
            result
        }
    }?;
    Ok(applied)
}

/// The versions of the migrations already applied, oldest first.
pub fn applied_migrations(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let mut versions: Vec<String> = match conn {
        DbConnection::Sqlite(c) => c.applied_migrations(),
        DbConnection::Postgres(c) => c.applied_migrations(),
    }
    .map_err(|e| DbError::Migration(e.to_string()))?
    .iter()
    .map(ToString::to_string)
    .collect();
    versions.sort();
    Ok(versions)
}

/// One migration this binary carries: its version (as diesel records it in
/// `__diesel_schema_migrations`) and its folder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMigration {
    pub version: String,
    pub name: String,
}

/// The migrations this binary carries for `backend`, oldest first (the two
/// folders hold the same names; a test checks).
pub fn known_migrations(backend: Backend) -> Result<Vec<KnownMigration>, DbError> {
    fn list<DB: diesel::backend::Backend>(
        source: &EmbeddedMigrations,
    ) -> Result<Vec<KnownMigration>, DbError>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let mut all: Vec<KnownMigration> = MigrationSource::<DB>::migrations(source)
            .map_err(|e| DbError::Migration(e.to_string()))?
            .iter()
            .map(|m| KnownMigration {
                version: m.name().version().to_string(),
                name: m.name().to_string(),
            })
            .collect();
        all.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(all)
    }
    match backend {
        Backend::Sqlite => list::<diesel::sqlite::Sqlite>(&SQLITE),
        Backend::Postgres => list::<diesel::pg::Pg>(&POSTGRES),
    }
}

/// Applies the pending migrations whose version is at most `last` (all of
/// them when `last` is `None`), oldest first. The caller holds a
/// transaction (and on PostgreSQL the migration lock).
pub(crate) fn run_up_to(conn: &mut DbConnection, last: Option<&str>) -> Result<(), DbError> {
    fn up<DB, C>(c: &mut C, source: EmbeddedMigrations, last: Option<&str>) -> Result<(), DbError>
    where
        DB: diesel::backend::Backend,
        C: MigrationHarness<DB>,
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let pending: Vec<Box<dyn Migration<DB>>> = c
            .pending_migrations(source)
            .map_err(|e| DbError::Migration(e.to_string()))?;
        for m in pending {
            let version = m.name().version().to_string();
            if last.is_some_and(|l| version.as_str() > l) {
                break;
            }
            c.run_migration(&*m)
                .map_err(|e| DbError::Migration(format!("{}: {e}", m.name())))?;
        }
        Ok(())
    }
    match conn {
        DbConnection::Sqlite(c) => up::<diesel::sqlite::Sqlite, _>(c, SQLITE, last),
        DbConnection::Postgres(c) => up::<diesel::pg::Pg, _>(c, POSTGRES, last),
    }
}
