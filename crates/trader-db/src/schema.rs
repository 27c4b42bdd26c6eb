//! The diesel schema, written by hand so that one file serves both backends
//! (only types both SQLite and PostgreSQL support: `BigInt`, `Text`, `Bool`,
//! `Timestamp`). Timestamps are stored as UTC without a zone.

diesel::table! {
    auth_epoch (id) {
        id -> Integer,
        epoch -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        payload -> Text,
        dedupe -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

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
        totp_secret -> Nullable<Text>,
        totp_pending_secret -> Nullable<Text>,
        totp_enabled -> Bool,
        totp_last_step -> Nullable<BigInt>,
        must_change_password -> Bool,
        factor_failures -> Integer,
        factor_locked_until -> Nullable<Timestamp>,
        password_failures_hour -> Integer,
        password_window_start -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        key_hash -> Text,
        user_id -> Nullable<BigInt>,
        state -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        sid -> Nullable<Text>,
        factor_failures -> Integer,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        jti -> Text,
        scope -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        live -> Bool,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        user_id -> Nullable<BigInt>,
        username -> Nullable<Text>,
        actor_id -> Nullable<BigInt>,
        event -> Text,
        detail -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (user_id, network) {
        user_id -> BigInt,
        network -> Text,
        failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    pending_logins (id) {
        id -> Text,
        user_id -> BigInt,
        security_stamp -> Text,
        network -> Text,
        tries -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    setup_tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    trading_accounts (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        environment -> Text,
        key_id -> Text,
        secret_key -> Text,
        key_hint -> Text,
        is_active -> Bool,
        verified -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    watchlists (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        is_default -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    watchlist_symbols (watchlist_id, symbol) {
        watchlist_id -> BigInt,
        symbol -> Text,
        name -> Nullable<Text>,
        added_at -> Timestamp,
    }
}

diesel::table! {
    user_settings (user_id) {
        user_id -> BigInt,
        settings -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    signal_history (id) {
        id -> BigInt,
        user_id -> BigInt,
        symbol -> Text,
        timeframe -> Text,
        bar_time -> Timestamp,
        action -> Text,
        strength -> Double,
        price -> Nullable<Double>,
        votes -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    scheduler_users (user_id) {
        user_id -> BigInt,
        last_run_at -> Nullable<Timestamp>,
        next_run_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    scheduler_runs (id) {
        id -> BigInt,
        holder -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        users -> Integer,
        symbols -> Integer,
        signals -> Integer,
        errors -> Integer,
    }
}

diesel::table! {
    scheduler_lease (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    auto_trade_decisions (id) {
        id -> BigInt,
        user_id -> BigInt,
        account_id -> BigInt,
        symbol -> Text,
        timeframe -> Text,
        bar_time -> Timestamp,
        action -> Text,
        outcome -> Text,
        reason -> Text,
        client_order_id -> Text,
        order_id -> Nullable<Text>,
        side -> Nullable<Text>,
        qty -> Nullable<Text>,
        notional -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(events -> users (user_id));
diesel::table! {
    instances (id) {
        id -> Text,
        hostname -> Text,
        pid -> BigInt,
        started_at -> Timestamp,
        last_seen_at -> Timestamp,
        current_key_id -> Text,
        key_ids -> Text,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(watchlists -> users (user_id));
diesel::joinable!(watchlist_symbols -> watchlists (watchlist_id));
diesel::joinable!(trading_accounts -> users (user_id));
diesel::joinable!(login_failures -> users (user_id));
diesel::joinable!(pending_logins -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
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
    instances
);
