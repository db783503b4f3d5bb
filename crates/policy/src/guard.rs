//! The guarded call: authorize, audit, run, record, in one place.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt as _;
use mcpguard_core::{Sanitized, sanitize};
use mcpguard_redact::Redactor;

use crate::audit::{AuditError, AuditEvent, AuditOutcome};
use crate::call::ToolCall;
use crate::decision::{Decision, Verdict};
use crate::error::StoreError;
use crate::gate::{Gate, Outcome};
use crate::state::ApprovalGrant;

/// A tool result the gate can redact before it returns to the model
/// ([`crate::GateBuilder::redact_results`]).
pub trait ToolResult {
    /// Redacts the secrets in the result in place; returns how many values changed.
    fn redact_with(&mut self, redactor: &Redactor) -> usize;

    /// Whether the result reports a failure of the tool (an MCP result with
    /// `isError: true`): audited as an `error` outcome. Defaults to no.
    fn is_error(&self) -> bool {
        false
    }

    /// Strips terminal escapes and hidden Unicode from the result's text in place
    /// ([`mcpguard_core::sanitize`]), for tools whose output is untrusted; returns
    /// what was removed. Defaults to nothing (a result with no text).
    fn sanitize_text(&mut self) -> Sanitized {
        Sanitized::default()
    }
}

/// Sanitizes every string of a JSON value (keys stay as they are).
fn sanitize_json(value: &mut serde_json::Value) -> Sanitized {
    let mut report = Sanitized::default();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) => {
                if let (std::borrow::Cow::Owned(clean), removed) = sanitize(s) {
                    *s = clean;
                    report.add(removed);
                }
            }
            serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
            serde_json::Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
    report
}

impl ToolResult for String {
    fn sanitize_text(&mut self) -> Sanitized {
        match sanitize(self) {
            (std::borrow::Cow::Owned(clean), removed) => {
                *self = clean;
                removed
            }
            (std::borrow::Cow::Borrowed(_), removed) => removed,
        }
    }

    fn redact_with(&mut self, redactor: &Redactor) -> usize {
        // One pass: the text is searched once, and replaced only if something was found.
        match redactor.redact(self) {
            std::borrow::Cow::Borrowed(_) => 0,
            std::borrow::Cow::Owned(new) => {
                *self = new;
                1
            }
        }
    }
}

impl ToolResult for serde_json::Value {
    fn redact_with(&mut self, redactor: &Redactor) -> usize {
        redactor.redact_json(self)
    }

    fn sanitize_text(&mut self) -> Sanitized {
        sanitize_json(self)
    }
}

impl<T: ToolResult> ToolResult for Vec<T> {
    fn redact_with(&mut self, redactor: &Redactor) -> usize {
        self.iter_mut().map(|t| t.redact_with(redactor)).sum()
    }

    fn is_error(&self) -> bool {
        self.iter().any(ToolResult::is_error)
    }

    fn sanitize_text(&mut self) -> Sanitized {
        let mut report = Sanitized::default();
        for t in self.iter_mut() {
            report.add(t.sanitize_text());
        }
        report
    }
}

impl<T: ToolResult> ToolResult for Option<T> {
    fn redact_with(&mut self, redactor: &Redactor) -> usize {
        self.as_mut().map_or(0, |t| t.redact_with(redactor))
    }

    fn is_error(&self) -> bool {
        self.as_ref().is_some_and(ToolResult::is_error)
    }

    fn sanitize_text(&mut self) -> Sanitized {
        self.as_mut()
            .map_or_else(Sanitized::default, ToolResult::sanitize_text)
    }
}

impl ToolResult for () {
    fn redact_with(&mut self, _: &Redactor) -> usize {
        0
    }
}

