//! Audit events and where they go: every tool call attributable to a person, a
//! session, a server and a purpose, with secrets redacted before the event exists.
//!
//! # Field names
//!
//! Serialized names follow OpenTelemetry's semantic conventions where one exists
//! (GenAI and MCP), and `mcpguard.*` otherwise:
//!
//! | field | name | meaning |
//! |---|---|---|
//! | time | `time_unix_nano` | when the event was made |
//! | operation | `gen_ai.operation.name` | always `execute_tool` |
//! | method | `mcp.method.name` | `tools/call`, `resources/read` or `prompts/get` |
//! | call id | `gen_ai.tool.call.id` | shared by a call's `started` and final events |
//! | actor | `user.id` | the verified principal |
//! | session | `mcp.session.id` | the session handle, or null |
//! | server | `mcpguard.server.id` | the inventory's server id |
//! | tool | `gen_ai.tool.name` | the tool |
//! | target | `mcpguard.target` | what the call touches (the inventory's `target` argument), redacted |
//! | purpose | `mcpguard.purpose` | what the caller said the call is for, redacted |
//! | decision | `mcpguard.decision` | `allow`, `require_approval` or `deny` |
//! | policies | `mcpguard.policy.ids` | the determining policies |
//! | reasons | `mcpguard.reasons` | why |
//! | outcome | `mcpguard.outcome` | `started`, `ok`, `error`, `denied`, `needs_approval` |
//! | error | `error.type` | the handler's error or panic, redacted, or null |
//! | duration | `mcpguard.duration_us` | how long the handler ran, or null |
//! | approval | `mcpguard.approval.approver` | who approved, or null |
//! | arguments | `gen_ai.tool.call.arguments` | the call's arguments, redacted |
//!
//! The keyed JSON-lines sink ([`crate::JsonLinesSink`]) adds `mcpguard.chain.seq`,
//! `mcpguard.chain.prev`, `mcpguard.chain.key_id` and `mcpguard.chain.mac`.

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decision::Verdict;

/// How a call ended, as audit records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// Allowed; the handler is about to run (written before it runs).
    Started,
    /// The handler returned a result.
    Ok,
    /// The handler returned an error or panicked.
    Error,
    /// The gate denied the call.
    Denied,
    /// The call waits for a person's approval.
    NeedsApproval,
    /// The handler was started but never finished: it panicked, the request
    /// was cancelled, or its permit was dropped.
    Abandoned,
    /// The handler answered that it needs input from the client first (an MCP
    /// 2026-07-28 `InputRequiredResult`): the call is not done, and its retry
    /// is a call of its own.
    InputRequired,
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Started => "started",
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Denied => "denied",
            Self::NeedsApproval => "needs_approval",
            Self::Abandoned => "abandoned",
            Self::InputRequired => "input_required",
        })
    }
}

/// One audit event. Built by the gate ([`crate::Gate::audit_event`],
/// [`crate::Gate::admit`]) with arguments, target, purpose and error already
/// redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// Nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// `execute_tool`.
    #[serde(rename = "gen_ai.operation.name")]
    pub operation: String,
    /// `tools/call`.
    #[serde(rename = "mcp.method.name")]
    pub method: String,
    /// The call's id.
    #[serde(rename = "gen_ai.tool.call.id")]
    pub call_id: String,
    /// The verified principal.
    #[serde(rename = "user.id")]
    pub actor: String,
    /// The session handle.
    #[serde(rename = "mcp.session.id")]
    pub session: Option<String>,
    /// The server id.
    #[serde(rename = "mcpguard.server.id")]
    pub server: String,
    /// The tool.
    #[serde(rename = "gen_ai.tool.name")]
    pub tool: String,
    /// What the call touches, redacted.
    #[serde(rename = "mcpguard.target")]
    pub target: Option<String>,
    /// The stated purpose, redacted.
    #[serde(rename = "mcpguard.purpose")]
    pub purpose: Option<String>,
    /// The gate's verdict.
    #[serde(rename = "mcpguard.decision")]
    pub decision: Verdict,
    /// The determining policies.
    #[serde(rename = "mcpguard.policy.ids")]
    pub policies: Vec<String>,
    /// Why.
    #[serde(rename = "mcpguard.reasons")]
    pub reasons: Vec<String>,
    /// How it ended.
    #[serde(rename = "mcpguard.outcome")]
    pub outcome: AuditOutcome,
    /// The handler's error or panic, redacted.
    #[serde(rename = "error.type")]
    pub error: Option<String>,
    /// How long the handler ran, in microseconds.
    #[serde(rename = "mcpguard.duration_us")]
    pub duration_us: Option<u64>,
    /// Who approved the call, when it ran on an approval.
    #[serde(rename = "mcpguard.approval.approver")]
    pub approver: Option<String>,
    /// The arguments, redacted.
    #[serde(rename = "gen_ai.tool.call.arguments")]
    pub arguments: Value,
    /// What was stripped from the result of a tool with untrusted output before
    /// it reached the model (terminal escapes, hidden Unicode); absent when
    /// nothing was.
    #[serde(
        rename = "mcpguard.sanitized",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sanitized: Option<mcpguard_core::Sanitized>,
}

