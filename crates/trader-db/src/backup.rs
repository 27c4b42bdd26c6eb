//! Backups: a portable, checksummed, logical copy of every table, taken in
//! one consistent snapshot while servers run, and restored into either
//! backend (so it is also how a SQLite installation moves to PostgreSQL).
//!
//! # The file
//!
//! Line 1 is the [`Header`] as one JSON object: the format and its version,
//! the schema version (the newest migration applied to the source), when it
//! was made, every table with its columns (name, portable type, nullable)
//! and row count, and the SHA-256 and length of the body. The body is JSON
//! lines, one per row, `{"table":"users","row":[...]}`, grouped by table in
//! the header's order (an order that satisfies the foreign keys). Values
//! are typed portably: integers as JSON numbers, booleans as JSON booleans,
//! timestamps as RFC 3339 UTC strings (`2026-12-01T14:30:00.123456Z`),
//! doubles as their shortest round-trip decimal string, binary as base64,
//! NULL as `null`.
//!
//! Sealed columns ([`SEALED_COLUMNS`]) are copied as they are stored
//! (`v1:<key id>:<nonce||ciphertext>`): a backup never holds
//! `ENCRYPTION_KEY`, and without it nobody can open them.
//!
//! # Taking one: [`dump`]
//!
//! One read transaction: PostgreSQL `REPEATABLE READ, READ ONLY` (one
//! snapshot for every table); SQLite a deferred `BEGIN` whose first read
//! fixes the snapshot (WAL keeps it while writers go on). The source must
//! be at exactly this binary's newest migration, and every table it has
//! must be one this module knows ([`TABLES`]), so a backup is never
//! silently incomplete.
//!
//! # Restoring one: [`verify`], [`connect_for_restore`], [`restore`]
//!
//! [`verify`] reads the whole file and writes nothing: the header, the
//! checksum, every row type-checked against its column, the row counts;
//! the caller also checks the sealed values there. [`restore`] then, in one
//! transaction on a connection from [`connect_for_restore`]: refuses a
//! database servers are using and a non-empty one unless `force`; drops
//! the tables the target has, migrates up to the backup's schema
//! version, checks that the tables and columns are those the header names,
//! inserts every row (checking the checksum again as it reads, so a file
//! changed since [`verify`] rolls everything back), sets PostgreSQL's
//! identity sequences past the highest ids, and runs the remaining
//! migrations. Any failure rolls back: the target is as it was.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use diesel::connection::{DefaultLoadingMode, SimpleConnection};
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{
    BigInt, Binary, Bool, Double, Integer, Nullable, SingleValue, SqlType, Text, Timestamp,
    is_nullable,
};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::migrations::{MIGRATION_LOCK_KEY, known_migrations, run_up_to};
use crate::{Backend, DatabaseUrl, DbConnection, DbError, schema};

/// The `format` of every backup file.
pub const FORMAT: &str = "alpaca-trader-backup";
/// The newest format version this binary writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Tables whose rows are not carried: the SQLite scheduler lease and the
/// instances' rows name server processes that will not exist where the
/// backup is restored (a copied lease would keep the scheduler there
/// waiting until it expires); the auth epoch is a counter of this
/// database's own, seeded by its migration.
pub const EPHEMERAL_TABLES: &[&str] = &["scheduler_lease", "instances", "auth_epoch"];

/// Columns that hold values sealed by the secret box, as `(table, column)`.
/// Restore checks that the current key ring opens every one of them
/// before it changes anything.
pub const SEALED_COLUMNS: &[(&str, &str)] = &[
    ("users", "totp_secret"),
    ("users", "totp_pending_secret"),
    ("trading_accounts", "key_id"),
    ("trading_accounts", "secret_key"),
];

/// The longest header line read (a foreign file is refused without
/// reading all of it).
const MAX_HEADER_BYTES: u64 = 4 << 20;
/// The longest body line read.
const MAX_LINE_BYTES: u64 = 64 << 20;
/// diesel's own table, never part of a backup.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

// ------------------------------------------------------------ the header

/// The portable type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[serde(rename = "bigint")]
    BigInt,
    Integer,
    Text,
    Bool,
    Timestamp,
    Double,
    Binary,
}

impl Kind {
    /// Kinds a database cannot tell apart from its catalog (SQLite declares
    /// both integer kinds `INTEGER` or `BIGINT` at will) compare equal.
    fn family(self) -> Self {
        match self {
            Self::Integer => Self::BigInt,
            other => other,
        }
    }
}

/// One column of a table in the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub nullable: bool,
}

/// One table in the header: its columns, in the order of each row's
/// values, and how many rows the body holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub name: String,
    pub columns: Vec<ColumnSpec>,
    pub rows: u64,
}

/// The first line of a backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    pub format_version: u32,
    /// The newest migration applied to the source (diesel's version).
    pub schema_version: String,
    /// That migration's folder name, for people.
    pub schema_migration: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The version of alpaca-trader that wrote it.
    pub app_version: String,
    /// `sqlite` or `postgres`.
    pub source_backend: String,
    pub tables: Vec<TableSpec>,
    /// Lowercase hex SHA-256 of every byte after the header line.
    pub body_sha256: String,
    pub body_bytes: u64,
    /// Lowercase hex SHA-256 of this header's JSON with this field empty,
    /// so a damaged header is caught too.
    pub header_sha256: String,
}

