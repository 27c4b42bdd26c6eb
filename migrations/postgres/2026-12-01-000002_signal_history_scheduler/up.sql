-- Signal history (one row per user, symbol, timeframe and bar) and the
-- scheduler's state: each user's next run, the passes it made, and the
-- lease that lets exactly one scheduler run passes on SQLite.
CREATE TABLE signal_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol      TEXT    NOT NULL,
    timeframe   TEXT    NOT NULL,
    bar_time    TIMESTAMP NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('buy', 'sell', 'hold')),
    strength    DOUBLE PRECISION NOT NULL,
    price       DOUBLE PRECISION,
    votes       TEXT    NOT NULL,     -- JSON: each rule's vote, reason and values
    created_at  TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX signal_history_key ON signal_history (user_id, symbol, timeframe, bar_time);
CREATE INDEX signal_history_user_time ON signal_history (user_id, bar_time);

CREATE TABLE scheduler_users (
    user_id      BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_run_at  TIMESTAMP,
    next_run_at  TIMESTAMP,
    last_error   TEXT
);

CREATE TABLE scheduler_runs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    holder       TEXT    NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    users        INTEGER NOT NULL DEFAULT 0,
    symbols      INTEGER NOT NULL DEFAULT 0,
    signals      INTEGER NOT NULL DEFAULT 0,
    errors       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE scheduler_lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
