-- Trading accounts: a user's Alpaca accounts (paper, live) and simulator
-- accounts, with the API keys sealed by the secret box. The row is inserted
-- first and sealed after, so the associated data can name its id.
CREATE TABLE trading_accounts (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    environment       TEXT    NOT NULL CHECK (environment IN ('paper', 'live', 'sim')),
    key_id            TEXT    NOT NULL,      -- sealed (v1:<key id>:<nonce||ciphertext>)
    secret_key        TEXT    NOT NULL,      -- sealed
    key_hint          TEXT    NOT NULL,      -- the key id's last four characters
    is_active         BOOLEAN NOT NULL DEFAULT FALSE,
    verified          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    last_verified_at  TIMESTAMP
);
CREATE UNIQUE INDEX trading_accounts_user_name ON trading_accounts (user_id, lower(name));
-- At most one active account a user.
CREATE UNIQUE INDEX trading_accounts_one_active ON trading_accounts (user_id) WHERE is_active;

-- A `trade` token acts on live accounts only when made with `live`.
ALTER TABLE api_tokens ADD COLUMN live BOOLEAN NOT NULL DEFAULT FALSE;
