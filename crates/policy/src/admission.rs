//! The guarded call, in two phases: [`Gate::admit`] decides and audits once; the
//! caller runs its handler itself and hands the outcome to [`Permit::finish`],
//! which records it, marks the session and handles the output in one pass.
//!
//! ```
//! use mcpguard_core::{Inventory, Tier};
//! use mcpguard_policy::{Admission, Gate, Principal, ToolCall};
//!
//! let inventory = Inventory::load("../../examples/inventories/team.toml")?;
//! let gate = Gate::builder().inventory(inventory).tier(Tier::Team).build()?;
//! let call = ToolCall::new(Principal::new("ana"), "filesystem", "read_text_file")
//!     .arguments(serde_json::json!({"path": "README.md"}));
//! match gate.admit(&call) {
//!     Admission::Run(permit) => {
//!         let outcome: Result<String, std::io::Error> = Ok("# readme".to_owned());
//!         let text = permit.finish(outcome)?;
//!         assert_eq!(text, "# readme");
//!     }
//!     Admission::Ask(pending) => println!("{}", pending.question()),
//!     Admission::Refuse(decision) => println!("denied: {:?}", decision.reasons().collect::<Vec<_>>()),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mcpguard_core::{Sanitized, sanitize};
use mcpguard_redact::Redactor;
use serde_json::Value;

use crate::audit::{AuditEvent, AuditOutcome};
use crate::call::{RedactedCall, ToolCall};
use crate::decision::{Decision, DecisionError, DecisionErrorKind, Pending, Verdict};
use crate::error::StoreError;
use crate::evaluator::Evaluator;
use crate::gate::{Gate, session_key};
use crate::question;
use crate::state::{ApprovalGrant, SessionKey, SessionState};

/// What the gate does with a result on its way out: the one pass of
/// [`ToolResult::process`]. Strings are sanitized (tools with untrusted output)
/// and then redacted, each once.
pub struct Output<'a> {
    redactor: Option<&'a Redactor>,
    sanitize: bool,
    removed: Sanitized,
    changed: usize,
}

impl<'a> Output<'a> {
    /// An output pass: redacting with `redactor` if given, sanitizing if
    /// `sanitize`.
    pub fn new(redactor: Option<&'a Redactor>, sanitize: bool) -> Self {
        Self {
            redactor,
            sanitize,
            removed: Sanitized::default(),
            changed: 0,
        }
    }

    /// Whether the pass changes anything at all; when not, a result need not be
    /// walked.
    pub fn is_active(&self) -> bool {
        self.redactor.is_some() || self.sanitize
    }

    /// How many strings (and keys) the pass has changed so far.
    pub fn changed(&self) -> usize {
        self.changed
    }

    /// What sanitizing removed so far.
    pub fn removed(&self) -> &Sanitized {
        &self.removed
    }

    /// Passes one text through.
    pub fn text(&mut self, text: &mut String) {
        if self.sanitize {
            sanitize_in_place(text, &mut self.removed, &mut self.changed);
        }
        if let Some(redactor) = self.redactor
            && let std::borrow::Cow::Owned(clean) = redactor.redact(text)
        {
            *text = clean;
            self.changed += 1;
        }
    }

    /// Passes every string of a JSON value through (keys are redacted, not
    /// sanitized), in one walk.
    pub fn json(&mut self, value: &mut Value) {
        let sanitizing = self.sanitize;
        let (removed, changed) = (&mut self.removed, &mut self.changed);
        match self.redactor {
            Some(redactor) => {
                *changed += redactor.redact_json_with(value, |s| {
                    if sanitizing {
                        sanitize_in_place(s, removed, changed);
                    }
                });
            }
            None if sanitizing => {
                let mut stack = vec![value];
                while let Some(v) = stack.pop() {
                    match v {
                        Value::String(s) => sanitize_in_place(s, removed, changed),
                        Value::Array(items) => stack.extend(items.iter_mut()),
                        Value::Object(map) => stack.extend(map.values_mut()),
                        _ => {}
                    }
                }
            }
            None => {}
        }
    }
}

impl fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("redacting", &self.redactor.is_some())
            .field("sanitizing", &self.sanitize)
            .field("changed", &self.changed)
            .finish_non_exhaustive()
    }
}

