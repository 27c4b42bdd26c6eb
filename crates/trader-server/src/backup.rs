//! `alpaca-trader backup --out FILE` and `alpaca-trader restore --from FILE
//! [--force]`: the command-line side of [`trader_db::backup`] (the file
//! format, the snapshot and the restore transaction live there).
//!
//! `backup` writes the file under a temporary name in the same folder,
//! created with mode 0600 (never readable by others, not even for a
//! moment), and renames it into place only when complete, so FILE is
//! either a whole backup or not there.
//!
//! `restore` reads the whole file first and changes nothing until it is
//! sure: the checksum, every row, and that the current key ring
//! (`ENCRYPTION_KEY` and `ENCRYPTION_KEYS_OLD`) opens every sealed value.
//! Only then does it open the target (refusing one that servers use, or
//! one with data unless `--force`) and load it in one transaction.
//!
//! Neither command ever prints a value from a row.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use trader_api_types::UserId;
use trader_db::backup::{self, BackupError, SEALED_COLUMNS, TableSpec, Value};
use trader_db::{Backend, DatabaseUrl};
use trader_security::{Aad, KeyRing};

use crate::settings::{DatabaseArgs, ServeArgs, Settings};

/// Printed to stderr by both commands.
pub const KEY_WARNING: &str = "\
WARNING: a backup never holds ENCRYPTION_KEY. Keep that key apart from your backups \
(not next to them, not in the same archive). Without it a backup cannot give back \
the trading accounts' API keys or anyone's two-factor (TOTP) secrets. The backup \
does hold password hashes, sealed keys and sessions: store it like a secret.";

/// Flags of `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (mode 0600). An existing file is refused unless
    /// --force.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// Flags of `restore`. The key ring comes from ENCRYPTION_KEY and
/// ENCRYPTION_KEYS_OLD, read as `serve` reads them.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup to restore.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,

    /// Replace everything in a database that already holds data.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub server: ServeArgs,
}

/// Removes a temporary file unless it was kept.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates `path` for writing, new, readable and writable by its owner
/// only: the mode is given to `open(2)`, never loosened and then tightened.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A name next to `out` for a file being written.
fn temp_name(out: &Path, what: &str) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.{what}-{}", uuid::Uuid::new_v4().simple()))
}

/// Runs `backup`.
pub fn run_backup(args: &BackupArgs) -> anyhow::Result<()> {
    eprintln!("{KEY_WARNING}");
    let url = args.db.database_url()?;
    if let DatabaseUrl::Sqlite(path) = &url
        && !path.is_file()
    {
        bail!("no database at {}: nothing to back up", path.display());
    }
    if args.out.exists() && !args.force {
        bail!(
            "{} exists: choose another name, or pass --force to replace it",
            args.out.display()
        );
    }
    let mut conn = url.connect().map_err(|e| anyhow!("{e}"))?;

    // The body first (its checksum goes into the header), then the file:
    // the header line and the body, under a temporary name, renamed when
    // complete.
    let body_path = temp_name(&args.out, "body");
    let mut body = create_private(&body_path)
        .with_context(|| format!("cannot create a file next to {}", args.out.display()))?;
    let body_guard = TempFile {
        path: body_path,
        keep: false,
    };
    let header = {
        let mut w = BufWriter::new(&mut body);
        let header = backup::dump(&mut conn, &mut w, env!("CARGO_PKG_VERSION"))
            .map_err(|e| anyhow!("backup failed: {e}; nothing was written"))?;
        w.flush()?;
        header
    };
    drop(conn);

    let out_path = temp_name(&args.out, "partial");
    let mut out = create_private(&out_path)
        .with_context(|| format!("cannot create a file next to {}", args.out.display()))?;
    let mut out_guard = TempFile {
        path: out_path,
        keep: false,
    };
    out.write_all(&backup::header_line(&header)?)?;
    body.seek(SeekFrom::Start(0))?;
    std::io::copy(&mut body, &mut out)?;
    out.sync_all()?;
    drop(out);
    if args.force {
        std::fs::rename(&out_guard.path, &args.out)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        out_guard.keep = true;
    } else {
        // A hard link never replaces a file that appeared meanwhile.
        std::fs::hard_link(&out_guard.path, &args.out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow!(
                    "{} exists: choose another name, or pass --force to replace it",
                    args.out.display()
                )
            } else {
                anyhow!("cannot write {}: {e}", args.out.display())
            }
        })?;
    }
    drop(out_guard);
    drop(body_guard);
    // The new name on disk too (best effort: not every file system lets a
    // folder be opened for this).
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }

    println!(
        "backup written to {}: {} rows in {} tables, schema {}, sha256 {}",
        args.out.display(),
        header.total_rows(),
        header.tables.len(),
        header.schema_migration,
        header.body_sha256
    );
    for t in header.tables.iter().filter(|t| t.rows > 0) {
        println!("  {}: {}", t.name, t.rows);
    }
    Ok(())
}

