//! Two-factor sign-in: TOTP (RFC 6238) codes from an authenticator app, and
//! one-time recovery codes for when the app is lost.
//!
//! The parameters are the ones every authenticator app understands: HMAC-SHA-1,
//! 6 digits, 30-second steps (RFC 6238 §4 and §5.2), with 160-bit random
//! secrets (RFC 4226 §4 recommends 160 bits).
//!
//! Setting up: [`TotpSecret::generate`], seal it with the secret box into
//! `users.totp_pending_secret`, show [`otpauth_uri`] as a QR code
//! ([`qr_png`]) and as text; enable 2FA once the user has typed a code that
//! [`verify`] accepts.
//!
//! Signing in: [`verify`] checks the code against the steps t-1, t and t+1
//! (one step of clock drift either way, as RFC 6238 §5.2 recommends) and
//! answers *which* step matched. RFC 6238 §5.2 also requires that a code be
//! accepted only once: the caller passes the user's `totp_last_step`, only
//! a later step is accepted, and the caller must then record the new step
//! with a conditional update, so that two requests racing with the same
//! code cannot both win:
//!
//! ```sql
//! UPDATE users SET totp_last_step = :step
//!  WHERE id = :id AND (totp_last_step IS NULL OR totp_last_step < :step)
//! ```
//!
//! and treat "0 rows updated" as a refused code.
//!
//! ```
//! use trader_security::totp::{TotpSecret, verify};
//! let secret = TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
//! // RFC 6238 appendix B, T = 59 s (SHA-1, last 6 of the 8 digits).
//! assert_eq!(verify(&secret, "287082", 59, None), Some(1));
//! // The same step again is a replay.
//! assert_eq!(verify(&secret, "287082", 59, Some(1)), None);
//! ```
//!
//! Recovery codes are in [`recovery`] (re-exported here).

pub mod recovery;

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use qrcode::QrCode;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};

pub use recovery::{
    RECOVERY_CODE_COUNT, RecoveryCodeKey, generate_recovery_codes, hash_recovery_code,
    verify_recovery_code,
};

/// The issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "alpaca-trader";
/// Digits in a code.
pub const TOTP_DIGITS: usize = 6;
/// Seconds in a time step.
pub const TOTP_STEP_SECS: u64 = 30;
/// Bytes in a generated secret (160 bits).
pub const TOTP_SECRET_BYTES: usize = 20;
/// The shortest secret accepted from storage: 128 bits, RFC 4226 §4's
/// minimum.
const MIN_SECRET_BYTES: usize = 16;
/// The longest secret accepted from storage.
const MAX_SECRET_BYTES: usize = 64;

/// What is wrong with a TOTP secret read back from storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpSecretError {
    /// Not RFC 4648 base32.
    #[error("TOTP secret is not valid base32")]
    NotBase32,
    /// Too short (below 128 bits) or too long.
    #[error("TOTP secret must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes (it has {0})")]
    WrongLength(usize),
}

/// A TOTP shared secret.
pub struct TotpSecret(SecretSlice<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

impl Clone for TotpSecret {
    fn clone(&self) -> Self {
        Self(SecretSlice::from(self.0.expose_secret().to_vec()))
    }
}

impl TotpSecret {
    /// A fresh 160-bit secret from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(SecretSlice::from(bytes))
    }

    /// A secret from its raw bytes (as stored in the secret box with
    /// [`TotpSecret::expose_bytes`]). 16 to 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpSecretError> {
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(TotpSecretError::WrongLength(bytes.len()));
        }
        Ok(Self(SecretSlice::from(bytes.to_vec())))
    }

    /// A secret from base32 as authenticator apps show it: case, spaces and
    /// `=` padding do not matter.
    pub fn from_base32(text: &str) -> Result<Self, TotpSecretError> {
        let cleaned: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let cleaned = SecretString::from(cleaned);
        let secret = Secret::try_from_base32(cleaned.expose_secret())
            .map_err(|_| TotpSecretError::NotBase32)?;
        Self::from_bytes(secret.as_bytes())
    }

    /// Base32 (RFC 4648, upper case, no padding), for the otpauth URI and for
    /// users who type the secret into their app.
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(Secret::from(self.expose_bytes().to_vec()).to_base32())
    }

    /// The raw bytes, for sealing.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }

    fn totp(&self) -> Option<Totp> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS as u8)
            .with_step_duration(TOTP_STEP_SECS)
            .with_secret(self.expose_bytes().to_vec())
            .build()
            .ok()
    }
}