fn sanitize_in_place(text: &mut String, removed: &mut Sanitized, changed: &mut usize) {
    if let (std::borrow::Cow::Owned(clean), what) = sanitize(text) {
        *text = clean;
        removed.add(what);
        *changed += 1;
    }
}

/// A tool result the gate can pass through its output handling (sanitize,
/// redact) before it returns to the model.
pub trait ToolResult {
    /// Passes every text of the result through `output`, once. A result that
    /// cannot be walked (it does not serialise) replaces itself with a withheld
    /// notice rather than leave unchecked text.
    fn process(&mut self, output: &mut Output<'_>);

    /// Whether the result reports a failure of the tool (an MCP result with
    /// `isError: true`): audited as an `error` outcome. Defaults to no.
    fn is_error(&self) -> bool {
        false
    }

    /// Whether the result asks the client for input before the call can finish
    /// (an MCP `InputRequiredResult`): audited as `input_required`, not `ok`.
    /// Defaults to no.
    fn is_input_required(&self) -> bool {
        false
    }
}

impl ToolResult for String {
    fn process(&mut self, output: &mut Output<'_>) {
        output.text(self);
    }
}

impl ToolResult for Value {
    fn process(&mut self, output: &mut Output<'_>) {
        output.json(self);
    }
}

impl<T: ToolResult> ToolResult for Vec<T> {
    fn process(&mut self, output: &mut Output<'_>) {
        for item in self.iter_mut() {
            item.process(output);
        }
    }

    fn is_error(&self) -> bool {
        self.iter().any(ToolResult::is_error)
    }
}

impl<T: ToolResult> ToolResult for Option<T> {
    fn process(&mut self, output: &mut Output<'_>) {
        if let Some(item) = self {
            item.process(output);
        }
    }

    fn is_error(&self) -> bool {
        self.as_ref().is_some_and(ToolResult::is_error)
    }
}

impl ToolResult for () {
    fn process(&mut self, _: &mut Output<'_>) {}
}

/// Why a guarded call did not return the handler's result.
///
/// Neither its `Display` nor its `Debug` repeats the handler's own error, which
/// may hold anything; match on [`GuardError::Handler`] to get it.
#[non_exhaustive]
pub enum GuardError<E> {
    /// The gate denied the call (or could not audit its start); the handler did
    /// not run.
    Denied(Decision),
    /// The call needs a person's approval ([`Decision::approval_request`]); the
    /// handler did not run.
    NeedsApproval(Decision),
    /// The handler ran and returned this error.
    Handler(E),
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
            Self::Session(e) => write!(
                f,
                "the call ran but its session could not be updated, so its result is withheld: {e}"
            ),
        }
    }
}

impl<E> std::error::Error for GuardError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Session(e) => Some(e),
            _ => None,
        }
    }
}

impl RedactedCall {
    /// The audit event of this call with `decision` and `outcome`.
    fn into_event(
        self,
        decision: &Decision,
        call_id: String,
        outcome: AuditOutcome,
        approver: Option<String>,
    ) -> AuditEvent {
        AuditEvent {
            time_unix_nano: now_unix_nano(),
            operation: "execute_tool".to_owned(),
            method: self.method.to_owned(),
            call_id,
            actor: self.actor,
            session: self.session,
            server: self.server,
            tool: self.tool,
            target: self.target,
            purpose: self.purpose,
            decision: decision.verdict(),
            policies: decision.policy_ids().to_vec(),
            // Decisions leave the gate redacted (`Gate::authorize`, `Gate::refuse`);
            // what they keep as is are the policy authors' reasons.
            reasons: decision.reasons().map(ToOwned::to_owned).collect(),
            outcome,
            error: None,
            duration_us: None,
            approver,
            arguments: self.arguments,
            sanitized: None,
        }
    }
}

/// The answer of [`Gate::admit`]: run the call (with the [`Permit`] that
/// finishes it), ask a person first, or refuse it. Each is already audited.
#[must_use = "an admission that is not acted on leaves its call unfinished"]
#[expect(
    clippy::exhaustive_enums,
    reason = "as with Verdict: a new way for a call to go must break every caller's match"
)]
#[derive(Debug)]
pub enum Admission<'g> {
    /// Run the handler, then [`Permit::finish`] with what it returned.
    Run(Permit<'g>),
    /// Only a person's approval lets the call run: ask [`Pending::question`], then
    /// admit the call again with the grant ([`Gate::admit_approved`]).
    Ask(Pending),
    /// Do not run the call.
    Refuse(Decision),
}

