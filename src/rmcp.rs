//! A [`Gate`] in front of an rmcp server (the official Rust MCP SDK).
//!
//! [`Guarded`] wraps any rmcp `ServerHandler` (a `#[tool_router]` server, a
//! hand-written one) and is itself a `ServerHandler`: serve it where you served the
//! inner one. The seam is the handler, not the tool router, because `tools/list`
//! must be filtered per caller, and only the handler sees the request context.
//!
//! - `tools/call` becomes a [`ToolCall`] (verified principal, session, server,
//!   tool, arguments, the tool definition's fingerprint) and runs under
//!   [`Gate::guard_async`]: audited, redacted, recorded in the session.
//!   - **Deny** is a tool result with `isError: true` and the reasons, never a
//!     transport error.
//!   - **RequireApproval** asks the person at the client. Peers on MCP 2026-07-28
//!     or later get an `InputRequiredResult` with an elicitation, and the pending
//!     approval sealed in `requestState` (HMAC, bound to principal, server, tool,
//!     argument digest and expiry; single use through the gate's approval store).
//!     Older peers that declared form elicitation get `elicitation/create`. The call
//!     runs only when the person accepts *and* ticks `approve`. A client that did
//!     not declare form elicitation (in its per-request capabilities on 2026-07-28,
//!     at `initialize` before) gets an error result naming the approval request.
//! - `tools/list` shows the tools the `list_tools` policies let the caller see,
//!   each with its definition's fingerprint in `_meta` (`io.mcpguard/fingerprint`),
//!   so a gateway downstream can pin it.
//! - Results carry information-flow labels in `_meta` (`io.mcpguard/labels`):
//!   `integrity` (`trusted`, or `untrusted` for tools whose output an attacker may
//!   control) and `confidentiality` (the most sensitive data class of the tool).
//! - `resources/read` and `prompts/get` are calls too ([`ToolCall::server_action`]):
//!   decided by their policies, audited (`mcp.method.name`), redacted and
//!   sanitized, and recorded in the session — a third-party server's content (or
//!   that of a server with an untrusted-output tool) taints it. A refusal is a
//!   protocol error, as these results have no error flag.
//! - Task results fetched with `tasks/get` are redacted like tool results.
//! - **Pins against live definitions**: a call's definition is the one the inner
//!   handler offers now — its `get_tool`, or else what its `tools/list` last showed
//!   (cached; listed again when a called tool is not there). A pinned tool whose
//!   live definition changed is refused; one the server no longer offers is
//!   refused too. rmcp does not show a wrapper the inner handler's
//!   `list_changed` notifications: the cache follows the client's re-listing.
//!
//! **Identity.** The principal comes from the request, never from the client's
//! say-so: by default a [`Principal`] that the embedder's authentication put in the
//! request's extensions, or in those of the HTTP request (`http::request::Parts`,
//! which rmcp's streamable HTTP transport stores there). Over stdio, where the
//! process owner is the caller, set it with [`Guarded::principal`]. A call without a
//! verified principal is denied.
//!
//! **Session.** The state that taints a session lives under the verified principal
//! and a session handle: by default one per [`Guarded`] value (one per connection:
//! rmcp builds one handler per connection), or the `mcp-session-id` of older peers
//! over HTTP, always bound to the principal.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mcpguard::policy::{Gate, PolicySource, Principal};
//! use mcpguard::rmcp::Guarded;
//! use rmcp::ServiceExt as _;
//! # #[derive(Clone)] struct MyServer;
//! # impl rmcp::ServerHandler for MyServer {}
//! # async fn run(inventory: mcpguard::Inventory) -> Result<(), Box<dyn std::error::Error>> {
//! let gate = Arc::new(Gate::builder().inventory(inventory).policies(PolicySource::baseline()).build()?);
//! let server = Guarded::new(MyServer, gate, "workspace")?
//!     .principal(Principal::new("ana@example.com"))
//!     .approval_key(std::env::var("MCPGUARD_APPROVAL_KEY")?.as_bytes())?;
//! server.serve(rmcp::transport::stdio()).await?.waiting().await?;
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mcpguard_core::{Fingerprint, Sanitized};
use mcpguard_policy::{
    ApprovalGrant, Decision, Gate, GuardError, Principal, ServerAction, ToolCall, ToolResult,
    Verdict,
};
use mcpguard_redact::Redactor;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams,
    CancelledNotificationParam, CompleteRequestParams, CompleteResult, ContentBlock,
    CustomNotification, CustomRequest, CustomResult, DiscoverResult, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams, GetSkillResult,
    GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult, InputRequest,
    InputRequests, InputRequiredResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListSkillsResult, ListToolsResult, MetaObject, PaginatedRequestParams,
    ProgressNotificationParam, ProtocolVersion, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequestParams, ReadResourceResponse,
    RequestStateCodec, ServerConfig, SubscribeRequestParams, SubscriptionFilter, Tool,
    UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{
    MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The key of the approval question in an `InputRequiredResult`'s input requests.
pub const APPROVAL_INPUT_KEY: &str = "io.mcpguard/approval";
/// The `_meta` key of a tool's definition fingerprint in `tools/list`.
pub const FINGERPRINT_META_KEY: &str = "io.mcpguard/fingerprint";
/// The `_meta` key of a result's information-flow labels.
pub const LABELS_META_KEY: &str = "io.mcpguard/labels";
/// The `_meta` key of the decision behind a refused call's result.
pub const DECISION_META_KEY: &str = "io.mcpguard/decision";
/// The request `_meta` key a client may use to say what a call is for.
pub const PURPOSE_META_KEY: &str = "io.mcpguard/purpose";

/// Associated data of every sealed approval state: a state sealed for anything
/// else with the same key does not open as one.
const STATE_CONTEXT: &[u8] = b"io.mcpguard/approval-state/v1";

/// How the principal of a request is found.
type Identify = dyn Fn(&RequestContext<RoleServer>) -> Option<Principal> + Send + Sync;

/// Why [`Guarded`] could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardedError {
    /// The approval key is shorter than the 32 bytes an HMAC-SHA-256 key needs.
    #[error(
        "the approval key must be at least {minimum} bytes of secret randomness (got {actual}); \
         generate one with `openssl rand -base64 48`"
    )]
    ApprovalKeyTooShort {
        /// The shortest key accepted.
        minimum: usize,
        /// The length given.
        actual: usize,
    },
    /// The operating system's random source failed.
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// An rmcp server handler with a [`Gate`] in front of it (see the module docs).
pub struct Guarded<H> {
    inner: H,
    gate: Arc<Gate>,
    server: String,
    session: String,
    identify: Arc<Identify>,
    codec: RequestStateCodec,
    approval_ttl: Duration,
    elicitation_timeout: Duration,
    /// Fingerprints of the definitions the inner handler's `tools/list` showed.
    live: Arc<RwLock<HashMap<String, Fingerprint>>>,
}

