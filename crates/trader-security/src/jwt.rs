//! Bearer tokens for scripts: JWTs (RFC 7519) signed with HMAC-SHA256 under
//! a key derived from `SECRET_KEY`.
//!
//! Following RFC 8725 (JWT best current practices):
//!
//! - §3.1: the algorithm is pinned. Only `HS256` is accepted, whatever the
//!   token's header says; `none`, other HMAC sizes and public-key
//!   algorithms are refused. Below jsonwebtoken sits a crypto provider that
//!   can only do HS256, as a second line.
//! - §3.5: the key is 256 bits derived with HKDF-SHA256 from `SECRET_KEY`
//!   and the label `alpaca-trader jwt v1`, never `SECRET_KEY` itself.
//! - §3.8, §3.9: `iss` must be `alpaca-trader` and `aud` must be
//!   `alpaca-trader-api`.
//! - §3.10, §3.11: every claim is typed; `exp`, `iat`, `sub`, `jti`, `aud`,
//!   `iss`, `stamp` and `scope` are all required. A numeric claim sent as a
//!   string is refused (jsonwebtoken 10.3 and later; earlier versions
//!   skipped the `exp` check in that case, hence the version floor).
//!
//! Times: `exp` is checked against the clock with [`LEEWAY_SECS`] of
//! tolerance (tokens are made and checked by servers that share NTP time);
//! a token whose `iat` lies further than that in the future is refused, as is
//! one whose `exp` is not after its `iat`.
//!
//! What verification does *not* do, and the caller must: look the `jti` up
//! in `api_tokens` (revoked? expired there?), and compare `stamp` with the
//! user's current security stamp, so that a password change or "log out
//! everywhere" ends every token.
//!
//! ```
//! use trader_security::jwt::{Claims, JwtKeys, Scope};
//! use trader_security::{SecretKey, SecretString, generate_secret_key};
//!
//! let keys = JwtKeys::from_secret_key(
//!     &SecretKey::new(SecretString::from(generate_secret_key())).unwrap(),
//! )
//! .unwrap();
//! let now = jsonwebtoken::get_current_timestamp() as i64;
//! let claims = Claims::new(42, "stamp-1", Scope::Read, now, now + 3600);
//! let token = keys.issue(&claims).unwrap();
//! let checked = keys.verify(&token).unwrap();
//! assert_eq!(checked.user_id(), Some(42));
//! assert_eq!(checked.jti, claims.jti);
//! ```

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, new_error};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation, signature,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::keys::{KeyError, SecretKey};

/// The `iss` of every token.
pub const JWT_ISSUER: &str = "alpaca-trader";
/// The `aud` of every token.
pub const JWT_AUDIENCE: &str = "alpaca-trader-api";
/// Clock tolerance for `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 10;
/// Longer tokens are refused before any parsing (ours are about 400 bytes).
const MAX_TOKEN_BYTES: usize = 4096;
/// HKDF label for the signing key.
const KEY_LABEL: &str = "alpaca-trader jwt v1";

/// What a token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read the account, positions, orders, signals.
    Read,
    /// Everything `read` allows, and placing and cancelling orders.
    Trade,
}

impl Scope {
    /// The name used in tokens and in `api_tokens.scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trade => "trade",
        }
    }

    /// Whether a token with this scope may do what `needed` requires
    /// (`trade` includes `read`).
    pub fn allows(self, needed: Scope) -> bool {
        match needed {
            Self::Read => true,
            Self::Trade => self == Self::Trade,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is neither `read` nor `trade`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token scope {0:?} (expected \"read\" or \"trade\")")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Self::Read),
            "trade" => Ok(Self::Trade),
            other => Err(UnknownScope(other.to_owned())),
        }
    }
}

