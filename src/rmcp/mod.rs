//! A [`Gate`] in front of an rmcp server (the official Rust MCP SDK).
//!
//! [`Guarded`] wraps any rmcp `ServerHandler` (a `#[tool_router]` server, a
//! hand-written one) and is itself a `ServerHandler`: serve it where you served the
//! inner one. The seam is the handler, not the tool router, because `tools/list`
//! must be filtered per caller, and only the handler sees the request context.
//!
//! - `tools/call` becomes a [`ToolCall`] (verified principal, session, server,
//!   tool, arguments, the tool definition's fingerprint) and is admitted by
//!   [`Gate::admit`]: decided and audited once; the inner handler runs only with
//!   the [`mcpguard_policy::Permit`], whose `finish` records the outcome, marks
//!   the session and sanitizes, redacts and labels the result in one pass.
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
//! **Session.** The state that taints a session lives in the gate's session store
//! (shared by replicas when it is Redis), under the verified principal and a
//! session handle — never in the handler, so a [`Guarded`] built per request or
//! per session (as rmcp's streamable HTTP service builds them) sees the same taint:
//! - over stdio, one handle per [`Guarded`] value: one process, one connection,
//!   one conversation;
//! - over HTTP with an `mcp-session-id` (peers before 2026-07-28), that session,
//!   bound to the principal that opened it (`mcpguard::http` refuses it to
//!   anyone else);
//! - over HTTP without one (2026-07-28 is stateless: no conversation id exists),
//!   the principal's own session ([`STATELESS_SESSION`]): taint a request
//!   records holds for every later request of that principal until the session
//!   store forgets it: the window is the store's session TTL after the
//!   principal's last call (Redis: `RedisConfig::session_ttl`, 24 hours by
//!   default; memory: `MemorySessionStore::session_ttl`, by default never — until
//!   the process ends). Conservative on purpose: a caller that read untrusted
//!   content keeps losing the dangerous tools for the whole window, in every
//!   conversation.
//!
//! **Approval key.** The key that seals approval states (`requestState`) is the
//! deployment's: [`APPROVAL_KEY_VAR`] in the environment when set (at least 32
//! bytes), else a random key made once per process — shared by every handler of
//! the process, but not by replicas, which must set the variable (or
//! [`Guarded::approval_key`]).
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
//!     .principal(Principal::new("ana@example.com"));
//! server.serve(rmcp::transport::stdio()).await?.waiting().await?;
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use mcpguard_core::Fingerprint;
use mcpguard_policy::{
    Admission, Gate, GuardError, Output, Permit, Principal, ServerAction, ToolCall, ToolResult,
};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelledNotificationParam,
    CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
    DiscoverResult, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams,
    GetSkillResult, GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
    ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
    ReadResourceResponse, RequestStateCodec, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, Tool, UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{
    MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

mod approval;
mod forward;
mod input;
pub(crate) mod output;

/// The rmcp crate this adapter is built against (3.11, features `server`,
/// `request-state`, `elicitation`): name its types through this path, or depend on
/// the same rmcp version, so that a handler is the `ServerHandler` [`Guarded`]
/// expects.
pub use ::rmcp as sdk;

/// A server handler [`Guarded`] can wrap: an rmcp `ServerHandler` of the rmcp
/// version mcpguard was built with ([`sdk`]). Implemented for every such handler;
/// a handler of another rmcp version (or none) does not compile, with a message
/// saying why:
///
/// ```compile_fail
/// use std::sync::Arc;
/// #[derive(Clone)]
/// struct NotAHandler; // as a handler of another rmcp version looks to this one
/// fn wrap(gate: Arc<mcpguard::policy::Gate>) {
///     let _ = mcpguard::rmcp::Guarded::new(NotAHandler, gate, "workspace");
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `ServerHandler` of the rmcp version mcpguard is built with",
    label = "not a `mcpguard::rmcp::sdk::ServerHandler`",
    note = "mcpguard::rmcp is built against rmcp 3.11: depend on that version, or name the trait \
            as `mcpguard::rmcp::sdk::ServerHandler`; two rmcp versions in one build give two \
            different `ServerHandler` traits"
)]
pub trait Handler: ServerHandler {}

impl<H: ServerHandler> Handler for H {}