impl<'g> Admission<'g> {
    /// The permit, or the refusal as a [`GuardError`] (`Denied`,
    /// `NeedsApproval`).
    ///
    /// # Errors
    ///
    /// The call may not run now.
    pub fn into_permit<E>(self) -> Result<Permit<'g>, GuardError<E>> {
        match self {
            Self::Run(permit) => Ok(permit),
            Self::Ask(pending) => Err(GuardError::NeedsApproval(pending.decision)),
            Self::Refuse(decision) => Err(GuardError::Denied(decision)),
        }
    }

    /// Runs a synchronous `handler` if the call may run, and finishes it: the
    /// shortest form of the guarded call. A handler that panics leaves its permit
    /// to be dropped, which records the call as abandoned; the panic goes on.
    ///
    /// # Errors
    ///
    /// As [`Admission::into_permit`] and [`Permit::finish`].
    pub fn run<T, E, F>(self, handler: F) -> Result<T, GuardError<E>>
    where
        T: ToolResult,
        E: fmt::Display,
        F: FnOnce() -> Result<T, E>,
    {
        let permit = self.into_permit()?;
        permit.finish(handler())
    }
}

/// Leave to run one admitted call. Hand what the handler returned to
/// [`Permit::finish`]; a permit dropped unfinished (the handler panicked, the
/// request was cancelled, the caller forgot) records the call as `abandoned` and
/// marks the session as if it had run, since its output may have been read.
#[must_use = "a permit must be finished with the handler's outcome"]
pub struct Permit<'g> {
    gate: &'g Gate,
    /// The `started` event, redacted once: the final event is made from it.
    event: Box<AuditEvent>,
    start: Instant,
    session: SessionKey,
    /// What the call does to its session; `tainted` also means its output is
    /// untrusted (sanitized, labelled so).
    marks: SessionState,
    finished: bool,
}

impl Permit<'_> {
    /// Whether the inventory marks this call's output as untrusted (an adapter
    /// labels the result with it).
    pub fn untrusted_output(&self) -> bool {
        self.marks.tainted
    }

    /// The id of the call in the audit trail.
    pub fn call_id(&self) -> &str {
        &self.event.call_id
    }

    /// Finishes the call with what the handler returned: its output is sanitized
    /// (untrusted output) and redacted in one pass, the outcome and duration are
    /// recorded, the session is marked (taint, private data), and the result is
    /// handed back.
    ///
    /// # Errors
    ///
    /// [`GuardError::Handler`] with the handler's error; [`GuardError::Session`]
    /// when the session could not record the call (the result is withheld).
    pub fn finish<T, E>(mut self, outcome: Result<T, E>) -> Result<T, GuardError<E>>
    where
        T: ToolResult,
        E: fmt::Display,
    {
        self.finished = true;
        let mut outcome = outcome;
        let rules = self.gate.output;
        let mut output = Output::new(
            rules.redact_results.then_some(&self.gate.redactor),
            rules.sanitize_untrusted_output && self.marks.tainted,
        );
        let (verdict, error) = match &mut outcome {
            Ok(value) => {
                if output.is_active() {
                    value.process(&mut output);
                }
                if value.is_error() {
                    (
                        AuditOutcome::Error,
                        Some("the tool reported an error in its result".to_owned()),
                    )
                } else if value.is_input_required() {
                    (AuditOutcome::InputRequired, None)
                } else {
                    (AuditOutcome::Ok, None)
                }
            }
            Err(e) => (AuditOutcome::Error, Some(e.to_string())),
        };
        let removed = *output.removed();
        self.record_end(verdict, error, Some(removed).filter(|r| !r.is_empty()));
        self.gate
            .mark_session(&self.session, self.marks)
            .map_err(GuardError::Session)?;
        outcome.map_err(GuardError::Handler)
    }

    /// The final event, made from the `started` one.
    fn record_end(
        &mut self,
        outcome: AuditOutcome,
        error: Option<String>,
        sanitized: Option<Sanitized>,
    ) {
        let mut event = (*self.event).clone();
        event.time_unix_nano = now_unix_nano();
        event.outcome = outcome;
        event.error = error.map(|e| self.gate.redactor.redact(&e).into_owned());
        event.duration_us =
            Some(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX));
        event.sanitized = sanitized;
        if let Err(e) = self.gate.audit.record(&event) {
            tracing::error!(target: "mcpguard::audit", error = %e, "the end of a call could not be audited");
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let why = if std::thread::panicking() {
            "the handler panicked"
        } else {
            "the call was abandoned before it finished (cancelled, or its permit dropped)"
        };
        self.record_end(AuditOutcome::Abandoned, Some(why.to_owned()), None);
        if let Err(e) = self.gate.mark_session(&self.session, self.marks) {
            tracing::error!(target: "mcpguard::audit", error = %e, "the session of an abandoned call could not be marked");
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("call_id", &self.event.call_id)
            .field("untrusted_output", &self.marks.tainted)
            .finish_non_exhaustive()
    }
}

