//! Services: the work behind the handlers, as plain async functions with
//! no actix types in their signatures beyond the shared state. Handlers
//! parse the request, call one service function and shape the response.

pub mod auto_trade;
pub mod broker;
pub mod events;
pub mod scheduler;
pub mod settings;
pub mod signals;
pub mod trading_accounts;
pub mod watchlists;
