//! The one error type of the storage layer.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What went wrong talking to the database.
///
/// The `Display` text is for logs and operators; the API maps variants to
/// its own codes and never shows this text to a client.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused the write (for example a taken username).
    /// `constraint` is the index or constraint name when the backend reports
    /// it (PostgreSQL does; SQLite reports the columns instead).
    #[error("unique constraint violated{}", constraint.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Conflict { constraint: Option<String> },
    /// A foreign key or check constraint refused the write.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// The database could not be reached or opened; the text is the
    /// backend's own reason (with any password hidden).
    #[error("{0}")]
    Connect(String),
    /// No connection could be had from the pool in time.
    #[error("database unavailable: {0}")]
    Pool(#[from] r2d2::Error),
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value could not be read back (a corrupt row, a bad enum).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Any other error from the driver.
    #[error("database error: {0}")]
    Query(DieselError),
}

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict {
                    constraint: info
                        .constraint_name()
                        .map(str::to_owned)
                        // SQLite gives no constraint name, only the message
                        // ("UNIQUE constraint failed: index 'x'" or "...: t.col").
                        .or_else(|| {
                            info.message()
                                .split_once(": ")
                                .map(|(_, what)| what.trim_matches(['\'', '"']).to_owned())
                        }),
                }
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation | DatabaseErrorKind::CheckViolation,
                info,
            ) => Self::Constraint(info.message().to_owned()),
            DieselError::DeserializationError(e) => Self::Corrupt(e.to_string()),
            other => Self::Query(other),
        }
    }
}
