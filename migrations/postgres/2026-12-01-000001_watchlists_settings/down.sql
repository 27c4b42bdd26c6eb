DROP TABLE user_settings;
DROP TABLE watchlist_symbols;
DROP TABLE watchlists;