/// Why a guarded call did not return the handler's result.
///
/// Neither its `Display` nor its `Debug` repeats the handler's own error, which
/// may hold anything; match on [`GuardError::Handler`] to get it.
#[non_exhaustive]
pub enum GuardError<E> {
    /// The gate denied the call; the handler did not run.
    Denied(Decision),
    /// The call needs a person's approval ([`Decision::approval_request`]); the
    /// handler did not run.
    NeedsApproval(Decision),
    /// The handler ran and returned this error.
    Handler(E),
    /// The call's `started` event could not be recorded, so the call was not run
    /// (see [`crate::GateBuilder::allow_unaudited_calls`]).
    Audit(AuditError),
    /// The handler ran but the session could not record what it saw (taint,
    /// private data): the result is withheld, as the next calls could not be
    /// judged by it.
    Session(StoreError),
}

impl<E> fmt::Debug for GuardError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(d) => f.debug_tuple("Denied").field(d).finish(),
            Self::NeedsApproval(d) => f.debug_tuple("NeedsApproval").field(d).finish(),
            Self::Handler(_) => f.write_str("Handler([REDACTED])"),
            Self::Audit(e) => f.debug_tuple("Audit").field(e).finish(),
            Self::Session(e) => f.debug_tuple("Session").field(e).finish(),
        }
    }
}

impl<E> fmt::Display for GuardError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(d) => write!(
                f,
                "the call was denied: {}",
                d.reasons().collect::<Vec<_>>().join("; ")
            ),
            Self::NeedsApproval(d) => write!(
                f,
                "the call needs a person's approval: {}",
                d.reasons().collect::<Vec<_>>().join("; ")
            ),
            // The handler's own error may hold anything: it is not repeated here.
            Self::Handler(_) => f.write_str("the tool returned an error"),
            Self::Audit(e) => write!(
                f,
                "the call was not run because it could not be audited: {e}"
            ),
            Self::Session(e) => write!(
                f,
                "the call ran but its session could not be updated, so its result is withheld: {e}"
            ),
        }
    }
}

impl<E> std::error::Error for GuardError<E> {}

/// What a guarded call knows once it is allowed to run.
struct Started {
    /// The `started` event, redacted once: the final event is made from it.
    event: AuditEvent,
    start: Instant,
}

/// Nanoseconds since the Unix epoch.
fn now_unix_nano() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    )
    .unwrap_or(u64::MAX)
}

/// The audit outcome of a decision, before any handler runs.
fn decided(verdict: Verdict) -> AuditOutcome {
    match verdict {
        Verdict::Allow => AuditOutcome::Started,
        Verdict::RequireApproval => AuditOutcome::NeedsApproval,
        Verdict::Deny => AuditOutcome::Denied,
    }
}

impl Gate {
    /// Runs a tool call under the gate: authorizes it, records a `started` audit
    /// event, runs `handler` only on Allow, records the outcome and duration,
    /// updates the session (taint, private data), and returns the handler's result,
    /// redacted if the gate redacts results.
    ///
    /// A handler that panics is recorded as an error and the panic goes on
    /// unwinding: it is never swallowed.
    ///
    /// # Errors
    ///
    /// [`GuardError`]: denied, needs approval, the handler's error, an audit
    /// failure before the call, or a session store failure after it.
    pub fn guard<T, E, F>(&self, call: &ToolCall, handler: F) -> Result<T, GuardError<E>>
    where
        T: ToolResult,
        E: fmt::Display,
        F: FnOnce() -> Result<T, E>,
    {
        self.run_guarded(call, self.authorize(call), None, handler)
    }

    /// [`Gate::guard`] for a call a person approved: the grant is checked and used
    /// up as in [`Gate::authorize_approved`], and the approver is recorded.
    ///
    /// # Errors
    ///
    /// As [`Gate::guard`].
    pub fn guard_approved<T, E, F>(
        &self,
        call: &ToolCall,
        grant: &ApprovalGrant,
        handler: F,
    ) -> Result<T, GuardError<E>>
    where
        T: ToolResult,
        E: fmt::Display,
        F: FnOnce() -> Result<T, E>,
    {
        let decision = self.authorize_approved(call, grant);
        self.run_guarded(call, decision, Some(grant.approver()), handler)
    }