impl Header {
    /// Rows in the whole backup.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

// ------------------------------------------------------------ errors

/// Why a backup or a restore stopped. The texts name what to do and never
/// hold a value from a row.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a backup, damaged, truncated or changed.
    #[error("{0}")]
    Corrupt(String),
    /// Made by (or migrated by) a newer alpaca-trader.
    #[error("{0}")]
    Newer(String),
    /// The source or target database is not in a state to back up or
    /// restore (missing migrations, tables not ours).
    #[error("{0}")]
    Schema(String),
    /// Servers (or anything else) are using the target database.
    #[error("{0}")]
    InUse(String),
    /// The target holds data and `force` was not given.
    #[error("{0}")]
    NotEmpty(String),
    /// The caller's check of a row refused it (e.g. a sealed value the key
    /// ring cannot open).
    #[error("{0}")]
    Refused(String),
}

impl From<diesel::result::Error> for BackupError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

// ------------------------------------------------------------ typed reading

/// A SQL type a backup can carry, with the Rust type diesel reads it as.
trait PortableType {
    type Value;
    const KIND: Kind;
    const NULLABLE: bool;
    fn to_json(v: &Self::Value) -> Json;
}

macro_rules! portable {
    ($st:ty, $rust:ty, $kind:ident, |$v:ident| $enc:expr) => {
        impl PortableType for $st {
            type Value = $rust;
            const KIND: Kind = Kind::$kind;
            const NULLABLE: bool = false;
            fn to_json($v: &$rust) -> Json {
                $enc
            }
        }
    };
}

portable!(BigInt, i64, BigInt, |v| Json::from(*v));
portable!(Integer, i32, Integer, |v| Json::from(*v));
portable!(Text, String, Text, |v| Json::String(v.clone()));
portable!(Bool, bool, Bool, |v| Json::Bool(*v));
portable!(Double, f64, Double, |v| Json::String(v.to_string()));
portable!(Timestamp, NaiveDateTime, Timestamp, |v| Json::String(
    encode_timestamp(v)
));
portable!(Binary, Vec<u8>, Binary, |v| Json::String(BASE64.encode(v)));

impl<T> PortableType for Nullable<T>
where
    T: PortableType + SqlType<IsNull = is_nullable::NotNull> + SingleValue,
{
    type Value = Option<T::Value>;
    const KIND: Kind = T::KIND;
    const NULLABLE: bool = true;
    fn to_json(v: &Self::Value) -> Json {
        v.as_ref().map_or(Json::Null, T::to_json)
    }
}

/// A row's SQL types (a tuple), read as a tuple of Rust values.
trait PortableRow {
    type Values;
    fn kinds() -> Vec<(Kind, bool)>;
    fn to_json(v: &Self::Values) -> Vec<Json>;
}

/// A tuple of diesel columns: their names.
trait ColumnNames {
    fn names() -> Vec<&'static str>;
}

macro_rules! tuple_impls {
    ($($T:ident $i:tt),+) => {
        impl<$($T: PortableType),+> PortableRow for ($($T,)+) {
            type Values = ($($T::Value,)+);
            fn kinds() -> Vec<(Kind, bool)> {
                vec![$(($T::KIND, $T::NULLABLE)),+]
            }
            fn to_json(v: &Self::Values) -> Vec<Json> {
                vec![$($T::to_json(&v.$i)),+]
            }
        }
        impl<$($T: diesel::Column),+> ColumnNames for ($($T,)+) {
            fn names() -> Vec<&'static str> {
                vec![$($T::NAME),+]
            }
        }
    };
}

tuple_impls!(T0 0);
tuple_impls!(T0 0, T1 1);
tuple_impls!(T0 0, T1 1, T2 2);
tuple_impls!(T0 0, T1 1, T2 2, T3 3);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15, T16 16);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15, T16 16, T17 17);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15, T16 16, T17 17, T18 18);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15, T16 16, T17 17, T18 18, T19 19);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15, T16 16, T17 17, T18 18, T19 19, T20 20);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15, T16 16, T17 17, T18 18, T19 19, T20 20, T21 21);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15, T16 16, T17 17, T18 18, T19 19, T20 20, T21 21, T22 22);
tuple_impls!(T0 0, T1 1, T2 2, T3 3, T4 4, T5 5, T6 6, T7 7, T8 8, T9 9, T10 10, T11 11, T12 12, T13 13, T14 14, T15 15, T16 16, T17 17, T18 18, T19 19, T20 20, T21 21, T22 22, T23 23);

/// Declares [`TABLES`] and the typed readers of every table, straight from
/// the diesel schema (columns, their order and types).
macro_rules! tables {
    ($($t:ident),+ $(,)?) => {
        /// Every table of the schema, in an order that satisfies the foreign
        /// keys (parents first). A test compares it with a migrated
        /// database's tables, and [`dump`] refuses a database with a table
        /// not listed here.
        pub const TABLES: &[&str] = &[$(stringify!($t)),+];

        /// The columns of `table` as this binary's schema has them.
        pub fn columns_of(table: &str) -> Option<Vec<ColumnSpec>> {
            match table {
                $(stringify!($t) => {
                    type Cols = <schema::$t::table as diesel::Table>::AllColumns;
                    type St = <Cols as diesel::Expression>::SqlType;
                    Some(
                        <Cols as ColumnNames>::names()
                            .into_iter()
                            .zip(<St as PortableRow>::kinds())
                            .map(|(name, (kind, nullable))| ColumnSpec {
                                name: name.to_owned(),
                                kind,
                                nullable,
                            })
                            .collect(),
                    )
                })+
                _ => None,
            }
        }

        /// Every row of `table`, by primary key, as portable values.
        fn dump_rows(
            conn: &mut DbConnection,
            table: &str,
            each: &mut dyn FnMut(Vec<Json>) -> Result<(), BackupError>,
        ) -> Result<(), BackupError> {
            match table {
                $(stringify!($t) => {
                    type Cols = <schema::$t::table as diesel::Table>::AllColumns;
                    type St = <Cols as diesel::Expression>::SqlType;
                    let rows = schema::$t::table
                        .select(schema::$t::all_columns)
                        .order(diesel::Table::primary_key(&schema::$t::table))
                        .load_iter::<<St as PortableRow>::Values, DefaultLoadingMode>(conn)?;
                    for row in rows {
                        each(<St as PortableRow>::to_json(&row?))?;
                    }
                    Ok(())
                })+
                other => Err(BackupError::Schema(format!("unknown table {other}"))),
            }
        }
    };
}

