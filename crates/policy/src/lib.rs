#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod args;
mod audit;
mod call;
mod chain;
mod credentials;
mod decision;
mod egress;
mod error;
mod gate;
mod guard;
mod index;
mod policies;
mod question;
#[cfg(feature = "redis")]
mod redis_store;
mod state;

pub use audit::{AuditError, AuditEvent, AuditOutcome, AuditSink, MemorySink, TracingSink};
pub use call::{CallDigest, Principal, ToolCall};
pub use chain::{
    AUDIT_KEY_VAR, AuditKey, AuditKeyError, CHAIN_GENESIS, ChainError, ChainErrorKind, ChainHead,
    ChainSummary, HeadFile, HeadPublisher, JsonLinesSink, MIN_AUDIT_KEY_LEN, TracingHead,
    verify_chain, verify_chain_with_head,
};
pub use credentials::{
    CredentialError, CredentialErrorKind, CredentialResolver, EnvResolver, FileResolver,
};
pub use decision::{ApprovalRequest, Decision, Explanation, PolicyOutcome, Verdict};
pub use egress::{Destination, EgressError, HostClass, classify_ip};
pub use error::{BuildError, BuildErrorKind, StoreError};
pub use gate::{Gate, GateBuilder, Outcome, SCHEMA, ServerAction};
pub use guard::{GuardError, ToolResult};
pub use policies::{BASELINE_POLICIES, PolicySource};
#[cfg(feature = "redis")]
pub use redis_store::{REDIS_URL_VAR, RedisApprovalStore, RedisConfig, RedisSessionStore};
pub use state::{
    ApprovalGrant, ApprovalStore, MemoryApprovalStore, MemorySessionStore, SessionKey,
    SessionState, SessionStore,
};