    /// [`Gate::guard`] for an async handler.
    ///
    /// # Errors
    ///
    /// As [`Gate::guard`].
    pub async fn guard_async<T, E, F, Fut>(
        &self,
        call: &ToolCall,
        handler: F,
    ) -> Result<T, GuardError<E>>
    where
        T: ToolResult,
        E: fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_guarded_async(call, self.authorize(call), None, handler)
            .await
    }

    /// [`Gate::guard_approved`] for an async handler.
    ///
    /// # Errors
    ///
    /// As [`Gate::guard`].
    pub async fn guard_approved_async<T, E, F, Fut>(
        &self,
        call: &ToolCall,
        grant: &ApprovalGrant,
        handler: F,
    ) -> Result<T, GuardError<E>>
    where
        T: ToolResult,
        E: fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let decision = self.authorize_approved(call, grant);
        self.run_guarded_async(call, decision, Some(grant.approver()), handler)
            .await
    }

    /// Records `decision`, runs `handler` if it allows, and finishes the call.
    fn run_guarded<T, E, F>(
        &self,
        call: &ToolCall,
        decision: Decision,
        approver: Option<&str>,
        handler: F,
    ) -> Result<T, GuardError<E>>
    where
        T: ToolResult,
        E: fmt::Display,
        F: FnOnce() -> Result<T, E>,
    {
        let started = self.start(call, decision, approver)?;
        let result = catch_unwind(AssertUnwindSafe(handler));
        self.finish(call, &started, result)
    }

    /// [`Gate::run_guarded`] for an async handler.
    async fn run_guarded_async<T, E, F, Fut>(
        &self,
        call: &ToolCall,
        decision: Decision,
        approver: Option<&str>,
        handler: F,
    ) -> Result<T, GuardError<E>>
    where
        T: ToolResult,
        E: fmt::Display,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = self.start(call, decision, approver)?;
        let result = AssertUnwindSafe(async move { handler().await })
            .catch_unwind()
            .await;
        self.finish(call, &started, result)
    }

    /// Denies `call` for a reason found outside the policies (an approval the
    /// person declined, a forged approval state, an unverified caller), and records
    /// the denial in the audit trail as [`Gate::guard`] would. The reason is
    /// redacted in the event like any other text.
    pub fn refuse(&self, call: &ToolCall, reason: impl Into<String>) -> Decision {
        let reason = reason.into();
        let decision = Decision::deny(self.redactor.redact(&reason));
        let event = self.event(call, &decision, &self.call_id(), AuditOutcome::Denied, None);
        if let Err(e) = self.audit.record(&event) {
            tracing::error!(target: "mcpguard::audit", error = %e, "a denied call could not be audited");
        }
        decision
    }

    /// The audit event of a decision about `call`, with arguments, target and
    /// purpose redacted. Its outcome is `denied`, `needs_approval` or `started`.
    pub fn audit_event(&self, call: &ToolCall, decision: &Decision) -> AuditEvent {
        let outcome = decided(decision.verdict());
        self.event(call, decision, &self.call_id(), outcome, None)
    }

    /// The event of a decision, every string of it redacted; the final event of a
    /// call that ran is made from its `started` event (`Gate::finish`).
    fn event(
        &self,
        call: &ToolCall,
        decision: &Decision,
        call_id: &str,
        outcome: AuditOutcome,
        approver: Option<&str>,
    ) -> AuditEvent {
        // Every string of the event has passed the redactor: names, ids and keys
        // come from the client as much as values do.
        let redact = |s: &str| self.redactor.redact(s).into_owned();
        let mut arguments = call.arguments_value().clone();
        self.redactor.redact_json(&mut arguments);
        AuditEvent {
            time_unix_nano: now_unix_nano(),
            operation: "execute_tool".to_owned(),
            method: call.method().to_owned(),
            call_id: call_id.to_owned(),
            actor: redact(call.principal().id()),
            session: call.session_id().map(redact),
            server: redact(call.server()),
            tool: redact(call.tool()),
            target: self.target_of(call).map(|t| redact(&t)),
            purpose: call.purpose_text().map(redact),
            decision: decision.verdict(),
            policies: decision.policy_ids().to_vec(),
            // Decisions leave the gate redacted (`Gate::released`, `Gate::refuse`);
            // what they keep as is are the policy authors' reasons.
            reasons: decision.reasons().map(ToOwned::to_owned).collect(),
            outcome,
            error: None,
            duration_us: None,
            approver: approver.map(redact),
            arguments,
            sanitized: None,
        }
    }

    /// Records the decision; returns what is needed to finish an allowed call.
    fn start<E>(
        &self,
        call: &ToolCall,
        decision: Decision,
        approver: Option<&str>,
    ) -> Result<Started, GuardError<E>> {
        let call_id = self.call_id();
        let outcome = decided(decision.verdict());
        let event = self.event(call, &decision, &call_id, outcome, approver);
        let recorded = self.audit.record(&event);
        match decision.verdict() {
            Verdict::Deny => {
                if let Err(e) = recorded {
                    tracing::error!(target: "mcpguard::audit", error = %e, "a denied call could not be audited");
                }
                Err(GuardError::Denied(decision))
            }
            Verdict::RequireApproval => {
                if let Err(e) = recorded {
                    tracing::error!(target: "mcpguard::audit", error = %e, "a call waiting for approval could not be audited");
                }
                Err(GuardError::NeedsApproval(decision))
            }
            Verdict::Allow => {
                if let Err(e) = recorded {
                    tracing::error!(target: "mcpguard::audit", error = %e, "an allowed call could not be audited");
                    if !self.unaudited_calls {
                        return Err(GuardError::Audit(e));
                    }
                }
                Ok(Started {
                    event,
                    start: Instant::now(),
                })
            }
        }
    }

    /// Records how an allowed call ended, updates its session, and hands back the
    /// result (or the panic).
    fn finish<T: ToolResult, E: fmt::Display>(
        &self,
        call: &ToolCall,
        started: &Started,
        mut result: std::thread::Result<Result<T, E>>,
    ) -> Result<T, GuardError<E>> {
        let duration = started.start.elapsed();
        // Untrusted output loses its terminal escapes and hidden Unicode before
        // anything else sees it; the event says what was removed.
        let sanitized = match &mut result {
            Ok(Ok(value)) if self.sanitize_untrusted && self.untrusted_output(call) => {
                Some(value.sanitize_text()).filter(|r| !r.is_empty())
            }
            _ => None,
        };
        let (outcome, error) = match &result {
            Ok(Ok(value)) if value.is_error() => (
                AuditOutcome::Error,
                Some("the tool reported an error in its result".to_owned()),
            ),
            Ok(Ok(_)) => (AuditOutcome::Ok, None),
            Ok(Err(e)) => (AuditOutcome::Error, Some(e.to_string())),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "the handler panicked".to_owned());
                (AuditOutcome::Error, Some(format!("panic: {message}")))
            }
        };
        // The call's names, arguments, target and purpose were redacted for the
        // `started` event: the final event reuses them.
        let mut event = started.event.clone();
        event.time_unix_nano = now_unix_nano();
        event.outcome = outcome;
        event.error = error.map(|e| self.redactor.redact(&e).into_owned());
        event.duration_us = Some(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX));
        event.sanitized = sanitized;
        if let Err(e) = self.audit.record(&event) {
            tracing::error!(target: "mcpguard::audit", error = %e, "the end of a call could not be audited");
        }
        let session = self.record_outcome(
            call,
            if outcome == AuditOutcome::Ok {
                Outcome::Ok
            } else {
                Outcome::Error
            },
        );
        let result = match result {
            Ok(r) => r,
            Err(panic) => resume_unwind(panic),
        };
        session.map_err(GuardError::Session)?;
        let mut value = result.map_err(GuardError::Handler)?;
        if self.redact_results {
            value.redact_with(&self.redactor);
        }
        Ok(value)
    }
}
