//! Embedded migrations, one folder per backend (`migrations/sqlite` and
//! `migrations/postgres`, with the same migration names; a test checks).

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{DbConnection, DbError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// A fixed key for `pg_advisory_lock`, so two instances starting at once do
/// not run the same migration twice.
const MIGRATION_LOCK_KEY: i64 = 0x616c_7061_6361_6d67; // "alpacamg"

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
