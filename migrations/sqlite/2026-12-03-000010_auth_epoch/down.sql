DROP TRIGGER auth_epoch_tokens_delete;
DROP TRIGGER auth_epoch_tokens_update;
DROP TRIGGER auth_epoch_sessions_delete;
DROP TRIGGER auth_epoch_sessions_update;
DROP TRIGGER auth_epoch_users_delete;
DROP TRIGGER auth_epoch_users_update;
DROP TABLE auth_epoch;