/// The most pages of the inner handler's `tools/list` read to find a definition.
const MAX_LIST_PAGES: usize = 16;

impl<H> fmt::Debug for Guarded<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("server", &self.server)
            .field("session", &self.session)
            .field("approval_ttl", &self.approval_ttl)
            .field("elicitation_timeout", &self.elicitation_timeout)
            .finish_non_exhaustive()
    }
}

impl<H: Clone> Clone for Guarded<H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            gate: Arc::clone(&self.gate),
            server: self.server.clone(),
            session: self.session.clone(),
            identify: Arc::clone(&self.identify),
            codec: self.codec.clone(),
            approval_ttl: self.approval_ttl,
            elicitation_timeout: self.elicitation_timeout,
            live: Arc::clone(&self.live),
        }
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], GuardedError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| GuardedError::Random(e.to_string()))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The principal the embedder's authentication stored in the request, or in the
/// HTTP request it came in.
fn principal_from_extensions(context: &RequestContext<RoleServer>) -> Option<Principal> {
    context.extensions.get::<Principal>().cloned().or_else(|| {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>().cloned())
    })
}

impl<H: ServerHandler> Guarded<H> {
    /// Puts `gate` in front of `inner`, which the inventory knows as `server`.
    ///
    /// The approval state is sealed with a random key of this process, so approvals
    /// asked through `InputRequiredResult` must come back to this process; set a
    /// shared key with [`Guarded::approval_key`] when several replicas serve.
    ///
    /// # Errors
    ///
    /// [`GuardedError::Random`]: the operating system's random source failed.
    pub fn new(inner: H, gate: Arc<Gate>, server: impl Into<String>) -> Result<Self, GuardedError> {
        let key = random_bytes::<48>()?;
        let session = random_bytes::<16>()?;
        Ok(Self::assemble(
            inner,
            gate,
            server.into(),
            hex(&session),
            &key,
        ))
    }

