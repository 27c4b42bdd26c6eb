use trader_api_types::{Role, UserId};
use trader_db::test_support::TestDb;
use trader_db::users::{self, NewUser, UserChanges};
use trader_db::{Backend, DbError};

fn alice() -> NewUser<'static> {
    NewUser {
        username: "Alice",
        email: "alice@example.com",
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        role: Role::Admin,
        must_change_password: false,
    }
}

fn create_then_find_by_id_and_any_case(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let created = users::create_user(&mut conn, &alice()).unwrap();
    assert_eq!(created.username, "Alice");
    assert_eq!(created.email, "alice@example.com");
    assert_eq!(created.role, Role::Admin);
    assert!(created.is_active);
    assert_eq!(created.security_stamp.len(), 32);
    assert_eq!(created.last_login_at, None);
    // Every user starts with their default watchlist.
    let lists = trader_db::watchlists::list(&mut conn, created.id).unwrap();
    assert_eq!(lists.len(), 1);
    assert!(lists[0].is_default);
    assert_eq!(lists[0].name, trader_db::watchlists::DEFAULT_NAME);

    let by_id = users::find_user_by_id(&mut conn, created.id).unwrap();
    assert_eq!(
        by_id.as_ref(),
        Some(&created),
        "what was stored reads back equal"
    );
    for spelling in ["alice", "ALICE", "aLiCe"] {
        let found = users::find_user_by_username(&mut conn, spelling).unwrap();
        assert_eq!(found.map(|u| u.id), Some(created.id), "{spelling}");
    }
    assert_eq!(
        users::find_user_by_username(&mut conn, "bob").unwrap(),
        None
    );
    assert_eq!(
        users::find_user_by_id(&mut conn, UserId(9999)).unwrap(),
        None
    );
}

fn username_taken_in_another_case_is_a_conflict(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    users::create_user(&mut conn, &alice()).unwrap();
    let again = NewUser {
        username: "ALICE",
        email: "other@example.com",
        ..alice()
    };
    let err = users::create_user(&mut conn, &again).unwrap_err();
    assert!(matches!(err, DbError::Conflict { .. }), "{err:?}");
    let DbError::Conflict { constraint } = err else {
        unreachable!()
    };
    assert!(
        constraint
            .as_deref()
            .is_some_and(|c| c.contains("users_username_lower_key") || c.contains("users")),
        "the conflict names what was violated: {constraint:?}"
    );
    // Nothing half-written: still one user, with the first email.
    assert_eq!(users::count_users(&mut conn).unwrap(), 1);
    let stored = users::find_user_by_username(&mut conn, "alice")
        .unwrap()
        .unwrap();
    assert_eq!(stored.email, "alice@example.com");
}

fn password_change_rotates_the_security_stamp(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let user = users::create_user(&mut conn, &alice()).unwrap();
    assert!(users::set_password(&mut conn, user.id, "$argon2id$new").unwrap());
    let after = users::find_user_by_id(&mut conn, user.id).unwrap().unwrap();
    assert_eq!(after.password_hash, "$argon2id$new");
    assert_ne!(after.security_stamp, user.security_stamp);

    // A transparent rehash keeps the stamp.
    assert!(users::update_password_hash(&mut conn, user.id, "$argon2id$rehashed").unwrap());
    let rehashed = users::find_user_by_id(&mut conn, user.id).unwrap().unwrap();
    assert_eq!(rehashed.password_hash, "$argon2id$rehashed");
    assert_eq!(rehashed.security_stamp, after.security_stamp);

    assert!(!users::set_password(&mut conn, UserId(424242), "$x").unwrap());
}

fn login_is_recorded(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let user = users::create_user(&mut conn, &alice()).unwrap();
    let at = users::now();
    assert!(users::record_login(&mut conn, user.id, at, Some("203.0.113.7")).unwrap());
    let after = users::find_user_by_id(&mut conn, user.id).unwrap().unwrap();
    assert_eq!(after.last_login_at, Some(at));
    assert_eq!(after.last_login_ip.as_deref(), Some("203.0.113.7"));
}

fn update_deactivate_count_and_delete(backend: Backend) {
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let admin = users::create_user(&mut conn, &alice()).unwrap();
    let bob = users::create_user(
        &mut conn,
        &NewUser {
            username: "bob",
            email: "bob@example.com",
            password_hash: "$h",
            role: Role::User,
            must_change_password: false,
        },
    )
    .unwrap();
    assert_eq!(users::count_users(&mut conn).unwrap(), 2);
    assert_eq!(users::count_active_admins(&mut conn).unwrap(), 1);

    let promoted = users::update_user(
        &mut conn,
        bob.id,
        &UserChanges {
            role: Some(Role::Admin),
            email: Some("robert@example.com"),
            ..UserChanges::default()
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(promoted.email, "robert@example.com");
    assert_eq!(promoted.security_stamp, bob.security_stamp);
    assert_eq!(users::count_active_admins(&mut conn).unwrap(), 2);

    let disabled = users::update_user(
        &mut conn,
        bob.id,
        &UserChanges {
            is_active: Some(false),
            ..UserChanges::default()
        },
    )
    .unwrap()
    .unwrap();
    assert!(!disabled.is_active);
    assert_ne!(
        disabled.security_stamp, bob.security_stamp,
        "deactivation ends sessions"
    );
    assert_eq!(users::count_active_admins(&mut conn).unwrap(), 1);

    let listed: Vec<_> = users::list_users(&mut conn)
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(listed, ["Alice", "bob"]);

    assert_eq!(
        users::update_user(&mut conn, UserId(77), &UserChanges::default()).unwrap(),
        None
    );
    assert!(users::delete_user(&mut conn, bob.id).unwrap());
    assert!(!users::delete_user(&mut conn, bob.id).unwrap());
    assert_eq!(users::count_users(&mut conn).unwrap(), 1);
    assert!(
        users::find_user_by_id(&mut conn, admin.id)
            .unwrap()
            .is_some()
    );
}

fn a_bad_role_in_the_table_is_refused_by_the_database(backend: Backend) {
    use diesel::RunQueryDsl;
    let db = TestDb::new(backend);
    let mut conn = db.conn();
    let err = diesel::sql_query(
        "INSERT INTO users (username, email, password_hash, role, is_active, security_stamp, created_at, updated_at) \
         VALUES ('mallory', 'm@example.com', 'x', 'root', TRUE, 's', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    .execute(&mut conn)
    .map_err(DbError::from)
    .unwrap_err();
    assert!(matches!(err, DbError::Constraint(_)), "{err:?}");
}

trader_db::backend_tests!(
    create_then_find_by_id_and_any_case,
    username_taken_in_another_case_is_a_conflict,
    password_change_rotates_the_security_stamp,
    login_is_recorded,
    update_deactivate_count_and_delete,
    a_bad_role_in_the_table_is_refused_by_the_database,
);
