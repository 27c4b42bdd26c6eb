//! Helpers shared by the integration tests: fixture files and the TA-Lib
//! tolerance.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses some of these helpers"
)]
#![expect(
    clippy::expect_used,
    reason = "a test fails loudly at the first thing that is not as expected"
)]

use std::path::PathBuf;

/// The text of `tests/fixtures/<path>`.
pub fn fixture(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// A CSV without quoting, as the fixtures are.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn parse(text: &str) -> Self {
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let header = lines
            .next()
            .expect("a header")
            .split(',')
            .map(str::to_owned)
            .collect();
        let rows = lines
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
        Self { header, rows }
    }

    pub fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// A column as optional numbers (empty = None).
    pub fn numbers(&self, name: &str) -> Vec<Option<f64>> {
        let c = self.column(name);
        self.rows
            .iter()
            .map(|r| {
                let cell = r[c].trim();
                (!cell.is_empty()).then(|| cell.parse().expect("a number"))
            })
            .collect()
    }
}

/// The fixture's tolerance: |ours - theirs| <= 1e-9 * max(1, |theirs|), and
/// both empty or both present.
pub fn check_value(
    what: &str,
    row: usize,
    ours: Option<f64>,
    theirs: Option<f64>,
) -> Result<(), String> {
    match (ours, theirs) {
        (None, None) => Ok(()),
        (Some(o), Some(t)) if (o - t).abs() <= 1e-9 * t.abs().max(1.0) => Ok(()),
        _ => Err(format!(
            "{what} row {row}: ours {ours:?}, TA-Lib {theirs:?}"
        )),
    }
}

/// Checks whole columns, collecting every mismatch (at most 20 reported).
pub fn compare_columns(what: &str, ours: &[Option<f64>], theirs: &[Option<f64>]) -> Vec<String> {
    let mut errors = Vec::new();
    if ours.len() != theirs.len() {
        errors.push(format!(
            "{what}: {} rows, TA-Lib {}",
            ours.len(),
            theirs.len()
        ));
        return errors;
    }
    let first = |v: &[Option<f64>]| v.iter().position(Option::is_some);
    if first(ours) != first(theirs) {
        errors.push(format!(
            "{what}: first value at row {:?}, TA-Lib at {:?}",
            first(ours),
            first(theirs)
        ));
    }
    for (row, (o, t)) in ours.iter().zip(theirs).enumerate() {
        if let Err(e) = check_value(what, row, *o, *t) {
            errors.push(e);
        }
    }
    errors.truncate(20);
    errors
}