/// The claims of one of our tokens.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The user id, in decimal.
    pub sub: String,
    /// The token's id, `api_tokens.jti`.
    pub jti: Uuid,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// Always [`JWT_AUDIENCE`].
    pub aud: String,
    /// Always [`JWT_ISSUER`].
    pub iss: String,
    /// The user's security stamp when the token was made.
    pub stamp: String,
    /// What the token allows.
    pub scope: Scope,
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The stamp is what revokes tokens; keep it out of logs.
        f.debug_struct("Claims")
            .field("sub", &self.sub)
            .field("jti", &self.jti)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("aud", &self.aud)
            .field("iss", &self.iss)
            .field("stamp", &"[REDACTED]")
            .field("scope", &self.scope)
            .finish()
    }
}

impl Claims {
    /// Claims for a new token of `user_id` with a fresh random `jti`, our
    /// issuer and audience. Times are seconds since the epoch.
    pub fn new(
        user_id: i64,
        security_stamp: &str,
        scope: Scope,
        issued_at: i64,
        expires_at: i64,
    ) -> Self {
        Self {
            sub: user_id.to_string(),
            jti: Uuid::new_v4(),
            iat: issued_at,
            exp: expires_at,
            aud: JWT_AUDIENCE.to_owned(),
            iss: JWT_ISSUER.to_owned(),
            stamp: security_stamp.to_owned(),
            scope,
        }
    }

    /// The user id in `sub`, if it is one.
    pub fn user_id(&self) -> Option<i64> {
        // `i64::from_str` accepts a leading `+`; we only ever write digits
        // and an optional `-`, and want one spelling per id.
        if self.sub.starts_with('+') {
            return None;
        }
        self.sub.parse().ok()
    }
}

/// The claims as they come off the wire, each optional so that a missing
/// one is reported by name.
#[derive(Deserialize)]
struct WireClaims {
    sub: Option<String>,
    jti: Option<Uuid>,
    iat: Option<i64>,
    exp: Option<i64>,
    aud: Option<String>,
    iss: Option<String>,
    stamp: Option<String>,
    scope: Option<Scope>,
}

impl WireClaims {
    fn into_claims(self) -> Result<Claims, JwtError> {
        fn need<T>(value: Option<T>, name: &'static str) -> Result<T, JwtError> {
            value.ok_or(JwtError::MissingClaim(name))
        }
        Ok(Claims {
            sub: need(self.sub, "sub")?,
            jti: need(self.jti, "jti")?,
            iat: need(self.iat, "iat")?,
            exp: need(self.exp, "exp")?,
            aud: need(self.aud, "aud")?,
            iss: need(self.iss, "iss")?,
            stamp: need(self.stamp, "stamp")?,
            scope: need(self.scope, "scope")?,
        })
    }
}

/// Why a token was refused (or could not be made). All of these mean 401
/// to a client; the variants are for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a JWT: wrong shape, bad base64 or JSON, a claim of the wrong type,
    /// or too long.
    #[error("token is malformed")]
    Malformed,
    /// The header names an algorithm other than HS256 (including `none`).
    #[error("token uses an algorithm other than HS256")]
    WrongAlgorithm,
    /// The signature does not match: altered, or signed with another key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
    /// `iat` (or `nbf`) lies in the future.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `aud` is not ours.
    #[error("token is for another audience")]
    WrongAudience,
    /// `iss` is not ours.
    #[error("token is from another issuer")]
    WrongIssuer,
    /// A required claim is absent.
    #[error("token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// A claim is present but unacceptable (a string `exp`, a `sub` that is
    /// not a user id, `exp` not after `iat`, an unknown scope).
    #[error("token has an invalid {0} claim")]
    InvalidClaim(String),
    /// Signing failed.
    #[error("could not sign the token")]
    Signing,
}

impl From<jsonwebtoken::errors::Error> for JwtError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.into_kind() {
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::MissingAlgorithm => Self::WrongAlgorithm,
            ErrorKind::MissingRequiredClaim(name) => match name.as_str() {
                "exp" => Self::MissingClaim("exp"),
                "sub" => Self::MissingClaim("sub"),
                "aud" => Self::MissingClaim("aud"),
                "iss" => Self::MissingClaim("iss"),
                "nbf" => Self::MissingClaim("nbf"),
                _ => Self::Malformed,
            },
            ErrorKind::InvalidClaimFormat(name) => Self::InvalidClaim(name),
            _ => Self::Malformed,
        }
    }
}