    fn assemble(inner: H, gate: Arc<Gate>, server: String, session: String, key: &[u8]) -> Self {
        Self {
            inner,
            gate,
            server,
            session,
            identify: Arc::new(principal_from_extensions),
            codec: RequestStateCodec::new_unchecked(key.to_vec()),
            approval_ttl: Duration::from_secs(600),
            elicitation_timeout: Duration::from_secs(300),
            live: Arc::default(),
        }
    }

    /// Every request comes from `principal` (stdio: the process owner).
    #[must_use]
    pub fn principal(self, principal: Principal) -> Self {
        self.identify(move |_| Some(principal.clone()))
    }

    /// Finds the verified principal of a request; `None` denies the call.
    #[must_use]
    pub fn identify<F>(mut self, identify: F) -> Self
    where
        F: Fn(&RequestContext<RoleServer>) -> Option<Principal> + Send + Sync + 'static,
    {
        self.identify = Arc::new(identify);
        self
    }

    /// The session handle the state of these calls is kept under (with the
    /// principal). Defaults to a random handle per [`Guarded`] value.
    #[must_use]
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = session.into();
        self
    }

    /// The key approval states are sealed with: at least 32 bytes of secret
    /// randomness, the same on every replica that may receive a retry.
    ///
    /// # Errors
    ///
    /// [`GuardedError::ApprovalKeyTooShort`].
    pub fn approval_key(mut self, key: &[u8]) -> Result<Self, GuardedError> {
        self.codec = RequestStateCodec::try_new(key.to_vec()).map_err(|_| {
            GuardedError::ApprovalKeyTooShort {
                minimum: RequestStateCodec::MIN_KEY_LENGTH,
                actual: key.len(),
            }
        })?;
        Ok(self)
    }

    /// How long a person has to answer an approval question (default 10 minutes).
    #[must_use]
    pub fn approval_ttl(mut self, ttl: Duration) -> Self {
        self.approval_ttl = ttl;
        self
    }

    /// How long an `elicitation/create` to an older peer may wait (default 5
    /// minutes); no answer is a refusal.
    #[must_use]
    pub fn elicitation_timeout(mut self, timeout: Duration) -> Self {
        self.elicitation_timeout = timeout;
        self
    }

    /// The gate.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    fn session_of(&self, context: &RequestContext<RoleServer>) -> String {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| self.session.clone(), |id| format!("mcp:{id}"))
    }

    /// The fingerprint of a tool's definition as the inner handler offers it now:
    /// from its `get_tool`, or else from the definitions its `tools/list` last
    /// showed (cached; read again when the tool is not among them). A handler
    /// whose definitions change at run time is checked against the live ones.
    async fn live_fingerprint(
        &self,
        name: &str,
        context: &RequestContext<RoleServer>,
    ) -> Option<Fingerprint> {
        if let Some(tool) = self.inner.get_tool(name) {
            return fingerprint_of(&tool);
        }
        if let Some(fp) = self.cached_fingerprint(name) {
            return Some(fp);
        }
        let mut cursor = None;
        for _ in 0..MAX_LIST_PAGES {
            let page = PaginatedRequestParams::default().with_cursor(cursor);
            let Ok(listed) = self.inner.list_tools(Some(page), context.clone()).await else {
                break;
            };
            self.remember(&listed.tools);
            cursor = listed.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        self.cached_fingerprint(name)
    }

    fn cached_fingerprint(&self, name: &str) -> Option<Fingerprint> {
        self.live
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .copied()
    }

    /// Keeps the fingerprints of the definitions a `tools/list` showed.
    fn remember(&self, tools: &[Tool]) {
        let mut live = self
            .live
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for tool in tools {
            if let Some(fp) = fingerprint_of(tool) {
                live.insert(tool.name.to_string(), fp);
            }
        }
    }

    /// The call a request asks for, as the gate sees it.
    fn tool_call(
        &self,
        principal: Principal,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        definition: Option<Fingerprint>,
    ) -> ToolCall {
        let arguments = request
            .arguments
            .clone()
            .map_or_else(|| Value::Object(Map::new()), Value::Object);
        let mut call = ToolCall::new(principal, &self.server, request.name.as_ref())
            .arguments(arguments)
            .session(self.session_of(context));
        if let Some(purpose) = request
            .meta
            .as_ref()
            .and_then(|m| m.0.get(PURPOSE_META_KEY))
            .and_then(Value::as_str)
        {
            call = call.purpose(purpose);
        }
        if let Some(fingerprint) = definition {
            call = call.definition(fingerprint);
        }
        call
    }

    /// Runs a call under the gate (with a person's approval, if given). A call
    /// that needs approval comes back as `Err` with its decision and the request,
    /// not run; every other refusal is a tool result.
    async fn run(
        &self,
        call: &ToolCall,
        grant: Option<&ApprovalGrant>,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<Result<CallToolResponse, McpError>, Pending> {
        // The handler takes the request only if the gate lets it run; otherwise it
        // comes back from here, uncopied (arguments can be large).
        let slot = std::sync::Mutex::new(Some((request, context)));
        let take = || {
            slot.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        };
        let handler = || async {
            match take() {
                Some((request, context)) => {
                    self.inner.call_tool(request, context).await.map(Response)
                }
                None => Err(McpError::internal_error(
                    "the request was already handled",
                    None,
                )),
            }
        };
        let outcome = match grant {
            Some(grant) => self.gate.guard_approved_async(call, grant, handler).await,
            None => self.gate.guard_async(call, handler).await,
        };
        Ok(match outcome {
            Ok(Response(response)) => Ok(self.label(call, response)),
            Err(GuardError::NeedsApproval(decision)) => {
                return Err(match take() {
                    Some(held) => Pending::Ask(decision, Box::new(held)),
                    None => Pending::Refused(decision),
                });
            }
            Err(GuardError::Denied(decision)) => Ok(refused(&decision, None).into()),
            // The handler's protocol error, with any secret in it redacted.
            Err(GuardError::Handler(error)) => Err(self.redacted_error(error)),
            Err(other) => Ok(error_result(format!("mcpguard: {other}"), None).into()),
        })
    }

    /// Adds the tool's information-flow labels to a complete result.
    fn label(&self, call: &ToolCall, mut response: CallToolResponse) -> CallToolResponse {
        let Some(profile) = self.gate.tool_profile(call.server(), call.tool()) else {
            return response;
        };
        if let CallToolResponse::Complete(result) = &mut response {
            let confidentiality = profile
                .data_classes
                .iter()
                .max()
                .map_or("public", |c| c.as_str());
            let labels = json!({
                "integrity": if profile.untrusted_output { "untrusted" } else { "trusted" },
                "confidentiality": confidentiality,
            });
            result
                .meta
                .get_or_insert_with(MetaObject::default)
                .0
                .insert(LABELS_META_KEY.to_owned(), labels);
        }
        response
    }

    /// Asks the person at the client to approve a call the gate holds back.
    async fn ask(
        &self,
        call: &ToolCall,
        decision: &Decision,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(pending) = decision.approval_request() else {
            return Ok(refused(decision, None).into());
        };
        let question = approval_question(&self.gate, call, decision);
        let modern = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        let elicits = declares_form_elicitation(&context);
        if !elicits {
            let reason = format!(
                "approval request {} is pending: this client did not declare form \
                 elicitation, so it cannot be asked (neither by input request nor by \
                 elicitation); approve the call out of band",
                pending.digest().to_hex()
            );
            return Ok(refused(decision, Some(&reason)).into());
        }
        // The approval the person may give, held in the gate's approval store
        // (single use, shared by replicas) until they answer.
        let approver = format!("{} (asked through MCP)", call.principal().id());
        let grant = match self.gate.approve(pending, &approver, self.approval_ttl) {
            Ok(grant) => grant,
            Err(e) => {
                let reason = format!("the approval could not be recorded: {e}");
                return Ok(refused(&self.gate.refuse(call, reason), None).into());
            }
        };
        if modern {
            let state = SealedApproval {
                principal: call.principal().id().to_owned(),
                server: call.server().to_owned(),
                tool: call.tool().to_owned(),
                digest: call.digest().to_hex(),
                grant,
            };
            let sealed = serde_json::to_vec(&state)
                .map(|payload| {
                    self.codec.seal_with(
                        &payload,
                        &rmcp::model::SealOptions::new()
                            .associated_data(STATE_CONTEXT)
                            .ttl(self.approval_ttl),
                    )
                })
                .map_err(|e| {
                    McpError::internal_error(format!("sealing the approval: {e}"), None)
                })?;
            let mut requests = InputRequests::new();
            requests.insert(
                APPROVAL_INPUT_KEY.to_owned(),
                InputRequest::Elicitation(ElicitRequest::new(question)),
            );
            return Ok(InputRequiredResult::new(Some(requests), Some(sealed)).into());
        }
        let answer = context
            .peer
            .create_elicitation_with_timeout(question, Some(self.elicitation_timeout))
            .await;
        match answer {
            Ok(answer) if accepted(&answer) => self
                .run(call, Some(&grant), request, context)
                .await
                .unwrap_or_else(|p| Ok(refused(p.decision(), None).into())),
            Ok(_) => {
                let d = self
                    .gate
                    .refuse(call, "the person declined to approve the call");
                Ok(refused(&d, None).into())
            }
            Err(e) => {
                let reason = format!("the approval question got no answer: {e}");
                Ok(refused(&self.gate.refuse(call, reason), None).into())
            }
        }
    }

    /// A retry that carries this gate's approval state: the grant, if the state
    /// is genuine, for this very call, and the person accepted.
    fn approved_retry(
        &self,
        call: &ToolCall,
        request: &CallToolRequestParams,
    ) -> Option<Result<ApprovalGrant, &'static str>> {
        let answer = request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(APPROVAL_INPUT_KEY));
        let state = request.request_state.as_deref()?;
        let opened = self
            .codec
            .open_json_with::<SealedApproval>(state, STATE_CONTEXT);
        let sealed = match opened {
            Ok(sealed) => sealed,
            // Not ours: the inner handler's own multi-round state.
            Err(_) if answer.is_none() => return None,
            Err(_) => {
                return Some(Err(
                    "the approval state is not one this server issued, was altered, or has expired",
                ));
            }
        };
        if sealed.principal != call.principal().id()
            || sealed.server != call.server()
            || sealed.tool != call.tool()
            || sealed.digest != call.digest().to_hex()
        {
            return Some(Err(
                "the approval state was issued for a different call (caller, tool or arguments)",
            ));
        }
        let accepted = answer
            .and_then(|a| serde_json::from_value::<ElicitResult>(a.clone()).ok())
            .is_some_and(|a| accepted(&a));
        if accepted {
            Some(Ok(sealed.grant))
        } else {
            Some(Err("the person declined to approve the call"))
        }
    }
}

