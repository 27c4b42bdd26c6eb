//! The secret box: authenticated encryption of secrets at rest (the Alpaca
//! API keys, TOTP secrets) under `ENCRYPTION_KEY`, with old keys kept for
//! opening while `rotate-key` re-seals everything.
//!
//! A sealed value is the text `v1:<key id>:<base64 of nonce || ciphertext>`:
//!
//! - XChaCha20-Poly1305 with a fresh random 24-byte nonce for every seal. The
//!   192-bit nonce makes random nonces safe for any number of values under
//!   one key (no counter to keep in step across server instances).
//! - `<key id>` is [`EncryptionKey::key_id`], so [`KeyRing::open`] knows which
//!   key to use and [`KeyRing::is_current`] which values still need
//!   re-sealing.
//! - The associated data ([`Aad`]) binds the value to a user, a row and a
//!   field. A value copied into another row, another column or another
//!   user's record does not open, so someone who can write to the database
//!   cannot swap secrets between users.
//!
//! ```
//! use trader_security::secret_box::{Aad, KeyRing};
//! use trader_security::{EncryptionKey, ExposeSecret, generate_encryption_key};
//!
//! let key = EncryptionKey::from_base64(&generate_encryption_key()).unwrap();
//! let ring = KeyRing::new(key, Vec::new());
//! let aad = Aad::new(42, 7, "trading_accounts.api_secret");
//! let sealed = ring.seal_str("alpaca secret", &aad).unwrap();
//! assert!(sealed.starts_with("v1:"));
//! assert_eq!(ring.open_str(&sealed, &aad).unwrap().expose_secret(), "alpaca secret");
//! // The same value under another row does not open.
//! assert!(ring.open(&sealed, &Aad::new(42, 8, "trading_accounts.api_secret")).is_err());
//! ```
//!
//! Opening never panics, whatever the input; every failure is an
//! [`OpenError`] that says which kind of failure it was (and never carries
//! the key or the plaintext).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{SecretSlice, SecretString};

use crate::keys::EncryptionKey;

/// The format version written in front of every sealed value.
const VERSION: &str = "v1";
/// XChaCha20's nonce length.
const NONCE_LEN: usize = 24;
/// Poly1305's tag length.
const TAG_LEN: usize = 16;
/// Length of a key id in hex digits.
const KEY_ID_LEN: usize = 8;
/// The longest plaintext [`KeyRing::seal`] accepts. Secrets are short; the
/// bound keeps a mistake (sealing a whole file) from going unnoticed.
pub const MAX_PLAINTEXT_BYTES: usize = 64 * 1024;

/// What a sealed value is bound to: the user it belongs to, the row it is
/// stored in and the field (column) it is stored under.
///
/// The bytes are `alpaca-trader/secret-box/v1 NUL user=<id> NUL row=<id> NUL
/// field=<name>`. The ids are decimal numbers, which never contain NUL, and
/// the field name runs to the end, so two different triples never give the
/// same bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Aad(Vec<u8>);

impl Aad {
    /// Binds to `user_id`, `row_id` and `field`. Name the field with its
    /// table, e.g. `"trading_accounts.api_secret"`: row ids repeat across
    /// tables, `table.column` does not.
    pub fn new(user_id: i64, row_id: i64, field: &str) -> Self {
        let mut bytes = Vec::with_capacity(64 + field.len());
        bytes.extend_from_slice(b"alpaca-trader/secret-box/v1\0user=");
        bytes.extend_from_slice(user_id.to_string().as_bytes());
        bytes.extend_from_slice(b"\0row=");
        bytes.extend_from_slice(row_id.to_string().as_bytes());
        bytes.extend_from_slice(b"\0field=");
        bytes.extend_from_slice(field.as_bytes());
        Self(bytes)
    }

    /// The associated data as given to the cipher.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Aad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not secret: ids and a column name.
        f.debug_tuple("Aad")
            .field(&String::from_utf8_lossy(&self.0))
            .finish()
    }
}

/// Why a value could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The plaintext is longer than [`MAX_PLAINTEXT_BYTES`].
    #[error("value is too long to seal ({0} bytes; at most {MAX_PLAINTEXT_BYTES})")]
    TooLong(usize),
    /// The cipher refused. XChaCha20-Poly1305 only does so for messages of
    /// hundreds of gigabytes, which [`SealError::TooLong`] already excludes.
    #[error("encryption failed")]
    Cipher,
}

