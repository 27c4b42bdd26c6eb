//! The tables `rotate-key` works with: `instances` (who runs with which
//! keys) and the sealed columns, read in batches and replaced only while
//! unchanged.

use chrono::DateTime;
use chrono::Utc;
use trader_db::Backend;
use trader_db::instances::{self, Instance};
use trader_db::sealed::{self, SealedColumn};
use trader_db::test_support::TestDb;

fn instance(id: &str, seen: DateTime<Utc>) -> Instance {
    Instance {
        id: id.to_owned(),
        hostname: "host-a".to_owned(),
        pid: 42,
        started_at: seen,
        last_seen_at: seen,
        current_key_id: "0c218d8d".to_owned(),
        key_ids: vec!["0c218d8d".to_owned(), "11223344".to_owned()],
    }
}

fn instances_register_heartbeat_and_go_stale(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let now = trader_db::users::now();
    let old = now - chrono::Duration::minutes(10);
    instances::register(&mut conn, &instance("a", now)).unwrap();
    instances::register(&mut conn, &instance("b", old)).unwrap();
    let since = now - chrono::Duration::minutes(1);
    assert_eq!(
        instances::live(&mut conn, since).unwrap(),
        vec![instance("a", now)]
    );
    // A heartbeat brings b back; registering again rewrites, not duplicates.
    assert!(instances::heartbeat(&mut conn, "b", now).unwrap());
    instances::register(&mut conn, &instance("a", now)).unwrap();
    assert_eq!(instances::live(&mut conn, since).unwrap().len(), 2);
    instances::remove(&mut conn, "a").unwrap();
    assert!(!instances::heartbeat(&mut conn, "a", now).unwrap());
    assert_eq!(
        instances::purge_stale(&mut conn, now + chrono::Duration::seconds(1)).unwrap(),
        1
    );
    assert!(instances::live(&mut conn, old).unwrap().is_empty());
}

fn sealed_values_are_read_by_key_and_replaced_only_while_unchanged(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let user = trader_db::users::create_user(
        &mut conn,
        &trader_db::users::NewUser {
            username: "alice",
            email: "alice@example.com",
            password_hash: "x",
            role: trader_api_types::Role::User,
            must_change_password: false,
        },
    )
    .unwrap();
    trader_db::users::set_totp_pending(&mut conn, user.id, Some("v1:aaaaaaaa:AAAA")).unwrap();
    let col = SealedColumn::UserTotpPendingSecret;
    assert_eq!(
        sealed::count_not_under(&mut conn, SealedColumn::UserTotpSecret, "bbbbbbbb").unwrap(),
        0,
        "NULLs are not values"
    );
    assert_eq!(
        sealed::count_not_under(&mut conn, col, "bbbbbbbb").unwrap(),
        1
    );
    assert_eq!(
        sealed::count_not_under(&mut conn, col, "aaaaaaaa").unwrap(),
        0
    );
    let found = sealed::next_not_under(&mut conn, col, "bbbbbbbb", 0, 10).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].row_id, user.id.0);
    assert_eq!(found[0].user_id, user.id.0);
    assert!(
        sealed::next_not_under(&mut conn, col, "bbbbbbbb", user.id.0, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(sealed::next(&mut conn, col, 0, 10).unwrap(), found);
    // Only while the value is still the one read.
    assert!(!sealed::replace(&mut conn, col, user.id.0, "v1:cccccccc:CCCC", "new").unwrap());
    assert!(
        sealed::replace(
            &mut conn,
            col,
            user.id.0,
            "v1:aaaaaaaa:AAAA",
            "v1:bbbbbbbb:BBBB"
        )
        .unwrap()
    );
    assert_eq!(
        sealed::get(&mut conn, col, user.id.0)
            .unwrap()
            .unwrap()
            .sealed,
        "v1:bbbbbbbb:BBBB"
    );
    assert!(
        sealed::get(&mut conn, SealedColumn::UserTotpSecret, user.id.0)
            .unwrap()
            .is_none()
    );
    // A key id is hex digits only (no LIKE wildcards).
    assert!(sealed::count_not_under(&mut conn, col, "b%").is_err());
}

trader_db::backend_tests!(
    instances_register_heartbeat_and_go_stale,
    sealed_values_are_read_by_key_and_replaced_only_while_unchanged,
);
