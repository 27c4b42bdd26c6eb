-- A counter that moves whenever something a cached sign-in depends on
-- changes: a session ends or its state changes, a token is revoked, a user
-- is changed, deactivated or deleted (TRUNCATE included). Each server polls
-- it and drops its cache of verified sessions and tokens when it moves, so
-- a logout or a revocation on one server takes effect on the others within
-- a second. Triggers keep it, so no code path can forget to. Statement
-- triggers: one bump per statement, however many rows it touched.
CREATE TABLE auth_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT  NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);

-- OR REPLACE: a restore drops our tables, not this function, and
-- migrates again.
CREATE OR REPLACE FUNCTION auth_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

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