/// Signs and verifies our tokens. Make one at start-up and share it.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys([REDACTED])")
    }
}

impl JwtKeys {
    /// Derives the signing key from `SECRET_KEY` (HKDF-SHA256, label
    /// `alpaca-trader jwt v1`).
    ///
    /// Also installs, for the whole process, jsonwebtoken's crypto provider:
    /// one that only knows HS256 (see the crate's Cargo.toml for why no
    /// built-in backend is used). If another provider was installed first,
    /// that one stays; any provider computes HS256 the same way.
    pub fn from_secret_key(secret_key: &SecretKey) -> Result<Self, KeyError> {
        let _ = HS256_ONLY.install_default();
        let subkey = secret_key.derive_subkey(KEY_LABEL)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&[JWT_AUDIENCE]);
        validation.set_issuer(&[JWT_ISSUER]);
        // jsonwebtoken enforces the ones it knows (exp, sub, aud, iss);
        // `WireClaims::into_claims` enforces iat, jti, stamp and scope.
        validation.set_required_spec_claims(&["exp", "iat", "sub", "jti", "aud", "iss"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(subkey.expose_secret()),
            decoding: DecodingKey::from_secret(subkey.expose_secret()),
            validation,
        })
    }

    /// Signs `claims` into a compact JWT. Refuses claims that [`verify`]
    /// would refuse for their content (another issuer or audience, a `sub`
    /// that is not a user id, `exp` not after `iat`).
    ///
    /// [`verify`]: JwtKeys::verify
    pub fn issue(&self, claims: &Claims) -> Result<String, JwtError> {
        check_content(claims)?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| JwtError::Signing)
    }

    /// Checks `token`'s algorithm, signature, issuer, audience, times and
    /// claims, and returns the claims. The caller still checks the `jti`
    /// and the stamp (see the module docs).
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Malformed);
        }
        let data = jsonwebtoken::decode::<WireClaims>(token, &self.decoding, &self.validation)?;
        if data.header.alg != Algorithm::HS256 {
            return Err(JwtError::WrongAlgorithm);
        }
        let claims = data.claims.into_claims()?;
        check_content(&claims)?;
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        // `iat` in the future means a token from a server with a wrong
        // clock, or a forged one; jsonwebtoken does not look at `iat`.
        if claims.iat > now.saturating_add(LEEWAY_SECS as i64) {
            return Err(JwtError::NotYetValid);
        }
        // jsonwebtoken has checked `exp` already; check again on our own
        // typed value, so expiry never rests on one library's parsing.
        if claims.exp < now.saturating_sub(LEEWAY_SECS as i64) {
            return Err(JwtError::Expired);
        }
        Ok(claims)
    }
}

fn check_content(claims: &Claims) -> Result<(), JwtError> {
    if claims.iss != JWT_ISSUER {
        return Err(JwtError::WrongIssuer);
    }
    if claims.aud != JWT_AUDIENCE {
        return Err(JwtError::WrongAudience);
    }
    if claims.user_id().is_none() {
        return Err(JwtError::InvalidClaim("sub".to_owned()));
    }
    if claims.exp <= claims.iat {
        return Err(JwtError::InvalidClaim("exp".to_owned()));
    }
    Ok(())
}

// --- The HS256-only crypto provider for jsonwebtoken -----------------------

type HmacSha256 = Hmac<Sha256>;

static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: hs256_signer,
    verifier_factory: hs256_verifier,
    // JWK helpers (RSA/EC key parsing, thumbprints) are not used here.
    key_utils: KeyUtils::new_unimplemented(),
};

struct Hs256(HmacSha256);

