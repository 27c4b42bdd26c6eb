-- Sign-in hardening: password failures counted per (account, client
-- network) instead of per account, so nobody can keep a named account
-- locked; second-factor failures in their own counter on the user; pending
-- two-factor logins on the server with an atomically reserved try counter;
-- the first admin's setup token in the database, shared by every instance.

-- users.failed_attempts counted passwords and codes together; from now on
-- it counts wrong second-factor codes only (since the last full sign-in).
ALTER TABLE users RENAME COLUMN failed_attempts TO factor_failures;
ALTER TABLE users RENAME COLUMN locked_until TO factor_locked_until;
UPDATE users SET factor_failures = 0, factor_locked_until = NULL;
-- Password failures across every network in the current hour (the ceiling).
ALTER TABLE users ADD COLUMN password_failures_hour INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN password_window_start TIMESTAMP;

CREATE TABLE login_failures (
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    network       TEXT    NOT NULL,           -- /24 (IPv4) or /64 (IPv6), e.g. 203.0.113.0/24
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  TIMESTAMP,
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, network)
);

CREATE TABLE pending_logins (
    id              TEXT    PRIMARY KEY,      -- SHA-256 of the random id kept in the session
    user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    security_stamp  TEXT    NOT NULL,
    network         TEXT    NOT NULL,
    tries           INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);
CREATE INDEX pending_logins_user_id ON pending_logins (user_id);

CREATE TABLE setup_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  TEXT    NOT NULL UNIQUE,      -- SHA-256 of the token
    created_at  TIMESTAMP NOT NULL
);

-- A session's own id (from its state) and its wrong passwords or codes in a
-- row while signed in (reauth, 2FA changes, password change), reserved with
-- a conditional update: five end the session, however many requests race.
ALTER TABLE sessions ADD COLUMN sid TEXT;
ALTER TABLE sessions ADD COLUMN factor_failures INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_sid ON sessions (sid);
