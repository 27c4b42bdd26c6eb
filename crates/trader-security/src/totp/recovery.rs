//! Recovery codes: ten one-time codes shown once when 2FA is enabled, each
//! of which signs in instead of a TOTP code when the authenticator is lost.
//!
//! A code is 10 characters from Crockford's base32 alphabet (digits and
//! lower-case letters without `i`, `l`, `o`, `u`), shown as `xxxxx-xxxxx`:
//! 50 random bits each. Input is forgiving the way Crockford's alphabet
//! intends: case, dashes and spaces are ignored, and `o` reads as `0`, `i`
//! and `l` as `1`.
//!
//! Storage: only [`hash_recovery_code`]'s output goes into
//! `recovery_codes.code_hash`. The hash is HMAC-SHA256 under a key derived
//! from `SECRET_KEY` (label `alpaca-trader recovery codes v1`), not argon2:
//!
//! - the codes are 50-bit random values, not human-chosen passwords, so
//!   there is no dictionary for a slow hash to slow down;
//! - the key is not in the database, so a stolen database alone gives no
//!   way to test guesses at all (argon2 would still allow offline guessing
//!   at whatever rate the attacker can afford);
//! - sign-in compares a typed code with up to ten stored hashes; argon2
//!   would make every recovery attempt cost ten argon2 runs, an easy lever
//!   for denial of service, while HMAC costs microseconds.
//!
//! Online guessing is bounded by the sign-in rate limit and lockout:
//! 10 valid codes in 2^50 leave an attacker about 1 in 10^14 per guess.
//!
//! Because the hash is deterministic, the caller may either look the hash
//! up (`WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`) or call
//! [`verify_recovery_code`] on each unused row. Either way, mark the row
//! used with a conditional update (`... AND used_at IS NULL`) so a code
//! cannot be spent twice by racing requests.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::keys::{KeyError, SecretKey};

/// How many codes [`generate_recovery_codes`] makes.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters in a code, without the dash.
const CODE_CHARS: usize = 10;
/// Crockford's base32 alphabet in lower case: 32 symbols, 5 bits each.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Written in front of every stored hash, so a later scheme can be told
/// apart.
const HASH_PREFIX: &str = "hmac-sha256:";
/// HKDF label for the hashing key.
const KEY_LABEL: &str = "alpaca-trader recovery codes v1";

/// Fresh recovery codes, formatted `xxxxx-xxxxx`. Show them once; store only
/// their hashes.
pub fn generate_recovery_codes() -> Vec<SecretString> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut code = String::with_capacity(CODE_CHARS + 1);
            for i in 0..CODE_CHARS {
                if i == CODE_CHARS / 2 {
                    code.push('-');
                }
                code.push(char::from(ALPHABET[OsRng.gen_range(0..ALPHABET.len())]));
            }
            SecretString::from(code)
        })
        .collect()
}

/// The key that recovery codes are hashed under, derived from `SECRET_KEY`,
/// and the keys derived from earlier `SECRET_KEY`s (`SECRET_KEYS_OLD`), so
/// codes made before `SECRET_KEY` changed keep working. New hashes are
/// always made with the current key. Make one at start-up and share it.
#[derive(Clone)]
pub struct RecoveryCodeKey {
    current: Hmac<Sha256>,
    old: Vec<Hmac<Sha256>>,
}

impl fmt::Debug for RecoveryCodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCodeKey([REDACTED])")
    }
}

fn derive_mac(secret_key: &SecretKey) -> Result<Hmac<Sha256>, KeyError> {
    let subkey = secret_key.derive_subkey(KEY_LABEL)?;
    Hmac::<Sha256>::new_from_slice(subkey.expose_secret()).map_err(|_| KeyError::Derivation)
}

impl RecoveryCodeKey {
    /// Derives the key (HKDF-SHA256, see [`SecretKey`]).
    pub fn from_secret_key(secret_key: &SecretKey) -> Result<Self, KeyError> {
        Self::from_secret_keys(secret_key, &[])
    }

    /// Derives the key from `current` (`SECRET_KEY`), and keys that only
    /// verify from `old` (`SECRET_KEYS_OLD`).
    pub fn from_secret_keys(current: &SecretKey, old: &[SecretKey]) -> Result<Self, KeyError> {
        Ok(Self {
            current: derive_mac(current)?,
            old: old.iter().map(derive_mac).collect::<Result<_, _>>()?,
        })
    }

