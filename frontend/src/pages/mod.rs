//! The pages, one module per area.

pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod security;
pub(crate) mod tokens;
