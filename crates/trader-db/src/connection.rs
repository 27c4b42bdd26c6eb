//! Connecting: the URL forms we accept, one diesel `MultiConnection` over
//! SQLite and PostgreSQL, and an r2d2 pool whose manager picks the backend
//! from the URL scheme.
//!
//! We do not use `MultiConnection::establish`: it tries each backend in turn
//! and swallows their errors, so a wrong PostgreSQL password would surface as
//! "Invalid connection url for multiconnection". Choosing the backend from the
//! scheme lets us report the server's own message.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};

use crate::DbError;

/// One connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DbConnection")
            .field(&self.backend())
            .finish()
    }
}

impl DbConnection {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `f` in a transaction that writes: on SQLite `BEGIN IMMEDIATE`,
    /// which takes the write lock before the first read, so a
    /// read-check-write inside cannot interleave with another writer's; on
    /// PostgreSQL an ordinary transaction (lock the rows you read with
    /// `FOR UPDATE`). Commits when `f` answers `Ok`, rolls back otherwise.
    pub fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Self) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        match self {
            Self::Postgres(_) => self.transaction(f),
            Self::Sqlite(c) => {
                // diesel's SqliteConnection::immediate_transaction, on the
                // connection inside the enum (the MultiConnection delegates
                // its transaction state to it, so nested `transaction` calls
                // in `f` become savepoints as usual).
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
                let result = f(self);
                let Self::Sqlite(c) = self else {
                    unreachable!("the variant does not change")
                };
                match result {
                    Ok(value) => {
                        if let Err(e) = AnsiTransactionManager::commit_transaction(c) {
                            let _ = AnsiTransactionManager::rollback_transaction(c);
                            return Err(e.into());
                        }
                        Ok(value)
                    }
                    Err(e) => {
                        AnsiTransactionManager::rollback_transaction(c)?;
                        Err(e)
                    }
                }
            }
        }
    }
}

/// The two supported backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        })
    }
}

/// The forms of `DATABASE_URL` we accept, for error messages.
pub const ACCEPTED_FORMS: &str = "sqlite://PATH, sqlite:PATH, a plain file path such as \
./data/alpaca-trader.db, or postgres://USER:PASSWORD@HOST:PORT/DATABASE (postgresql:// also works)";

/// A parsed `DATABASE_URL`.
///
/// `Display` and `Debug` hide a PostgreSQL password, so the value can be
/// logged.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, passed to libpq as it is.
    Postgres(String),
}

/// Why a `DATABASE_URL` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("DATABASE_URL is empty; accepted forms: {ACCEPTED_FORMS}")]
    Empty,
    #[error("unsupported database URL scheme `{0}`; accepted forms: {ACCEPTED_FORMS}")]
    UnsupportedScheme(String),
    #[error(
        "an in-memory SQLite database would vanish with each pooled connection; give a file path; accepted forms: {ACCEPTED_FORMS}"
    )]
    InMemory,
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(UrlError::Empty);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_owned()));
        }
        let path = if let Some(rest) = s.strip_prefix("sqlite://") {
            rest
        } else if let Some(rest) = s.strip_prefix("sqlite:") {
            rest
        } else if let Some((scheme, _)) = s.split_once("://") {
            return Err(UrlError::UnsupportedScheme(scheme.to_owned()));
        } else {
            s
        };
        if path.is_empty() {
            return Err(UrlError::Empty);
        }
        if path == ":memory:" || path.starts_with("file::memory:") {
            return Err(UrlError::InMemory);
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

impl DatabaseUrl {
    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => redact_password(url),
        }
    }

    /// Opens one connection and prepares it (SQLite pragmas). The error is
    /// the backend's own message.
    pub fn connect(&self) -> Result<DbConnection, ConnectError> {
        match self {
            Self::Sqlite(path) => {
                let path_str = path.to_str().ok_or_else(|| {
                    ConnectError(format!("SQLite path {} is not valid UTF-8", path.display()))
                })?;
                let mut conn = SqliteConnection::establish(path_str).map_err(|e| {
                    ConnectError(format!(
                        "cannot open SQLite database {}: {e}",
                        path.display()
                    ))
                })?;
                // busy_timeout first: switching to WAL needs the write lock,
                // which another connection may briefly hold.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; \
                     PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(|e| {
                    ConnectError(format!(
                        "cannot prepare SQLite database {}: {e}",
                        path.display()
                    ))
                })?;
                Ok(DbConnection::Sqlite(conn))
            }
            Self::Postgres(url) => {
                let conn = PgConnection::establish(url).map_err(|e| {
                    ConnectError(format!(
                        "cannot connect to PostgreSQL at {}: {}",
                        redact_password(url),
                        e.to_string().trim()
                    ))
                })?;
                Ok(DbConnection::Postgres(conn))
            }
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// Replaces the password in `scheme://user:password@host/...` with `***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// A connection could not be opened; the text is the backend's own reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

/// The r2d2 manager: opens connections of the backend the URL names.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        self.url.connect()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(|e| ConnectError(e.to_string()))
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

/// A connection checked out of the pool.
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// The histogram of time spent waiting in [`Pool::get`], in seconds.
pub const POOL_WAIT_SECONDS: &str = "db_pool_wait_seconds";

/// A pool's size, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub max_size: u32,
    pub connections: u32,
    pub idle: u32,
}

/// A pool of connections to one database. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<ConnectionManager>,
    url: DatabaseUrl,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("url", &self.url)
            .field("state", &self.inner.state())
            .finish()
    }
}