/// A call the gate held back for a person's approval.
enum Pending {
    /// To ask about, with the request to run once approved.
    Ask(
        Decision,
        Box<(CallToolRequestParams, RequestContext<RoleServer>)>,
    ),
    /// Not askable (the request is gone); refused.
    Refused(Decision),
}

impl Pending {
    fn decision(&self) -> &Decision {
        match self {
            Self::Ask(d, ..) | Self::Refused(d) => d,
        }
    }
}

/// What `requestState` holds while a person is asked.
#[derive(Serialize, Deserialize)]
struct SealedApproval {
    principal: String,
    server: String,
    tool: String,
    digest: String,
    grant: ApprovalGrant,
}

/// Whether the client declared form elicitation: in this request's capabilities
/// (MCP 2026-07-28 and later, where capabilities travel with every request), or
/// at `initialize` on older peers. An elicitation capability that names neither
/// form nor URL means form, as the specification says.
fn declares_form_elicitation(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|caps| caps.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// An explicit yes: accepted, with `approve` ticked.
fn accepted(answer: &ElicitResult) -> bool {
    answer.action == ElicitationAction::Accept
        && answer
            .content
            .as_ref()
            .and_then(|c| c.get("approve"))
            .and_then(Value::as_bool)
            == Some(true)
}

/// The form a person answers to approve one call: the gate's question
/// ([`Gate::approval_question`]: tool, server, caller, target and destination
/// first and whole, the rest redacted and quoted) and a box to tick.
fn approval_question(gate: &Gate, call: &ToolCall, decision: &Decision) -> ElicitRequestParams {
    let message = gate.approval_question(call, decision);
    let schema = ElicitationSchema::builder().required_bool_property("approve", |b| {
        b.title("Approve this call")
            .description("Tick to let this exact call run once.")
    });
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema.build_unchecked(),
    }
}

