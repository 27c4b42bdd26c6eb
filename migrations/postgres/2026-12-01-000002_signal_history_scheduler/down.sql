DROP TABLE scheduler_lease;
DROP TABLE scheduler_runs;
DROP TABLE scheduler_users;
DROP TABLE signal_history;
