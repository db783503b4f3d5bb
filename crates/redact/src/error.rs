//! Errors of the redact crate. None of them carries a secret value.

use std::fmt;

/// A [`crate::Redactor`] that could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    kind: BuildErrorKind,
    message: String,
}

/// Why a redactor could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// A rule's pattern does not compile or exceeds the size limits.
    Pattern,
    /// A rule id is empty, too long or not `[a-z0-9-]`.
    RuleId,
    /// Two rules share an id.
    DuplicateRule,
    /// A known secret is shorter than [`crate::MIN_KNOWN_SECRET_LEN`] bytes: redacting
    /// every occurrence of so short a string would garble ordinary text.
    KnownSecretTooShort,
    /// The correlation key is shorter than 16 bytes.
    CorrelationKey,
}

impl BuildError {
    pub(crate) fn pattern(id: &str, message: &str) -> Self {
        Self {
            kind: BuildErrorKind::Pattern,
            message: format!("rule `{id}`: pattern does not compile: {message}"),
        }
    }

    pub(crate) fn rule_id(id: &str) -> Self {
        let shown = if id.len() <= 64 { id } else { "(too long)" };
        Self {
            kind: BuildErrorKind::RuleId,
            message: format!("rule id `{shown}` is not 1 to 64 characters of `a-z`, `0-9` and `-`"),
        }
    }

    pub(crate) fn duplicate(id: &str) -> Self {
        Self {
            kind: BuildErrorKind::DuplicateRule,
            message: format!(
                "two rules have the id `{id}`; ids identify findings and must be unique"
            ),
        }
    }

    pub(crate) fn known_too_short(name: &str, min: usize) -> Self {
        Self {
            kind: BuildErrorKind::KnownSecretTooShort,
            message: format!(
                "known secret `{name}` is shorter than {min} bytes (value not shown); such a value cannot be redacted everywhere without garbling text"
            ),
        }
    }

    pub(crate) fn correlation_key() -> Self {
        Self {
            kind: BuildErrorKind::CorrelationKey,
            message: "the correlation key must be at least 16 bytes".to_owned(),
        }
    }

    /// Why it failed.
    pub fn kind(&self) -> BuildErrorKind {
        self.kind
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {}
