#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod admission;
mod approvals;
mod args;
mod audit;
mod call;
mod chain;
mod credentials;
mod decision;
mod egress;
mod error;
mod evaluator;
mod gate;
mod index;
mod model;
mod policies;
mod question;
#[cfg(feature = "redis")]
mod redis_store;
mod review;
mod state;

pub use admission::{Admission, GuardError, Output, Permit, ToolResult};
pub use approvals::Approvals;
pub use audit::{AuditError, AuditEvent, AuditOutcome, AuditSink, MemorySink, TracingSink};
pub use call::{CallDigest, Principal, RedactedCall, ServerAction, ToolCall};
pub use chain::{
    AUDIT_KEY_VAR, AuditKey, AuditKeyError, CHAIN_GENESIS, ChainError, ChainErrorKind, ChainHead,
    ChainSummary, HeadFile, HeadPublisher, JsonLinesSink, MIN_AUDIT_KEY_LEN, TracingHead,
    verify_chain, verify_chain_with_head,
};
pub use credentials::{
    CredentialError, CredentialErrorKind, CredentialResolver, Credentials, EnvResolver,
    FileResolver,
};
pub use decision::{
    ApprovalRequest, Decision, DecisionError, DecisionErrorKind, Explanation, Pending,
    PolicyOutcome, Verdict,
};
pub use egress::{Destination, EgressError, HostClass, classify_ip};
pub use error::{BuildError, BuildErrorKind, StoreError};
pub use evaluator::{CallState, Evaluator};
pub use gate::{Gate, GateBuilder};
pub use model::SCHEMA;
pub use policies::{BASELINE_POLICIES, PolicySource};
pub use question::{quoted, quoted_json};
#[cfg(feature = "redis")]
pub use redis_store::{REDIS_URL_VAR, RedisApprovalStore, RedisConfig, RedisSessionStore};
pub use review::{ReviewError, Reviews};
pub use state::{
    ApprovalGrant, ApprovalStore, MemoryApprovalStore, MemorySessionStore, Review, ReviewDecision,
    SessionKey, SessionState, SessionStore,
};
