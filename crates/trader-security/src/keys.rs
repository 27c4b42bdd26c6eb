//! The server's keys: `SECRET_KEY` (signs sessions and tokens) and the
//! encryption keys (`ENCRYPTION_KEY`, `ENCRYPTION_KEYS_OLD`) that seal
//! secrets at rest. Parsing checks their size; generation is what
//! `alpaca-trader gen-key` prints.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// The shortest accepted `SECRET_KEY`, in bytes.
pub const MIN_SECRET_KEY_BYTES: usize = 64;

/// What is wrong with a configured key. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must be at least {MIN_SECRET_KEY_BYTES} bytes long (it has {0})")]
    SecretKeyTooShort(usize),
    #[error("must be base64 (standard alphabet, with padding)")]
    NotBase64,
    #[error("must decode to exactly 32 bytes (it decodes to {0})")]
    WrongLength(usize),
}

/// `SECRET_KEY`, checked for length.
#[derive(Clone)]
pub struct SecretKey(SecretString);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

impl SecretKey {
    /// Accepts a key of at least 64 bytes.
    pub fn new(key: SecretString) -> Result<Self, KeyError> {
        let len = key.expose_secret().len();
        if len < MIN_SECRET_KEY_BYTES {
            return Err(KeyError::SecretKeyTooShort(len));
        }
        Ok(Self(key))
    }

    /// The key's bytes, for deriving signing keys.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

/// A 256-bit encryption key.
pub struct EncryptionKey(SecretBox<[u8; 32]>);

impl Clone for EncryptionKey {
    fn clone(&self) -> Self {
        Self(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([REDACTED])")
    }
}

impl EncryptionKey {
    /// Parses a base64 key of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::NotBase64)?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(Self(SecretBox::new(Box::new(array))))
    }

    /// The key's bytes.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

/// A fresh `SECRET_KEY` value: 64 random bytes, base64 (88 characters).
pub fn generate_secret_key() -> String {
    let mut bytes = [0u8; 64];
    OsRng.fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

/// A fresh `ENCRYPTION_KEY` value: 32 random bytes, base64.
pub fn generate_encryption_key() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse() {
        let secret = generate_secret_key();
        assert!(SecretKey::new(SecretString::from(secret.clone())).is_ok());
        assert_ne!(secret, generate_secret_key());
        let enc = generate_encryption_key();
        assert_eq!(
            EncryptionKey::from_base64(&enc)
                .unwrap()
                .expose_bytes()
                .len(),
            32
        );
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let err = SecretKey::new(SecretString::from("x".repeat(63))).unwrap_err();
        assert_eq!(err, KeyError::SecretKeyTooShort(63));
        assert!(SecretKey::new(SecretString::from("x".repeat(64))).is_ok());
        assert_eq!(
            EncryptionKey::from_base64("not base64!").unwrap_err(),
            KeyError::NotBase64
        );
        assert_eq!(
            EncryptionKey::from_base64(&STANDARD.encode([1u8; 16])).unwrap_err(),
            KeyError::WrongLength(16)
        );
        let key = EncryptionKey::from_base64(&generate_encryption_key()).unwrap();
        assert_eq!(format!("{key:?}"), "EncryptionKey([REDACTED])");
    }
}
