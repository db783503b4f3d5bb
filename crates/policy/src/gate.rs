//! The Gate: one per server (or gateway), built once, asked on every call.
//!
//! A [`Gate`] composes the pure [`Evaluator`] with what a call needs around it:
//! the session store it reads the call's state from, the [`Approvals`] and
//! [`Credentials`] services, the audit sink and the redactor. The guarded call
//! (`admit`, then `Permit::finish`) lives in `admission.rs`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use mcpguard_core::{Inventory, Tier, ToolProfile};
use mcpguard_redact::Redactor;
use serde_json::Value;

use crate::approvals::Approvals;
use crate::audit::{AuditSink, TracingSink};
use crate::call::{Principal, ServerAction, ToolCall};
use crate::credentials::Credentials;
use crate::decision::{ApprovalRequest, Decision, DecisionError, DecisionErrorKind, Explanation};
use crate::error::{BuildError, BuildErrorKind, StoreError};
use crate::evaluator::{CallState, Evaluator};
use crate::model::Model;
use crate::policies::PolicySource;
use crate::review::Reviews;
use crate::state::{
    ApprovalGrant, ApprovalStore, MemoryApprovalStore, MemorySessionStore, SessionKey,
    SessionState, SessionStore,
};

/// Authorizes MCP tool calls against an inventory and a Cedar policy set.
///
/// Built once ([`Gate::builder`]); `Send + Sync`, so one gate serves every request
/// of a server. [`Gate::authorize`] never panics and never returns an error: what
/// cannot be evaluated is denied, with the cause in [`Decision::errors`] or
/// [`Decision::reasons`]. [`Gate::admit`] is the guarded call: decided and
/// audited once, run by the caller, finished through its [`crate::Permit`].
///
/// ```
/// use mcpguard_core::{Inventory, Tier};
/// use mcpguard_policy::{Gate, Principal, ToolCall, Verdict};
///
/// let inventory = Inventory::load("../../examples/inventories/team.toml")?;
/// let gate = Gate::builder().inventory(inventory).tier(Tier::Team).build()?;
/// let ana = Principal::new("ana").in_group("payments");
///
/// let read = ToolCall::new(ana.clone(), "filesystem", "read_text_file");
/// assert_eq!(gate.authorize(&read).verdict(), Verdict::Allow);
///
/// let write = ToolCall::new(ana, "filesystem", "write_file")
///     .arguments(serde_json::json!({"path": "notes.md", "content": "hi"}));
/// let decision = gate.authorize(&write);
/// assert_eq!(decision.verdict(), Verdict::RequireApproval);
/// let request = decision.approval_request().unwrap();
/// let grant = gate.approvals().approve(request, "lead@example.com", std::time::Duration::from_secs(300))?;
/// assert_eq!(gate.authorize_approved(&write, &grant).verdict(), Verdict::Allow);
/// // Single use: the same approval does not work twice.
/// assert_eq!(gate.authorize_approved(&write, &grant).verdict(), Verdict::Deny);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Gate {
    /// Replaced whole when the policies are swapped.
    evaluator: RwLock<Arc<Evaluator>>,
    sessions: Arc<dyn SessionStore>,
    approvals: Approvals,
    reviews: Reviews,
    credentials: Credentials,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) redactor: Redactor,
    pub(crate) unaudited_calls: bool,
    pub(crate) output: OutputRules,
    calls: AtomicU64,
}

/// What the gate does to the results of the calls it lets run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputRules {
    /// Every string and key of a result passes the redactor.
    pub(crate) redact_results: bool,
    /// Results of untrusted-output tools lose terminal escapes and hidden Unicode.
    pub(crate) sanitize_untrusted_output: bool,
}

impl Default for OutputRules {
    fn default() -> Self {
        Self {
            redact_results: true,
            sanitize_untrusted_output: true,
        }
    }
}

/// Builds a [`Gate`].
#[derive(Debug, Default)]
pub struct GateBuilder {
    inventory: Option<Inventory>,
    policies: Option<PolicySource>,
    tier: Option<Tier>,
    definitions: Vec<(String, Value)>,
    sessions: Option<Arc<dyn SessionStore>>,
    approvals: Option<Arc<dyn ApprovalStore>>,
    audit: Option<Arc<dyn AuditSink>>,
    redactor: Option<Redactor>,
    unaudited_calls: bool,
    output: OutputRules,
}

impl GateBuilder {
    /// The inventory: every server and tool the gate knows. Calls to anything else
    /// are denied.
    #[must_use]
    pub fn inventory(mut self, inventory: Inventory) -> Self {
        self.inventory = Some(inventory);
        self
    }

