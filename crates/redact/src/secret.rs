//! A holder for secret values that cannot reach a log by accident.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

/// The marker every formatting of a [`Secret`] prints.
pub const SECRET_MARKER: &str = "[REDACTED]";

/// A secret value. `Debug`, `Display` and `Serialize` print only `[REDACTED]`, so
/// a struct that holds one can be logged, printed or serialized without leaking
/// it; the value is reached only through [`Secret::expose`], which is easy to find
/// in review.
///
/// ```
/// use mcpguard_redact::Secret;
/// let token = Secret::new(String::from("ghp_not_a_real_token_0000000000000000"));
/// assert_eq!(format!("{token:?} {token}"), "[REDACTED] [REDACTED]");
/// assert_eq!(serde_json::to_string(&token).unwrap(), "\"[REDACTED]\"");
/// assert!(token.expose().starts_with("ghp_"));
/// ```
///
/// Deserializing reads the plain value, so configuration can be loaded straight
/// into a `Secret`. The value is zeroized when the `Secret` is dropped.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself. Every call is a place where the secret leaves the wrapper.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value (the caller then owns wiping it).
    pub fn into_inner(mut self) -> T
    where
        T: Default,
    {
        std::mem::take(&mut self.0)
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_MARKER)
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_MARKER)
    }
}

impl<T: Zeroize> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SECRET_MARKER)
    }
}

impl<'de, T: Deserialize<'de> + Zeroize> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Config {
        user: String,
        password: Secret<String>,
    }

    #[test]
    fn holder_structs_print_no_secret() {
        let c: Config =
            serde_json::from_str(r#"{"user": "ana", "password": "hunter2hunter2"}"#).unwrap();
        assert_eq!(c.password.expose(), "hunter2hunter2");
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
    }
}