fn error_result(text: String, meta: Option<Value>) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    if let Some(meta) = meta {
        result
            .meta
            .get_or_insert_with(MetaObject::default)
            .0
            .insert(DECISION_META_KEY.to_owned(), meta);
    }
    result
}

/// The tool result of a call that did not run.
fn refused(decision: &Decision, extra: Option<&str>) -> CallToolResult {
    let verdict = match decision.verdict() {
        Verdict::Allow => "allow",
        Verdict::RequireApproval => "require_approval",
        Verdict::Deny => "deny",
    };
    let mut reasons: Vec<String> = decision.reasons().map(ToOwned::to_owned).collect();
    if let Some(extra) = extra {
        reasons.push(extra.to_owned());
    }
    let text = match decision.verdict() {
        Verdict::RequireApproval => {
            format!(
                "mcpguard: this call needs a person's approval: {}",
                reasons.join("; ")
            )
        }
        _ => format!("mcpguard: this call was denied: {}", reasons.join("; ")),
    };
    let meta = json!({
        "verdict": verdict,
        "policies": decision.policy_ids(),
        "reasons": reasons,
        "approvalRequest": decision.approval_request().map(|r| r.digest().to_hex()),
    });
    error_result(text, Some(meta))
}

/// A tool response the gate can redact.
struct Response(CallToolResponse);

