-- Users of the dashboard. Usernames are ASCII (checked by the app) and unique
-- without regard to case; lower() folds exactly the ASCII letters in both
-- SQLite and PostgreSQL, so the two backends agree.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    role            TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    is_active       BOOLEAN NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    security_stamp  TEXT    NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    last_login_at   TIMESTAMP,
    last_login_ip   TEXT
);

CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
