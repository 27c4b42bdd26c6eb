-- Sign-in: two-factor state and lockout on users; server-side sessions;
-- personal access tokens; recovery codes; the audit log.

ALTER TABLE users ADD COLUMN totp_secret TEXT;            -- sealed (secret box)
ALTER TABLE users ADD COLUMN totp_pending_secret TEXT;    -- sealed, set up but not yet enabled
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;       -- replay guard
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TIMESTAMP;

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash      TEXT    NOT NULL UNIQUE,   -- SHA-256 of the cookie's session key
    user_id       BIGINT  REFERENCES users (id) ON DELETE CASCADE,
    state         TEXT    NOT NULL,          -- JSON map, actix-session's state
    created_at    TIMESTAMP NOT NULL,
    last_seen_at  TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    ip            TEXT,
    user_agent    TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    jti           TEXT    NOT NULL UNIQUE,
    scope         TEXT    NOT NULL CHECK (scope IN ('read', 'trade')),
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE recovery_codes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash     TEXT    NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    used_at       TIMESTAMP
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

-- No foreign key: entries outlive the users they name.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TIMESTAMP NOT NULL,
    user_id       BIGINT,
    username      TEXT,
    actor_id      BIGINT,
    event         TEXT    NOT NULL,
    detail        TEXT,
    ip            TEXT,
    user_agent    TEXT
);
CREATE INDEX audit_log_user_id ON audit_log (user_id, id);