impl Hs256 {
    fn new(
        alg: &Algorithm,
        family: AlgorithmFamily,
        key: &[u8],
    ) -> jsonwebtoken::errors::Result<Self> {
        if *alg != Algorithm::HS256 {
            return Err(new_error(ErrorKind::InvalidAlgorithm));
        }
        if family != AlgorithmFamily::Hmac {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        HmacSha256::new_from_slice(key)
            .map(Self)
            .map_err(|_| new_error(ErrorKind::InvalidKeyFormat))
    }
}

fn hs256_signer(
    alg: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    Ok(Box::new(Hs256::new(alg, key.family(), key.as_bytes())?))
}

fn hs256_verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(Hs256::new(
        alg,
        key.family(),
        key.try_get_as_bytes()?,
    )?))
}

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        // Constant-time comparison.
        mac.verify_slice(tag).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;
    use secrecy::SecretString;
    use serde_json::{Value, json};

    fn secret_key(fill: &str) -> SecretKey {
        SecretKey::new(SecretString::from(fill.repeat(64))).unwrap()
    }

    fn keys() -> JwtKeys {
        JwtKeys::from_secret_key(&secret_key("s")).unwrap()
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn claims() -> Claims {
        Claims::new(7, "stamp-abc", Scope::Trade, now(), now() + 3600)
    }

    fn claims_json() -> Value {
        serde_json::to_value(claims()).unwrap()
    }

    /// The derived HS256 key, for hand-made tokens.
    fn raw_key() -> Vec<u8> {
        secret_key("s")
            .derive_subkey(KEY_LABEL)
            .unwrap()
            .expose_secret()
            .to_vec()
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    /// A token signed by hand: any header, any claims, HMAC with SHA-256 or
    /// SHA-512, any key. Bypasses jsonwebtoken and our provider entirely.
    fn hand_made(header: &Value, claims: &Value, key: &[u8], sha512: bool) -> String {
        let message = format!("{}.{}", b64(header), b64(claims));
        let tag = if sha512 {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        } else {
            let mut mac = HmacSha256::new_from_slice(key).unwrap();
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        };
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    fn hs256_header() -> Value {
        json!({"alg": "HS256", "typ": "JWT"})
    }

    #[test]
    fn round_trip() {
        let keys = keys();
        let claims = claims();
        let token = keys.issue(&claims).unwrap();
        assert_eq!(token.split('.').count(), 3);
        let back = keys.verify(&token).unwrap();
        assert_eq!(back, claims);
        assert_eq!(back.user_id(), Some(7));
        assert_eq!(back.scope, Scope::Trade);
        assert_eq!(back.aud, "alpaca-trader-api");
        assert_eq!(back.iss, "alpaca-trader");
        // The header says HS256 and JWT.
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        // Each token gets its own id.
        let other = Claims::new(7, "stamp-abc", Scope::Trade, now(), now() + 3600);
        assert_ne!(other.jti, claims.jti);
    }

    #[test]
    fn token_made_elsewhere_to_the_spec_verifies() {
        // Made with Python's hmac/hashlib from the documented scheme (HKDF
        // label, HS256, claims), expiring in 2100: pins the key derivation
        // and the claim names, which issued tokens depend on.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImp0aSI6IjZmMWMyYTNiLTRkNWUtNGY2MC04YTdiLTljMGQxZTJmM2E0YiIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJhdWQiOiJhbHBhY2EtdHJhZGVyLWFwaSIsImlzcyI6ImFscGFjYS10cmFkZXIiLCJzdGFtcCI6InN0YW1wLTEiLCJzY29wZSI6InJlYWQifQ.Sk8FReEMPFNcZ2fYKwfj_lp9RWayzeXdNzKKj57Wcyg";
        let claims = keys().verify(token).unwrap();
        assert_eq!(claims.user_id(), Some(42));
        assert_eq!(
            claims.jti.to_string(),
            "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
        );
        assert_eq!((claims.iat, claims.exp), (1_700_000_000, 4_102_444_800));
        assert_eq!(claims.stamp, "stamp-1");
        assert_eq!(claims.scope, Scope::Read);
    }

    #[test]
    fn hand_made_token_with_the_right_key_verifies() {
        // Shows the hand-made helper is faithful, so the refusals below are
        // refusals of their one defect and not of the helper.
        let token = hand_made(&hs256_header(), &claims_json(), &raw_key(), false);
        assert!(keys().verify(&token).is_ok());
    }

    #[test]
    fn signing_key_is_derived_not_raw() {
        let raw = "s".repeat(64);
        let token = hand_made(&hs256_header(), &claims_json(), raw.as_bytes(), false);
        assert_eq!(keys().verify(&token), Err(JwtError::BadSignature));
    }

    #[test]
    fn expired_is_refused() {
        let keys = keys();
        let old = Claims::new(7, "s", Scope::Read, now() - 7200, now() - 3600);
        let token = keys.issue(&old).unwrap();
        assert_eq!(keys.verify(&token), Err(JwtError::Expired));
        // Within the leeway it still passes; just past it, it does not.
        let just = Claims::new(7, "s", Scope::Read, now() - 100, now() - 5);
        assert!(keys.verify(&keys.issue(&just).unwrap()).is_ok());
        let past = Claims::new(7, "s", Scope::Read, now() - 100, now() - 11 - 1);
        assert_eq!(
            keys.verify(&keys.issue(&past).unwrap()),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn issued_in_the_future_is_refused() {
        let keys = keys();
        let future = Claims::new(7, "s", Scope::Read, now() + 3600, now() + 7200);
        let token = keys.issue(&future).unwrap();
        assert_eq!(keys.verify(&token), Err(JwtError::NotYetValid));
        // A few seconds ahead (clock skew between instances) is fine.
        let skewed = Claims::new(7, "s", Scope::Read, now() + 5, now() + 3600);
        assert!(keys.verify(&keys.issue(&skewed).unwrap()).is_ok());
    }

    #[test]
    fn nbf_in_the_future_is_refused() {
        let mut c = claims_json();
        c["nbf"] = json!(now() + 3600);
        let token = hand_made(&hs256_header(), &c, &raw_key(), false);
        assert_eq!(keys().verify(&token), Err(JwtError::NotYetValid));
    }

    #[test]
    fn exp_not_after_iat_is_refused() {
        let keys = keys();
        let c = Claims::new(7, "s", Scope::Read, now(), now());
        assert_eq!(keys.issue(&c), Err(JwtError::InvalidClaim("exp".into())));
        let mut v = claims_json();
        v["iat"] = json!(now() + 5);
        v["exp"] = json!(now() + 5);
        let token = hand_made(&hs256_header(), &v, &raw_key(), false);
        assert_eq!(
            keys.verify(&token),
            Err(JwtError::InvalidClaim("exp".into()))
        );
    }

    #[test]
    fn wrong_audience_is_refused() {
        let keys = keys();
        let mut c = claims();
        c.aud = "someone-else".into();
        assert_eq!(keys.issue(&c), Err(JwtError::WrongAudience));
        let mut v = claims_json();
        v["aud"] = json!("someone-else");
        let token = hand_made(&hs256_header(), &v, &raw_key(), false);
        assert_eq!(keys.verify(&token), Err(JwtError::WrongAudience));
        // An audience list that contains ours is still not our token shape.
        v["aud"] = json!(["alpaca-trader-api", "other"]);
        let token = hand_made(&hs256_header(), &v, &raw_key(), false);
        assert!(keys.verify(&token).is_err());
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let keys = keys();
        let mut c = claims();
        c.iss = "evil".into();
        assert_eq!(keys.issue(&c), Err(JwtError::WrongIssuer));
        let mut v = claims_json();
        v["iss"] = json!("evil");
        let token = hand_made(&hs256_header(), &v, &raw_key(), false);
        assert_eq!(keys.verify(&token), Err(JwtError::WrongIssuer));
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = keys();
        for alg in ["none", "None", "NONE", ""] {
            let header = json!({"alg": alg, "typ": "JWT"});
            let unsigned = format!("{}.{}.", b64(&header), b64(&claims_json()));
            let err = keys.verify(&unsigned).unwrap_err();
            assert!(
                matches!(err, JwtError::Malformed | JwtError::WrongAlgorithm),
                "{alg}: {err:?}"
            );
            // Even with a valid HS256 tag over it.
            let signed = hand_made(&header, &claims_json(), &raw_key(), false);
            assert!(keys.verify(&signed).is_err(), "{alg}");
        }
    }

    #[test]
    fn other_algorithms_are_refused() {
        let keys = keys();
        // HS512 with the very same key: a valid signature, wrong algorithm.
        let hs512 = hand_made(
            &json!({"alg": "HS512", "typ": "JWT"}),
            &claims_json(),
            &raw_key(),
            true,
        );
        assert_eq!(keys.verify(&hs512), Err(JwtError::WrongAlgorithm));
        // A header that lies: says HS512, carries an HS256 tag.
        let liar = hand_made(
            &json!({"alg": "HS512", "typ": "JWT"}),
            &claims_json(),
            &raw_key(),
            false,
        );
        assert_eq!(keys.verify(&liar), Err(JwtError::WrongAlgorithm));
        // Public-key algorithms (the classic RS256-with-HMAC-key confusion).
        for alg in ["HS384", "RS256", "ES256", "PS256", "EdDSA"] {
            let token = hand_made(
                &json!({"alg": alg, "typ": "JWT"}),
                &claims_json(),
                &raw_key(),
                false,
            );
            assert_eq!(keys.verify(&token), Err(JwtError::WrongAlgorithm), "{alg}");
        }
    }

    #[test]
    fn the_provider_refuses_other_algorithms_too() {
        let _ = keys(); // installs the provider
        let key = EncodingKey::from_secret(&raw_key());
        assert!(jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims(), &key).is_err());
        assert!(jsonwebtoken::encode(&Header::new(Algorithm::HS384), &claims(), &key).is_err());
        assert!(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &key).is_ok());
    }

    #[test]
    fn foreign_key_is_refused() {
        let ours = keys();
        let theirs = JwtKeys::from_secret_key(&secret_key("t")).unwrap();
        let token = theirs.issue(&claims()).unwrap();
        assert_eq!(ours.verify(&token), Err(JwtError::BadSignature));
        let token = hand_made(&hs256_header(), &claims_json(), b"attacker key", false);
        assert_eq!(ours.verify(&token), Err(JwtError::BadSignature));
    }

    #[test]
    fn altered_tokens_are_refused() {
        let keys = keys();
        let token = keys.issue(&claims()).unwrap();
        let (message, tag) = token.rsplit_once('.').unwrap();
        // Claims swapped for other claims under the old tag.
        let mut v = claims_json();
        v["scope"] = json!("trade");
        v["sub"] = json!("1");
        let forged = format!("{}.{}.{tag}", b64(&hs256_header()), b64(&v));
        assert_eq!(keys.verify(&forged), Err(JwtError::BadSignature));
        // Tag removed or altered.
        assert!(keys.verify(&format!("{message}.")).is_err());
        let mut bad_tag = tag.to_owned().into_bytes();
        bad_tag[0] = if bad_tag[0] == b'A' { b'B' } else { b'A' };
        let bad = format!("{message}.{}", String::from_utf8(bad_tag).unwrap());
        assert_eq!(keys.verify(&bad), Err(JwtError::BadSignature));
    }

    #[test]
    fn string_exp_is_refused() {
        let keys = keys();
        for exp in [
            json!((now() + 3600).to_string()),
            json!("never"),
            json!(null),
            json!(1.5e12),
            json!(-1),
        ] {
            let mut v = claims_json();
            v["exp"] = exp.clone();
            let token = hand_made(&hs256_header(), &v, &raw_key(), false);
            assert!(keys.verify(&token).is_err(), "exp = {exp}");
        }
    }

    #[test]
    fn jsonwebtoken_itself_refuses_string_exp() {
        // Guards the version floor: decoding into an untyped map leaves the
        // `exp` check to jsonwebtoken alone, which must refuse a string
        // (before 10.3 it silently skipped the check).
        let k = keys();
        let mut v = claims_json();
        v["exp"] = json!((now() - 3600).to_string());
        let token = hand_made(&hs256_header(), &v, &raw_key(), false);
        // With `exp` required (our validation), a string is not an `exp`.
        let err = jsonwebtoken::decode::<Value>(&token, &k.decoding, &k.validation).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) if c == "exp"),
            "{err:?}"
        );
        // Even with `exp` not required, which is where versions below 10.3
        // skipped the check.
        let mut lax = k.validation.clone();
        lax.required_spec_claims.clear();
        let err = jsonwebtoken::decode::<Value>(&token, &k.decoding, &lax).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::InvalidClaimFormat("exp".into()),
            "{err:?}"
        );
    }

    #[test]
    fn every_required_claim_is_required() {
        let keys = keys();
        for name in ["exp", "iat", "sub", "jti", "aud", "iss", "stamp", "scope"] {
            let mut v = claims_json();
            v.as_object_mut().unwrap().remove(name);
            let token = hand_made(&hs256_header(), &v, &raw_key(), false);
            let err = keys.verify(&token).unwrap_err();
            assert_eq!(err, JwtError::MissingClaim(name), "{name}");
            // null is as good as missing.
            let mut v = claims_json();
            v[name] = Value::Null;
            let token = hand_made(&hs256_header(), &v, &raw_key(), false);
            assert!(keys.verify(&token).is_err(), "{name}: null");
        }
    }

    #[test]
    fn ill_typed_claims_are_refused() {
        let keys = keys();
        let cases = [
            ("sub", json!(7)),
            ("sub", json!("alice")),
            ("sub", json!("+7")),
            ("jti", json!("not-a-uuid")),
            ("iat", json!("123")),
            ("scope", json!("admin")),
            ("scope", json!(["read"])),
            ("stamp", json!(1)),
        ];
        for (name, value) in cases {
            let mut v = claims_json();
            v[name] = value.clone();
            let token = hand_made(&hs256_header(), &v, &raw_key(), false);
            assert!(keys.verify(&token).is_err(), "{name} = {value}");
        }
    }

    #[test]
    fn garbage_is_refused() {
        let keys = keys();
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        for junk in [
            "",
            ".",
            "..",
            "...",
            "a.b.c",
            "a.b",
            "Bearer x.y.z",
            "eyJhbGciOiJIUzI1NiJ9",
            "eyJhbGciOiJIUzI1NiJ9..",
            "eyJhbGciOiJIUzI1NiJ9.e30.",
            "e30.e30.e30",
            &long,
            "\u{0}\u{0}.\u{0}.\u{0}",
        ] {
            assert!(keys.verify(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn scope_names_and_rules() {
        assert_eq!("read".parse::<Scope>(), Ok(Scope::Read));
        assert_eq!("trade".parse::<Scope>(), Ok(Scope::Trade));
        assert!("Trade".parse::<Scope>().is_err());
        assert_eq!(Scope::Trade.to_string(), "trade");
        assert!(Scope::Trade.allows(Scope::Read));
        assert!(Scope::Trade.allows(Scope::Trade));
        assert!(Scope::Read.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Trade));
        assert_eq!(serde_json::to_value(Scope::Read).unwrap(), json!("read"));
    }

    #[test]
    fn debug_hides_keys_and_stamp() {
        assert_eq!(format!("{:?}", keys()), "JwtKeys([REDACTED])");
        let debug = format!("{:?}", claims());
        assert!(!debug.contains("stamp-abc"), "{debug}");
        assert!(debug.contains("sub: \"7\""), "{debug}");
    }

    proptest! {
        #[test]
        fn verify_never_panics(token in ".{0,300}") {
            prop_assert!(keys().verify(&token).is_err());
        }

        #[test]
        fn verify_never_panics_on_three_part_tokens(
            a in "[A-Za-z0-9_-]{0,60}",
            b in "[A-Za-z0-9_-]{0,60}",
            c in "[A-Za-z0-9_-]{0,60}",
        ) {
            let token = format!("{a}.{b}.{c}");
            prop_assert!(keys().verify(&token).is_err());
        }

        #[test]
        fn verify_never_panics_on_signed_junk_claims(claims in "\\PC{0,80}") {
            let message = format!("{}.{}", b64(&hs256_header()), URL_SAFE_NO_PAD.encode(claims.as_bytes()));
            let mut mac = HmacSha256::new_from_slice(&raw_key()).unwrap();
            mac.update(message.as_bytes());
            let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
            prop_assert!(keys().verify(&token).is_err());
        }
    }
}