use approval::Asked;
use output::{
    Prompt, Resource, Response, error_result, fingerprint_of, labelled, process_serialized,
    publish_fingerprint, redacted_error, refused, refused_error,
};

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

/// The environment variable holding the deployment's approval key: at least 32
/// bytes of secret randomness (for example `openssl rand -base64 48`), the same on
/// every replica.
pub const APPROVAL_KEY_VAR: &str = "MCPGUARD_APPROVAL_KEY";

/// The session handle of HTTP requests without an `mcp-session-id` (stateless
/// MCP): with the principal, it names the principal's own session.
pub const STATELESS_SESSION: &str = "http:stateless";

/// How the principal of a request is found.
type Identify = dyn Fn(&RequestContext<RoleServer>) -> Option<Principal> + Send + Sync;

/// Why a tool is withheld, if it is (see [`Guarded::withhold`]).
type Withhold = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The fingerprint of a tool's live definition, as the handler knows it (see
/// [`Guarded::live_fingerprints`]).
type LiveFingerprint = dyn Fn(&str) -> Option<Fingerprint> + Send + Sync;

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
    /// The approval key variable is set but not usable.
    #[error(
        "{var} is set but is not Unicode text; set it to at least 32 random bytes, such as the output of `openssl rand -base64 48`"
    )]
    ApprovalKeyNotText {
        /// The variable.
        var: &'static str,
    },
}

