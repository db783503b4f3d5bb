#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub use mcpguard_core::*;
pub use mcpguard_redact::*;