/// Runs `restore`.
pub fn run_restore(args: &RestoreArgs) -> anyhow::Result<()> {
    eprintln!("{KEY_WARNING}");
    eprintln!(
        "restore opens the backup's trading keys and TOTP secrets with ENCRYPTION_KEY (and ENCRYPTION_KEYS_OLD): they must hold the key of the installation that made the backup."
    );
    let (settings, _) = Settings::from_serve_args(&args.server)?;
    let url = settings.database_url.clone();
    let keyring = KeyRing::new(
        settings.encryption_key.clone(),
        settings.encryption_keys_old.clone(),
    );
    let refused = |e: BackupError| anyhow!("restore refused: {e}; nothing was changed");

    let mut file =
        File::open(&args.from).with_context(|| format!("cannot open {}", args.from.display()))?;
    if !file.metadata()?.is_file() {
        bail!("{} is not a file", args.from.display());
    }
    let mut sealed = 0u64;
    let header = backup::verify(&mut file, url.backend(), &mut |spec, values| {
        sealed += check_sealed(&keyring, spec, values)?;
        Ok(())
    })
    .map_err(refused)?;
    println!(
        "{}: a whole backup from {} ({} rows, schema {}, made {} by alpaca-trader {}); {sealed} sealed values open with the current key ring",
        args.from.display(),
        header.source_backend,
        header.total_rows(),
        header.schema_migration,
        header.created_at,
        header.app_version
    );

    let mut conn = backup::connect_for_restore(&url).map_err(refused)?;
    let report = backup::restore(&mut conn, &mut file, &header, args.force).map_err(refused)?;
    println!(
        "restored into {url}: {} rows in {} tables{}{}",
        report.rows,
        report.tables,
        if report.replaced {
            " (what the database held before was replaced)"
        } else {
            ""
        },
        if report.migrated_after.is_empty() {
            String::new()
        } else {
            format!(
                "; then applied {} newer migration(s): {}",
                report.migrated_after.len(),
                report.migrated_after.join(", ")
            )
        }
    );
    if url.backend() == Backend::Postgres {
        println!("identity sequences were set past the highest ids");
    }
    Ok(())
}

/// The associated data a sealed column's values are bound to, as the app
/// seals them (see `services::broker::key_aad` and `routes::two_factor`).
fn sealed_aad(spec: &TableSpec, values: &[Value], column: &str) -> Result<Aad, String> {
    let get = |name: &str| {
        spec.columns
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| values.get(i)?.as_i64())
            .ok_or_else(|| format!("{}: no {name}", spec.name))
    };
    match spec.name.as_str() {
        "users" => Ok(crate::routes::two_factor::totp_aad(
            UserId(get("id")?),
            column,
        )),
        "trading_accounts" => Ok(crate::services::broker::key_aad(
            UserId(get("user_id")?),
            get("id")?,
            column,
        )),
        other => Err(format!(
            "{other}.{column} is sealed but this binary does not know how it is bound"
        )),
    }
}

/// Opens every sealed value of a row with `keyring`; answers how many it
/// opened. The error names the table, the row and the column, never the
/// value.
fn check_sealed(keyring: &KeyRing, spec: &TableSpec, values: &[Value]) -> Result<u64, String> {
    let mut opened = 0;
    for (table, column) in SEALED_COLUMNS {
        if *table != spec.name {
            continue;
        }
        let Some(i) = spec.columns.iter().position(|c| c.name == *column) else {
            continue;
        };
        let Some(sealed) = values.get(i).and_then(Value::as_str) else {
            continue;
        };
        let aad = sealed_aad(spec, values, column)?;
        keyring.open(sealed, &aad).map_err(|e| {
            let row = spec
                .columns
                .iter()
                .position(|c| c.name == "id")
                .and_then(|i| values.get(i)?.as_i64())
                .map_or_else(String::new, |id| format!(" of row {id}"));
            format!(
                "{table}.{column}{row} cannot be opened with the current key ring ({e}); set ENCRYPTION_KEY (or ENCRYPTION_KEYS_OLD) to the key of the installation that made the backup"
            )
        })?;
        opened += 1;
    }
    Ok(opened)
}