tables!(
    users,
    sessions,
    api_tokens,
    recovery_codes,
    audit_log,
    login_failures,
    pending_logins,
    setup_tokens,
    trading_accounts,
    watchlists,
    watchlist_symbols,
    user_settings,
    signal_history,
    scheduler_users,
    scheduler_runs,
    scheduler_lease,
    auto_trade_decisions,
    events,
    auth_epoch,
    instances,
);

fn encode_timestamp(t: &NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

// ------------------------------------------------------------ catalog

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct NameType {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    ty: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The tables in the database (ours and any other), without diesel's
/// migration table and SQLite's internal ones, sorted.
pub fn live_tables(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    let sql = match conn.backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let mut names: Vec<String> = diesel::sql_query(sql)
        .load::<Name>(conn)?
        .into_iter()
        .map(|n| n.name)
        .filter(|n| n != MIGRATIONS_TABLE)
        .collect();
    names.sort();
    Ok(names)
}

/// The columns of `table` in the database, with their portable kinds (the
/// catalog's type names mapped; `None` for a type no backup carries).
fn live_columns(
    conn: &mut DbConnection,
    table: &str,
) -> Result<Vec<(String, Option<Kind>)>, DbError> {
    let rows: Vec<NameType> = match conn.backend() {
        Backend::Sqlite => diesel::sql_query(
            "SELECT name, type AS ty FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind::<Text, _>(table)
        .load(conn)?,
        Backend::Postgres => diesel::sql_query(
            "SELECT column_name::text AS name, data_type::text AS ty FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind::<Text, _>(table)
        .load(conn)?,
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let kind = match r.ty.to_ascii_lowercase().as_str() {
                "integer" | "bigint" | "int" | "int4" | "int8" => Some(Kind::BigInt),
                "text" => Some(Kind::Text),
                "boolean" => Some(Kind::Bool),
                "timestamp" | "timestamp without time zone" => Some(Kind::Timestamp),
                "real" | "double precision" | "double" => Some(Kind::Double),
                "blob" | "bytea" => Some(Kind::Binary),
                _ => None,
            };
            (r.name, kind)
        })
        .collect())
}

/// The applied migrations' versions, oldest first; `None` when diesel's
/// table is not there (nothing was ever migrated). Read without creating
/// that table (a backup's transaction is read-only).
fn applied_versions(conn: &mut DbConnection) -> Result<Option<Vec<String>>, DbError> {
    let exists = match conn.backend() {
        Backend::Sqlite => diesel::sql_query(
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
        ),
        Backend::Postgres => diesel::sql_query(
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1",
        ),
    }
    .bind::<Text, _>(MIGRATIONS_TABLE)
    .get_result::<Count>(conn)?
    .n > 0;
    if !exists {
        return Ok(None);
    }
    let mut versions: Vec<String> =
        diesel::sql_query(format!("SELECT version AS name FROM {MIGRATIONS_TABLE}"))
            .load::<Name>(conn)?
            .into_iter()
            .map(|n| n.name)
            .collect();
    versions.sort();
    Ok(Some(versions))
}

/// Quotes an identifier already checked by [`identifier_ok`].
fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// Table and column names a header may carry: lowercase ASCII letters,
/// digits and `_`, starting with a letter or `_`, at most 63 bytes. Names
/// go into SQL text (quoted), so nothing else is let through.
fn identifier_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

// ------------------------------------------------------------ taking a backup

/// A writer that hashes and counts what passes through.
struct Hashing<'a> {
    inner: &'a mut dyn Write,
    hash: Sha256,
    bytes: u64,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Serialize)]
struct BodyLine<'a> {
    table: &'a str,
    row: &'a [Json],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnedBodyLine {
    table: String,
    row: Vec<Json>,
}

