//! A fresh database for each test: a temporary SQLite file, or a throw-away
//! PostgreSQL database created on the server `TEST_DATABASE_URL` names.
//! Either is removed when the [`TestDb`] is dropped.
//!
//! Run a test body on both backends with [`backend_tests!`](crate::backend_tests):
//! it makes a `sqlite` and a `postgres` module, so test names say which
//! backend ran (`users::sqlite::create_user`). The PostgreSQL tests fail,
//! loudly, when `TEST_DATABASE_URL` is unset or the server is down; the
//! project's test script leaves them out when the variable is unset.

#![expect(
    clippy::expect_used,
    reason = "test helper: a database that cannot be set up must stop the test with the reason"
)]

use diesel::RunQueryDsl;
use tempfile::TempDir;

use crate::{Backend, DatabaseUrl, DbConnection, Pool, PooledConnection, run_migrations};

/// The variable naming the PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A migrated database that disappears with this value.
#[derive(Debug)]
pub struct TestDb {
    pool: Option<Pool>,
    url: DatabaseUrl,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(
        #[expect(dead_code, reason = "held so the folder lives as long as the database")] TempDir,
    ),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    /// A fresh, migrated database on `backend`.
    pub fn new(backend: Backend) -> Self {
        let db = Self::empty(backend);
        let mut conn = db.conn();
        run_migrations(&mut conn).expect("migrations apply to a fresh database");
        drop(conn);
        db
    }

    /// A fresh database on `backend` with no tables (for migration tests).
    pub fn empty(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("alpaca-trader-test-")
                    .tempdir()
                    .expect("a temp folder can be created");
                let url = DatabaseUrl::Sqlite(dir.path().join("test.db"));
                let pool = Pool::open(&url, 4).expect("a temp SQLite file opens");
                Self {
                    pool: Some(pool),
                    url,
                    cleanup: Cleanup::Sqlite(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_server_url();
                let name = format!("alpaca_trader_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = admin_connection(&admin_url);
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("the test database can be created");
                let url = DatabaseUrl::Postgres(with_database(&admin_url, &name));
                let pool = Pool::open(&url, 4).expect("the new test database accepts connections");
                Self {
                    pool: Some(pool),
                    url,
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
        }
    }

    /// The pool of this database.
    pub fn pool(&self) -> &Pool {
        self.pool.as_ref().expect("the pool lives until drop")
    }

    /// A connection from the pool.
    pub fn conn(&self) -> PooledConnection {
        self.pool().get().expect("a connection from the test pool")
    }

    /// The database's URL (to hand to a server or a CLI under test).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The URL as text, with any password in clear (for child processes).
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.clone(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Close our connections before dropping the database.
        self.pool.take();
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let mut admin = admin_connection(admin_url);
            if let Err(e) =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
            {
                eprintln!("warning: could not drop test database {name}: {e}");
            }
        }
    }
}

/// The PostgreSQL server for tests; panics with instructions when unset.
pub fn postgres_server_url() -> String {
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{TEST_DATABASE_URL} is not set: PostgreSQL tests need a server, e.g. \
             {TEST_DATABASE_URL}=postgres://postgres@127.0.0.1:5432/postgres \
             (scripts/test leaves these tests out when it is unset)"
        ),
    }
}

fn admin_connection(url: &str) -> DbConnection {
    match DatabaseUrl::Postgres(url.to_owned()).connect() {
        Ok(conn) => conn,
        Err(e) => panic!("PostgreSQL tests need a running server at {TEST_DATABASE_URL}: {e}"),
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Declares one test per backend for each named function `fn(Backend)`:
/// `backend_tests!(create_user, conflict)` makes `sqlite::create_user`,
/// `postgres::create_user`, and so on.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::Backend::Sqlite) } )+
        }
        mod postgres {
            $( #[test] fn $name() { super::$name($crate::Backend::Postgres) } )+
        }
    };
}
