DROP TRIGGER read_epoch_trading_accounts_truncate ON trading_accounts;
DROP TRIGGER read_epoch_trading_accounts ON trading_accounts;
DROP TRIGGER read_epoch_user_settings_truncate ON user_settings;
DROP TRIGGER read_epoch_user_settings ON user_settings;
DROP TRIGGER read_epoch_watchlist_symbols_truncate ON watchlist_symbols;
DROP TRIGGER read_epoch_watchlist_symbols ON watchlist_symbols;
DROP TRIGGER read_epoch_watchlists_truncate ON watchlists;
DROP TRIGGER read_epoch_watchlists ON watchlists;
DROP TRIGGER auth_epoch_tokens_truncate ON api_tokens;
DROP TRIGGER auth_epoch_tokens_delete ON api_tokens;
DROP TRIGGER auth_epoch_tokens_update ON api_tokens;
DROP TRIGGER auth_epoch_sessions_truncate ON sessions;
DROP TRIGGER auth_epoch_sessions_delete ON sessions;
DROP TRIGGER auth_epoch_sessions_update ON sessions;
DROP TRIGGER auth_epoch_users_truncate ON users;
DROP TRIGGER auth_epoch_users_delete ON users;
DROP TRIGGER auth_epoch_users_update ON users;

-- The statement triggers of 2026-12-03-000010_auth_epoch again.
CREATE TRIGGER auth_epoch_users_update
AFTER UPDATE OF username, email, role, is_active, security_stamp, totp_enabled,
                must_change_password, last_login_at, password_hash, totp_secret,
                totp_pending_secret ON users
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER auth_epoch_users_delete AFTER DELETE OR TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER auth_epoch_sessions_update
AFTER UPDATE OF key_hash, user_id, state ON sessions
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER auth_epoch_sessions_delete AFTER DELETE OR TRUNCATE ON sessions
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER auth_epoch_tokens_update
AFTER UPDATE OF user_id, jti, scope, expires_at, revoked_at, live ON api_tokens
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER auth_epoch_tokens_delete AFTER DELETE OR TRUNCATE ON api_tokens
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();