impl Pool {
    /// Opens a pool of at most `max_size` connections.
    ///
    /// One connection is opened first, directly, so a wrong URL, password
    /// or path fails at once with the backend's own message rather than
    /// after r2d2's connection timeout. For SQLite the file's folder is
    /// created if missing.
    pub fn open(url: &DatabaseUrl, max_size: u32) -> Result<Self, DbError> {
        if let DatabaseUrl::Sqlite(path) = url {
            create_parent_dir(path)?;
        }
        let manager = ConnectionManager { url: url.clone() };
        // Fail fast with the real error.
        let first = url.connect().map_err(|e| DbError::Connect(e.0))?;
        drop(first);
        let inner = r2d2::Pool::builder()
            .max_size(max_size.max(1))
            // Connections open on demand. A minimum of idle connections
            // would make r2d2 open them on a background thread, which may
            // still be inside libpq when a short-lived command exits, and
            // crash it.
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        Ok(Self {
            inner,
            url: url.clone(),
        })
    }

    /// Checks a connection out of the pool. The time spent waiting goes to
    /// the `db_pool_wait_seconds` histogram (a no-op unless the server
    /// installed a metrics recorder): r2d2 reports no waiters, and this
    /// shows a pool too small for the load.
    pub fn get(&self) -> Result<PooledConnection, DbError> {
        let started = std::time::Instant::now();
        let conn = self.inner.get();
        metrics::histogram!(POOL_WAIT_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(conn?)
    }

    /// Connections open, and how many of them are idle.
    pub fn state(&self) -> PoolState {
        let s = self.inner.state();
        PoolState {
            max_size: self.inner.max_size(),
            connections: s.connections,
            idle: s.idle_connections,
        }
    }

    /// The backend of this pool.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// The URL this pool connects to.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }
}

/// Creates the database file's folder, readable by its owner only (it
/// holds password hashes and sealed keys), when it does not exist yet.
pub(crate) fn create_parent_dir(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(|e| {
                DbError::Connect(format!("cannot create folder {}: {e}", dir.display()))
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms_parse() {
        assert_eq!(
            "sqlite://./data/x.db".parse(),
            Ok(DatabaseUrl::Sqlite("./data/x.db".into()))
        );
        assert_eq!(
            "sqlite:///var/lib/x.db".parse(),
            Ok(DatabaseUrl::Sqlite("/var/lib/x.db".into()))
        );
        assert_eq!(
            "sqlite:x.db".parse(),
            Ok(DatabaseUrl::Sqlite("x.db".into()))
        );
        assert_eq!(
            "data/x.db".parse(),
            Ok(DatabaseUrl::Sqlite("data/x.db".into()))
        );
        assert_eq!(
            "postgres://u:p@h/db".parse(),
            Ok(DatabaseUrl::Postgres("postgres://u:p@h/db".into()))
        );
        assert_eq!(
            "postgresql://h/db"
                .parse::<DatabaseUrl>()
                .map(|u| u.backend()),
            Ok(Backend::Postgres)
        );
    }

    #[test]
    fn other_schemes_are_refused_with_the_accepted_forms() {
        let err = "mysql://root@localhost/x"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert_eq!(err, UrlError::UnsupportedScheme("mysql".into()));
        let text = err.to_string();
        assert!(text.contains("`mysql`"), "{text}");
        assert!(
            text.contains("sqlite://PATH") && text.contains("postgres://"),
            "{text}"
        );
        assert_eq!("".parse::<DatabaseUrl>(), Err(UrlError::Empty));
        assert_eq!("sqlite://".parse::<DatabaseUrl>(), Err(UrlError::Empty));
        assert_eq!(":memory:".parse::<DatabaseUrl>(), Err(UrlError::InMemory));
    }

    #[test]
    fn passwords_are_redacted() {
        let url: DatabaseUrl = "postgres://alice:s3cret@db:5432/trader?sslmode=require"
            .parse()
            .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://alice:***@db:5432/trader?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(redact_password("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact_password("postgres://bob@h/db"),
            "postgres://bob@h/db"
        );
        assert_eq!(
            redact_password("postgres://bob:p%40ss@h"),
            "postgres://bob:***@h"
        );
    }
}