/// Writes the body of a backup of the database behind `conn` into `body`
/// (every table, one snapshot) and answers its header. `app_version` goes
/// into the header. The caller writes the header line, then the body.
pub fn dump(
    conn: &mut DbConnection,
    body: &mut dyn Write,
    app_version: &str,
) -> Result<Header, BackupError> {
    let backend = conn.backend();
    let known = known_migrations(backend)?;
    let Some(latest) = known.last().cloned() else {
        return Err(BackupError::Schema(
            "this binary carries no migrations".into(),
        ));
    };
    let created_at = Utc::now();
    let mut out = Hashing {
        inner: body,
        hash: Sha256::new(),
        bytes: 0,
    };
    let tables = conn.transaction::<_, BackupError, _>(|conn| {
        if backend == Backend::Postgres {
            // Must be the transaction's first statement: every read below
            // then sees one snapshot.
            conn.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        // On SQLite this first read starts the read transaction and fixes
        // its snapshot.
        let applied = applied_versions(conn)?.unwrap_or_default();
        check_source_schema(&applied, &known)?;
        let live = live_tables(conn)?;
        let unknown: Vec<&String> = live
            .iter()
            .filter(|t| !TABLES.contains(&t.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(BackupError::Schema(format!(
                "the database has tables this version's backup does not cover ({}); refusing to write an incomplete backup",
                join(unknown)
            )));
        }
        let mut specs = Vec::with_capacity(TABLES.len());
        for &table in TABLES {
            let columns = columns_of(table)
                .ok_or_else(|| BackupError::Schema(format!("unknown table {table}")))?;
            let mut rows = 0u64;
            if !EPHEMERAL_TABLES.contains(&table) {
                dump_rows(conn, table, &mut |row| {
                    serde_json::to_writer(&mut out, &BodyLine { table, row: &row })
                        .map_err(std::io::Error::from)?;
                    out.write_all(b"\n")?;
                    rows += 1;
                    Ok(())
                })?;
            }
            specs.push(TableSpec {
                name: table.to_owned(),
                columns,
                rows,
            });
        }
        Ok(specs)
    })?;
    out.flush()?;
    Ok(Header {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        schema_version: latest.version,
        schema_migration: latest.name,
        created_at: created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        app_version: app_version.to_owned(),
        source_backend: match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
        .to_owned(),
        tables,
        body_sha256: hex(&out.hash.finalize()),
        body_bytes: out.bytes,
        header_sha256: String::new(),
    })
}

/// The header as the file's first line (JSON and a newline), with its
/// `header_sha256` filled in.
pub fn header_line(header: &Header) -> Result<Vec<u8>, BackupError> {
    let mut sealed = header.clone();
    sealed.header_sha256 = header_digest(header)?;
    let mut line = serde_json::to_vec(&sealed).map_err(std::io::Error::from)?;
    line.push(b'\n');
    Ok(line)
}

/// The SHA-256 of `header` serialized with an empty `header_sha256`
/// (serde writes a struct's fields in one fixed order, so writer and
/// reader serialize the same bytes).
fn header_digest(header: &Header) -> Result<String, BackupError> {
    let mut unsealed = header.clone();
    unsealed.header_sha256 = String::new();
    let bytes = serde_json::to_vec(&unsealed).map_err(std::io::Error::from)?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn check_source_schema(
    applied: &[String],
    known: &[crate::migrations::KnownMigration],
) -> Result<(), BackupError> {
    let known_versions: BTreeSet<&str> = known.iter().map(|m| m.version.as_str()).collect();
    if let Some(unknown) = applied
        .iter()
        .find(|v| !known_versions.contains(v.as_str()))
    {
        return Err(BackupError::Newer(format!(
            "the database was migrated by a newer alpaca-trader (migration {unknown} is unknown to this binary); back it up with that version"
        )));
    }
    let missing: Vec<&str> = known
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| m.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(BackupError::Schema(format!(
            "the database is not at this binary's schema (missing migrations: {}); run `alpaca-trader init-db` first",
            missing.join(", ")
        )));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------ reading a file

/// A value decoded from a body line, typed by its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    BigInt(Option<i64>),
    Integer(Option<i32>),
    Text(Option<String>),
    Bool(Option<bool>),
    Timestamp(Option<NaiveDateTime>),
    Double(Option<f64>),
    Binary(Option<Vec<u8>>),
}

impl Value {
    /// The value as an integer, if it is a non-null integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::BigInt(v) => *v,
            Self::Integer(v) => v.map(i64::from),
            _ => None,
        }
    }

    /// The value as text, if it is non-null text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(v) => v.as_deref(),
            _ => None,
        }
    }
}

fn decode(column: &ColumnSpec, v: &Json) -> Result<Value, String> {
    let bad = |what: &str| format!("column {}: not {what}", column.name);
    if v.is_null() {
        if !column.nullable {
            return Err(format!("column {}: null in a NOT NULL column", column.name));
        }
        return Ok(match column.kind {
            Kind::BigInt => Value::BigInt(None),
            Kind::Integer => Value::Integer(None),
            Kind::Text => Value::Text(None),
            Kind::Bool => Value::Bool(None),
            Kind::Timestamp => Value::Timestamp(None),
            Kind::Double => Value::Double(None),
            Kind::Binary => Value::Binary(None),
        });
    }
    Ok(match column.kind {
        Kind::BigInt => Value::BigInt(Some(v.as_i64().ok_or_else(|| bad("an integer"))?)),
        Kind::Integer => Value::Integer(Some(
            v.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| bad("a 32-bit integer"))?,
        )),
        Kind::Text => Value::Text(Some(v.as_str().ok_or_else(|| bad("text"))?.to_owned())),
        Kind::Bool => Value::Bool(Some(v.as_bool().ok_or_else(|| bad("a boolean"))?)),
        Kind::Timestamp => Value::Timestamp(Some(
            v.as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.naive_utc())
                .ok_or_else(|| bad("an RFC 3339 timestamp"))?,
        )),
        Kind::Double => Value::Double(Some(
            v.as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or_else(|| bad("a decimal number"))?,
        )),
        Kind::Binary => Value::Binary(Some(
            v.as_str()
                .and_then(|s| BASE64.decode(s).ok())
                .ok_or_else(|| bad("base64"))?,
        )),
    })
}

/// Reads one line of at most `max` bytes into `buf` (with its newline);
/// answers whether it ended with a newline (false at a truncated end).
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>, max: u64) -> std::io::Result<bool> {
    buf.clear();
    r.by_ref().take(max + 1).read_until(b'\n', buf)?;
    Ok(buf.last() == Some(&b'\n'))
}

