//! Parsed account fields: a [`Username`] or [`Email`] exists only if valid
//! ("parse, don't validate"), so the server and the SPA check them the same
//! way.

use std::fmt;

/// A username: 3 to 32 characters of ASCII letters, digits, `.`, `_` and
/// `-`, starting with a letter or digit. ASCII only, so "unique without
/// regard to case" means the same thing to every database and every person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    /// Checks `s`; the error says which rule it breaks.
    pub fn parse(s: &str) -> Result<Self, String> {
        let len = s.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(format!(
                "username must be {} to {} characters long",
                Self::MIN_LEN,
                Self::MAX_LEN
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(
                "username may contain only ASCII letters, digits, '.', '_' and '-'".to_owned(),
            );
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("username must start with a letter or a digit".to_owned());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address: one `@` with something on both sides, a dot in the
/// domain, no spaces, at most 254 characters (RFC 5321's path limit). Full
/// RFC 5322 parsing would refuse nothing a person actually types; the real
/// check is whether mail arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    /// Checks `s` (surrounding spaces are trimmed).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(format!(
                "email must be 1 to {} characters long",
                Self::MAX_LEN
            ));
        }
        let valid = match s.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !valid {
            return Err("email must look like name@example.com".to_owned());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["bob", "alice.smith", "a_b-c", "x1y", &"a".repeat(32)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(33),
            "al ice",
            "ålice",
            "-bob",
            "bob@x",
            "",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" a@example.com ").unwrap().as_str(),
            "a@example.com"
        );
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a@@b.c", "a b@c.d", "a@.c", "a@c.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
