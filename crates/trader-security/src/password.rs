//! Passwords: the policy a new password must meet, and argon2id hashing.
//!
//! Policy (NIST SP 800-63B §5.1.1.2): 12 to 128 characters, counted as
//! Unicode scalar values; no composition rules; no truncation and no case
//! folding of the password itself; and not one of the 19,640 most common
//! passwords (compared without regard to case, so `Password1234` is as
//! refused as `password1234`).
//!
//! Hashing: argon2id, m = 19456 KiB, t = 2, p = 1 (OWASP's password storage
//! cheat sheet minimum), stored as a PHC string that carries its parameters,
//! so [`needs_rehash`] can tell when stored hashes are weaker than today's.
//!
//! ```
//! use trader_security::{NewPassword, SecretString, hash_password, verify_password};
//! let new = NewPassword::new(SecretString::from("correct horse battery staple")).unwrap();
//! let phc = hash_password(&new).unwrap();
//! assert!(verify_password(&SecretString::from("correct horse battery staple"), &phc).unwrap());
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted, in characters (bounds hashing work).
pub const MAX_PASSWORD_CHARS: usize = 128;

const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// How many passwords the bundled common-password list holds.
pub fn common_password_count() -> usize {
    COMMON.len()
}

/// Why a new password was refused. The message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters long (it has {0})")]
    TooShort(usize),
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters long (it has {0})")]
    TooLong(usize),
    #[error("password is one of the most commonly used passwords; choose another")]
    Common,
}

/// A password that meets the policy, ready to hash.
pub struct NewPassword(SecretString);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([REDACTED])")
    }
}

impl NewPassword {
    /// Checks `password` against the policy.
    pub fn new(password: SecretString) -> Result<Self, PolicyError> {
        let text = password.expose_secret();
        let chars = text.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(PolicyError::TooShort(chars));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(PolicyError::TooLong(chars));
        }
        if COMMON.contains(text.to_lowercase().as_str()) {
            return Err(PolicyError::Common);
        }
        Ok(Self(password))
    }

    /// The password itself.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// Hashing or verification could not run (never "wrong password").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("the stored password hash is not a valid PHC string")]
    MalformedHash,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants within argon2's bounds; `Params::new`
    // cannot fail for them, but we fall back to the library's defaults
    // (which are the same OWASP values) rather than panic.
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a policy-checked password into a PHC string with a fresh salt.
pub fn hash_password(password: &NewPassword) -> Result<String, HashError> {
    hash_secret(password.secret())
}

fn hash_secret(password: &SecretString) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Hashing(e.to_string()))
}

/// Whether `password` matches the stored PHC string. The parameters come
/// from the PHC string, so hashes made with older parameters still verify.
pub fn verify_password(password: &SecretString, phc: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|_| HashError::MalformedHash)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashError::MalformedHash);
    };
    if Algorithm::try_from(parsed.algorithm) != Ok(Algorithm::Argon2id) {
        // Older hashes of other kinds: the library's own path.
        return match argon2().verify_password(password.expose_secret().as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(HashError::Hashing(e.to_string())),
        };
    }
    let hashing = |e: argon2::Error| HashError::Hashing(e.to_string());
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(hashing)?
        .unwrap_or_default();
    let stored = Params::try_from(&parsed).map_err(|e| HashError::Hashing(e.to_string()))?;
    let params = Params::new(
        stored.m_cost(),
        stored.t_cost(),
        stored.p_cost(),
        Some(expected.len()),
    )
    .map_err(hashing)?;
    let mut salt_bytes = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|_| HashError::MalformedHash)?;
    let mut out = vec![0u8; expected.len()];
    let mut memory = WorkingMemory::take(params.block_count());
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt,
            &mut out,
            &mut memory.blocks[..],
        )
        .map_err(hashing)?;
    Ok(bool::from(subtle::ConstantTimeEq::ct_eq(
        &out[..],
        expected.as_bytes(),
    )))
}

/// argon2's working memory (19 MiB at today's parameters), allocated for
/// each check and freed after it. The server's allocator (mimalloc) hands
/// such a block back to the system soon after it is freed; glibc's malloc
/// kept it in each thread's arena, so a burst of sign-ins grew the server
/// by hundreds of MB.
struct WorkingMemory {
    blocks: Vec<argon2::Block>,
}

impl WorkingMemory {
    fn take(blocks: usize) -> Self {
        Self {
            blocks: vec![argon2::Block::default(); blocks],
        }
    }
}