/// Reads and checks the header line. The error says whether the file is
/// not a backup at all, damaged, or made by a newer version.
fn read_header(r: &mut impl BufRead, backend: Backend) -> Result<(Header, Vec<u8>), BackupError> {
    let not_backup = || {
        BackupError::Corrupt(
            "this is not an alpaca-trader backup (its first line is not a backup header)".into(),
        )
    };
    let mut line = Vec::new();
    if !read_line(r, &mut line, MAX_HEADER_BYTES)? {
        return Err(if line.is_empty() {
            BackupError::Corrupt("the file is empty".into())
        } else {
            not_backup()
        });
    }
    let raw: Json = serde_json::from_slice(&line).map_err(|_| not_backup())?;
    if raw.get("format").and_then(Json::as_str) != Some(FORMAT) {
        return Err(not_backup());
    }
    if let Some(v) = raw.get("format_version").and_then(Json::as_u64)
        && v > u64::from(FORMAT_VERSION)
    {
        return Err(BackupError::Newer(format!(
            "the backup is in format version {v}, newer than this binary reads ({FORMAT_VERSION}); restore it with a newer alpaca-trader"
        )));
    }
    let header: Header = serde_json::from_value(raw)
        .map_err(|e| BackupError::Corrupt(format!("the backup's header is damaged: {e}")))?;
    if header_digest(&header)? != header.header_sha256 {
        return Err(BackupError::Corrupt(
            "the backup's header is damaged or was changed: its checksum does not match".into(),
        ));
    }
    if header.format_version == 0 {
        return Err(BackupError::Corrupt(
            "the backup's header is damaged: format version 0".into(),
        ));
    }
    let known = known_migrations(backend)?;
    if !known.iter().any(|m| m.version == header.schema_version) {
        return Err(BackupError::Newer(format!(
            "the backup was made by a newer alpaca-trader: its schema version {} ({}) is not among this binary's migrations (newest {}); restore it with that version or later",
            header.schema_version,
            header.schema_migration,
            known.last().map_or("none", |m| m.name.as_str())
        )));
    }
    let mut names = BTreeSet::new();
    for t in &header.tables {
        if !identifier_ok(&t.name) || !names.insert(t.name.as_str()) {
            return Err(BackupError::Corrupt(format!(
                "the backup's header is damaged: bad or repeated table name {:?}",
                t.name
            )));
        }
        let mut cols = BTreeSet::new();
        if t.columns.is_empty()
            || !t
                .columns
                .iter()
                .all(|c| identifier_ok(&c.name) && cols.insert(c.name.as_str()))
        {
            return Err(BackupError::Corrupt(format!(
                "the backup's header is damaged: bad columns for table {}",
                t.name
            )));
        }
    }
    if header.body_sha256.len() != 64 || !header.body_sha256.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(BackupError::Corrupt(
            "the backup's header is damaged: no checksum".into(),
        ));
    }
    Ok((header, line))
}

/// What [`read_body`] hands each row to.
type RowSink<'a> = dyn FnMut(&TableSpec, Vec<Value>) -> Result<(), BackupError> + 'a;

/// A caller's check of each row in [`verify`]: an error refuses the backup
/// with that text.
pub type RowCheck<'a> = dyn FnMut(&TableSpec, &[Value]) -> Result<(), String> + 'a;

