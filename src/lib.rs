#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub use mcpguard_core::*;

/// Authorization of tool calls: the Cedar-backed [`policy::Gate`]
/// (`mcpguard-policy`).
pub mod policy {
    pub use mcpguard_policy::*;
}

/// Secret detection and redaction: [`redact::Redactor`] (`mcpguard-redact`).
pub mod redact {
    pub use mcpguard_redact::*;
}

#[cfg(feature = "rmcp")]
pub mod rmcp;

#[cfg(feature = "http")]
pub mod http;

#[cfg(feature = "proxy")]
pub mod proxy;
