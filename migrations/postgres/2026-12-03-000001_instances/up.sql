-- Running server instances, each with the ids of the encryption keys it
-- holds (never the keys): `rotate-key` refuses to start while a live
-- instance does not seal under the new key. A row is written at start,
-- its last_seen_at renewed every heartbeat, and removed at a graceful
-- stop; a row not seen for a few heartbeats is an instance that is gone.
CREATE TABLE instances (
    id              TEXT      PRIMARY KEY NOT NULL,
    hostname        TEXT      NOT NULL,
    pid             BIGINT    NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL,
    current_key_id  TEXT      NOT NULL,  -- the key that seals (ENCRYPTION_KEY)
    key_ids         TEXT      NOT NULL   -- every key it opens with, comma-separated, current first
);
CREATE INDEX instances_last_seen ON instances (last_seen_at);
