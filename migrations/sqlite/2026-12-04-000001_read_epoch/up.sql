-- The auth epoch (see 2026-12-03-000010_auth_epoch) also moves when a
-- watchlist, its symbols, a user's settings or a trading account is
-- written: servers keep those rows in the same short-lived cache as
-- verified sign-ins, for reads, and drop it when the epoch moves. Updates
-- move it only when a column the cache holds changes (not a timestamp such
-- as last_verified_at).

CREATE TRIGGER read_epoch_watchlists_insert AFTER INSERT ON watchlists
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_watchlists_update AFTER UPDATE OF user_id, name, is_default ON watchlists
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_watchlists_delete AFTER DELETE ON watchlists
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_watchlist_symbols_insert AFTER INSERT ON watchlist_symbols
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_watchlist_symbols_update AFTER UPDATE ON watchlist_symbols
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_watchlist_symbols_delete AFTER DELETE ON watchlist_symbols
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_user_settings_insert AFTER INSERT ON user_settings
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_user_settings_update AFTER UPDATE OF user_id, settings ON user_settings
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_user_settings_delete AFTER DELETE ON user_settings
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_trading_accounts_insert AFTER INSERT ON trading_accounts
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_trading_accounts_update AFTER UPDATE OF user_id, name, environment, key_id, secret_key, is_active, verified ON trading_accounts
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;

CREATE TRIGGER read_epoch_trading_accounts_delete AFTER DELETE ON trading_accounts
BEGIN
    UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1;
END;
