//! The types of alpaca-trader's JSON API, shared by the server and the SPA.
//!
//! No actix, no diesel: this crate compiles to wasm. Server-side schemas for
//! the OpenAPI document come with the `openapi` feature.

mod account;
pub mod auth;
pub mod auto_trade;
pub mod broker;
mod error;
mod ids;
pub mod signals;

pub use account::{Email, Username};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use ids::{Role, UnknownRole, UserId};

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`, or `unavailable` when a dependency is down.
    pub status: String,
}
