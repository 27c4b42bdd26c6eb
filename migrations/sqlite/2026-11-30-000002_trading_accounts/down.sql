ALTER TABLE api_tokens DROP COLUMN live;
DROP TABLE trading_accounts;