/// The audit outcome of a decision, before any handler runs.
fn decided(verdict: Verdict) -> AuditOutcome {
    match verdict {
        Verdict::Allow => AuditOutcome::Started,
        Verdict::RequireApproval => AuditOutcome::NeedsApproval,
        Verdict::Deny => AuditOutcome::Denied,
    }
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

impl Gate {
    /// Admits a call: decides it, records the decision in the audit trail once,
    /// and answers [`Admission::Run`] with the permit to finish it,
    /// [`Admission::Ask`] with the question for a person, or
    /// [`Admission::Refuse`]. An allowed call whose `started` event cannot be
    /// recorded is refused, unless [`crate::GateBuilder::allow_unaudited_calls`].
    pub fn admit(&self, call: &ToolCall) -> Admission<'_> {
        self.admit_with(call, None)
    }

    /// [`Gate::admit`] for a call a person approved: the grant is checked and used
    /// up as in [`Gate::authorize_approved`], and the approver is recorded.
    pub fn admit_approved(&self, call: &ToolCall, grant: &ApprovalGrant) -> Admission<'_> {
        self.admit_with(call, Some(grant))
    }

    /// One evaluator answers for the whole admission: the decision, the target
    /// in the events and what the call does to its session come from the same
    /// model, even if the policies are swapped meanwhile.
    fn admit_with(&self, call: &ToolCall, grant: Option<&ApprovalGrant>) -> Admission<'_> {
        let evaluator = self.evaluator();
        let decision = self.decide(&evaluator, call, grant);
        let redacted = self.redact_call(&evaluator, call);
        let outcome = decided(decision.verdict());
        // The question is made from the same redacted call as the event.
        let question = (decision.verdict() == Verdict::RequireApproval).then(|| {
            let profile = evaluator.tool_profile(call.server(), call.tool());
            question::ask(&redacted, profile, call, &decision, &self.redactor)
        });
        let approver = grant.map(|g| self.redactor.redact(g.approver()).into_owned());
        let event = redacted.into_event(&decision, self.call_id(), outcome, approver);
        let recorded = self.audit.record(&event);
        match decision.verdict() {
            Verdict::Deny => {
                if let Err(e) = recorded {
                    tracing::error!(target: "mcpguard::audit", error = %e, "a denied call could not be audited");
                }
                Admission::Refuse(decision)
            }
            Verdict::RequireApproval => {
                if let Err(e) = recorded {
                    tracing::error!(target: "mcpguard::audit", error = %e, "a call waiting for approval could not be audited");
                }
                let (Some(request), Some(question)) =
                    (decision.approval_request().cloned(), question)
                else {
                    return Admission::Refuse(decision);
                };
                Admission::Ask(Pending {
                    decision,
                    request,
                    question,
                })
            }
            Verdict::Allow => {
                if let Err(e) = recorded {
                    tracing::error!(target: "mcpguard::audit", error = %e, "an allowed call could not be audited");
                    if !self.unaudited_calls {
                        let error = DecisionError::new(
                            DecisionErrorKind::Audit,
                            self.redactor.redact(&e.to_string()).into_owned(),
                        );
                        return Admission::Refuse(Decision::deny_error(
                            "the call was not run because it could not be audited",
                            error,
                        ));
                    }
                }
                Admission::Run(Permit {
                    gate: self,
                    event: Box::new(event),
                    start: Instant::now(),
                    session: session_key(call),
                    marks: evaluator.session_marks(call),
                    finished: false,
                })
            }
        }
    }

    /// Denies `call` for a reason found outside the policies (an approval the
    /// person declined, a forged approval state, an unverified caller), and records
    /// the denial in the audit trail as [`Gate::admit`] would. The reason is
    /// redacted like any other text.
    pub fn refuse(&self, call: &ToolCall, reason: impl Into<String>) -> Decision {
        let reason = reason.into();
        let decision = Decision::deny(self.redactor.redact(&reason));
        let event = self.redacted_call(call).into_event(
            &decision,
            self.call_id(),
            AuditOutcome::Denied,
            None,
        );
        if let Err(e) = self.audit.record(&event) {
            tracing::error!(target: "mcpguard::audit", error = %e, "a denied call could not be audited");
        }
        decision
    }

    /// Records a request refused before it became a call — an HTTP request whose
    /// bearer token was missing or invalid, lacked a scope, or presented another
    /// principal's session — as a denied event: `mcp.method.name` is `http`, the
    /// tool is the endpoint's path, the actor the token's subject when the token
    /// was genuine (else `unverified`), the reason says why and from where. No
    /// token is ever passed here; every text is redacted all the same.
    pub fn refuse_request(
        &self,
        server: &str,
        actor: Option<&str>,
        session: Option<&str>,
        endpoint: &str,
        reason: impl Into<String>,
    ) -> Decision {
        self.refuse_method("http", server, actor, session, endpoint, &reason.into())
    }

    /// Records that a server's tool is withheld from `tools/list` — not in the
    /// inventory, its definition changed since it was pinned, or poisoned — as
    /// a denied event: `mcp.method.name` is `tools/list`, the actor the
    /// principal the listing is for (`mcpguard proxy` audits once per
    /// definition it withholds, for the principal it serves), the reason says
    /// why and what would accept the tool. Every text is redacted.
    pub fn refuse_listing(
        &self,
        server: &str,
        actor: &str,
        tool: &str,
        reason: impl Into<String>,
    ) -> Decision {
        self.refuse_method(
            "tools/list",
            server,
            Some(actor),
            None,
            tool,
            &reason.into(),
        )
    }

    fn refuse_method(
        &self,
        method: &'static str,
        server: &str,
        actor: Option<&str>,
        session: Option<&str>,
        subject: &str,
        reason: &str,
    ) -> Decision {
        let redact = |s: &str| self.redactor.redact(s).into_owned();
        let decision = Decision::deny(self.redactor.redact(reason));
        let endpoint = subject;
        let refused = RedactedCall {
            method,
            actor: actor.map_or_else(|| "unverified".to_owned(), redact),
            session: session.map(redact),
            server: redact(server),
            tool: redact(endpoint),
            target: None,
            purpose: None,
            arguments: Value::Object(serde_json::Map::new()),
        };
        let event = refused.into_event(&decision, self.call_id(), AuditOutcome::Denied, None);
        if let Err(e) = self.audit.record(&event) {
            tracing::error!(target: "mcpguard::audit", error = %e, "a refused request could not be audited");
        }
        decision
    }

    /// The audit event of a decision about `call`, with every text redacted. Its
    /// outcome is `denied`, `needs_approval` or `started`.
    pub fn audit_event(&self, call: &ToolCall, decision: &Decision) -> AuditEvent {
        self.redacted_call(call).into_event(
            decision,
            self.call_id(),
            decided(decision.verdict()),
            None,
        )
    }

    /// The call with every text it carries passed through the gate's redactor
    /// (see [`RedactedCall`]).
    pub fn redacted_call(&self, call: &ToolCall) -> RedactedCall {
        self.redact_call(&self.evaluator(), call)
    }

    fn redact_call(&self, evaluator: &Evaluator, call: &ToolCall) -> RedactedCall {
        let redact = |s: &str| self.redactor.redact(s).into_owned();
        let mut arguments = call.arguments_value().clone();
        self.redactor.redact_json(&mut arguments);
        RedactedCall {
            method: call.method(),
            actor: redact(call.principal().id()),
            session: call.session_id().map(redact),
            server: redact(call.server()),
            tool: redact(call.tool()),
            target: evaluator.target_of(call).map(|t| redact(&t)),
            purpose: call.purpose_text().map(redact),
            arguments,
        }
    }
}
