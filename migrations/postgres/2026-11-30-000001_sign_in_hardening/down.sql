DROP TABLE setup_tokens;
DROP TABLE pending_logins;
DROP TABLE login_failures;
ALTER TABLE users DROP COLUMN password_window_start;
ALTER TABLE users DROP COLUMN password_failures_hour;
ALTER TABLE users RENAME COLUMN factor_locked_until TO locked_until;
ALTER TABLE users RENAME COLUMN factor_failures TO failed_attempts;
