#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod catalogue;
mod check;
mod decode;
mod error;
mod keywords;
mod known;
mod redactor;
mod rule;
mod secret;
mod writer;

pub use check::Check;
pub use error::{BuildError, BuildErrorKind};
pub use known::MIN_KNOWN_SECRET_LEN;
pub use redactor::{Finding, KNOWN_SECRET_RULE, Redactor, RedactorBuilder, SENSITIVE_KEY_RULE};
pub use rule::{Anchor, Rule};
pub use secret::{SECRET_MARKER, Secret};
pub use writer::{DEFAULT_CHUNK, DEFAULT_HOLD_BACK, RedactingWriter};

/// The built-in detector catalogue, in order, with each rule's test vectors.
pub fn catalogue() -> impl Iterator<Item = Rule> {
    catalogue::rules()
}
