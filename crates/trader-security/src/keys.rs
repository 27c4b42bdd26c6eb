//! The server's keys: `SECRET_KEY` (signs sessions and tokens) and the
//! encryption keys (`ENCRYPTION_KEY`, `ENCRYPTION_KEYS_OLD`) that seal
//! secrets at rest. Parsing checks their size; generation is what
//! `alpaca-trader gen-key` prints.
//!
//! `SECRET_KEY` itself never keys anything directly: each use (JWT signing,
//! recovery-code hashing) gets its own subkey through HKDF-SHA256 with a
//! fixed label, so a weakness in one use cannot spill into another.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox, SecretString};
use sha2::{Digest, Sha256};

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
    /// HKDF refused to expand a subkey. It only does so for outputs longer
    /// than 8160 bytes, so this cannot happen for our 32-byte subkeys; it
    /// exists so that deriving never has to panic.
    #[error("could not derive a subkey from the key")]
    Derivation,
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

    /// A 256-bit subkey for one purpose: HKDF-SHA256 (RFC 5869) with
    /// `SECRET_KEY` as input keying material, no salt (the key is already
    /// uniformly random when `gen-key` made it, and long in any case), and
    /// `label` as the info string. Different labels give independent keys.
    pub(crate) fn derive_subkey(&self, label: &str) -> Result<SecretBox<[u8; 32]>, KeyError> {
        let hkdf = Hkdf::<Sha256>::new(None, self.expose_bytes());
        let mut subkey = SecretBox::new(Box::new([0u8; 32]));
        hkdf.expand(label.as_bytes(), subkey.expose_secret_mut())
            .map_err(|_| KeyError::Derivation)?;
        Ok(subkey)
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

    /// A short, stable name for this key: the first 4 bytes (8 lower-case
    /// hex digits) of SHA-256 over a fixed label and the key. Sealed values
    /// carry it so that opening picks the right key and key rotation can
    /// tell which values are still under an old key. It reveals nothing
    /// useful about the key (32 bits of a hash of 256 random bits), and the
    /// label keeps it from being a plain hash of the key that could match
    /// some other system's identifier for the same bytes.
    pub fn key_id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"alpaca-trader secret-box key id v1\0")
            .chain_update(self.expose_bytes())
            .finalize();
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
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

    #[test]
    fn key_ids_are_short_stable_and_distinct() {
        let a = EncryptionKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let b = EncryptionKey::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        let id = a.key_id();
        assert_eq!(id.len(), 8);
        assert!(
            id.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(id, a.clone().key_id());
        assert_ne!(id, b.key_id());
        // Not a bare hash prefix of the key.
        let bare = Sha256::digest([7u8; 32]);
        let bare: String = bare[..4].iter().map(|b| format!("{b:02x}")).collect();
        assert_ne!(id, bare);
    }

    #[test]
    fn key_id_and_subkey_are_pinned() {
        // Changing either would orphan stored data: sealed values name their
        // key by this id, and issued tokens are signed with this subkey.
        // Expected values computed independently (Python hashlib/hmac).
        let key = EncryptionKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(key.key_id(), "0c218d8d");
        let secret = SecretKey::new(SecretString::from("a".repeat(64))).unwrap();
        let subkey = secret.derive_subkey("alpaca-trader jwt v1").unwrap();
        let hex: String = subkey
            .expose_secret()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "ffef331cadd52816420ef46eb25cf4a1e18219bda4998641a8a1b94395960742"
        );
    }

    #[test]
    fn subkeys_depend_on_label_and_key() {
        let k1 = SecretKey::new(SecretString::from("a".repeat(64))).unwrap();
        let k2 = SecretKey::new(SecretString::from("b".repeat(64))).unwrap();
        let jwt = k1.derive_subkey("label one").unwrap();
        assert_eq!(
            jwt.expose_secret(),
            k1.derive_subkey("label one").unwrap().expose_secret()
        );
        assert_ne!(
            jwt.expose_secret(),
            k1.derive_subkey("label two").unwrap().expose_secret()
        );
        assert_ne!(
            jwt.expose_secret(),
            k2.derive_subkey("label one").unwrap().expose_secret()
        );
        // Never the raw key, nor a prefix of it.
        assert_ne!(&jwt.expose_secret()[..], &k1.expose_bytes()[..32]);
    }
}
