DROP TABLE auto_trade_decisions;
