//! The diesel schema, written by hand so that one file serves both backends
//! (only types both SQLite and PostgreSQL support: `BigInt`, `Text`, `Bool`,
//! `Timestamp`). Timestamps are stored as UTC without a zone.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        is_active -> Bool,
        security_stamp -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        last_login_ip -> Nullable<Text>,
    }
}
