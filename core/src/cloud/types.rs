//! The access token every cloud call carries (the device id is [`crate::types::DeviceId`]).

use std::fmt;

use super::CloudError;

/// A Particle access token. It only ever leaves the process in the
/// `Authorization` header: `Debug` and `Display` print `[redacted]`, it does
/// not implement `Serialize`, and [`AccessToken::redact`] scrubs it from any
/// text that might echo it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AccessToken(String);

impl AccessToken {
    /// What `Debug`/`Display` print instead of the token.
    pub const REDACTED: &'static str = "[redacted]";

    /// Accept a token that can be sent in an HTTP header: non-empty, printable
    /// ASCII without spaces. The error never repeats the value.
    pub fn new(token: impl Into<String>) -> Result<Self, CloudError> {
        let token = token.into();
        let malformed = |reason: &str| CloudError::MalformedToken {
            origin: "the given value".into(),
            reason: reason.into(),
        };
        if token.is_empty() {
            return Err(malformed("it is empty"));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(malformed(
                "it contains spaces, control or non-ASCII characters",
            ));
        }
        Ok(AccessToken(token))
    }

    /// The token itself, for the `Authorization` header and the local cloud's
    /// token store. Do not print it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the token replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.0, Self::REDACTED)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_or_display() {
        let token = AccessToken::new("abc123secret").unwrap();
        assert_eq!(format!("{token:?}"), "[redacted]");
        assert_eq!(format!("{token}"), "[redacted]");
        assert_eq!(token.expose_secret(), "abc123secret");
        assert_eq!(token.redact("x abc123secret y"), "x [redacted] y");
    }

    #[test]
    fn tokens_that_cannot_be_a_header_are_refused_without_echoing_them() {
        for bad in ["", "has space", "tab\there", "naïve"] {
            let err = AccessToken::new(bad).unwrap_err();
            assert!(matches!(err, CloudError::MalformedToken { .. }));
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad));
            }
        }
    }
}