/// What is wrong with the text of a sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// It does not start with `v1:` (another version, or not a sealed value).
    #[error("unknown version or not a sealed value (expected `v1:<key id>:<data>`)")]
    Version,
    /// The key id is not 8 lower-case hex digits followed by `:`.
    #[error("bad key id")]
    KeyId,
    /// The data is not standard base64 with padding.
    #[error("data is not valid base64")]
    Base64,
    /// The data is shorter than a nonce and a tag: truncated.
    #[error("data is too short (truncated)")]
    TooShort,
}

/// Why a sealed value could not be opened. Never contains the key or the
/// plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The text is not a well-formed sealed value.
    #[error("sealed value is malformed: {0}")]
    Malformed(Malformed),
    /// It was sealed under a key this server does not have (is a key missing
    /// from `ENCRYPTION_KEYS_OLD`?).
    #[error("sealed under unknown key {key_id} (is it missing from ENCRYPTION_KEYS_OLD?)")]
    UnknownKey {
        /// The key id written in the value.
        key_id: String,
    },
    /// The key id is known but the value does not authenticate: it was
    /// altered, or it belongs to another user, row or field.
    #[error("sealed value failed authentication (altered, or bound to another user, row or field)")]
    Authentication,
    /// [`KeyRing::open_str`] opened a value that is not UTF-8.
    #[error("opened value is not UTF-8")]
    NotUtf8,
}

impl From<Malformed> for OpenError {
    fn from(m: Malformed) -> Self {
        Self::Malformed(m)
    }
}

#[derive(Clone)]
struct Entry {
    id: String,
    key: EncryptionKey,
}

impl Entry {
    fn new(key: EncryptionKey) -> Self {
        Self {
            id: key.key_id(),
            key,
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.expose_bytes().into())
    }
}

/// The current encryption key, which seals, and the old ones, which only
/// open. Cheap to clone; share one per server.
#[derive(Clone)]
pub struct KeyRing {
    current: Entry,
    old: Vec<Entry>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids are public (they are in every sealed value); keys are not.
        f.debug_struct("KeyRing")
            .field("current", &self.current.id)
            .field(
                "old",
                &self.old.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeyRing {
    /// A ring that seals under `current` and opens under `current` and
    /// `old` (`ENCRYPTION_KEY` and `ENCRYPTION_KEYS_OLD`). Old keys equal to
    /// the current key or to an earlier old key are dropped.
    pub fn new(current: EncryptionKey, old: Vec<EncryptionKey>) -> Self {
        let current = Entry::new(current);
        let mut kept: Vec<Entry> = Vec::with_capacity(old.len());
        for key in old {
            let same_as = |e: &Entry| e.key.expose_bytes() == key.expose_bytes();
            if !same_as(&current) && !kept.iter().any(same_as) {
                kept.push(Entry::new(key));
            }
        }
        Self { current, old: kept }
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// The ids of every key in the ring, the current one first (what an
    /// instance records at start, so `rotate-key` can tell whether it
    /// holds the new key).
    pub fn key_ids(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.old)
            .map(|e| e.id.clone())
            .collect()
    }

    /// Seals `plaintext` for the place `aad` names.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<String, SealError> {
        if plaintext.len() > MAX_PLAINTEXT_BYTES {
            return Err(SealError::TooLong(plaintext.len()));
        }
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let nonce = XNonce::from(nonce);
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Cipher)?;
        let mut data = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&ciphertext);
        Ok(format!(
            "{VERSION}:{}:{}",
            self.current.id,
            STANDARD.encode(&data)
        ))
    }

    /// Seals a text secret (see [`KeyRing::seal`]).
    pub fn seal_str(&self, plaintext: &str, aad: &Aad) -> Result<String, SealError> {
        self.seal(plaintext.as_bytes(), aad)
    }

    /// Opens a value sealed for the place `aad` names, under the current key
    /// or an old one.
    pub fn open(&self, sealed: &str, aad: &Aad) -> Result<SecretSlice<u8>, OpenError> {
        let parsed = parse(sealed)?;
        let mut candidates = std::iter::once(&self.current)
            .chain(&self.old)
            .filter(|e| e.id == parsed.key_id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(OpenError::UnknownKey {
                key_id: parsed.key_id.to_owned(),
            });
        }
        let (nonce, ciphertext) = parsed.data.split_at(NONCE_LEN);
        let nonce: &XNonce = nonce
            .try_into()
            .map_err(|_| OpenError::Malformed(Malformed::TooShort))?;
        // Normally one key has the id; should two keys ever share one (a
        // 1 in 2^32 chance), each is tried.
        for entry in candidates {
            if let Ok(plaintext) = entry.cipher().decrypt(
                nonce,
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            ) {
                return Ok(SecretSlice::from(plaintext));
            }
        }
        Err(OpenError::Authentication)
    }

    /// Opens a text secret (see [`KeyRing::open`]).
    pub fn open_str(&self, sealed: &str, aad: &Aad) -> Result<SecretString, OpenError> {
        let bytes = self.open(sealed, aad)?;
        let text = std::str::from_utf8(secrecy::ExposeSecret::expose_secret(&bytes))
            .map_err(|_| OpenError::NotUtf8)?;
        Ok(SecretString::from(text))
    }

    /// Whether `sealed` names the current key. Only the key id is read; the
    /// value is not authenticated (use [`KeyRing::reseal`] for that).
    pub fn is_current(&self, sealed: &str) -> bool {
        parse(sealed).is_ok_and(|p| p.key_id == self.current.id)
    }

    /// For `rotate-key`: opens `sealed` (so a damaged value is reported, not
    /// skipped) and, when it is under an old key, seals it again under the
    /// current key. `Ok(None)` means it is already current and needs no
    /// update.
    pub fn reseal(&self, sealed: &str, aad: &Aad) -> Result<Option<String>, ResealError> {
        let plaintext = self.open(sealed, aad)?;
        if self.is_current(sealed) {
            return Ok(None);
        }
        Ok(Some(self.seal(
            secrecy::ExposeSecret::expose_secret(&plaintext),
            aad,
        )?))
    }
}

