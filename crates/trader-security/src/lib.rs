//! The security core of alpaca-trader: password hashing and the password
//! policy. Everything here is synchronous and CPU-bound; async callers run
//! it with `spawn_blocking`.

pub mod password;

pub use password::{
    HashError, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, NewPassword, PolicyError, hash_password,
    needs_rehash, verify_dummy, verify_password,
};
pub use secrecy::{ExposeSecret, SecretString};