    fn tag_with(mac: &Hmac<Sha256>, normalised: &[u8; CODE_CHARS]) -> String {
        let mut mac = mac.clone();
        mac.update(normalised);
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(HASH_PREFIX.len() + 64);
        out.push_str(HASH_PREFIX);
        for b in tag.iter() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    fn tag(&self, normalised: &[u8; CODE_CHARS]) -> String {
        Self::tag_with(&self.current, normalised)
    }

    /// Whether `stored_hash` is the hash of `normalised` under the current
    /// key or an old one. Every key is tried (no early exit), each
    /// comparison in constant time.
    fn matches(&self, normalised: &[u8; CODE_CHARS], stored_hash: &str) -> bool {
        std::iter::once(&self.current)
            .chain(&self.old)
            .fold(false, |found, mac| {
                let expected = Self::tag_with(mac, normalised);
                let same: bool = expected.as_bytes().ct_eq(stored_hash.as_bytes()).into();
                found | same
            })
    }
}

/// The value to store for `code`: `hmac-sha256:` and 64 hex digits.
///
/// The code is normalised first, so any way of typing it gives the same
/// hash. Text that cannot be a recovery code still gets a hash (of its
/// normalised form), which no real code matches.
pub fn hash_recovery_code(key: &RecoveryCodeKey, code: &SecretString) -> String {
    match normalise(code.expose_secret()) {
        Some(normalised) => key.tag(&normalised),
        // Never equal to a stored hash: stored hashes are made from
        // generated codes, which always normalise.
        None => format!("{HASH_PREFIX}invalid"),
    }
}

/// Whether `code` is the code `stored_hash` was made from, under the
/// current `SECRET_KEY` or an old one. Compares in constant time; text that
/// is not shaped like a recovery code is refused without hashing.
pub fn verify_recovery_code(key: &RecoveryCodeKey, code: &SecretString, stored_hash: &str) -> bool {
    let Some(normalised) = normalise(code.expose_secret()) else {
        return false;
    };
    key.matches(&normalised, stored_hash)
}

/// Lower case, dashes and white space dropped, `o` -> `0`, `i`/`l` -> `1`;
/// then exactly 10 characters of the alphabet, or `None`.
fn normalise(code: &str) -> Option<[u8; CODE_CHARS]> {
    let mut out = [0u8; CODE_CHARS];
    let mut n = 0;
    for c in code.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || n == CODE_CHARS {
            return None;
        }
        out[n] = c as u8;
        n += 1;
    }
    (n == CODE_CHARS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn key(fill: &str) -> RecoveryCodeKey {
        RecoveryCodeKey::from_secret_key(
            &SecretKey::new(SecretString::from(fill.repeat(64))).unwrap(),
        )
        .unwrap()
    }

    fn s(text: &str) -> SecretString {
        SecretString::from(text)
    }

    #[test]
    fn ten_distinct_well_formed_codes() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let mut seen = HashSet::new();
        for code in &codes {
            let text = code.expose_secret();
            assert_eq!(text.len(), 11, "{text}");
            assert_eq!(&text[5..6], "-", "{text}");
            assert!(
                text.bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| ALPHABET.contains(&b)),
                "{text}"
            );
            for ambiguous in ['i', 'l', 'o', 'u'] {
                assert!(!text.contains(ambiguous), "{text}");
            }
            assert!(seen.insert(text.to_owned()));
        }
    }

    #[test]
    fn codes_use_the_whole_alphabet() {
        // 100 codes x 10 characters: every symbol shows up (the chance that
        // one of 32 is missing is about 32 * (31/32)^1000, i.e. nil).
        let mut seen = HashSet::new();
        for _ in 0..10 {
            for code in generate_recovery_codes() {
                seen.extend(code.expose_secret().bytes().filter(|b| *b != b'-'));
            }
        }
        assert_eq!(seen.len(), 32);
    }

    #[test]
    fn hash_and_verify_with_forgiving_input() {
        let key = key("k");
        let code = s("0123a-bcdef");
        let hash = hash_recovery_code(&key, &code);
        assert!(hash.starts_with("hmac-sha256:"), "{hash}");
        assert_eq!(hash.len(), "hmac-sha256:".len() + 64);
        assert!(!hash.contains("0123a"));
        for typed in [
            "0123a-bcdef",
            "0123abcdef",
            "0123A-BCDEF",
            " 0123a bcdef ",
            "o123a-bcdef", // o for 0
            "0i23a-bcdef", // i for 1
            "0L23a-bcdef", // L for 1
            "01-23-ab-cd-ef",
        ] {
            assert!(verify_recovery_code(&key, &s(typed), &hash), "{typed:?}");
            assert_eq!(hash_recovery_code(&key, &s(typed)), hash, "{typed:?}");
        }
        for wrong in [
            "0123a-bcdee",
            "0123a-bcde",
            "0123a-bcdeff",
            "",
            "0123a-bcdeu", // u is not in the alphabet
            "0123a_bcdef",
            "0123a-bcdéf",
        ] {
            assert!(!verify_recovery_code(&key, &s(wrong), &hash), "{wrong:?}");
        }
    }

    #[test]
    fn hash_is_pinned() {
        // Stored hashes must keep verifying across releases. Expected value
        // computed independently (Python hmac/hashlib, HKDF-SHA256 by hand).
        assert_eq!(
            hash_recovery_code(&key("k"), &s("0123A-BCDEF")),
            "hmac-sha256:50b972505d009fa890205fd4ba40095c271cdff908fa0249a2223716882cc02e"
        );
    }

    #[test]
    fn hashes_depend_on_the_key() {
        let code = s("abcde-fghjk");
        let a = hash_recovery_code(&key("a"), &code);
        let b = hash_recovery_code(&key("b"), &code);
        assert_ne!(a, b);
        assert!(!verify_recovery_code(&key("b"), &code, &a));
    }

    #[test]
    fn codes_hashed_under_an_old_secret_key_keep_verifying() {
        let secret = |fill: &str| SecretKey::new(SecretString::from(fill.repeat(64))).unwrap();
        let code = s("abcde-fghjk");
        let before = hash_recovery_code(&key("a"), &code);
        // SECRET_KEY changed from a to b, with a in SECRET_KEYS_OLD.
        let rotated = RecoveryCodeKey::from_secret_keys(&secret("b"), &[secret("a")]).unwrap();
        assert!(verify_recovery_code(&rotated, &code, &before));
        assert!(!verify_recovery_code(&rotated, &s("abcde-fghjm"), &before));
        // New hashes use the new key only.
        let after = hash_recovery_code(&rotated, &code);
        assert_eq!(after, hash_recovery_code(&key("b"), &code));
        assert!(verify_recovery_code(&key("b"), &code, &after));
        // Without the old key the old hash no longer verifies.
        assert!(!verify_recovery_code(&key("b"), &code, &before));
        assert_eq!(format!("{rotated:?}"), "RecoveryCodeKey([REDACTED])");
    }

    #[test]
    fn generated_codes_verify_against_their_own_hash_only() {
        let key = key("k");
        let codes = generate_recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| hash_recovery_code(&key, c)).collect();
        for (i, code) in codes.iter().enumerate() {
            for (j, hash) in hashes.iter().enumerate() {
                assert_eq!(verify_recovery_code(&key, code, hash), i == j);
            }
        }
    }

    #[test]
    fn invalid_input_never_matches_anything() {
        let key = key("k");
        let invalid = hash_recovery_code(&key, &s("not a code"));
        assert!(!verify_recovery_code(&key, &s("not a code"), &invalid));
        assert!(!verify_recovery_code(&key, &s("abcde-fghjk"), ""));
        assert!(!verify_recovery_code(&key, &s("abcde-fghjk"), "garbage"));
    }

    #[test]
    fn debug_hides_key_and_codes() {
        let key = key("k");
        assert_eq!(format!("{key:?}"), "RecoveryCodeKey([REDACTED])");
        let codes = generate_recovery_codes();
        let debug = format!("{codes:?}");
        assert!(!debug.contains(codes[0].expose_secret()), "{debug}");
    }

    proptest! {
        #[test]
        fn verify_never_panics(code in ".{0,40}", stored in ".{0,80}") {
            let key = key("k");
            let _ = verify_recovery_code(&key, &s(&code), &stored);
            let _ = hash_recovery_code(&key, &s(&code));
        }
    }
}