/// An audit sink that could not record an event. Its `source()` is the I/O error
/// behind it, where there is one.
#[derive(Debug, Clone)]
pub struct AuditError {
    message: String,
    source: Option<std::sync::Arc<std::io::Error>>,
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "audit sink error: {}", self.message)
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl AuditError {
    /// An error with a message (no secrets).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and the I/O error that caused it.
    pub fn io(message: impl Into<String>, source: std::io::Error) -> Self {
        Self {
            message: message.into(),
            source: Some(std::sync::Arc::new(source)),
        }
    }
}

impl PartialEq for AuditError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for AuditError {}

/// Where audit events go. `record` is called before a call runs (`started`) and
/// after it ends; an error before the call denies it unless the gate is told
/// otherwise.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Records one event.
    ///
    /// # Errors
    ///
    /// The event could not be recorded.
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError>;

    /// Whether an event recorded now would be kept anywhere. Defaults to yes;
    /// [`TracingSink`] answers no when no `tracing` subscriber takes its events,
    /// so an adapter can say at start that the calls it guards go unaudited.
    fn records(&self) -> bool {
        true
    }
}

/// Events kept in memory, for tests and for embedders that ship them elsewhere.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemorySink {
    /// The events recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.events
            .lock()
            .map_err(|_| AuditError::new("the memory sink is poisoned"))?
            .push(event.clone());
        Ok(())
    }
}

/// One event per call to `tracing` (target `mcpguard::audit`, level INFO) with
/// the same fields, for the usual subscribers and OpenTelemetry exporters.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn records(&self) -> bool {
        tracing::enabled!(target: "mcpguard::audit", tracing::Level::INFO)
    }

    fn record(&self, e: &AuditEvent) -> Result<(), AuditError> {
        tracing::event!(
            target: "mcpguard::audit",
            tracing::Level::INFO,
            gen_ai.operation.name = %e.operation,
            mcp.method.name = %e.method,
            gen_ai.tool.call.id = %e.call_id,
            user.id = %e.actor,
            mcp.session.id = e.session.as_deref().unwrap_or_default(),
            mcpguard.server.id = %e.server,
            gen_ai.tool.name = %e.tool,
            mcpguard.target = e.target.as_deref().unwrap_or_default(),
            mcpguard.purpose = e.purpose.as_deref().unwrap_or_default(),
            mcpguard.decision = %e.decision,
            mcpguard.policy.ids = %e.policies.join(","),
            mcpguard.reasons = %e.reasons.join("; "),
            mcpguard.outcome = %e.outcome,
            error.r#type = e.error.as_deref().unwrap_or_default(),
            mcpguard.duration_us = e.duration_us.unwrap_or_default(),
            mcpguard.approval.approver = e.approver.as_deref().unwrap_or_default(),
            gen_ai.tool.call.arguments = %e.arguments,
            "tool call {}",
            e.outcome
        );
        Ok(())
    }
}