/// Characters left as they are in the URI label: RFC 3986's unreserved set.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `otpauth://` URI that authenticator apps import (the de-facto "Key
/// Uri Format"): label `alpaca-trader:<account>`, the secret in base32, the
/// issuer repeated as a parameter (apps prefer it over the label prefix),
/// and the algorithm, digits and period spelled out.
///
/// The account name is percent-encoded, including any `:` in it, so it
/// cannot move the issuer/account split. The URI contains the secret, so it
/// comes back as a [`SecretString`].
pub fn otpauth_uri(secret: &TotpSecret, account_name: &str) -> SecretString {
    let account = utf8_percent_encode(account_name, LABEL);
    let secret = secret.to_base32();
    SecretString::from(format!(
        "otpauth://totp/{TOTP_ISSUER}:{account}?secret={}&issuer={TOTP_ISSUER}\
         &algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECS}",
        secret.expose_secret()
    ))
}

/// The time step that `now_unix` falls in (RFC 6238 §4.2: T = floor(now / 30)).
pub fn time_step(now_unix: u64) -> i64 {
    // u64::MAX / 30 is below i64::MAX, so the conversion always succeeds.
    i64::try_from(now_unix / TOTP_STEP_SECS).unwrap_or(i64::MAX)
}

/// Checks a code typed by the user and returns the time step it belongs to,
/// or `None` if it is refused.
///
/// - `code` must be exactly 6 ASCII digits; spaces anywhere are ignored
///   (apps show `123 456`). Anything else is refused.
/// - The steps t-1, t and t+1 around `now_unix` are tried (RFC 6238 §5.2),
///   each compared in constant time and all three always computed.
/// - Replay guard: a step is accepted only if it is strictly greater than
///   `last_accepted_step` (the user's `totp_last_step`). Among matching
///   steps, the earliest acceptable one is returned, so as few future steps
///   as possible are used up.
///
/// The caller must store the returned step with a conditional update that
/// fails if a step at least as large is already stored (see the module
/// docs); only when that update changed a row is the sign-in accepted.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now_unix: u64,
    last_accepted_step: Option<i64>,
) -> Option<i64> {
    let code = normalise_code(code)?;
    let totp = secret.totp()?;
    let now_step = time_step(now_unix);
    let mut accepted: Option<i64> = None;
    for offset in [-1i64, 0, 1] {
        let Some(step) = now_step.checked_add(offset) else {
            continue;
        };
        let Some(at) = u64::try_from(step)
            .ok()
            .and_then(|s| s.checked_mul(TOTP_STEP_SECS))
        else {
            continue; // before 1970 or past the end of time
        };
        let expected = totp.generate(at).to_string();
        let matches = bool::from(expected.as_bytes().ct_eq(&code));
        let fresh = last_accepted_step.is_none_or(|last| step > last);
        if matches && fresh && accepted.is_none() {
            accepted = Some(step);
        }
    }
    accepted
}

/// Exactly six ASCII digits once spaces are removed, or `None`.
fn normalise_code(code: &str) -> Option<[u8; TOTP_DIGITS]> {
    let mut digits = [0u8; TOTP_DIGITS];
    let mut n = 0;
    for b in code.bytes() {
        match b {
            b' ' | b'\t' => {}
            b'0'..=b'9' if n < TOTP_DIGITS => {
                digits[n] = b;
                n += 1;
            }
            _ => return None,
        }
    }
    (n == TOTP_DIGITS).then_some(digits)
}

/// Why a QR code could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// The text does not fit in a QR code.
    #[error("text does not fit in a QR code: {0}")]
    Encode(String),
    /// The image could not be written as PNG.
    #[error("could not write the QR code as PNG: {0}")]
    Png(String),
}

