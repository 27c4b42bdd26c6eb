//! Values sealed under a chosen key ring in every sealed column, and checks
//! that every stored value opens with another ring: for the rotate-key
//! tests of both test binaries (the `cli` processes and the `api` server).

use std::collections::BTreeMap;

use trader_api_types::UserId;
use trader_db::DbConnection;
use trader_db::sealed::{self, SealedColumn};
use trader_security::{Aad, ExposeSecret, KeyRing};

/// What was sealed where: `(column, row id)` -> plaintext.
#[derive(Debug, Default)]
pub(crate) struct Seeded(pub(crate) BTreeMap<(SealedColumn, i64), String>);

impl Seeded {
    /// Every plaintext, to check that none reaches an output or a log.
    pub(crate) fn plaintexts(&self) -> Vec<String> {
        self.0.values().cloned().collect()
    }
}

/// `plain` sealed for `column` of row `row` of `user`.
pub(crate) fn seal(
    ring: &KeyRing,
    column: SealedColumn,
    user: i64,
    row: i64,
    plain: &str,
) -> String {
    ring.seal_str(plain, &Aad::new(user, row, column.name()))
        .unwrap()
}

/// Gives `user` a TOTP secret sealed under `ring`: on (`totp_secret`) or
/// set up and not yet confirmed (`totp_pending_secret`). Answers the
/// secret in base32.
pub(crate) fn totp(
    conn: &mut DbConnection,
    ring: &KeyRing,
    user: UserId,
    enabled: bool,
    seeded: &mut Seeded,
) -> String {
    let secret = trader_security::TotpSecret::generate()
        .to_base32()
        .expose_secret()
        .to_owned();
    let pending = seal(
        ring,
        SealedColumn::UserTotpPendingSecret,
        user.0,
        user.0,
        &secret,
    );
    trader_db::users::set_totp_pending(conn, user, Some(&pending)).unwrap();
    if enabled {
        let on = seal(ring, SealedColumn::UserTotpSecret, user.0, user.0, &secret);
        assert!(trader_db::users::enable_totp(conn, user, &pending, &on, 0).unwrap());
        seeded
            .0
            .insert((SealedColumn::UserTotpSecret, user.0), secret.clone());
    } else {
        seeded.0.insert(
            (SealedColumn::UserTotpPendingSecret, user.0),
            secret.clone(),
        );
    }
    secret
}

/// A trading account of `user` with its keys sealed under `ring`; answers
/// its id.
pub(crate) fn account(
    conn: &mut DbConnection,
    ring: &KeyRing,
    user: UserId,
    name: &str,
    environment: &str,
    (key, secret): (&str, &str),
    seeded: &mut Seeded,
) -> i64 {
    let created = trader_db::trading_accounts::create(
        conn,
        &trader_db::trading_accounts::NewTradingAccount {
            user_id: user,
            name,
            environment,
            key_hint: &key[key.len() - 4..],
            verified_at: trader_db::users::now(),
        },
        |row| {
            Ok::<_, std::convert::Infallible>((
                seal(ring, SealedColumn::AccountKeyId, user.0, row, key),
                seal(ring, SealedColumn::AccountSecretKey, user.0, row, secret),
            ))
        },
    )
    .unwrap()
    .unwrap();
    seeded
        .0
        .insert((SealedColumn::AccountKeyId, created.id), key.to_owned());
    seeded.0.insert(
        (SealedColumn::AccountSecretKey, created.id),
        secret.to_owned(),
    );
    created.id
}

/// Every stored sealed value: `(column, row id)` -> `(user id, sealed)`.
pub(crate) fn stored(conn: &mut DbConnection) -> BTreeMap<(SealedColumn, i64), (i64, String)> {
    let mut all = BTreeMap::new();
    for column in SealedColumn::ALL {
        for v in sealed::next(conn, column, 0, 1_000_000).unwrap() {
            all.insert((column, v.row_id), (v.user_id, v.sealed));
        }
    }
    all
}

/// How many stored values name `key_id`.
pub(crate) fn count_under(conn: &mut DbConnection, key_id: &str) -> usize {
    stored(conn)
        .values()
        .filter(|(_, s)| trader_security::key_id_of(s) == Ok(key_id))
        .count()
}

/// Every value in `expected` is stored and opens with `ring` to its
/// plaintext, and nothing else is stored.
pub(crate) fn assert_all_open_with(conn: &mut DbConnection, ring: &KeyRing, expected: &Seeded) {
    let stored = stored(conn);
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        expected.0.keys().collect::<Vec<_>>(),
        "the stored values are the seeded ones"
    );
    for ((column, row), (user, sealed)) in &stored {
        let opened = ring
            .open_str(sealed, &Aad::new(*user, *row, column.name()))
            .unwrap_or_else(|e| panic!("{column} of row {row} does not open: {e}"));
        assert_eq!(
            opened.expose_secret(),
            expected.0[&(*column, *row)],
            "{column} of row {row}"
        );
    }
}
