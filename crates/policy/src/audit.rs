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
//! | method | `mcp.method.name` | always `tools/call` |
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
//! The chained JSON-lines sink adds `mcpguard.chain.prev` and `mcpguard.chain.hash`.

use std::fmt;
use std::io::{BufRead, Write};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

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
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Started => "started",
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Denied => "denied",
            Self::NeedsApproval => "needs_approval",
        })
    }
}

/// One audit event. Built by the gate ([`crate::Gate::audit_event`],
/// [`crate::Gate::guard`]) with arguments, target, purpose and error already
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

/// An audit sink that could not record an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit sink error: {message}")]
pub struct AuditError {
    message: String,
}

impl AuditError {
    /// An error with a message (no secrets).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

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

const PREV: &str = "mcpguard.chain.prev";
const HASH: &str = "mcpguard.chain.hash";
/// The `prev` of a chain's first line.
pub const CHAIN_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// JSON lines, each carrying the hash of the line before it and its own, so that an
/// edited, removed or reordered line shows ([`verify_chain`]).
///
/// A line's hash is the SHA-256 of the canonical JSON of the event with its `prev`
/// field. Truncating the end of a log cannot be seen from the log alone: keep the
/// last hash ([`ChainSummary::last_hash`]) somewhere else to check that.
#[derive(Debug)]
pub struct JsonLinesSink<W: Write + Send> {
    state: Mutex<(W, String)>,
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// A sink that starts a new chain.
    pub fn new(writer: W) -> Self {
        Self::continuing(writer, CHAIN_GENESIS.to_owned())
    }

    /// A sink that continues a chain whose last line has hash `last_hash` (from
    /// [`verify_chain`] over the existing log).
    pub fn continuing(writer: W, last_hash: String) -> Self {
        Self {
            state: Mutex::new((writer, last_hash)),
        }
    }

    /// The inner writer, once no more events will come.
    pub fn into_inner(self) -> W {
        self.state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
}

impl<W: Write + Send + fmt::Debug> AuditSink for JsonLinesSink<W> {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut value = serde_json::to_value(event)
            .map_err(|e| AuditError::new(format!("cannot serialize the event: {e}")))?;
        let mut state = self
            .state
            .lock()
            .map_err(|_| AuditError::new("the sink is poisoned"))?;
        let (writer, prev) = &mut *state;
        let Value::Object(map) = &mut value else {
            return Err(AuditError::new("an event serializes to an object"));
        };
        map.insert(PREV.to_owned(), Value::String(prev.clone()));
        let hash = hex(&Sha256::digest(
            mcpguard_core::canonical_json(&value).as_bytes(),
        ));
        if let Value::Object(map) = &mut value {
            map.insert(HASH.to_owned(), Value::String(hash.clone()));
        }
        let mut line = mcpguard_core::canonical_json(&value);
        line.push('\n');
        writer
            .write_all(line.as_bytes())
            .and_then(|()| writer.flush())
            .map_err(|e| AuditError::new(format!("cannot write: {e}")))?;
        *prev = hash;
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A chain that verified: how many lines, and the hash of the last one (to keep
/// elsewhere, and to continue the chain with [`JsonLinesSink::continuing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainSummary {
    /// Lines read.
    pub lines: usize,
    /// The last line's hash ([`CHAIN_GENESIS`] for an empty log).
    pub last_hash: String,
}

/// Where and why a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain breaks at line {line}: {reason}")]
#[non_exhaustive]
pub struct ChainError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong there.
    pub reason: String,
}

/// Reads a chained log and reports the first line where the chain breaks: a line
/// that is not JSON, whose hash does not match its content (edited), or whose
/// `prev` is not the hash of the line before (a line removed, inserted or moved).
///
/// # Errors
///
/// [`ChainError`] with the line and the reason.
pub fn verify_chain(reader: impl BufRead) -> Result<ChainSummary, ChainError> {
    let mut prev = CHAIN_GENESIS.to_owned();
    let mut lines = 0;
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let broken = |reason: &str| ChainError {
            line: n,
            reason: reason.to_owned(),
        };
        let line = line.map_err(|e| broken(&format!("cannot read: {e}")))?;
        let mut value: Value =
            serde_json::from_str(&line).map_err(|_| broken("the line is not JSON"))?;
        let Value::Object(map) = &mut value else {
            return Err(broken("the line is not a JSON object"));
        };
        let Some(Value::String(stated)) = map.remove(HASH) else {
            return Err(broken("the line has no hash"));
        };
        let Some(Value::String(line_prev)) = map.get(PREV).cloned() else {
            return Err(broken("the line has no link to the line before"));
        };
        let actual = hex(&Sha256::digest(
            mcpguard_core::canonical_json(&value).as_bytes(),
        ));
        if actual != stated {
            return Err(broken("the line was changed after it was written"));
        }
        if line_prev != prev {
            return Err(broken(
                "the line does not follow the line before it (a line was removed, inserted or moved)",
            ));
        }
        prev = stated;
        lines = n;
    }
    Ok(ChainSummary {
        lines,
        last_hash: prev,
    })
}
