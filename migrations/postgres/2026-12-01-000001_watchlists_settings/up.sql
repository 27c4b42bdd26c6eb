-- Watchlists (several per user, one the default) and each user's settings
-- (the Python version's settings.yaml as JSON).
CREATE TABLE watchlists (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX watchlists_user_name ON watchlists (user_id, lower(name));
CREATE UNIQUE INDEX watchlists_one_default ON watchlists (user_id) WHERE is_default;

CREATE TABLE watchlist_symbols (
    watchlist_id  BIGINT  NOT NULL REFERENCES watchlists (id) ON DELETE CASCADE,
    symbol        TEXT    NOT NULL,
    name          TEXT,
    added_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (watchlist_id, symbol)
);

CREATE TABLE user_settings (
    user_id     BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    settings    TEXT    NOT NULL,     -- JSON, the shape of settings.yaml
    updated_at  TIMESTAMP NOT NULL
);