/// Why [`KeyRing::reseal`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResealError {
    /// The value could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The value could not be sealed again.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// The key id a sealed value names, without opening it (for counting
/// which key seals what); a malformed value says what is wrong with it.
pub fn key_id_of(sealed: &str) -> Result<&str, Malformed> {
    parse(sealed).map(|p| p.key_id)
}

struct Parsed<'a> {
    key_id: &'a str,
    /// Nonce then ciphertext; at least `NONCE_LEN + TAG_LEN` bytes.
    data: Vec<u8>,
}

fn parse(sealed: &str) -> Result<Parsed<'_>, Malformed> {
    let rest = sealed
        .strip_prefix(VERSION)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or(Malformed::Version)?;
    let (key_id, data) = rest.split_once(':').ok_or(Malformed::KeyId)?;
    if key_id.len() != KEY_ID_LEN
        || !key_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Malformed::KeyId);
    }
    let data = STANDARD.decode(data).map_err(|_| Malformed::Base64)?;
    if data.len() < NONCE_LEN + TAG_LEN {
        return Err(Malformed::TooShort);
    }
    Ok(Parsed { key_id, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_encryption_key;
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    fn aad() -> Aad {
        Aad::new(1, 10, "trading_accounts.api_secret")
    }

    fn data_of(sealed: &str) -> Vec<u8> {
        STANDARD.decode(sealed.rsplit(':').next().unwrap()).unwrap()
    }

    fn with_data(sealed: &str, data: &[u8]) -> String {
        let (head, _) = sealed.rsplit_once(':').unwrap();
        format!("{head}:{}", STANDARD.encode(data))
    }

    #[test]
    fn values_sealed_by_v1_keep_opening() {
        // Sealed once and kept: any change to the format, the key id or the
        // associated data would strand every stored secret. Checked
        // independently with Python (HChaCha20 by hand + `cryptography`'s
        // ChaCha20-Poly1305).
        let sealed =
            "v1:0c218d8d:NoVgY4yWjY24FfLYzX3CrTHTtCWjX5bLhedDiHfVFxlBi6I9YQWWEga1/bPUrDaGci2UHls=";
        let ring = KeyRing::new(key(9), vec![key(7)]);
        let aad = Aad::new(3, 4, "trading_accounts.api_key");
        assert_eq!(
            ring.open(sealed, &aad).unwrap().expose_secret(),
            b"PKTEST-pinned"
        );
        assert!(!ring.is_current(sealed));
    }

    #[test]
    fn round_trip_and_format() {
        let ring = KeyRing::new(key(1), vec![]);
        let sealed = ring.seal(b"PKTEST123", &aad()).unwrap();
        let parts: Vec<&str> = sealed.split(':').collect();
        assert_eq!(parts.len(), 3, "{sealed}");
        assert_eq!(parts[0], "v1");
        assert_eq!(parts[1], key(1).key_id());
        assert_eq!(parts[1], ring.current_key_id());
        // nonce (24) + plaintext (9) + tag (16)
        assert_eq!(data_of(&sealed).len(), 24 + 9 + 16);
        assert!(!sealed.contains("PKTEST"));
        assert_eq!(
            ring.open(&sealed, &aad()).unwrap().expose_secret(),
            b"PKTEST123"
        );
    }

    #[test]
    fn empty_and_largest_plaintexts() {
        let ring = KeyRing::new(key(1), vec![]);
        let sealed = ring.seal(b"", &aad()).unwrap();
        assert_eq!(data_of(&sealed).len(), 24 + 16);
        assert!(
            ring.open(&sealed, &aad())
                .unwrap()
                .expose_secret()
                .is_empty()
        );

        let big = vec![0xA5; MAX_PLAINTEXT_BYTES];
        let sealed = ring.seal(&big, &aad()).unwrap();
        assert_eq!(
            ring.open(&sealed, &aad()).unwrap().expose_secret(),
            &big[..]
        );
        assert_eq!(
            ring.seal(&vec![0; MAX_PLAINTEXT_BYTES + 1], &aad()),
            Err(SealError::TooLong(MAX_PLAINTEXT_BYTES + 1))
        );
    }

    #[test]
    fn fresh_nonce_each_time() {
        let ring = KeyRing::new(key(1), vec![]);
        let a = ring.seal(b"same", &aad()).unwrap();
        let b = ring.seal(b"same", &aad()).unwrap();
        assert_ne!(a, b);
        assert_ne!(data_of(&a)[..24], data_of(&b)[..24]);
    }

    #[test]
    fn strings_round_trip_and_non_utf8_is_reported() {
        let ring = KeyRing::new(key(1), vec![]);
        let sealed = ring.seal_str("sécret ✓", &aad()).unwrap();
        assert_eq!(
            ring.open_str(&sealed, &aad()).unwrap().expose_secret(),
            "sécret ✓"
        );
        let binary = ring.seal(&[0xff, 0xfe], &aad()).unwrap();
        assert_eq!(
            ring.open_str(&binary, &aad()).err(),
            Some(OpenError::NotUtf8)
        );
    }

    #[test]
    fn bound_to_user_row_and_field() {
        let ring = KeyRing::new(key(1), vec![]);
        let sealed = ring.seal(b"secret", &Aad::new(1, 10, "t.f")).unwrap();
        assert!(ring.open(&sealed, &Aad::new(1, 10, "t.f")).is_ok());
        for other in [
            Aad::new(2, 10, "t.f"),
            Aad::new(1, 11, "t.f"),
            Aad::new(1, 10, "t.g"),
            Aad::new(10, 1, "t.f"),
            Aad::new(1, 10, "t.f\0"),
            Aad::new(1, 10, ""),
        ] {
            assert_eq!(
                ring.open(&sealed, &other).err(),
                Some(OpenError::Authentication),
                "{other:?}"
            );
        }
    }

    #[test]
    fn aad_encoding_is_unambiguous() {
        // Shifting text between the parts must change the bytes.
        assert_ne!(Aad::new(1, 23, "f"), Aad::new(12, 3, "f"));
        assert_ne!(Aad::new(1, 2, "3"), Aad::new(1, 23, ""));
        assert_ne!(Aad::new(-1, 2, "f"), Aad::new(1, -2, "f"));
        assert_eq!(
            Aad::new(5, 6, "users.totp_secret").as_bytes(),
            b"alpaca-trader/secret-box/v1\0user=5\0row=6\0field=users.totp_secret"
        );
    }

    #[test]
    fn any_flipped_bit_fails_authentication() {
        let ring = KeyRing::new(key(1), vec![]);
        let sealed = ring.seal(b"secret value", &aad()).unwrap();
        let data = data_of(&sealed);
        for i in 0..data.len() {
            for bit in 0..8 {
                let mut altered = data.clone();
                altered[i] ^= 1 << bit;
                assert_eq!(
                    ring.open(&with_data(&sealed, &altered), &aad()).err(),
                    Some(OpenError::Authentication),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn truncated_or_extended_data_is_refused() {
        let ring = KeyRing::new(key(1), vec![]);
        let sealed = ring.seal(b"secret value", &aad()).unwrap();
        let data = data_of(&sealed);
        for len in 0..data.len() {
            let expected = if len < 40 {
                OpenError::Malformed(Malformed::TooShort)
            } else {
                OpenError::Authentication
            };
            assert_eq!(
                ring.open(&with_data(&sealed, &data[..len]), &aad()).err(),
                Some(expected),
                "length {len}"
            );
        }
        let mut longer = data.clone();
        longer.push(0);
        assert_eq!(
            ring.open(&with_data(&sealed, &longer), &aad()).err(),
            Some(OpenError::Authentication)
        );
        // Truncating the text itself (not the decoded bytes).
        for cut in 0..sealed.len() {
            assert!(ring.open(&sealed[..cut], &aad()).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn malformed_text_is_classified() {
        let ring = KeyRing::new(key(1), vec![]);
        let sealed = ring.seal(b"x", &aad()).unwrap();
        let id = ring.current_key_id().to_owned();
        let data = sealed.rsplit(':').next().unwrap().to_owned();
        let cases = [
            (String::new(), Malformed::Version),
            ("plain text".into(), Malformed::Version),
            (format!("v2:{id}:{data}"), Malformed::Version),
            (format!("V1:{id}:{data}"), Malformed::Version),
            (format!("v1{id}:{data}"), Malformed::Version),
            (format!("v1:{id}{data}"), Malformed::KeyId),
            (format!("v1::{data}"), Malformed::KeyId),
            (format!("v1:{}:{data}", id.to_uppercase()), Malformed::KeyId),
            (format!("v1:{id}0:{data}"), Malformed::KeyId),
            (format!("v1:zzzzzzzz:{data}"), Malformed::KeyId),
            (format!("v1:{id}:{data}!"), Malformed::Base64),
            (format!("v1:{id}: {data}"), Malformed::Base64),
            (
                format!("v1:{id}:{}", data.trim_end_matches('=')),
                Malformed::Base64,
            ),
            (format!("v1:{id}:"), Malformed::TooShort),
            (format!("v1:{id}:AAAA"), Malformed::TooShort),
        ];
        for (text, reason) in cases {
            assert_eq!(
                ring.open(&text, &aad()).err(),
                Some(OpenError::Malformed(reason)),
                "{text:?}"
            );
            assert!(!ring.is_current(&text), "{text:?}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let sealed = KeyRing::new(key(1), vec![]).seal(b"x", &aad()).unwrap();
        let other = KeyRing::new(key(2), vec![key(3)]);
        assert_eq!(
            other.open(&sealed, &aad()).err(),
            Some(OpenError::UnknownKey {
                key_id: key(1).key_id()
            })
        );
        assert!(
            OpenError::UnknownKey {
                key_id: key(1).key_id()
            }
            .to_string()
            .contains("ENCRYPTION_KEYS_OLD")
        );
    }

    #[test]
    fn wrong_key_under_a_known_id_fails_authentication() {
        // Rewrite the id so that it names the ring's key: the data was
        // sealed under another key, so authentication must fail.
        let sealed = KeyRing::new(key(1), vec![]).seal(b"x", &aad()).unwrap();
        let ring = KeyRing::new(key(2), vec![]);
        let forged = sealed.replace(&key(1).key_id(), ring.current_key_id());
        assert_eq!(
            ring.open(&forged, &aad()).err(),
            Some(OpenError::Authentication)
        );
    }

    #[test]
    fn old_keys_open_and_rotation_reseals() {
        let old_ring = KeyRing::new(key(1), vec![]);
        let old_sealed = old_ring.seal(b"api secret", &aad()).unwrap();

        let ring = KeyRing::new(key(2), vec![key(1)]);
        assert!(!ring.is_current(&old_sealed));
        assert_eq!(
            ring.open(&old_sealed, &aad()).unwrap().expose_secret(),
            b"api secret"
        );

        let resealed = ring.reseal(&old_sealed, &aad()).unwrap().unwrap();
        assert!(ring.is_current(&resealed));
        assert!(resealed.starts_with(&format!("v1:{}:", key(2).key_id())));
        assert_eq!(
            ring.open(&resealed, &aad()).unwrap().expose_secret(),
            b"api secret"
        );
        // Once re-sealed, the old key is no longer needed.
        let new_only = KeyRing::new(key(2), vec![]);
        assert!(new_only.open(&resealed, &aad()).is_ok());
        // Already current: nothing to do.
        assert_eq!(ring.reseal(&resealed, &aad()), Ok(None));
        // A damaged value is reported, not skipped.
        assert_eq!(
            ring.reseal(&old_sealed, &Aad::new(9, 9, "x")),
            Err(ResealError::Open(OpenError::Authentication))
        );
    }

    #[test]
    fn key_ids_and_key_id_of() {
        let ring = KeyRing::new(key(1), vec![key(2), key(1)]);
        assert_eq!(ring.key_ids(), vec![key(1).key_id(), key(2).key_id()]);
        let sealed = KeyRing::new(key(2), vec![]).seal(b"x", &aad()).unwrap();
        assert_eq!(key_id_of(&sealed), Ok(key(2).key_id().as_str()));
        assert_eq!(key_id_of("v2:whatever"), Err(Malformed::Version));
        assert_eq!(key_id_of(""), Err(Malformed::Version));
    }

    #[test]
    fn duplicate_old_keys_are_dropped() {
        let ring = KeyRing::new(key(1), vec![key(1), key(2), key(2), key(3)]);
        assert_eq!(
            format!("{ring:?}"),
            format!(
                "KeyRing {{ current: {:?}, old: [{:?}, {:?}] }}",
                key(1).key_id(),
                key(2).key_id(),
                key(3).key_id()
            )
        );
    }

    #[test]
    fn debug_never_shows_keys_or_plaintext() {
        let raw = generate_encryption_key();
        let k = EncryptionKey::from_base64(&raw).unwrap();
        let ring = KeyRing::new(k.clone(), vec![key(9)]);
        let debug = format!("{ring:?}");
        assert!(!debug.contains(&raw), "{debug}");
        assert!(
            !debug.contains(&format!("{:?}", k.expose_bytes())),
            "{debug}"
        );
        let opened = ring
            .open(&ring.seal(b"hunter2", &aad()).unwrap(), &aad())
            .unwrap();
        assert!(!format!("{opened:?}").contains("hunter2"));
        assert!(!format!("{opened:?}").contains("104")); // b'h'
        let text = ring
            .open_str(&ring.seal_str("hunter2", &aad()).unwrap(), &aad())
            .unwrap();
        assert!(!format!("{text:?}").contains("hunter2"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn open_never_panics_on_arbitrary_text(text in ".{0,200}") {
            let ring = KeyRing::new(key(1), vec![key(2)]);
            prop_assert!(ring.open(&text, &aad()).is_err());
            let _ = ring.is_current(&text);
        }

        #[test]
        fn open_never_panics_on_near_valid_text(
            data in proptest::collection::vec(any::<u8>(), 0..120),
            prefix in prop_oneof![Just("v1:"), Just("v1"), Just("v2:"), Just("")],
            id in prop_oneof![
                Just(key(1).key_id()),
                "[0-9a-f]{8}",
                ".{0,10}",
            ],
        ) {
            let ring = KeyRing::new(key(1), vec![key(2)]);
            let text = format!("{prefix}{id}:{}", STANDARD.encode(&data));
            prop_assert!(ring.open(&text, &aad()).is_err());
        }

        #[test]
        fn seal_open_round_trip(
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            user in any::<i64>(),
            row in any::<i64>(),
            field in ".{0,30}",
        ) {
            let ring = KeyRing::new(key(1), vec![]);
            let aad = Aad::new(user, row, &field);
            let sealed = ring.seal(&plaintext, &aad).unwrap();
            let opened = ring.open(&sealed, &aad).unwrap();
            prop_assert_eq!(opened.expose_secret(), &plaintext[..]);
        }
    }
}
