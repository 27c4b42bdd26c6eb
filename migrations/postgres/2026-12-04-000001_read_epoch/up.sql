-- The auth epoch (see 2026-12-03-000010_auth_epoch) also moves when a
-- watchlist, its symbols, a user's settings or a trading account is
-- written: servers keep those rows in the same short-lived cache as
-- verified sign-ins, for reads, and drop it when the epoch moves. Updates
-- move it only when a column the cache holds changes (not a timestamp such
-- as last_verified_at).
--
-- On PostgreSQL every bump, the old ones included, now runs at commit
-- (deferred constraint triggers, one per row): the epoch's row is then
-- the last lock a transaction takes, so two transactions cannot deadlock
-- over it and the users' rows (one deleting a trading account, which
-- then locks the user, while another holding the user's row saves
-- settings). Committed at once with the change, the bump is never seen
-- before it. TRUNCATE, which constraint triggers cannot follow, keeps a
-- statement trigger.

DROP TRIGGER auth_epoch_users_update ON users;
DROP TRIGGER auth_epoch_users_delete ON users;
DROP TRIGGER auth_epoch_sessions_update ON sessions;
DROP TRIGGER auth_epoch_sessions_delete ON sessions;
DROP TRIGGER auth_epoch_tokens_update ON api_tokens;
DROP TRIGGER auth_epoch_tokens_delete ON api_tokens;

CREATE CONSTRAINT TRIGGER auth_epoch_users_update
AFTER UPDATE OF username, email, role, is_active, security_stamp, totp_enabled,
                must_change_password, last_login_at, password_hash, totp_secret,
                totp_pending_secret ON users
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE CONSTRAINT TRIGGER auth_epoch_users_delete
AFTER DELETE ON users
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER auth_epoch_users_truncate AFTER TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();

CREATE CONSTRAINT TRIGGER auth_epoch_sessions_update
AFTER UPDATE OF key_hash, user_id, state ON sessions
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE CONSTRAINT TRIGGER auth_epoch_sessions_delete
AFTER DELETE ON sessions
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER auth_epoch_sessions_truncate AFTER TRUNCATE ON sessions
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();

CREATE CONSTRAINT TRIGGER auth_epoch_tokens_update
AFTER UPDATE OF user_id, jti, scope, expires_at, revoked_at, live ON api_tokens
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE CONSTRAINT TRIGGER auth_epoch_tokens_delete
AFTER DELETE ON api_tokens
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER auth_epoch_tokens_truncate AFTER TRUNCATE ON api_tokens
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();

CREATE CONSTRAINT TRIGGER read_epoch_watchlists
AFTER INSERT OR DELETE OR UPDATE OF user_id, name, is_default ON watchlists
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER read_epoch_watchlists_truncate AFTER TRUNCATE ON watchlists
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();

CREATE CONSTRAINT TRIGGER read_epoch_watchlist_symbols
AFTER INSERT OR DELETE OR UPDATE ON watchlist_symbols
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER read_epoch_watchlist_symbols_truncate AFTER TRUNCATE ON watchlist_symbols
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();

CREATE CONSTRAINT TRIGGER read_epoch_user_settings
AFTER INSERT OR DELETE OR UPDATE OF user_id, settings ON user_settings
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER read_epoch_user_settings_truncate AFTER TRUNCATE ON user_settings
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();

CREATE CONSTRAINT TRIGGER read_epoch_trading_accounts
AFTER INSERT OR DELETE OR UPDATE OF user_id, name, environment, key_id, secret_key, is_active, verified ON trading_accounts
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION auth_epoch_bump();
CREATE TRIGGER read_epoch_trading_accounts_truncate AFTER TRUNCATE ON trading_accounts
FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_bump();
