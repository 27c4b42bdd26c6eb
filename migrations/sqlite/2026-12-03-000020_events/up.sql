-- What each user's live stream (GET /api/events) carries: new signals,
-- order changes, fills, scheduler passes, auto-trade decisions, a session
-- ended elsewhere. The table is the source of truth: every instance reads
-- it in id order and hands each row to its open streams of that user; a
-- reconnecting page asks for what came after its Last-Event-ID. Rows are
-- kept for a day. `dedupe` stops two instances watching the same broker
-- account from recording one order change twice.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT      NOT NULL,
    payload    TEXT      NOT NULL,
    dedupe     TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_user_id ON events (user_id, id);
CREATE INDEX events_created_at ON events (created_at);
CREATE UNIQUE INDEX events_dedupe ON events (user_id, dedupe);
