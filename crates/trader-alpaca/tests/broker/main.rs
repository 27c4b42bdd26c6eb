//! trader-alpaca against a real alpaca-sim started in-process on port 0:
//! trading calls, market data, and the behaviour under faults (retries,
//! deadlines, rate limits, lost answers, shared reads). One test binary,
//! grouped by area.

mod data;
mod faults;
mod helpers;
mod trading;