/// Parses one body line: which table (by its index in the header; tables
/// come in the header's order) and its values, typed by the columns.
fn parse_line(
    line: &[u8],
    line_no: u64,
    header: &Header,
    index: &HashMap<&str, usize>,
    current: &mut usize,
) -> Result<(usize, Vec<Value>), BackupError> {
    let parsed: OwnedBodyLine = serde_json::from_slice(line)
        .map_err(|e| BackupError::Corrupt(format!("line {line_no}: not a backup row: {e}")))?;
    let i = *index.get(parsed.table.as_str()).ok_or_else(|| {
        BackupError::Corrupt(format!(
            "line {line_no}: table {:?} is not in the header",
            parsed.table
        ))
    })?;
    if i < *current {
        return Err(BackupError::Corrupt(format!(
            "line {line_no}: rows of {} out of order",
            parsed.table
        )));
    }
    *current = i;
    let spec = &header.tables[i];
    if parsed.row.len() != spec.columns.len() {
        return Err(BackupError::Corrupt(format!(
            "line {line_no}: {} values for the {} columns of {}",
            parsed.row.len(),
            spec.columns.len(),
            spec.name
        )));
    }
    let values = spec
        .columns
        .iter()
        .zip(&parsed.row)
        .map(|(c, v)| decode(c, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BackupError::Corrupt(format!("line {line_no}, {}: {e}", spec.name)))?;
    Ok((i, values))
}

/// Reads the body after the header, calling `on_row` for each row (typed
/// by its column) until the first error; then checks the checksum, the
/// length and the row counts. A checksum or length mismatch is reported in
/// preference to any other problem (a flipped byte is "damaged", whatever
/// it broke on the way).
fn read_body(
    r: &mut impl BufRead,
    header: &Header,
    on_row: &mut RowSink<'_>,
) -> Result<(), BackupError> {
    let index: HashMap<&str, usize> = header
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let mut counts = vec![0u64; header.tables.len()];
    let mut current = 0usize;
    let mut first_error: Option<BackupError> = None;
    let mut line = Vec::new();
    let mut line_no = 1u64;
    loop {
        let complete = read_line(r, &mut line, MAX_LINE_BYTES)?;
        if line.is_empty() {
            break;
        }
        line_no += 1;
        hash.update(&line);
        bytes += line.len() as u64;
        if first_error.is_some() {
            continue;
        }
        if !complete {
            first_error = Some(BackupError::Corrupt(format!(
                "line {line_no}: cut short; the file is truncated"
            )));
            continue;
        }
        let result =
            parse_line(&line, line_no, header, &index, &mut current).and_then(|(i, values)| {
                counts[i] += 1;
                on_row(&header.tables[i], values)
            });
        if let Err(e) = result {
            first_error = Some(e);
        }
    }
    if hex(&hash.finalize()) != header.body_sha256 || bytes != header.body_bytes {
        return Err(BackupError::Corrupt(if bytes < header.body_bytes {
            format!(
                "the backup is truncated ({bytes} of {} bytes after the header) or damaged; its checksum does not match",
                header.body_bytes
            )
        } else {
            "the backup is damaged or was changed: its checksum does not match".to_owned()
        }));
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    for (spec, n) in header.tables.iter().zip(counts) {
        if spec.rows != n {
            return Err(BackupError::Corrupt(format!(
                "the header counts {} rows of {} but the body holds {n}",
                spec.rows, spec.name
            )));
        }
    }
    Ok(())
}

/// Reads the whole backup and writes nothing: the header (format, a schema
/// version this binary knows), the checksum, every row typed by its column,
/// the counts. `check` sees every row and may refuse it (the caller checks
/// the sealed values with its key ring there). `backend` is the target's.
pub fn verify(
    file: impl Read,
    backend: Backend,
    check: &mut RowCheck<'_>,
) -> Result<Header, BackupError> {
    let mut r = BufReader::with_capacity(1 << 16, file);
    let (header, _) = read_header(&mut r, backend)?;
    read_body(&mut r, &header, &mut |spec, values| {
        check(spec, &values).map_err(BackupError::Refused)
    })?;
    Ok(header)
}

// ------------------------------------------------------------ restoring

/// Opens the restore's connection to `url`.
///
/// On SQLite the connection takes the file in `EXCLUSIVE` locking mode
/// before its first read, so it fails at once ([`BackupError::InUse`]) when
/// any other connection (a running server's pool, a `run-once`) has the
/// file open, and no one else can read or write it until the restore ends.
pub fn connect_for_restore(url: &DatabaseUrl) -> Result<DbConnection, BackupError> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            crate::connection::create_parent_dir(path)?;
            let path_str = path.to_str().ok_or_else(|| {
                BackupError::Db(DbError::Connect(format!(
                    "SQLite path {} is not valid UTF-8",
                    path.display()
                )))
            })?;
            let mut conn = diesel::SqliteConnection::establish(path_str).map_err(|e| {
                BackupError::Db(DbError::Connect(format!(
                    "cannot open SQLite database {}: {e}",
                    path.display()
                )))
            })?;
            conn.batch_execute(
                "PRAGMA busy_timeout = 2000; \
                 PRAGMA locking_mode = EXCLUSIVE; \
                 PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| {
                let text = e.to_string();
                if text.contains("locked") || text.contains("busy") {
                    BackupError::InUse(format!(
                        "{} is in use: another process (a running server?) has it open; stop every server using it first",
                        path.display()
                    ))
                } else {
                    BackupError::Db(DbError::Connect(format!(
                        "cannot prepare SQLite database {}: {text}",
                        path.display()
                    )))
                }
            })?;
            Ok(DbConnection::Sqlite(conn))
        }
        DatabaseUrl::Postgres(_) => {
            Ok(url.connect().map_err(|e| DbError::Connect(e.to_string()))?)
        }
    }
}