static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_secret(&SecretString::from("dummy password for timing")).ok());

/// Spends the same time as [`verify_password`] on a real hash, and answers
/// `false`. Sign-in calls it for unknown users so that "no such user" and
/// "wrong password" cannot be told apart by timing.
pub fn verify_dummy(password: &SecretString) -> bool {
    if let Some(dummy) = DUMMY_HASH.as_deref() {
        let _ = verify_password(password, dummy);
    }
    false
}

/// Whether a stored hash should be replaced at the next successful sign-in:
/// another algorithm or version, or parameters below today's.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return true;
    }
    if parsed.version != Some(Version::V0x13.into()) {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => p.m_cost() < M_COST_KIB || p.t_cost() < T_COST || p.p_cost() < P_COST,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn hash_and_verify() {
        let pw = NewPassword::new(secret("tr0ub4dor&3-horse")).unwrap();
        let phc = hash_password(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(&secret("tr0ub4dor&3-horse"), &phc).unwrap());
        assert!(!verify_password(&secret("tr0ub4dor&3-hors"), &phc).unwrap());
        // No case folding.
        assert!(!verify_password(&secret("TR0UB4DOR&3-HORSE"), &phc).unwrap());
        // A fresh salt each time.
        assert_ne!(phc, hash_password(&pw).unwrap());
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn no_truncation_at_any_length() {
        let long = "x7".repeat(64); // 128 characters
        let pw = NewPassword::new(secret(&long)).unwrap();
        let phc = hash_password(&pw).unwrap();
        let mut almost = long.clone();
        almost.pop();
        almost.push('8');
        assert!(!verify_password(&secret(&almost), &phc).unwrap());
        assert!(verify_password(&secret(&long), &phc).unwrap());
    }

    #[test]
    fn malformed_hash_is_an_error_not_a_mismatch() {
        assert_eq!(
            verify_password(&secret("whatever long pw"), "not a hash"),
            Err(HashError::MalformedHash)
        );
        assert!(needs_rehash("not a hash"));
    }

    #[test]
    fn weaker_or_other_hashes_need_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8_192, 1, 1, None).unwrap(),
        )
        .hash_password(b"some password!", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak));
        // It still verifies, so the user can sign in and be rehashed.
        assert!(verify_password(&secret("some password!"), &weak).unwrap());

        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"some password!", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(needs_rehash(&argon2i));

        let stronger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(65_536, 3, 2, None).unwrap(),
        )
        .hash_password(b"some password!", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(!needs_rehash(&stronger));
    }

    #[test]
    fn policy_length_edges() {
        assert_eq!(
            NewPassword::new(secret("abcdefghij1")).unwrap_err(),
            PolicyError::TooShort(11)
        );
        assert!(NewPassword::new(secret("abcdefghij12")).is_ok());
        assert!(NewPassword::new(secret(&"k".repeat(128))).is_ok());
        assert_eq!(
            NewPassword::new(secret(&"k".repeat(129))).unwrap_err(),
            PolicyError::TooLong(129)
        );
        // Characters, not bytes: 12 multi-byte characters pass, 11 do not.
        assert!(NewPassword::new(secret(&"é".repeat(12))).is_ok());
        assert_eq!(
            NewPassword::new(secret(&"é".repeat(11))).unwrap_err(),
            PolicyError::TooShort(11)
        );
    }

    #[test]
    fn common_passwords_are_refused_by_the_list_not_by_length() {
        assert!(
            common_password_count() >= 10_000,
            "{}",
            common_password_count()
        );
        for common in ["q1w2e3r4t5y6", "1qaz2wsx3edc", "Q1W2E3R4T5Y6"] {
            assert!(common.chars().count() >= MIN_PASSWORD_CHARS);
            assert_eq!(
                NewPassword::new(secret(common)).unwrap_err(),
                PolicyError::Common,
                "{common}"
            );
        }
        let message = PolicyError::Common.to_string();
        assert!(message.contains("commonly used"), "{message}");
        assert!(NewPassword::new(secret("q1w2e3r4t5y6-mine")).is_ok());
    }

    #[test]
    fn dummy_verification_says_no() {
        assert!(!verify_dummy(&secret("dummy password for timing")));
    }

    #[test]
    fn debug_never_prints_the_password() {
        let pw = NewPassword::new(secret("hunter2hunter2!")).unwrap();
        assert!(!format!("{pw:?}").contains("hunter2"));
    }
}