impl ToolResult for Response {
    fn redact_with(&mut self, redactor: &Redactor) -> usize {
        let CallToolResponse::Complete(result) = &mut self.0 else {
            return 0;
        };
        redact_serialized(result, redactor).unwrap_or_else(|| {
            *result = withheld();
            1
        })
    }

    fn is_error(&self) -> bool {
        matches!(&self.0, CallToolResponse::Complete(r) if r.is_error == Some(true))
    }

    fn sanitize_text(&mut self) -> Sanitized {
        let CallToolResponse::Complete(result) = &mut self.0 else {
            return Sanitized::default();
        };
        sanitize_serialized(result).unwrap_or_else(|| {
            *result = withheld();
            Sanitized::default()
        })
    }
}

/// Redacts every string and key of a result in place (text, structured content,
/// resource text, `_meta`), by way of its JSON form: how many changed, or `None`
/// when the value does not make the round trip, so the caller withholds it.
fn redact_serialized<T: Serialize + serde::de::DeserializeOwned>(
    value: &mut T,
    redactor: &Redactor,
) -> Option<usize> {
    let mut json = serde_json::to_value(&*value).ok()?;
    let changed = redactor.redact_json(&mut json);
    if changed > 0 {
        *value = serde_json::from_value(json).ok()?;
    }
    Some(changed)
}

/// Sanitizes every string of a result in place, by way of JSON: what was
/// removed, or `None` when the value does not make the round trip.
fn sanitize_serialized<T: Serialize + serde::de::DeserializeOwned>(
    value: &mut T,
) -> Option<Sanitized> {
    let mut json = serde_json::to_value(&*value).ok()?;
    let removed = json.sanitize_text();
    if !removed.is_empty() {
        *value = serde_json::from_value(json).ok()?;
    }
    Some(removed)
}

/// A `resources/read` response the gate can redact and sanitize.
struct Resource(ReadResourceResponse);

impl ToolResult for Resource {
    fn redact_with(&mut self, redactor: &Redactor) -> usize {
        match &mut self.0 {
            ReadResourceResponse::Complete(result) => redact_serialized(result, redactor)
                .unwrap_or_else(|| {
                    *result = rmcp::model::ReadResourceResult::new(Vec::new());
                    1
                }),
            _ => 0,
        }
    }

    fn sanitize_text(&mut self) -> Sanitized {
        match &mut self.0 {
            ReadResourceResponse::Complete(result) => {
                sanitize_serialized(result).unwrap_or_else(|| {
                    *result = rmcp::model::ReadResourceResult::new(Vec::new());
                    Sanitized::default()
                })
            }
            _ => Sanitized::default(),
        }
    }
}

/// A `prompts/get` response the gate can redact and sanitize.
struct Prompt(GetPromptResponse);

