//! Errors of the policy crate. Messages name the file, line and column and the
//! policy id; they never carry call arguments.

use std::fmt;

/// A [`crate::Gate`] (or a policy swap) that could not be built.
///
/// Its [`std::error::Error::source`] is the underlying error where there is one
/// (the I/O error of a policy file, the redactor's build error).
#[derive(Debug, Clone)]
pub struct BuildError {
    kind: BuildErrorKind,
    message: String,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl PartialEq for BuildError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for BuildError {}

/// Why a gate could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BuildErrorKind {
    /// No inventory was given to the builder.
    MissingInventory,
    /// A policy file could not be read.
    Io,
    /// A policy does not parse.
    Parse,
    /// A policy does not validate against the schema (an unknown attribute, a type
    /// error, an unknown entity type or action).
    Validation,
    /// Two policies share an id.
    DuplicatePolicyId,
    /// Tool definitions (a `tools/list` answer) could not be used.
    ToolDefinitions,
    /// The schema generated for this inventory does not parse: a bug, reported
    /// instead of a panic.
    Schema,
    /// The default redactor could not be built.
    Redactor,
}

impl BuildError {
    pub(crate) fn new(kind: BuildErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        kind: BuildErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(std::sync::Arc::new(source)),
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

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A session or approval store that could not answer. The gate denies the call
/// when it cannot read the state it decides on.
///
/// It keeps no `source()` on purpose: a store client's own errors (Redis's among
/// them) can quote the connection URL, password included; the message says what
/// failed without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store error: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A store error with a message (no secrets, no arguments).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let p = mcpguard_core::Position::of_offset(text, offset);
    (p.line, p.column)
}

/// The position of the first labelled span of a Cedar diagnostic, if it has one.
pub(crate) fn diagnostic_offset(d: &dyn miette::Diagnostic) -> Option<usize> {
    d.labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset())
}
