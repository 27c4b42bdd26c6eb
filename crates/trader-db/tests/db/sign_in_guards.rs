use chrono::{Duration, Utc};
use trader_api_types::Role;
use trader_db::login_guard::{self, Ceiling, Reservation};
use trader_db::test_support::TestDb;
use trader_db::users::{self, NewUser};
use trader_db::{Backend, DbError, setup_tokens};

fn user(conn: &mut trader_db::DbConnection) -> trader_api_types::UserId {
    users::create_user(
        conn,
        &NewUser {
            username: "alice",
            email: "alice@example.com",
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
            role: Role::User,
            must_change_password: false,
        },
    )
    .unwrap()
    .id
}

/// A setup token consumed in a transaction that then fails is still there.
fn a_failed_claim_does_not_burn_the_setup_token(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let now = Utc::now();
    setup_tokens::insert(&mut conn, "hash-of-token", now).unwrap();
    let failed: Result<(), DbError> = conn.write_transaction(|conn| {
        assert!(setup_tokens::consume(conn, "hash-of-token", now).unwrap());
        Err(DbError::Corrupt("the insert failed".to_owned()))
    });
    assert!(failed.is_err());
    assert!(setup_tokens::consume(&mut conn, "wrong-hash", now).is_ok_and(|c| !c));
    assert!(setup_tokens::consume(&mut conn, "hash-of-token", now).unwrap());
    // Once only.
    assert!(!setup_tokens::consume(&mut conn, "hash-of-token", now).unwrap());
    // And not after a day.
    setup_tokens::insert(&mut conn, "old", now - Duration::hours(25)).unwrap();
    assert!(!setup_tokens::consume(&mut conn, "old", now).unwrap());
}

/// Ten reservations from one network lock it; another network is free; a
/// released reservation lifts a lock it set.
fn password_failures_lock_per_network(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let id = user(&mut conn);
    let now = Utc::now();
    for i in 1..=10 {
        assert_eq!(
            login_guard::reserve_password_attempt(&mut conn, id, "203.0.113.0/24", now).unwrap(),
            Reservation::Reserved { failures: i }
        );
    }
    assert!(matches!(
        login_guard::reserve_password_attempt(&mut conn, id, "203.0.113.0/24", now).unwrap(),
        Reservation::Locked { .. }
    ));
    assert_eq!(
        login_guard::reserve_password_attempt(&mut conn, id, "198.51.100.0/24", now).unwrap(),
        Reservation::Reserved { failures: 1 }
    );
    // The tenth was the right password after all: its lock lifts.
    login_guard::release_password_attempt(&mut conn, id, "203.0.113.0/24").unwrap();
    assert_eq!(
        login_guard::password_failures(&mut conn, id, "203.0.113.0/24").unwrap(),
        (9, None)
    );
    login_guard::clear_password_failures(&mut conn, id, "203.0.113.0/24").unwrap();
    assert_eq!(
        login_guard::password_failures(&mut conn, id, "203.0.113.0/24").unwrap(),
        (0, None)
    );
}

/// The hourly ceiling refuses the 51st attempt unless exempt, and resets
/// after an hour.
fn the_hourly_ceiling(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let id = user(&mut conn);
    let now = Utc::now();
    for _ in 0..50 {
        assert_eq!(
            login_guard::reserve_hourly_attempt(&mut conn, id, now, false).unwrap(),
            Ceiling::Counted
        );
    }
    assert!(matches!(
        login_guard::reserve_hourly_attempt(&mut conn, id, now, false).unwrap(),
        Ceiling::Reached { .. }
    ));
    assert_eq!(
        login_guard::reserve_hourly_attempt(&mut conn, id, now, true).unwrap(),
        Ceiling::Counted
    );
    assert_eq!(
        login_guard::reserve_hourly_attempt(&mut conn, id, now + Duration::minutes(61), false)
            .unwrap(),
        Ceiling::Counted
    );
}

trader_db::backend_tests!(
    a_failed_claim_does_not_burn_the_setup_token,
    password_failures_lock_per_network,
    the_hourly_ceiling,
);