impl ToolResult for Prompt {
    fn redact_with(&mut self, redactor: &Redactor) -> usize {
        match &mut self.0 {
            GetPromptResponse::Complete(result) => redact_serialized(result, redactor)
                .unwrap_or_else(|| {
                    result.messages.clear();
                    1
                }),
            _ => 0,
        }
    }

    fn sanitize_text(&mut self) -> Sanitized {
        match &mut self.0 {
            GetPromptResponse::Complete(result) => {
                sanitize_serialized(result).unwrap_or_else(|| {
                    result.messages.clear();
                    Sanitized::default()
                })
            }
            _ => Sanitized::default(),
        }
    }
}

fn withheld() -> CallToolResult {
    error_result(
        "mcpguard: the result was withheld because it could not be checked for secrets".to_owned(),
        None,
    )
}

impl<H: ServerHandler> ServerHandler for Guarded<H> {
    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(principal) = (self.identify)(&context) else {
            let call = ToolCall::new(
                Principal::new("unverified"),
                &self.server,
                request.name.as_ref(),
            );
            let d = self
                .gate
                .refuse(&call, "the caller's identity could not be verified");
            return Ok(refused(&d, None).into());
        };
        // Only a pinned tool's definition is checked: an unknown tool is denied and
        // an unpinned one has nothing to match, so neither asks the handler to list.
        let pinned = self
            .gate
            .tool_profile(&self.server, &request.name)
            .is_some_and(|p| p.fingerprint.is_some());
        let definition = if pinned {
            self.live_fingerprint(&request.name, &context).await
        } else {
            None
        };
        let call = self.tool_call(principal, &request, &context, definition);
        if definition.is_none() && pinned {
            let d = self.gate.refuse(
                &call,
                "the server no longer offers a definition of this pinned tool, so its pin cannot be checked",
            );
            return Ok(refused(&d, None).into());
        }
        match self.approved_retry(&call, &request) {
            Some(Ok(grant)) => {
                // The approval round trip is this gate's own: the inner handler
                // sees the call as first asked.
                request.request_state = None;
                request.input_responses = None;
                return self
                    .run(&call, Some(&grant), request, context)
                    .await
                    .unwrap_or_else(|p| Ok(refused(p.decision(), None).into()));
            }
            Some(Err(reason)) => {
                let d = self.gate.refuse(&call, reason);
                return Ok(refused(&d, None).into());
            }
            None => {}
        }
        // One decision, audited once: allowed calls run, refusals become results,
        // and a call that needs approval is asked about.
        match self.run(&call, None, request, context).await {
            Ok(response) => response,
            Err(Pending::Ask(decision, held)) => {
                let (request, context) = *held;
                self.ask(&call, &decision, request, context).await
            }
            Err(Pending::Refused(decision)) => Ok(refused(&decision, None).into()),
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut result = self.inner.list_tools(request, context.clone()).await?;
        // The live definitions, for checking calls against their pins.
        self.remember(&result.tools);
        let Some(principal) = (self.identify)(&context) else {
            result.tools.clear();
            return Ok(result);
        };
        result.tools.retain(|tool| {
            self.gate
                .authorize_list(&principal, &self.server, &tool.name)
                .is_allowed()
        });
        for tool in &mut result.tools {
            publish_fingerprint(tool);
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name).map(|mut tool| {
            publish_fingerprint(&mut tool);
            tool
        })
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.clone();
        let call = self.server_call(&context, ServerAction::ReadResource, uri, Value::Null)?;
        let run = || async {
            self.inner
                .read_resource(request, context)
                .await
                .map(Resource)
        };
        self.guarded_server_call(&call, run).await.map(|r| r.0)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let arguments = request.arguments.clone().map_or(Value::Null, Value::Object);
        let name = request.name.clone();
        let call = self.server_call(&context, ServerAction::GetPrompt, name, arguments)?;
        let run = || async { self.inner.get_prompt(request, context).await.map(Prompt) };
        self.guarded_server_call(&call, run).await.map(|r| r.0)
    }

    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.ping(context)
    }

    fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<InitializeResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.initialize(request, context)
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.discover(context)
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.complete(request, context)
    }

    #[expect(deprecated, reason = "forwarded for peers on older protocol versions")]
    fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.set_level(request, context)
    }

    fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListPromptsResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_prompts(request, context)
    }

    fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_resources(request, context)
    }

    fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, McpError>> + MaybeSendFuture + '_
    {
        self.inner.list_resource_templates(request, context)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.listen(context)
    }

    #[expect(deprecated, reason = "forwarded for peers on older protocol versions")]
    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.subscribe(request, context)
    }

    #[expect(deprecated, reason = "forwarded for peers on older protocol versions")]
    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.unsubscribe(request, context)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.on_custom_request(request, context)
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_custom_notification(notification, context)
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        // A task's result reaches the client here, not through `tools/call`: it
        // is redacted the same way.
        let mut result = self.inner.get_task(request, context).await?;
        if self.gate.redacts_results()
            && redact_serialized(&mut result, self.gate.redactor()).is_none()
        {
            return Err(McpError::internal_error(
                "mcpguard: the task's result was withheld because it could not be checked for secrets",
                None,
            ));
        }
        Ok(result)
    }

    fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.update_task(request, context)
    }

    fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.cancel_task(request, context)
    }

    fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_skills(request, context)
    }

    fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_skill(request, context)
    }

    fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, McpError>> + MaybeSendFuture + '_
    {
        self.inner.read_resource_directory(request, context)
    }
}