    /// The policies (default: the baseline pack).
    #[must_use]
    pub fn policies(mut self, policies: PolicySource) -> Self {
        self.policies = Some(policies);
        self
    }

    /// The tier the gate runs in, seen by policies as `context.tier` (default:
    /// production, the strictest).
    #[must_use]
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = Some(tier);
        self
    }

    /// A server's tool definitions as its `tools/list` returns them (the result
    /// object, a whole JSON-RPC response, or the array). Their fingerprints are
    /// checked against the inventory's pins, and their input schemas type
    /// `context.args`.
    #[must_use]
    pub fn tool_definitions(mut self, server: impl Into<String>, tools: Value) -> Self {
        self.definitions.push((server.into(), tools));
        self
    }

    /// Where session state lives (default: this process's memory).
    #[must_use]
    pub fn session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(store);
        self
    }

    /// Where issued approvals wait (default: this process's memory).
    #[must_use]
    pub fn approval_store(mut self, store: Arc<dyn ApprovalStore>) -> Self {
        self.approvals = Some(store);
        self
    }

    /// Where audit events go (default: [`TracingSink`], one `tracing` event per
    /// call).
    #[must_use]
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// The redactor for audit events and tool results (default: the built-in
    /// catalogue). Register the secrets the server holds with it.
    #[must_use]
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = Some(redactor);
        self
    }

    /// Whether a guarded call may run when its `started` event cannot be recorded
    /// (default: no, the call is denied: no unaudited tool calls).
    #[must_use]
    pub fn allow_unaudited_calls(mut self, allow: bool) -> Self {
        self.unaudited_calls = allow;
        self
    }

    /// Whether guarded calls pass their results (text, structured content, keys
    /// and values) through the redactor before they return to the model (default:
    /// yes). Turn it off only for a server whose results must reach the model
    /// byte for byte and that holds no secret.
    #[must_use]
    pub fn redact_results(mut self, redact: bool) -> Self {
        self.output.redact_results = redact;
        self
    }

    /// Whether guarded calls of tools with untrusted output (`untrusted_output` in
    /// the inventory) have terminal escapes and hidden Unicode stripped from their
    /// results ([`mcpguard_core::sanitize`]), with what was removed in the audit
    /// event (default: yes).
    #[must_use]
    pub fn sanitize_untrusted_output(mut self, sanitize: bool) -> Self {
        self.output.sanitize_untrusted_output = sanitize;
        self
    }

    /// Builds the gate: entities for every server and tool, the schema with the
    /// arguments' types, and the validated policy set.
    ///
    /// # Errors
    ///
    /// No inventory; malformed tool definitions; a policy that does not parse or
    /// validate (with file, line, column and Cedar's message); duplicate policy ids.
    pub fn build(self) -> Result<Gate, BuildError> {
        let inventory = self.inventory.ok_or_else(|| {
            BuildError::new(
                BuildErrorKind::MissingInventory,
                "a gate needs an inventory: call `GateBuilder::inventory`",
            )
        })?;
        let (model, credentials) = Model::build(&inventory, &self.definitions)?;
        let policies = self
            .policies
            .unwrap_or_default()
            .compile(&model.schema, &model.untyped)?;
        let tier = self.tier.unwrap_or(Tier::Production);
        let redactor = match self.redactor {
            Some(r) => r,
            None => Redactor::new()
                .map_err(|e| BuildError::with_source(BuildErrorKind::Redactor, e.to_string(), e))?,
        };
        let approvals: Arc<dyn ApprovalStore> = self
            .approvals
            .unwrap_or_else(|| Arc::new(MemoryApprovalStore::default()));
        Ok(Gate {
            evaluator: RwLock::new(Arc::new(Evaluator::new(Arc::new(model), policies, tier))),
            sessions: self
                .sessions
                .unwrap_or_else(|| Arc::new(MemorySessionStore::default())),
            approvals: Approvals::new(Arc::clone(&approvals)),
            reviews: Reviews::new(approvals),
            credentials: Credentials::new(credentials, tier, redactor.clone()),
            audit: self.audit.unwrap_or_else(|| Arc::new(TracingSink)),
            redactor,
            unaudited_calls: self.unaudited_calls,
            output: self.output,
            calls: AtomicU64::new(0),
        })
    }
}

impl Gate {
    /// A builder.
    pub fn builder() -> GateBuilder {
        GateBuilder::default()
    }