#[derive(QueryableByName)]
struct Activity {
    #[diesel(sql_type = Text)]
    who: String,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Refuses a target that servers are using. Runs inside the restore's
/// transaction, before anything changes.
///
/// - PostgreSQL: no other session may be connected to the database (every
///   server keeps pooled connections, and the scheduler holds one for its
///   advisory lock); then the transaction takes the scheduler's and the
///   migrations' advisory locks, so no scheduler pass and no starting
///   server's migrations run until the restore has committed.
/// - SQLite: [`connect_for_restore`] already holds the file exclusively.
///   (The scheduler's lease is no sign: `serve` leaves it to expire when it
///   stops, and a running scheduler keeps a pooled connection open anyway.)
fn refuse_if_in_use(conn: &mut DbConnection) -> Result<(), BackupError> {
    match conn.backend() {
        Backend::Postgres => {
            let others: Vec<Activity> = diesel::sql_query(
                "SELECT COALESCE(NULLIF(application_name, ''), 'a client') || ' from ' || \
                 COALESCE(host(client_addr), 'a local socket') AS who \
                 FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND backend_type = 'client backend'",
            )
            .load(conn)?;
            if !others.is_empty() {
                let mut who: Vec<String> = others.into_iter().map(|a| a.who).collect();
                who.sort();
                who.dedup();
                return Err(BackupError::InUse(format!(
                    "the database is in use: other sessions are connected ({}); stop every server using it (and close other sessions) first",
                    who.join(", ")
                )));
            }
            let scheduler: Locked = diesel::sql_query(format!(
                "SELECT pg_try_advisory_xact_lock({}) AS locked",
                crate::scheduler::SCHEDULER_LOCK_KEY
            ))
            .get_result(conn)?;
            if !scheduler.locked {
                return Err(BackupError::InUse(
                    "the database is in use: a scheduler holds its lock; stop every server using it first".into(),
                ));
            }
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .execute(conn)?;
        }
        // connect_for_restore holds the file exclusively: no other
        // connection is open, and none can be until the restore ends.
        Backend::Sqlite => {}
    }
    Ok(())
}

/// Rows in the target's tables, for the "not empty" refusal: `(table,
/// has rows)`; tables not ours are reported apart.
fn target_contents(conn: &mut DbConnection) -> Result<(Vec<String>, Vec<String>), DbError> {
    let mut with_rows = Vec::new();
    let mut foreign = Vec::new();
    for table in live_tables(conn)? {
        if !TABLES.contains(&table.as_str()) {
            foreign.push(table);
            continue;
        }
        let n = diesel::sql_query(format!(
            "SELECT count(*) AS n FROM (SELECT 1 FROM {} LIMIT 1) AS t",
            quoted(&table)
        ))
        .get_result::<Count>(conn)?
        .n;
        if n > 0 {
            with_rows.push(table);
        }
    }
    Ok((with_rows, foreign))
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub tables: usize,
    pub rows: u64,
    /// The target held data that the restore replaced (`force`).
    pub replaced: bool,
    /// Migrations newer than the backup's schema, run after the rows went in.
    pub migrated_after: Vec<String>,
}

/// Restores `file` (already checked by [`verify`], which answered
/// `header`) into the database behind `conn` (from
/// [`connect_for_restore`]), in one transaction. See the module docs.
pub fn restore<R: Read + Seek>(
    conn: &mut DbConnection,
    mut file: R,
    header: &Header,
    force: bool,
) -> Result<RestoreReport, BackupError> {
    let backend = conn.backend();
    let known = known_migrations(backend)?;
    conn.write_transaction::<_, BackupError, _>(|conn| {
        refuse_if_in_use(conn)?;

        let applied = applied_versions(conn)?.unwrap_or_default();
        if let Some(unknown) = applied
            .iter()
            .find(|v| !known.iter().any(|m| &m.version == *v))
        {
            return Err(BackupError::Newer(format!(
                "the target database was migrated by a newer alpaca-trader (migration {unknown} is unknown to this binary); restore with that version"
            )));
        }
        let (with_rows, foreign) = target_contents(conn)?;
        if !foreign.is_empty() {
            return Err(BackupError::Schema(format!(
                "the target database holds tables that are not alpaca-trader's ({}); restore into a database of its own",
                foreign.join(", ")
            )));
        }
        if !with_rows.is_empty() && !force {
            return Err(BackupError::NotEmpty(format!(
                "the target database is not empty (rows in {}); a restore replaces everything in it: pass --force to do that",
                with_rows.join(", ")
            )));
        }

        // An empty schema, then the backup's.
        if !applied.is_empty() {
            drop_ours(conn)?;
        }
        run_up_to(conn, Some(header.schema_version.as_str()))?;
        check_target_matches(conn, header)?;

        // The rows, re-reading the file from its start: the checksum is
        // checked again, so a file changed since `verify` rolls back.
        file.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::with_capacity(1 << 16, &mut file);
        let (again, _) = read_header(&mut r, backend)?;
        if &again != header {
            return Err(BackupError::Corrupt(
                "the backup file changed while it was being restored".into(),
            ));
        }
        let mut inserts: HashMap<String, String> = HashMap::new();
        let mut rows = 0u64;
        read_body(&mut r, header, &mut |spec, values| {
            let sql = inserts
                .entry(spec.name.clone())
                .or_insert_with(|| insert_sql(backend, spec));
            insert_row(conn, sql, values)?;
            rows += 1;
            Ok(())
        })?;

        if backend == Backend::Postgres {
            for spec in &header.tables {
                if spec.rows > 0 && spec.columns.iter().any(|c| c.name == "id") {
                    let table = quoted(&spec.name);
                    diesel::sql_query(format!(
                        "SELECT setval(s.seq, s.m) FROM \
                         (SELECT pg_get_serial_sequence('{table}', 'id') AS seq, \
                                 (SELECT max(id) FROM {table}) AS m) AS s \
                         WHERE s.seq IS NOT NULL AND s.m IS NOT NULL"
                    ))
                    .execute(conn)?;
                }
            }
        }

        let before: BTreeSet<String> = applied_versions(conn)?.unwrap_or_default().into_iter().collect();
        run_up_to(conn, None)?;
        let migrated_after = known
            .iter()
            .filter(|m| !before.contains(&m.version))
            .map(|m| m.name.clone())
            .collect();
        Ok(RestoreReport {
            tables: header.tables.len(),
            rows,
            replaced: !with_rows.is_empty(),
            migrated_after,
        })
    })
}

/// Drops every table of ours (children first) and forgets the applied
/// migrations: the empty database the backup's migrations start from.
/// Dropping rather than running each `down.sql` keeps this independent of
/// how well every down migration was written; inside the restore's
/// transaction it is undone with everything else on failure.
fn drop_ours(conn: &mut DbConnection) -> Result<(), BackupError> {
    let live = live_tables(conn)?;
    for table in TABLES.iter().rev() {
        if live.iter().any(|t| t == table) {
            diesel::sql_query(format!("DROP TABLE {}", quoted(table))).execute(conn)?;
        }
    }
    diesel::sql_query(format!("DELETE FROM {MIGRATIONS_TABLE}")).execute(conn)?;
    Ok(())
}

/// The target, at the backup's schema version, must have exactly the
/// header's tables, each with the header's columns of matching kinds.
fn check_target_matches(conn: &mut DbConnection, header: &Header) -> Result<(), BackupError> {
    let live: BTreeSet<String> = live_tables(conn)?.into_iter().collect();
    let named: BTreeSet<String> = header.tables.iter().map(|t| t.name.clone()).collect();
    if live != named {
        return Err(BackupError::Corrupt(format!(
            "the backup's tables do not match its schema version {}: missing {}, unknown {}",
            header.schema_migration,
            join(live.difference(&named)),
            join(named.difference(&live))
        )));
    }
    for spec in &header.tables {
        let columns: BTreeMap<String, Option<Kind>> =
            live_columns(conn, &spec.name)?.into_iter().collect();
        let same = columns.len() == spec.columns.len()
            && spec.columns.iter().all(|c| {
                columns
                    .get(&c.name)
                    .is_some_and(|k| k.map(Kind::family) == Some(c.kind.family()))
            });
        if !same {
            return Err(BackupError::Corrupt(format!(
                "the backup's columns of {} do not match its schema version {}",
                spec.name, header.schema_migration
            )));
        }
    }
    Ok(())
}

fn insert_sql(backend: Backend, spec: &TableSpec) -> String {
    let columns = spec
        .columns
        .iter()
        .map(|c| quoted(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    match backend {
        Backend::Sqlite => {
            let marks = vec!["?"; spec.columns.len()].join(", ");
            format!(
                "INSERT INTO {} ({columns}) VALUES ({marks})",
                quoted(&spec.name)
            )
        }
        Backend::Postgres => {
            let marks = (1..=spec.columns.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            // Ids are kept as they were: identity columns take them too.
            format!(
                "INSERT INTO {} ({columns}) OVERRIDING SYSTEM VALUE VALUES ({marks})",
                quoted(&spec.name)
            )
        }
    }
}

macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut q = $query;
        for v in $values {
            q = match v {
                Value::BigInt(v) => q.bind::<Nullable<BigInt>, _>(v),
                Value::Integer(v) => q.bind::<Nullable<Integer>, _>(v),
                Value::Text(v) => q.bind::<Nullable<Text>, _>(v),
                Value::Bool(v) => q.bind::<Nullable<Bool>, _>(v),
                Value::Timestamp(v) => q.bind::<Nullable<Timestamp>, _>(v),
                Value::Double(v) => q.bind::<Nullable<Double>, _>(v),
                Value::Binary(v) => q.bind::<Nullable<Binary>, _>(v),
            };
        }
        q
    }};
}

fn insert_row(conn: &mut DbConnection, sql: &str, values: Vec<Value>) -> Result<(), BackupError> {
    match conn {
        DbConnection::Sqlite(c) => {
            let q: BoxedSqlQuery<'_, diesel::sqlite::Sqlite, SqlQuery> =
                diesel::sql_query(sql).into_boxed();
            bind_values!(q, values).execute(c)?;
        }
        DbConnection::Postgres(c) => {
            let q: BoxedSqlQuery<'_, diesel::pg::Pg, SqlQuery> =
                diesel::sql_query(sql).into_boxed();
            bind_values!(q, values).execute(c)?;
        }
    }
    Ok(())
}

/// Every row of every carried table of the database, as a backup would
/// hold them, keyed by table (for tests that compare two databases).
pub fn snapshot_rows(
    conn: &mut DbConnection,
) -> Result<BTreeMap<String, Vec<Vec<Json>>>, BackupError> {
    let mut all = BTreeMap::new();
    conn.transaction::<_, BackupError, _>(|conn| {
        for &table in TABLES {
            let mut rows = Vec::new();
            if !EPHEMERAL_TABLES.contains(&table) {
                dump_rows(conn, table, &mut |row| {
                    rows.push(row);
                    Ok(())
                })?;
            }
            all.insert(table.to_owned(), rows);
        }
        Ok(())
    })?;
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_sql_like_names() {
        assert_eq!(
            serde_json::to_string(&Kind::BigInt).ok().as_deref(),
            Some("\"bigint\"")
        );
        assert_eq!(
            serde_json::to_string(&Kind::Timestamp).ok().as_deref(),
            Some("\"timestamp\"")
        );
    }

    #[test]
    fn identifiers() {
        assert!(identifier_ok("users"));
        assert!(identifier_ok("__diesel_x"));
        assert!(!identifier_ok("Users"));
        assert!(!identifier_ok("a\"b"));
        assert!(!identifier_ok("1a"));
        assert!(!identifier_ok(""));
    }

    #[test]
    fn every_table_has_its_schema_columns() {
        for &t in TABLES {
            let cols = columns_of(t).unwrap_or_default();
            assert!(!cols.is_empty(), "{t}");
        }
        let users = columns_of("users").unwrap_or_default();
        assert_eq!(users[0].name, "id");
        assert_eq!(users[0].kind, Kind::BigInt);
        assert!(users.iter().any(|c| c.name == "totp_secret" && c.nullable));
        for (table, column) in SEALED_COLUMNS {
            assert!(
                columns_of(table)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.name == *column && c.kind == Kind::Text),
                "{table}.{column}"
            );
        }
    }

