//! The database session store itself: what actix-session asks of it.

use std::collections::HashMap;
use std::sync::Arc;

use actix_session::storage::{SessionKey, SessionStore};
use actix_web::cookie::time::Duration;
use trader_db::Backend;
use trader_db::test_support::TestDb;
use trader_server::auth::session_store::{DbSessionStore, hash_key};
use trader_server::clock::{Clock, TestClock};

fn state(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn a_session_ended_meanwhile_does_not_come_back(backend: Backend) {
    let db = TestDb::new(backend);
    let clock = TestClock::new();
    // A cache that never read the epoch is never used: this is the store
    // over the database alone (the cache has tests of its own).
    let store = DbSessionStore::new(
        db.pool().clone(),
        Arc::new(clock.clone()),
        Arc::new(trader_server::auth::cache::AuthCache::new(true)),
    );
    let user = trader_db::users::create_user(
        &mut db.conn(),
        &trader_db::users::NewUser {
            username: "alice",
            email: "alice@example.com",
            password_hash: "$argon2id$x",
            role: trader_api_types::Role::User,
            must_change_password: false,
        },
    )
    .unwrap();
    let uid = user.id.to_string();
    let signed_in = state(&[("uid", &uid), ("stamp", "\"s\""), ("ip", "\"127.0.0.1\"")]);
    let key = store
        .save(signed_in.clone(), &Duration::minutes(30))
        .await
        .unwrap();
    // The cookie's key is not what the table keeps.
    let mut conn = db.conn();
    let stored = trader_db::sessions::load(&mut conn, &hash_key(key.as_ref()), clock.now())
        .unwrap()
        .unwrap();
    assert_eq!(stored.ip.as_deref(), Some("127.0.0.1"));
    assert!(!stored.state.contains(key.as_ref()));
    assert_eq!(store.load(&key).await.unwrap(), Some(signed_in.clone()));

    // Revoked elsewhere while a request was running; the request then
    // saves its (signed-in) state.
    trader_db::sessions::delete_by_key(&mut conn, &hash_key(key.as_ref())).unwrap();
    let new_key = store
        .update(
            SessionKey::try_from(key.as_ref().to_owned()).unwrap(),
            signed_in,
            &Duration::minutes(30),
        )
        .await
        .unwrap();
    assert_ne!(new_key.as_ref(), key.as_ref());
    assert_eq!(
        store.load(&new_key).await.unwrap(),
        Some(HashMap::new()),
        "not signed in"
    );
    assert_eq!(store.load(&key).await.unwrap(), None);

    // Idle expiry follows the server's clock.
    let live = store
        .save(state(&[("uid", "1")]), &Duration::minutes(30))
        .await
        .unwrap();
    clock.advance(chrono::Duration::minutes(31));
    assert_eq!(store.load(&live).await.unwrap(), None);
    assert!(trader_db::sessions::purge_expired(&mut conn, clock.now()).unwrap() >= 1);
}

crate::api_tests!(a_session_ended_meanwhile_does_not_come_back);