    /// The evaluator in force: the pure part of the gate, for decisions in a
    /// stated [`CallState`] (explaining a call, testing policies).
    pub fn evaluator(&self) -> Arc<Evaluator> {
        self.evaluator
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Four-eyes reviews, in the approval store.
    pub fn reviews(&self) -> &Reviews {
        &self.reviews
    }

    /// Issues and redeems approvals.
    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    /// Resolves the servers' credentials in the tiers the inventory allows.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Decides a call in the state its session is in. Never panics; anything that
    /// cannot be evaluated (the session store too) is a Deny.
    pub fn authorize(&self, call: &ToolCall) -> Decision {
        self.decide(&self.evaluator(), call, None)
    }

    /// Decides a call that a person approved. The grant must be for exactly this
    /// call (same principal, server, tool and arguments), unexpired and unused; it
    /// is used up by this call. The policies are evaluated again with
    /// `context.approved`, so an approval lifts only approval gates: any other
    /// forbid still denies.
    pub fn authorize_approved(&self, call: &ToolCall, grant: &ApprovalGrant) -> Decision {
        self.decide(&self.evaluator(), call, Some(grant))
    }

    /// The decision about `call` by `evaluator`, in its session's state (approved,
    /// with a grant that redeems for it), released.
    pub(crate) fn decide(
        &self,
        evaluator: &Evaluator,
        call: &ToolCall,
        grant: Option<&ApprovalGrant>,
    ) -> Decision {
        // A server action needs no approval: a grant changes nothing for it.
        let grant = grant.filter(|_| call.action().is_none());
        let decision = grant
            .map_or(Ok(()), |grant| self.approvals.redeem(call, grant))
            .and_then(|()| self.call_state(call))
            .map_or_else(
                |d| d,
                |state| {
                    let decision = evaluator.evaluate(call, &state.approved(grant.is_some()));
                    match grant {
                        // The caller's own approval (asked through MCP) does not
                        // lift a four-eyes gate: only a reviewer's grant does.
                        Some(g) if !g.is_reviewed() && decision.is_allowed() => {
                            let plain = evaluator.evaluate(call, &state);
                            if plain.approval_request().is_some_and(ApprovalRequest::needs_reviewer) {
                                Decision::deny(
                                    "this call needs the approval of a reviewer other than the caller \
                                     (four eyes); the caller's own approval does not count",
                                )
                            } else {
                                decision
                            }
                        }
                        _ => decision,
                    }
                },
            );
        self.released(decision)
    }

    /// The state a tool call is decided in: its session's. Server actions are
    /// decided without one.
    fn call_state(&self, call: &ToolCall) -> Result<CallState, Decision> {
        if call.action().is_some() {
            return Ok(CallState::default());
        }
        self.sessions
            .load(&session_key(call))
            .map(CallState::new)
            .map_err(|e| {
                Decision::deny_error(
                    "the session state could not be read",
                    DecisionError::new(DecisionErrorKind::Store, e.to_string()),
                )
            })
    }

    /// A decision fit to leave the gate: reasons and errors that may quote what a
    /// caller sent are redacted. Policy reasons are the policy author's words and
    /// need no pass: only decisions with errors, or denied before evaluation, get
    /// one.
    fn released(&self, decision: Decision) -> Decision {
        if decision.errors().is_empty() && !decision.policy_ids().is_empty() {
            return decision;
        }
        decision.redacted(&self.redactor)
    }

    /// How the inventory describes a tool of a server: its data classes, actions,
    /// reach and whether its output is untrusted. `None` for a tool not in it.
    pub fn tool_profile(&self, server: &str, tool: &str) -> Option<ToolProfile> {
        self.evaluator().tool_profile(server, tool).cloned()
    }

    /// A fresh id for a call's audit events.
    pub(crate) fn call_id(&self) -> String {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, n.to_le_bytes());
        sha2::Digest::update(&mut h, now.to_le_bytes());
        sha2::Digest::finalize(h)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Records that a call ran, so the session remembers it: a tool with untrusted
    /// output taints the session, confidential-or-above data marks private data
    /// seen. A call that ended in an error counts the same: its output may have
    /// been read. Unknown tools change nothing. A guarded call
    /// ([`Gate::admit`]) does this itself.
    ///
    /// # Errors
    ///
    /// The session store could not record it; the embedder should treat the
    /// session as tainted.
    pub fn record_outcome(&self, call: &ToolCall) -> Result<(), StoreError> {
        let marks = self.evaluator().session_marks(call);
        self.mark_session(&session_key(call), marks)
    }

    pub(crate) fn mark_session(
        &self,
        key: &SessionKey,
        marks: SessionState,
    ) -> Result<(), StoreError> {
        if marks == SessionState::new() {
            return Ok(());
        }
        self.sessions.merge(key, marks)
    }

    /// The state of the session a call belongs to.
    ///
    /// # Errors
    ///
    /// The session store could not answer.
    pub fn session_state(&self, call: &ToolCall) -> Result<SessionState, StoreError> {
        self.sessions.load(&session_key(call))
    }

    /// Binds a transport session handle (an HTTP `mcp-session-id`) to the verified
    /// principal that first presents it, in the session store (shared by
    /// replicas): `Ok(false)` when another principal holds it, and the request
    /// must be refused. See [`SessionStore::claim`].
    ///
    /// # Errors
    ///
    /// The session store could not answer; refuse the request.
    pub fn claim_session(&self, handle: &str, principal: &Principal) -> Result<bool, StoreError> {
        self.sessions.claim(handle, principal.id())
    }

    /// The principal a transport session handle is bound to
    /// ([`Gate::claim_session`]), if any.
    ///
    /// # Errors
    ///
    /// The session store could not answer; refuse the request.
    pub fn session_owner(&self, handle: &str) -> Result<Option<String>, StoreError> {
        self.sessions.owner(handle)
    }

    /// Whether `principal` may see a tool in `tools/list`: decided by `list_tools`
    /// policies, apart from `call_tool`, so a condition on arguments never hides a
    /// tool.
    pub fn authorize_list(&self, principal: &Principal, server: &str, tool: &str) -> Decision {
        self.released(self.evaluator().evaluate_list(principal, server, tool))
    }

    /// The tools of `server` that `principal` may see, in inventory order.
    pub fn visible_tools<'a>(
        &self,
        principal: &Principal,
        inventory: &'a Inventory,
        server: &str,
    ) -> Vec<&'a str> {
        let evaluator = self.evaluator();
        inventory
            .server(server)
            .map(|s| {
                s.tools
                    .iter()
                    .filter(|t| {
                        evaluator
                            .evaluate_list(principal, server, t.name.as_str())
                            .is_allowed()
                    })
                    .map(|t| t.name.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Decides `resources/read` or `prompts/get` on a server.
    pub fn authorize_server(
        &self,
        principal: &Principal,
        server: &str,
        action: ServerAction,
    ) -> Decision {
        self.released(self.evaluator().evaluate_server(principal, server, action))
    }

    /// The decision in the call's session state with every policy's part in it
    /// (see [`Evaluator::explain`]).
    pub fn explain(&self, call: &ToolCall) -> Explanation {
        match self.call_state(call) {
            Ok(state) => self.evaluator().explain(call, &state),
            Err(decision) => Explanation {
                decision: self.released(decision),
                policies: Vec::new(),
            },
        }
    }

    /// Replaces the policy set atomically: calls already being decided finish with
    /// the old set, later ones see the new one.
    ///
    /// # Errors
    ///
    /// As [`GateBuilder::build`]; the old set stays in force.
    pub fn swap_policies(&self, policies: &PolicySource) -> Result<(), BuildError> {
        let next = Arc::new(self.evaluator().with_policies(policies)?);
        // A poisoned lock still holds a valid Arc: replace it all the same.
        let mut guard = self
            .evaluator
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = next;
        Ok(())
    }

    /// The redactor the gate uses for audit events and results; pass log lines
    /// through it too, so resolved credentials never reach a log.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Whether guarded calls redact their results ([`GateBuilder::redact_results`]);
    /// adapters that return results by other paths (task results) follow it.
    pub fn redacts_results(&self) -> bool {
        self.output.redact_results
    }

    /// The tier the gate runs in.
    pub fn tier(&self) -> Tier {
        self.evaluator().tier()
    }

    /// Whether the audit sink can record anything at all (see
    /// [`AuditSink::records`]): `false` for the default `tracing` sink when no
    /// subscriber is installed.
    pub fn audits(&self) -> bool {
        self.audit.records()
    }
}

pub(crate) fn session_key(call: &ToolCall) -> SessionKey {
    SessionKey {
        principal: call.principal().id().to_owned(),
        session: call.session_id().unwrap_or_default().to_owned(),
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("evaluator", &self.evaluator())
            .field("sessions", &self.sessions)
            .field("approvals", &self.approvals)
            .finish_non_exhaustive()
    }
}
