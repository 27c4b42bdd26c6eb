//! The security core of alpaca-trader: password hashing and the password
//! policy, and the server's keys. Everything here is synchronous and CPU-bound; async callers run
//! it with `spawn_blocking`.

pub mod keys;
pub mod password;

pub use keys::{EncryptionKey, KeyError, SecretKey, generate_encryption_key, generate_secret_key};
pub use password::{
    HashError, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, NewPassword, PolicyError, hash_password,
    needs_rehash, verify_dummy, verify_password,
};
pub use secrecy::{ExposeSecret, SecretString};