impl<H: ServerHandler> Guarded<H> {
    /// The `resources/read` or `prompts/get` a request asks for, as the gate sees
    /// it; an unverified caller is refused (and audited) here.
    fn server_call(
        &self,
        context: &RequestContext<RoleServer>,
        action: ServerAction,
        subject: String,
        arguments: Value,
    ) -> Result<ToolCall, McpError> {
        let Some(principal) = (self.identify)(context) else {
            let call = ToolCall::server_action(
                Principal::new("unverified"),
                &self.server,
                action,
                subject,
            );
            let d = self
                .gate
                .refuse(&call, "the caller's identity could not be verified");
            return Err(McpError::invalid_request(
                format!(
                    "mcpguard: denied: {}",
                    d.reasons().collect::<Vec<_>>().join("; ")
                ),
                None,
            ));
        };
        let mut call = ToolCall::server_action(principal, &self.server, action, subject)
            .session(self.session_of(context));
        if arguments.is_object() {
            call = call.arguments(arguments);
        }
        Ok(call)
    }

    /// Runs `resources/read` or `prompts/get` under the gate, as a tool call is:
    /// decided, audited, its result sanitized and redacted, the session marked. A
    /// refusal is a protocol error (these results have no error flag).
    async fn guarded_server_call<T, F, Fut>(&self, call: &ToolCall, run: F) -> Result<T, McpError>
    where
        T: ToolResult,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, McpError>>,
    {
        match self.gate.guard_async(call, run).await {
            Ok(value) => Ok(value),
            Err(GuardError::Handler(error)) => Err(self.redacted_error(error)),
            Err(GuardError::Denied(d) | GuardError::NeedsApproval(d)) => {
                Err(McpError::invalid_request(
                    format!(
                        "mcpguard: denied: {}",
                        d.reasons().collect::<Vec<_>>().join("; ")
                    ),
                    None,
                ))
            }
            Err(other) => Err(McpError::internal_error(format!("mcpguard: {other}"), None)),
        }
    }

    /// A protocol error of the inner handler, with any secret in it redacted.
    fn redacted_error(&self, mut error: McpError) -> McpError {
        let message = self.gate.redactor().redact(&error.message).into_owned();
        error.message = Cow::Owned(message);
        if let Some(data) = error.data.as_mut() {
            self.gate.redactor().redact_json(data);
        }
        error
    }
}

/// Publishes a tool definition's fingerprint in its `_meta`.
fn publish_fingerprint(tool: &mut Tool) {
    // `_meta` is not part of a fingerprint; an inner handler's own value for this
    // key is replaced.
    if let Some(fingerprint) = fingerprint_of(tool) {
        tool.meta.get_or_insert_with(MetaObject::default).0.insert(
            FINGERPRINT_META_KEY.to_owned(),
            Value::String(fingerprint.to_string()),
        );
    }
}

/// The fingerprint of a tool definition as `tools/list` shows it.
fn fingerprint_of(tool: &Tool) -> Option<Fingerprint> {
    Fingerprint::of_tool(&serde_json::to_value(tool).ok()?).ok()
}
