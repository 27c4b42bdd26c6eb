-- Auto-trade's decision log: one row per (user, derived client_order_id),
-- that is per account, symbol, timeframe, bar and action. A row is claimed
-- ('submitting') in a write transaction before its order is sent, so a
-- repeated pass or a second server never sends it twice; 'skipped',
-- 'dry_run' and 'failed' rows may be taken again by a later pass while
-- the bar is fresh ('failed' ones after asking the broker by their id). account_id has no foreign key: the log outlives a
-- deleted account.
CREATE TABLE auto_trade_decisions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id       BIGINT    NOT NULL,
    symbol           TEXT      NOT NULL,
    timeframe        TEXT      NOT NULL,
    bar_time         TIMESTAMP NOT NULL,
    action           TEXT      NOT NULL CHECK (action IN ('buy', 'sell')),
    outcome          TEXT      NOT NULL CHECK (outcome IN
                       ('submitting', 'placed', 'skipped', 'refused', 'failed', 'dry_run', 'cancelled')),
    reason           TEXT      NOT NULL,
    client_order_id  TEXT      NOT NULL,
    order_id         TEXT,
    side             TEXT,
    qty              TEXT,
    notional         TEXT,
    -- When the order was sent (counts toward max_orders_per_day).
    sent_at          TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX auto_trade_decisions_key ON auto_trade_decisions (user_id, client_order_id);
CREATE INDEX auto_trade_decisions_user_time ON auto_trade_decisions (user_id, created_at);
CREATE INDEX auto_trade_decisions_sent ON auto_trade_decisions (user_id, account_id, sent_at);
