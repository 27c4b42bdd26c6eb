//! The pages, one module per area.

pub(crate) mod accounts;
pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod auto_trade;
pub(crate) mod dashboard;
pub(crate) mod scheduler;
pub(crate) mod security;
pub(crate) mod settings;
pub(crate) mod signals;
pub(crate) mod ticket;
pub(crate) mod tokens;
pub(crate) mod watchlists;
