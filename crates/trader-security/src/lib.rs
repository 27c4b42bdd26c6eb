//! The security core of alpaca-trader:
//!
//! - [`password`]: the password policy and argon2id hashing;
//! - [`keys`]: the server's keys (`SECRET_KEY`, `ENCRYPTION_KEY`,
//!   `ENCRYPTION_KEYS_OLD`), their parsing and generation, and the subkeys
//!   derived from `SECRET_KEY`;
//! - [`secret_box`]: secrets at rest, sealed with XChaCha20-Poly1305 under a
//!   key ring and bound to their user, row and field;
//! - [`totp`]: two-factor sign-in with TOTP codes (with a replay guard),
//!   otpauth URIs and QR codes, and recovery codes;
//! - [`jwt`]: the bearer tokens scripts use (HS256 only, with a derived key,
//!   issuer, audience and expiry enforced).
//!
//! Everything here is synchronous and CPU-bound; async callers run the
//! slow parts (argon2) with `spawn_blocking`. Secrets are held in
//! `secrecy` types and no `Debug` output here shows a key, a secret or a
//! plaintext.

pub mod jwt;
pub mod keys;
pub mod password;
pub mod secret_box;
pub mod totp;

pub use jwt::{Claims, JwtError, JwtKeys, Scope};
pub use keys::{EncryptionKey, KeyError, SecretKey, generate_encryption_key, generate_secret_key};
pub use password::{
    HashError, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, NewPassword, PolicyError, hash_password,
    needs_rehash, verify_dummy, verify_password,
};
pub use secrecy::{ExposeSecret, SecretSlice, SecretString};
pub use secret_box::{Aad, KeyRing, Malformed, OpenError, ResealError, SealError, key_id_of};
pub use totp::{
    QrError, RecoveryCodeKey, TotpSecret, TotpSecretError, generate_recovery_codes,
    hash_recovery_code, otpauth_uri, qr_png, verify_recovery_code,
};