/// An rmcp server handler with a [`Gate`] in front of it (see the module docs).
pub struct Guarded<H> {
    inner: H,
    gate: Arc<Gate>,
    server: String,
    session: String,
    identify: Arc<Identify>,
    withhold: Option<Arc<Withhold>>,
    fingerprints: Option<Arc<LiveFingerprint>>,
    codec: RequestStateCodec,
    approval_ttl: Duration,
    review_ttl: Duration,
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
            .field("review_ttl", &self.review_ttl)
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
            withhold: self.withhold.clone(),
            fingerprints: self.fingerprints.clone(),
            codec: self.codec.clone(),
            approval_ttl: self.approval_ttl,
            review_ttl: self.review_ttl,
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

/// The approval-state codec of this deployment: the key in [`APPROVAL_KEY_VAR`],
/// or one random key for the whole process.
fn deployment_codec() -> Result<RequestStateCodec, GuardedError> {
    static PROCESS_KEY: LazyLock<Result<[u8; 48], GuardedError>> = LazyLock::new(random_bytes);
    match std::env::var(APPROVAL_KEY_VAR) {
        Ok(key) => approval::codec(key.as_bytes()).ok_or(GuardedError::ApprovalKeyTooShort {
            minimum: RequestStateCodec::MIN_KEY_LENGTH,
            actual: key.len(),
        }),
        Err(std::env::VarError::NotUnicode(_)) => Err(GuardedError::ApprovalKeyNotText {
            var: APPROVAL_KEY_VAR,
        }),
        Err(std::env::VarError::NotPresent) => match &*PROCESS_KEY {
            Ok(key) => Ok(RequestStateCodec::new_unchecked(key.to_vec())),
            Err(GuardedError::Random(e)) => Err(GuardedError::Random(e.clone())),
            Err(_) => Err(GuardedError::Random("no random key".to_owned())),
        },
    }
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

impl<H: Handler> Guarded<H> {
    /// Puts `gate` in front of `inner`, which the inventory knows as `server`.
    ///
    /// Approval states are sealed with the deployment's key: [`APPROVAL_KEY_VAR`]
    /// when it is set, else a random key of this process (see the module docs).
    /// Cheap enough to call per request.
    ///
    /// # Errors
    ///
    /// [`GuardedError::ApprovalKeyTooShort`] or
    /// [`GuardedError::ApprovalKeyNotText`]: the variable is set but unusable
    /// (never silently replaced by a random key); [`GuardedError::Random`]: the
    /// operating system's random source failed.
    pub fn new(inner: H, gate: Arc<Gate>, server: impl Into<String>) -> Result<Self, GuardedError> {
        let codec = deployment_codec()?;
        let session = random_bytes::<16>()?;
        Ok(Self::assemble(
            inner,
            gate,
            server.into(),
            hex(&session),
            codec,
        ))
    }

    fn assemble(
        inner: H,
        gate: Arc<Gate>,
        server: String,
        session: String,
        codec: RequestStateCodec,
    ) -> Self {
        // Once per process: over HTTP a `Guarded` is built per request.
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !gate.audits() && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            // Said where a stdio server's operator reads it: with no `tracing`
            // subscriber, the default sink keeps nothing.
            #[expect(
                clippy::print_stderr,
                reason = "the one warning that cannot go through tracing: nothing would record it"
            )]
            {
                eprintln!(
                    "mcpguard: the gate's audit sink records nothing (the default tracing sink \
                     with no subscriber installed): calls to `{server}` go unaudited; install a \
                     tracing subscriber or give the gate a JsonLinesSink"
                );
            }
        }
        Self {
            inner,
            gate,
            server,
            session,
            identify: Arc::new(principal_from_extensions),
            withhold: None,
            fingerprints: None,
            codec,
            approval_ttl: Duration::from_secs(600),
            review_ttl: Duration::from_secs(3600),
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

    /// Withholds tools: a tool for which `withhold` gives a reason is left out
    /// of `tools/list` and refused at call time, before the gate admits it,
    /// with that reason (audited). `mcpguard::proxy` withholds an upstream's
    /// tools that are not in the inventory, whose live definition differs from
    /// its pin, or (in team and production) whose definition the lint finds
    /// poisoned.
    #[must_use]
    pub fn withhold<F>(mut self, withhold: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.withhold = Some(Arc::new(withhold));
        self
    }

    /// Where the handler already knows the fingerprint of each definition it
    /// offers — computed once, when the definitions arrived, as
    /// [`crate::proxy`] does when it pins an upstream's list — the gate checks
    /// a call's pin against that, instead of fingerprinting the definition on
    /// every call. `fingerprints` must answer for the definition the handler
    /// would run now (`None`: it offers none, and a pinned call is refused).
    #[must_use]
    pub fn live_fingerprints<F>(mut self, fingerprints: F) -> Self
    where
        F: Fn(&str) -> Option<Fingerprint> + Send + Sync + 'static,
    {
        self.fingerprints = Some(Arc::new(fingerprints));
        self
    }

    /// Why `tool` is withheld, if it is.
    fn withheld(&self, tool: &str) -> Option<String> {
        self.withhold.as_ref().and_then(|w| w(tool))
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
        self.codec = approval::codec(key).ok_or(GuardedError::ApprovalKeyTooShort {
            minimum: RequestStateCodec::MIN_KEY_LENGTH,
            actual: key.len(),
        })?;
        Ok(self)
    }

    /// How long a person has to answer an approval question (default 10 minutes).
    #[must_use]
    pub fn approval_ttl(mut self, ttl: Duration) -> Self {
        self.approval_ttl = ttl;
        self
    }

    /// How long a four-eyes approval request waits for a reviewer, and an
    /// approval for its retry (default an hour).
    #[must_use]
    pub fn review_ttl(mut self, ttl: Duration) -> Self {
        self.review_ttl = ttl;
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

    /// The session handle of a request (see the module docs): the HTTP
    /// session, the principal's own over stateless HTTP, this value's over stdio.
    fn session_of(&self, context: &RequestContext<RoleServer>) -> String {
        let Some(parts) = context.extensions.get::<http::request::Parts>() else {
            return self.session.clone();
        };
        parts
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| STATELESS_SESSION.to_owned(), |id| format!("mcp:{id}"))
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
        if let Some(known) = &self.fingerprints {
            return known(name);
        }
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
}

impl<H: ServerHandler> ServerHandler for Guarded<H> {
    /// `tools/call`, top to bottom: identify the caller, check the pin against
    /// the live definition, admit (a retry with our approval state is admitted
    /// with its grant), ask a person if the gate says so, run the inner handler
    /// with the permit, finish.
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
        if let Some(reason) = self.withheld(&request.name) {
            let call = self.tool_call(principal, &request, &context, None);
            let d = self.gate.refuse(&call, reason);
            return Ok(refused(&d, None).into());
        }
        let evaluator = self.gate.evaluator();
        let profile = evaluator.tool_profile(&self.server, &request.name);
        // Only a pinned tool's definition is checked: an unknown tool is denied and
        // an unpinned one has nothing to match, so neither asks the handler to list.
        let pinned = profile.is_some_and(|p| p.fingerprint.is_some());
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
        let admission = match self.approved_retry(&call, &request) {
            Some(Ok(grant)) => {
                // The approval round trip is this gate's own: the inner handler
                // sees the call as first asked.
                request.request_state = None;
                request.input_responses = None;
                self.gate.admit_approved(&call, &grant)
            }
            Some(Err(reason)) => {
                let d = self.gate.refuse(&call, reason);
                return Ok(refused(&d, None).into());
            }
            None => self.gate.admit(&call),
        };
        let admission = match admission {
            Admission::Ask(pending) if pending.request().needs_reviewer() => {
                match self.four_eyes(&call, &pending, self.review_ttl) {
                    Asked::Approved(grant) => self.gate.admit_approved(&call, &grant),
                    Asked::Reply(reply) => return Ok(reply),
                }
            }
            Admission::Ask(pending) => match self.ask(&call, &pending, &context).await {
                Asked::Approved(grant) => self.gate.admit_approved(&call, &grant),
                Asked::Reply(reply) => return Ok(reply),
            },
            other => other,
        };
        let permit = match admission {
            Admission::Run(permit) => permit,
            // An approved call that still needs approval is not asked twice.
            Admission::Ask(pending) => return Ok(refused(pending.decision(), None).into()),
            Admission::Refuse(decision) => return Ok(refused(&decision, None).into()),
        };
        let untrusted = permit.untrusted_output();
        let confidentiality = profile.and_then(|p| p.data_classes.iter().max().copied());
        self.redact_responses(request.input_responses.as_mut());
        let outcome = match self.inner.call_tool(request, context).await {
            Ok(CallToolResponse::InputRequired(mut asked)) => {
                Ok(match self.screen_input(&call, &mut asked) {
                    Ok(()) => CallToolResponse::InputRequired(asked),
                    Err(decision) => refused(&decision, None).into(),
                })
            }
            other => other,
        }
        .map(Response);
        match permit.finish(outcome) {
            Ok(Response(response)) => Ok(labelled(response, untrusted, confidentiality)),
            Err(GuardError::Handler(error)) => Err(redacted_error(self.gate.redactor(), error)),
            Err(other) => Ok(error_result(format!("mcpguard: {other}"), None).into()),
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut result = self
            .inner
            .list_tools(request, context.clone())
            .await
            .map_err(|e| redacted_error(self.gate.redactor(), e))?;
        // The live definitions, for checking calls against their pins.
        self.remember(&result.tools);
        let Some(principal) = (self.identify)(&context) else {
            result.tools.clear();
            return Ok(result);
        };
        let evaluator = self.gate.evaluator();
        result.tools.retain(|tool| {
            self.withheld(&tool.name).is_none()
                && evaluator
                    .evaluate_list(&principal, &self.server, &tool.name)
                    .is_allowed()
        });
        let mut result = self.cleaned(result)?;
        for tool in &mut result.tools {
            publish_fingerprint(tool);
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        if self.withheld(name).is_some() {
            return None;
        }
        self.inner
            .get_tool(name)
            .and_then(|tool| self.published(tool))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.clone();
        let call = self.server_call(&context, ServerAction::ReadResource, uri, Value::Null)?;
        let permit = self.server_permit(&call)?;
        let mut request = request;
        self.redact_responses(request.input_responses.as_mut());
        let outcome = match self.inner.read_resource(request, context).await {
            Ok(ReadResourceResponse::InputRequired(mut asked)) => self
                .screen_input(&call, &mut asked)
                .map(|()| ReadResourceResponse::InputRequired(asked))
                .map_err(|decision| refused_error(&decision)),
            other => other,
        }
        .map(Resource);
        self.finish_server(permit, outcome).map(|r| r.0)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let arguments = request.arguments.clone().map_or(Value::Null, Value::Object);
        let name = request.name.clone();
        let call = self.server_call(&context, ServerAction::GetPrompt, name, arguments)?;
        let permit = self.server_permit(&call)?;
        let mut request = request;
        self.redact_responses(request.input_responses.as_mut());
        let outcome = match self.inner.get_prompt(request, context).await {
            Ok(GetPromptResponse::InputRequired(mut asked)) => self
                .screen_input(&call, &mut asked)
                .map(|()| GetPromptResponse::InputRequired(asked))
                .map_err(|decision| refused_error(&decision)),
            other => other,
        }
        .map(Prompt);
        self.finish_server(permit, outcome).map(|r| r.0)
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        // A task's result reaches the client here, not through `tools/call`: it
        // is redacted the same way.
        let mut result = self
            .inner
            .get_task(request, context.clone())
            .await
            .map_err(|e| redacted_error(self.gate.redactor(), e))?;
        // A task waiting for input asks the client as an `InputRequiredResult`
        // does: each request decided by the same policies, and cleaned.
        if let rmcp::model::TaskPayload::InputRequired { input_requests } = &mut result.task.payload
        {
            let verified = (self.identify)(&context);
            let call = ToolCall::new(
                verified
                    .clone()
                    .unwrap_or_else(|| Principal::new("unverified")),
                &self.server,
                "tasks/get",
            )
            .session(self.session_of(&context));
            if verified.is_none() {
                let d = self
                    .gate
                    .refuse(&call, "the caller's identity could not be verified");
                return Err(refused_error(&d));
            }
            self.screen_requests(&call, Some(input_requests))
                .map_err(|decision| refused_error(&decision))?;
        }
        let mut output = Output::new(Some(self.gate.redactor()), false);
        if self.gate.redacts_results() && !process_serialized(&mut result, &mut output) {
            return Err(McpError::internal_error(
                "mcpguard: the task's result was withheld because it could not be checked for secrets",
                None,
            ));
        }
        Ok(result)
    }

    async fn update_task(
        &self,
        mut request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // The client's answers to a task's input requests, as a retry's.
        self.redact_responses(Some(&mut request.input_responses));
        self.inner
            .update_task(request, context)
            .await
            .map_err(|e| redacted_error(self.gate.redactor(), e))
    }

    forward::forwarded!();
}

impl<H: ServerHandler> Guarded<H> {
    /// What the client reads of an answer that is not a call's result (lists,
    /// completions, skills, custom requests, the handshake): sanitized and, when
    /// the gate redacts results, redacted, in one pass. Every such answer of the
    /// inner handler comes through here ([`forward`]), so none reaches the
    /// client raw. One that cannot be checked is withheld.
    fn cleaned<T: Serialize + DeserializeOwned>(&self, mut answer: T) -> Result<T, McpError> {
        if output::clean(&mut answer, self.redacting()) {
            Ok(answer)
        } else {
            Err(McpError::internal_error(
                "mcpguard: the answer was withheld because it could not be checked for secrets",
                None,
            ))
        }
    }

    /// A tool definition as the client sees it: cleaned like every other
    /// answer, with the fingerprint of what it shows in `_meta`.
    fn published(&self, tool: Tool) -> Option<Tool> {
        let mut tool = self.cleaned(tool).ok()?;
        publish_fingerprint(&mut tool);
        Some(tool)
    }

    /// Redacts the client's answers to input requests before the inner handler
    /// sees them, when the gate redacts.
    fn redact_responses(&self, responses: Option<&mut rmcp::model::InputResponses>) {
        if self.gate.redacts_results() {
            input::redact_responses(self.gate.redactor(), responses);
        }
    }

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
            return Err(refused_error(&d));
        };
        let mut call = ToolCall::server_action(principal, &self.server, action, subject)
            .session(self.session_of(context));
        if arguments.is_object() {
            call = call.arguments(arguments);
        }
        Ok(call)
    }

    /// Admits `resources/read` or `prompts/get` as a tool call is; a refusal is a
    /// protocol error (these results have no error flag).
    fn server_permit(&self, call: &ToolCall) -> Result<Permit<'_>, McpError> {
        match self.gate.admit(call) {
            Admission::Run(permit) => Ok(permit),
            Admission::Ask(pending) => Err(refused_error(pending.decision())),
            Admission::Refuse(decision) => Err(refused_error(&decision)),
        }
    }

    /// Finishes a `resources/read` or `prompts/get`: its result sanitized and
    /// redacted, the session marked.
    fn finish_server<T: ToolResult>(
        &self,
        permit: Permit<'_>,
        outcome: Result<T, McpError>,
    ) -> Result<T, McpError> {
        match permit.finish(outcome) {
            Ok(value) => Ok(value),
            Err(GuardError::Handler(error)) => Err(redacted_error(self.gate.redactor(), error)),
            Err(other) => Err(McpError::internal_error(format!("mcpguard: {other}"), None)),
        }
    }
}