/// A QR code of `uri` as a PNG image (greyscale, at least 256 px wide, with
/// the 4-module quiet zone scanners need), for `GET /api/2fa/qrcode`.
///
/// The image encodes the secret: serve it with `Cache-Control: no-store`.
pub fn qr_png(uri: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::new(uri.as_bytes()).map_err(|e| QrError::Encode(e.to_string()))?;
    let image = code
        .render::<image::Luma<u8>>()
        .quiet_zone(true)
        .min_dimensions(256, 256)
        .build();
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| QrError::Png(e.to_string()))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6238 appendix B's SHA-1 seed, "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    fn code_at(secret: &TotpSecret, t: u64) -> String {
        secret.totp().unwrap().generate(t).to_string()
    }

    #[test]
    fn rfc_6238_appendix_b_vectors() {
        // The RFC lists 8 digits; a 6-digit code is the last six.
        let vectors = [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = rfc_secret();
        for (t, eight) in vectors {
            let six = &eight[2..];
            assert_eq!(code_at(&secret, t), six, "T = {t}");
            assert_eq!(verify(&secret, six, t, None), Some(time_step(t)), "T = {t}");
        }
    }

    #[test]
    fn accepts_previous_current_and_next_step_only() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015; // in the middle of a step
        let t = time_step(now);
        for (offset, expected) in [
            (-2i64, None),
            (-1, Some(t - 1)),
            (0, Some(t)),
            (1, Some(t + 1)),
            (2, None),
        ] {
            let at = u64::try_from(t + offset).unwrap() * TOTP_STEP_SECS;
            let code = code_at(&secret, at);
            // A code can collide with a neighbouring step's code (1 in 10^6);
            // only check when it does not.
            let collides = (-1..=1)
                .filter(|o| *o != offset)
                .any(|o| code_at(&secret, u64::try_from(t + o).unwrap() * 30) == code);
            if !collides {
                assert_eq!(
                    verify(&secret, &code, now, None),
                    expected,
                    "offset {offset}"
                );
            }
        }
    }

    #[test]
    fn replay_guard_needs_a_later_step() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let t = time_step(now);
        let code = code_at(&secret, now);
        assert_eq!(verify(&secret, &code, now, None), Some(t));
        assert_eq!(verify(&secret, &code, now, Some(t - 1)), Some(t));
        // The step was recorded: the same code is refused from now on.
        assert_eq!(verify(&secret, &code, now, Some(t)), None);
        assert_eq!(verify(&secret, &code, now + 29, Some(t)), None);
        // So is an older step's code, even within the window.
        let previous = code_at(&secret, now - 30);
        assert_eq!(verify(&secret, &previous, now, Some(t)), None);
        // The next step's code is accepted.
        let next = code_at(&secret, now + 30);
        assert_eq!(verify(&secret, &next, now + 30, Some(t)), Some(t + 1));
    }

    #[test]
    fn wrong_codes_are_refused() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let good = code_at(&secret, now);
        let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert_eq!(verify(&secret, &wrong, now, None), None);
        // Another secret's code.
        let other = TotpSecret::from_bytes(b"09876543210987654321").unwrap();
        let theirs = code_at(&other, now);
        if theirs != good {
            assert_eq!(verify(&secret, &theirs, now, None), None);
        }
        // Right code, long after.
        assert_eq!(verify(&secret, &good, now + 3600, None), None);
    }

    #[test]
    fn code_format_is_strict_except_for_spaces() {
        let secret = rfc_secret();
        let now = 59;
        for ok in ["287082", " 287082 ", "287 082", "\t287082", "2 8 7 0 8 2"] {
            assert_eq!(verify(&secret, ok, now, None), Some(1), "{ok:?}");
        }
        for bad in [
            "",
            "28708",
            "2870820",
            "94287082",
            "287082\n",
            "+87082",
            "-87082",
            "28708a",
            "２８７０８２",
            "287,082",
            "287-082",
            "0x1234",
            "      ",
        ] {
            assert_eq!(verify(&secret, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let secret = rfc_secret();
        let code = code_at(&secret, 0);
        assert_eq!(verify(&secret, &code, 0, None), Some(0));
        assert_eq!(verify(&secret, &code, 0, Some(-1)), Some(0));
        let _ = verify(&secret, "123456", u64::MAX, None);
        let _ = verify(&secret, "123456", u64::MAX, Some(i64::MAX));
        let _ = verify(&secret, "123456", 100, Some(i64::MIN));
    }

    #[test]
    fn secrets_generate_and_round_trip() {
        let a = TotpSecret::generate();
        assert_eq!(a.expose_bytes().len(), 20);
        assert_ne!(a.expose_bytes(), TotpSecret::generate().expose_bytes());
        let b32 = a.to_base32();
        assert_eq!(b32.expose_secret().len(), 32); // 160 bits / 5, no padding
        assert!(
            b32.expose_secret()
                .bytes()
                .all(|c| matches!(c, b'A'..=b'Z' | b'2'..=b'7'))
        );
        let back = TotpSecret::from_base32(b32.expose_secret()).unwrap();
        assert_eq!(back.expose_bytes(), a.expose_bytes());
        // Lower case, spaces and padding are tolerated.
        let sloppy = b32
            .expose_secret()
            .to_lowercase()
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            TotpSecret::from_base32(&format!("{sloppy}===="))
                .unwrap()
                .expose_bytes(),
            a.expose_bytes()
        );
        assert_eq!(
            TotpSecret::from_bytes(a.expose_bytes())
                .unwrap()
                .expose_bytes(),
            a.expose_bytes()
        );
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert_eq!(
            TotpSecret::from_bytes(&[1; 15]).unwrap_err(),
            TotpSecretError::WrongLength(15)
        );
        assert!(TotpSecret::from_bytes(&[1; 16]).is_ok());
        assert!(TotpSecret::from_bytes(&[1; 64]).is_ok());
        assert_eq!(
            TotpSecret::from_bytes(&[1; 65]).unwrap_err(),
            TotpSecretError::WrongLength(65)
        );
        assert_eq!(
            TotpSecret::from_base32("not base32!").unwrap_err(),
            TotpSecretError::NotBase32
        );
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBV").unwrap_err(),
            TotpSecretError::WrongLength(5)
        );
    }

    #[test]
    fn otpauth_uri_has_the_expected_shape() {
        let secret = rfc_secret();
        let uri = otpauth_uri(&secret, "alice");
        assert_eq!(
            uri.expose_secret(),
            "otpauth://totp/alpaca-trader:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=alpaca-trader&algorithm=SHA1&digits=6&period=30"
        );
        let odd = otpauth_uri(&secret, "bob smith:admin@example.com/ü?&=#");
        assert!(
            odd.expose_secret().starts_with(
                "otpauth://totp/alpaca-trader:bob%20smith%3Aadmin%40example.com%2F%C3%BC%3F%26%3D%23?secret="
            ),
            "{}",
            odd.expose_secret()
        );
        assert_eq!(odd.expose_secret().matches('?').count(), 1);
        assert!(!format!("{uri:?}").contains("GEZDGNBV"));
    }

    #[test]
    fn qr_png_is_a_png_of_the_uri() {
        let uri = otpauth_uri(&TotpSecret::generate(), "alice");
        let png = qr_png(uri.expose_secret()).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap()
            .to_luma8();
        assert!(decoded.width() >= 256 && decoded.width() == decoded.height());

        // Sample the centre of every module and compare with the code
        // qrcode computes for the same text: the picture is that QR code.
        let code = QrCode::new(uri.expose_secret().as_bytes()).unwrap();
        let modules = code.width() as u32;
        let size = decoded.width() / (modules + 8); // 4-module quiet zone each side
        assert!(size >= 1);
        for (i, color) in code.to_colors().iter().enumerate() {
            let (x, y) = (i as u32 % modules, i as u32 / modules);
            let px = decoded.get_pixel((x + 4) * size + size / 2, (y + 4) * size + size / 2)[0];
            let dark = *color == qrcode::Color::Dark;
            assert_eq!(px < 128, dark, "module ({x}, {y})");
        }
        // The quiet zone is light.
        assert!(decoded.get_pixel(0, 0)[0] > 128);
    }

    #[test]
    fn qr_png_refuses_text_that_does_not_fit() {
        assert!(matches!(qr_png(&"x".repeat(8000)), Err(QrError::Encode(_))));
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = rfc_secret();
        let debug = format!("{secret:?}");
        assert_eq!(debug, "TotpSecret([REDACTED])");
        assert!(!format!("{:?}", secret.to_base32()).contains("GEZ"));
    }

    proptest! {
        #[test]
        fn verify_never_panics(code in ".{0,20}", now in any::<u64>(), last in any::<Option<i64>>()) {
            let _ = verify(&rfc_secret(), &code, now, last);
        }

        #[test]
        fn from_base32_never_panics(text in ".{0,80}") {
            let _ = TotpSecret::from_base32(&text);
        }
    }
}