    #[test]
    fn values_round_trip() {
        let col = |kind, nullable| ColumnSpec {
            name: "c".into(),
            kind,
            nullable,
        };
        let t = NaiveDateTime::parse_from_str("2026-12-01 14:30:00.123456", "%Y-%m-%d %H:%M:%S%.f")
            .ok();
        let Some(t) = t else {
            panic!("timestamp parses")
        };
        let json = <Timestamp as PortableType>::to_json(&t);
        assert_eq!(json, Json::String("2026-12-01T14:30:00.123456Z".into()));
        assert_eq!(
            decode(&col(Kind::Timestamp, false), &json).ok(),
            Some(Value::Timestamp(Some(t)))
        );
        for x in [0.1, 1e300, -2.5e-300, 123_456.789_012_345_67] {
            let json = <Double as PortableType>::to_json(&x);
            assert_eq!(
                decode(&col(Kind::Double, false), &json).ok(),
                Some(Value::Double(Some(x)))
            );
        }
        assert!(decode(&col(Kind::Text, false), &Json::Null).is_err());
        assert!(decode(&col(Kind::Integer, true), &Json::from(1i64 << 40)).is_err());
        assert_eq!(
            decode(&col(Kind::Bool, true), &Json::Null).ok(),
            Some(Value::Bool(None))
        );
    }
}
