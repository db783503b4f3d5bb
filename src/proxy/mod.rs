//! `mcpguard proxy` as a library: the whole gate in front of an MCP server in any
//! language (feature `proxy`).
//!
//! The proxy is an rmcp client to the upstream server and an rmcp server to the
//! agent, with one [`Guarded`] in between — the same adapter an embedded Rust
//! server uses, so every control is the same:
//!
//! ```text
//! agent ──stdio or HTTP──▶ Guarded<Proxied> ──▶ Proxied ──stdio──▶ upstream child
//!                           (gate: decide,       (forward,        (any language)
//!                            ask, redact,         pins, relay)
//!                            label, audit)
//! ```
//!
//! - **[`Upstream::start`]** starts the inventory's `launch` command (or the
//!   command given), with an environment that starts empty: `PATH`, `HOME`, the
//!   variables `launch.env` names, and the server's credentials the tier allows,
//!   resolved and registered with the redactor first — so an upstream that
//!   echoes its token sends back `[REDACTED…]`. Credentials never go on the
//!   command line and never to the agent. Its stderr is copied to the proxy's,
//!   each line redacted.
//! - **Live pinning.** Every definition the upstream offers is fingerprinted on
//!   connect and whenever it sends `notifications/tools/list_changed`, and
//!   compared with the inventory: a tool that is not in it, or whose definition
//!   is not the pinned one, is withheld — left out of `tools/list` and refused at
//!   call time, audited once per definition (`tools/list`, denied), with the
//!   `mcpguard pin` command that would accept it in the reason. Definitions are
//!   linted when seen; in team and production a poisoned one is withheld too (in
//!   personal, the finding is logged).
//! - **Calls.** `tools/call`, `resources/read` and `prompts/get` are decided,
//!   asked, redacted, sanitized, labelled and audited by [`Guarded`]. Each
//!   request to the upstream has a time limit ([`UpstreamConfig::call_timeout`],
//!   60 s by default); an upstream that exits, hangs, or answers with something
//!   that is not JSON-RPC gives a clean error result (audited as an error), and
//!   an agent's cancellation is passed on. Messages from the upstream are read
//!   one line at a time, at most [`UpstreamConfig::max_message_bytes`] (8 MiB by
//!   default): a longer one is dropped unread, and the call it answered times
//!   out. Calls run concurrently: a slow one does not hold up the others.
//! - **What the upstream asks of the client** — `sampling/createMessage`,
//!   `elicitation/create`, `roots/list` — is relayed only when the gate's
//!   policies permit it (Cedar actions `sample`, `elicit`, `list_roots` on the
//!   server). The baseline permits elicitation and roots, and sampling only in
//!   the personal tier: a server that prompts the client's model is a
//!   prompt-injection channel. Relays are audited, and the agent's answer is
//!   redacted before the upstream sees it. Over HTTP, where many clients share
//!   one upstream, no request is relayed (which client it asks cannot be told).
//!   Progress goes to the call it belongs to; logging is redacted.
//! - The upstream's `instructions` reach the agent sanitized and redacted.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mcpguard::policy::{Gate, PolicySource, Principal};
//! use mcpguard::proxy::{Upstream, UpstreamConfig};
//! use mcpguard::{Inventory, Tier};
//! use rmcp::ServiceExt as _;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let inventory = Inventory::load("inventory.toml")?;
//! let redactor = mcpguard::redact::Redactor::new()?;
//! let config = UpstreamConfig::from_inventory(&inventory, "filesystem")?;
//! let upstream = Upstream::start(config, &inventory, Tier::Team, &redactor).await?;
//! let gate = Gate::builder()
//!     .inventory(inventory)
//!     .tier(Tier::Team)
//!     .policies(PolicySource::baseline())
//!     .tool_definitions("filesystem", upstream.definitions())
//!     .redactor(redactor)
//!     .build()?;
//! let principal = Principal::new("ana@example.com");
//! let server = upstream.guard(Arc::new(gate), Some(principal.clone()))?.principal(principal);
//! server.serve(rmcp::transport::stdio()).await?.waiting().await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{CredentialResolver, EnvResolver, Gate, Principal};
use mcpguard_redact::Redactor;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult,
    CancelledNotificationParam, ClientRequest, CompleteRequestParams, CompleteResult, ContentBlock,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressToken, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ServerCapabilities, ServerConfig, ServerResult, SubscribeRequestParams,
    Tool, UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, Peer, RequestContext, RoleClient, RoleServer, RunningService, ServiceError,
};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::{ErrorData as McpError, ServerHandler, ServiceExt as _};
use serde_json::Value;

use crate::rmcp::{Guarded, GuardedError};

mod child;
mod pins;
mod relay;

use child::StderrTail;
use pins::{Pins, Snapshot};
use relay::Relay;

/// Why the proxy could not start its upstream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The server is not in the inventory.
    #[error("server `{0}` is not in the inventory")]
    UnknownServer(String),
    /// No command to run: none given, and the inventory has no `launch`.
    #[error(
        "no command to start the upstream: give one after `--`, or a `launch = {{ command = [...] }}` for the server in the inventory"
    )]
    NoCommand,
    /// The server is reached over HTTP, which this build does not dial.
    #[error(
        "server `{0}` is a streamable HTTP server (`url`): the proxy starts stdio upstreams only; give the command of a local stdio build after `--`"
    )]
    RemoteUpstream(String),
    /// A credential could not be resolved for the child.
    #[error("{0}")]
    Credential(String),
    /// The command could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The upstream did not complete the MCP handshake.
    #[error("the upstream did not start an MCP session: {reason}{}", stderr_note(.stderr))]
    Handshake {
        /// What went wrong.
        reason: String,
        /// The last lines it wrote to stderr, redacted.
        stderr: String,
    },
    /// The upstream did not list its tools.
    #[error("the upstream did not list its tools: {0}")]
    ListTools(String),
    /// The adapter could not be configured (the approval key).
    #[error(transparent)]
    Guarded(#[from] GuardedError),
}

fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its last words on stderr:\n{stderr}")
    }
}

/// How to start and talk to an upstream (see the module docs).
#[derive(Clone)]
pub struct UpstreamConfig {
    server: String,
    command: Vec<String>,
    pass_env: Vec<String>,
    credential_env: BTreeMap<String, String>,
    inventory_name: String,
    call_timeout: Duration,
    connect_timeout: Duration,
    max_message_bytes: usize,
    resolver: Arc<dyn CredentialResolver>,
}

impl fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("server", &self.server)
            .field("command", &self.command)
            .field("pass_env", &self.pass_env)
            .field("credential_env", &self.credential_env)
            .field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish_non_exhaustive()
    }
}

impl UpstreamConfig {
    /// The inventory's server `server`, started with its `launch` command and
    /// variables.
    ///
    /// # Errors
    ///
    /// [`ProxyError::UnknownServer`]; [`ProxyError::RemoteUpstream`] for a
    /// server with a `url` (only stdio upstreams are started).
    pub fn from_inventory(inventory: &Inventory, server: &str) -> Result<Self, ProxyError> {
        let record = inventory
            .server(server)
            .ok_or_else(|| ProxyError::UnknownServer(server.to_owned()))?;
        let mut config = Self {
            server: server.to_owned(),
            command: Vec::new(),
            pass_env: Vec::new(),
            credential_env: BTreeMap::new(),
            inventory_name: "INVENTORY".to_owned(),
            call_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            max_message_bytes: 8 * 1024 * 1024,
            resolver: Arc::new(EnvResolver::new()),
        };
        if let Some(launch) = &record.launch {
            config.command.clone_from(&launch.command);
            config.pass_env.clone_from(&launch.env);
            config.credential_env.clone_from(&launch.credential_env);
        } else if record.url.is_some() {
            return Err(ProxyError::RemoteUpstream(server.to_owned()));
        }
        Ok(config)
    }

    /// Runs `command` (the program and its arguments, no shell) instead of the
    /// inventory's `launch` command; `launch.env` and `launch.credential_env`
    /// still apply.
    #[must_use]
    pub fn command(mut self, command: Vec<String>) -> Self {
        self.command = command;
        self
    }

    /// Passes another variable of the proxy's environment to the child.
    #[must_use]
    pub fn pass_env(mut self, name: impl Into<String>) -> Self {
        self.pass_env.push(name.into());
        self
    }

    /// The inventory file as messages should name it, in the `mcpguard pin`
    /// command that accepts a withheld tool (default `INVENTORY`).
    #[must_use]
    pub fn inventory_name(mut self, name: impl Into<String>) -> Self {
        self.inventory_name = name.into();
        self
    }

    /// How long a request to the upstream may take (default 60 s); longer is
    /// an error result, and the request is cancelled upstream.
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long the upstream may take to start its MCP session and list its
    /// tools (default 30 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest message read from the upstream (default 8 MiB): a longer
    /// line is dropped without being held in memory.
    #[must_use]
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// How the server's credentials are resolved (default: the environment).
    #[must_use]
    pub fn resolver(mut self, resolver: Arc<dyn CredentialResolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// The command that starts the upstream.
    pub fn command_line(&self) -> &[String] {
        &self.command
    }
}

/// The state the proxy's two roles share.
struct State {
    server: String,
    tier: Tier,
    redactor: Redactor,
    call_timeout: Duration,
    record: mcpguard_core::ServerRecord,
    others: Vec<String>,
    inventory_name: String,
    snapshot: RwLock<Snapshot>,
    /// Set by [`Upstream::guard`]; relays before it are refused.
    gate: OnceLock<Arc<Gate>>,
    /// The one agent (stdio), for relays and notifications; unset over HTTP.
    agent: RwLock<Option<Peer<RoleServer>>>,
    /// Who the upstream's requests of the client are decided for, set by
    /// [`Upstream::guard`].
    identity: OnceLock<RelayIdentity>,
    /// The proxy's progress token of an upstream request, to the agent and its
    /// own token.
    progress: Mutex<HashMap<ProgressToken, (Peer<RoleServer>, ProgressToken)>>,
    /// Withheld definitions already audited: (tool, reason).
    audited: Mutex<HashSet<(String, String)>>,
    /// A re-listing after `tools/list_changed` is scheduled and not started
    /// yet: later notifications join it.
    relisting: std::sync::atomic::AtomicBool,
}

impl State {
    fn agent(&self) -> Option<Peer<RoleServer>> {
        self.agent
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn log(&self, line: &str) {
        use std::io::Write as _;
        let line = self.redactor.redact(line);
        let _ = writeln!(
            std::io::stderr().lock(),
            "mcpguard proxy: {}: {line}",
            self.server
        );
    }

    fn progress_route(&self, token: &ProgressToken) -> Option<(Peer<RoleServer>, ProgressToken)> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    /// Sanitizes and redacts something of the upstream's on its way to the
    /// agent (a relayed request, a notification), in one pass; `false` when it
    /// cannot be checked, and must not be sent.
    fn clean<T: serde::Serialize + serde::de::DeserializeOwned>(&self, value: &mut T) -> bool {
        crate::rmcp::output::clean(value, Some(&self.redactor))
    }

    /// The fingerprint of `tool`'s definition as last listed, computed when
    /// the list arrived.
    fn fingerprint(&self, tool: &str) -> Option<mcpguard_core::Fingerprint> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fingerprints
            .get(tool)
            .copied()
    }

    fn withheld(&self, tool: &str) -> Option<String> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .withheld
            .get(tool)
            .cloned()
    }

    /// Every withheld tool with its reason, by name.
    fn withheld_list(&self) -> Vec<(String, String)> {
        let mut withheld: Vec<(String, String)> = self
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .withheld
            .iter()
            .map(|(name, reason)| (name.clone(), reason.clone()))
            .collect();
        withheld.sort();
        withheld
    }

    /// Checks `tools` against the pins, keeps the result, logs the lint's
    /// warnings, and audits each newly withheld definition.
    fn install(&self, tools: Vec<Tool>) {
        let pins = Pins {
            record: &self.record,
            tier: self.tier,
            inventory: &self.inventory_name,
            others: &self.others,
        };
        let snapshot = pins.check(tools);
        for warning in &snapshot.warnings {
            self.log(warning);
        }
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot;
        self.audit_withheld();
    }

    /// Audits, once each, the withheld definitions not audited yet (a
    /// definition withheld before the gate was set is audited when it is).
    fn audit_withheld(&self) {
        let Some(gate) = self.gate.get() else {
            return;
        };
        let withheld = self.withheld_list();
        let actor = self
            .identity
            .get()
            .and_then(|i| i.principal.as_ref())
            .map_or("proxy", Principal::id);
        let mut audited = self
            .audited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, reason) in withheld {
            if audited.insert((name.clone(), reason.clone())) {
                self.log(&format!("withheld `{name}`: {reason}"));
                let _withheld = gate.refuse_listing(&self.server, actor, &name, reason);
            }
        }
    }

    /// Lists the upstream's tools again and pins them (on `list_changed`).
    async fn refresh(&self, peer: &Peer<RoleClient>) {
        match tokio::time::timeout(self.call_timeout, peer.list_all_tools()).await {
            Ok(Ok(tools)) => self.install(tools),
            Ok(Err(e)) => self.withhold_all(&format!(
                "the upstream's tools could not be listed again: {e}"
            )),
            Err(_) => self.withhold_all("the upstream did not list its tools again in time"),
        }
    }

    /// After a list that failed, nothing is known of the live definitions:
    /// every tool is withheld until the next list succeeds.
    fn withhold_all(&self, why: &str) {
        let mut snapshot = self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let names: Vec<String> = snapshot.tools.iter().map(|t| t.name.to_string()).collect();
        for name in names {
            snapshot
                .withheld
                .insert(name, format!("{why}; its live definition is unknown"));
        }
        drop(snapshot);
        self.audit_withheld();
    }
}

/// A started upstream, before the gate is put in front of it.
pub struct Upstream {
    state: Arc<State>,
    peer: Peer<RoleClient>,
    info: InitializeResult,
    keep: Arc<Keep>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("server", &self.state.server)
            .finish_non_exhaustive()
    }
}

/// What lives as long as the proxy: the client session and the child, killed
/// when the last handle goes.
struct Keep {
    service: Mutex<Option<RunningService<RoleClient, Relay>>>,
    child: Mutex<tokio::process::Child>,
}

impl Keep {
    /// How the child ended, if it has.
    fn exit(&self) -> Option<String> {
        let mut child = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }
}

impl Upstream {
    /// Starts the upstream of `config` in `tier` (see the module docs):
    /// resolves its credentials into its environment (registering each with
    /// `redactor`, which the gate must then be built with), runs the MCP
    /// handshake, lists and pins its tools.
    ///
    /// # Errors
    ///
    /// [`ProxyError`]: an unknown server, no command, a credential that cannot
    /// be resolved, a program that cannot be started, a handshake or tool list
    /// that fails or takes longer than the connect timeout.
    pub async fn start(
        config: UpstreamConfig,
        inventory: &Inventory,
        tier: Tier,
        redactor: &Redactor,
    ) -> Result<Self, ProxyError> {
        let record = inventory
            .server(&config.server)
            .ok_or_else(|| ProxyError::UnknownServer(config.server.clone()))?
            .clone();
        let env = child::environment(
            inventory,
            &record,
            tier,
            &config.pass_env,
            &config.credential_env,
            config.resolver.as_ref(),
            redactor,
        )?;
        let spawned = child::spawn(&config.command, env)?;
        let tail = StderrTail::default();
        if let Some(stderr) = spawned.stderr {
            child::forward_stderr(
                stderr,
                config.server.clone(),
                redactor.clone(),
                tail.clone(),
            );
        }
        let others = inventory
            .tools()
            .filter(|(s, _)| s.id.as_str() != config.server)
            .map(|(_, t)| t.name.to_string())
            .collect();
        let state = Arc::new(State {
            server: config.server.clone(),
            tier,
            redactor: redactor.clone(),
            call_timeout: config.call_timeout,
            record,
            others,
            inventory_name: config.inventory_name.clone(),
            snapshot: RwLock::default(),
            gate: OnceLock::new(),
            agent: RwLock::new(None),
            identity: OnceLock::new(),
            progress: Mutex::default(),
            audited: Mutex::default(),
            relisting: std::sync::atomic::AtomicBool::new(false),
        });
        let transport = AsyncRwTransport::<RoleClient, _, _>::new(spawned.stdout, spawned.stdin)
            .with_max_line_length(config.max_message_bytes);
        let relay = Relay {
            state: Arc::clone(&state),
        };
        let handshake = |reason: String| ProxyError::Handshake {
            reason: redactor.redact(&reason).into_owned(),
            stderr: tail.joined(),
        };
        let service =
            match tokio::time::timeout(config.connect_timeout, relay.serve(transport)).await {
                Ok(Ok(service)) => service,
                Ok(Err(e)) => return Err(handshake(e.to_string())),
                Err(_) => {
                    return Err(handshake(format!(
                        "no answer to `initialize` within {} s",
                        config.connect_timeout.as_secs()
                    )));
                }
            };
        let peer = service.peer().clone();
        let info = peer
            .peer_info()
            .map_or_else(InitializeResult::default, |i| {
                let mut info = InitializeResult::default();
                info.protocol_version = i.protocol_version.clone();
                info.capabilities = i.capabilities.clone();
                if let Some(server_info) = &i.server_info {
                    info.server_info = server_info.clone();
                }
                info.instructions.clone_from(&i.instructions);
                info
            });
        let tools = match tokio::time::timeout(config.connect_timeout, peer.list_all_tools()).await
        {
            Ok(Ok(tools)) => tools,
            Ok(Err(e)) => {
                return Err(ProxyError::ListTools(
                    redactor.redact(&e.to_string()).into_owned(),
                ));
            }
            Err(_) => {
                return Err(ProxyError::ListTools(format!(
                    "no answer within {} s",
                    config.connect_timeout.as_secs()
                )));
            }
        };
        // Without a tools capability there is nothing to list: an empty list.
        state.install(tools);
        Ok(Self {
            state,
            peer,
            info,
            keep: Arc::new(Keep {
                service: Mutex::new(Some(service)),
                child: Mutex::new(spawned.child),
            }),
        })
    }

    /// The upstream's tool definitions as it listed them, as `tools/list`
    /// results are read by [`mcpguard_policy::GateBuilder::tool_definitions`]
    /// (their input schemas type `context.args`).
    pub fn definitions(&self) -> Value {
        let snapshot = self
            .state
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        serde_json::to_value(&snapshot.tools).unwrap_or(Value::Array(Vec::new()))
    }

    /// The tools withheld now, each with its reason.
    pub fn withheld(&self) -> Vec<(String, String)> {
        self.state.withheld_list()
    }

    /// Puts `gate` in front (see the module docs); `relay_principal` is the one
    /// principal of a stdio proxy, for whom the upstream's requests of the
    /// client are decided (`None` over HTTP: none is relayed). Set the
    /// principal of the calls on the returned [`Guarded`] as usual.
    ///
    /// # Errors
    ///
    /// [`GuardedError`]: the approval key is unusable.
    pub fn guard(
        self,
        gate: Arc<Gate>,
        relay_principal: Option<Principal>,
    ) -> Result<Guarded<Proxied>, ProxyError> {
        let session = format!("proxy:{}", random_handle()?);
        let single = relay_principal.is_some();
        let state = Arc::clone(&self.state);
        let mut guarded = Guarded::new(
            Proxied {
                state: Arc::clone(&state),
                peer: self.peer,
                info: Arc::new(self.info),
                keep: self.keep,
            },
            Arc::clone(&gate),
            state.server.clone(),
        )?;
        if single {
            // One agent: its calls and the upstream's requests share a session.
            guarded = guarded.session(session.clone());
        }
        let _ = state.identity.set(RelayIdentity {
            principal: relay_principal,
            session,
        });
        let _ = state.gate.set(gate);
        state.audit_withheld();
        let withheld = Arc::clone(&state);
        let live = Arc::clone(&state);
        Ok(guarded
            .withhold(move |tool| withheld.withheld(tool))
            .live_fingerprints(move |tool| live.fingerprint(tool)))
    }
}

/// Who the upstream's requests of the client are decided for.
struct RelayIdentity {
    /// The one principal of a stdio proxy; `None` over HTTP.
    principal: Option<Principal>,
    /// The session of its calls.
    session: String,
}

fn random_handle() -> Result<String, ProxyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| ProxyError::Guarded(GuardedError::Random(e.to_string())))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
/// The upstream as an rmcp server handler: what [`Guarded`] wraps. Every
/// request is sent on to the upstream with the call time limit; the tool list
/// is the pinned snapshot.
#[derive(Clone)]
pub struct Proxied {
    state: Arc<State>,
    peer: Peer<RoleClient>,
    info: Arc<InitializeResult>,
    keep: Arc<Keep>,
}

impl fmt::Debug for Proxied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxied")
            .field("server", &self.state.server)
            .finish_non_exhaustive()
    }
}

/// Removes a progress route when its call ends, however it ends.
struct Route<'a> {
    state: &'a State,
    token: Option<ProgressToken>,
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            self.state
                .progress
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&token);
        }
    }
}

impl Proxied {
    /// Remembers the agent of a stdio proxy, for relays and notifications.
    fn note_agent(&self, peer: &Peer<RoleServer>) {
        let single = self
            .state
            .identity
            .get()
            .is_some_and(|i| i.principal.is_some());
        if !single {
            return;
        }
        let mut agent = self
            .state
            .agent
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if agent.is_none() {
            *agent = Some(peer.clone());
        }
    }

    /// What a failed request to the upstream means, in words.
    fn failure(&self, error: &ServiceError) -> String {
        let server = &self.state.server;
        match error {
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                match self.keep.exit() {
                    Some(status) => format!("the upstream server `{server}` exited ({status})"),
                    None => format!("the upstream server `{server}` closed its connection"),
                }
            }
            ServiceError::Timeout { timeout } => format!(
                "the upstream server `{server}` did not answer within {} s",
                timeout.as_secs()
            ),
            ServiceError::UnexpectedResponse => {
                format!("the upstream server `{server}` answered with a result of the wrong kind")
            }
            other => format!("the upstream server `{server}` failed: {other}"),
        }
    }

    /// A protocol error for a failed request: the upstream's own error as it
    /// sent it (redacted by the adapter), else what went wrong.
    fn protocol_error(&self, error: ServiceError) -> McpError {
        match error {
            ServiceError::McpError(e) => e,
            other => McpError::internal_error(
                self.state
                    .redactor
                    .redact(&self.failure(&other))
                    .into_owned(),
                None,
            ),
        }
    }

    /// Runs `request` against the upstream within the call time limit, giving
    /// up when the agent cancels (the request is dropped, which cancels it
    /// upstream where rmcp tracks it).
    async fn bounded<T: Completed>(
        &self,
        request: impl Future<Output = Result<T, ServiceError>>,
        context: &RequestContext<RoleServer>,
    ) -> Result<T, McpError> {
        self.note_agent(&context.peer);
        let timeout = self.state.call_timeout;
        tokio::select! {
            outcome = tokio::time::timeout(timeout, request) => match outcome {
                Ok(result) => result.map(Completed::completed).map_err(|e| self.protocol_error(e)),
                Err(_) => Err(self.protocol_error(ServiceError::Timeout { timeout })),
            },
            () = context.ct.cancelled() => Err(McpError::internal_error("cancelled by the client", None)),
        }
    }

    /// `tools/call` upstream: the agent's progress token routed, the time limit
    /// and the agent's cancellation passed on as `notifications/cancelled`.
    async fn call_upstream(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ServiceError> {
        let handle = self
            .peer
            .send_request_with_option(
                ClientRequest::CallToolRequest(CallToolRequest::new(request)),
                rmcp::service::PeerRequestOptions::no_options(),
            )
            .await?;
        let _route = Route {
            state: &self.state,
            token: context.meta.get_progress_token().map(|agent_token| {
                self.state
                    .progress
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(
                        handle.progress_token.clone(),
                        (context.peer.clone(), agent_token),
                    );
                handle.progress_token.clone()
            }),
        };
        let id = handle.id.clone();
        let timeout = self.state.call_timeout;
        let cancel = |reason: &'static str| {
            let peer = self.peer.clone();
            let id = id.clone();
            async move {
                let _ = peer
                    .notify_cancelled(CancelledNotificationParam::new(
                        Some(id),
                        Some(reason.to_owned()),
                    ))
                    .await;
            }
        };
        let result = tokio::select! {
            outcome = tokio::time::timeout(timeout, handle.await_response()) => match outcome {
                Ok(result) => result?,
                Err(_) => {
                    cancel("the call took longer than the proxy allows").await;
                    return Err(ServiceError::Timeout { timeout });
                }
            },
            () = context.ct.cancelled() => {
                cancel("cancelled by the client").await;
                return Err(ServiceError::Cancelled { reason: Some("cancelled by the client".to_owned()) });
            }
        };
        match result {
            ServerResult::CallToolResult(result) => {
                Ok(CallToolResponse::Complete(result.completed()))
            }
            ServerResult::InputRequiredResult(result) => {
                Ok(CallToolResponse::InputRequired(result))
            }
            ServerResult::CreateTaskResult(result) => Ok(CallToolResponse::Task(result)),
            _ => Err(ServiceError::UnexpectedResponse),
        }
    }
}

/// A result from an upstream on an older protocol version has no
/// `resultType`; one the agent reads on 2026-07-28 must say it is complete (rmcp
/// strips it again for agents on older versions).
trait Completed {
    fn completed(self) -> Self;
}

macro_rules! completed {
    ($($result:ty),*) => {$(
        impl Completed for $result {
            fn completed(mut self) -> Self {
                self.result_type.get_or_insert(rmcp::model::ResultType::COMPLETE);
                self
            }
        }
    )*};
}

completed!(
    CallToolResult,
    CompleteResult,
    GetPromptResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ReadResourceResult
);

impl Completed for () {
    fn completed(self) -> Self {}
}

impl Completed for ReadResourceResponse {
    fn completed(self) -> Self {
        match self {
            Self::Complete(result) => Self::Complete(result.completed()),
            other => other,
        }
    }
}

impl Completed for GetPromptResponse {
    fn completed(self) -> Self {
        match self {
            Self::Complete(result) => Self::Complete(result.completed()),
            other => other,
        }
    }
}

impl ServerHandler for Proxied {
    fn get_info(&self) -> ServerConfig {
        let mut info = (*self.info).clone();
        // The tool list may change under the pins: say so, and send the
        // notification when it does.
        let mut capabilities: ServerCapabilities = info.capabilities.clone();
        let mut tools = capabilities.tools.take().unwrap_or_default();
        tools.list_changed = Some(true);
        capabilities.tools = Some(tools);
        info.capabilities = capabilities;
        info.protocol_version = ServerConfig::default().protocol_version;
        // What the upstream says of itself (instructions, names, titles)
        // reaches the model and the person: cleaned like its output. Whatever
        // cannot be checked is left out.
        if !self.state.clean(&mut info) {
            info.instructions = None;
            info.server_info = rmcp::model::Implementation::new(
                self.state.server.clone(),
                env!("CARGO_PKG_VERSION"),
            );
        }
        info
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.note_agent(&context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.note_agent(&context.peer);
        let snapshot = self
            .state
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(ListToolsResult::with_all_items(snapshot.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.state
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .tools
            .iter()
            .find(|t| t.name == name)
            .cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.note_agent(&context.peer);
        match self.call_upstream(request, &context).await {
            Ok(response) => Ok(response),
            Err(ServiceError::McpError(e)) => Err(e),
            // A failure of the upstream itself is a tool result the model can
            // read (and the audit records as an error), not a broken session.
            Err(other) => Ok(CallToolResponse::Complete(
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "mcpguard proxy: {}",
                    self.failure(&other)
                ))])
                .completed(),
            )),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.bounded(self.peer.list_resources(request), &context)
            .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.bounded(self.peer.list_resource_templates(request), &context)
            .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.bounded(self.peer.read_resource_once(request), &context)
            .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.bounded(self.peer.list_prompts(request), &context)
            .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.bounded(self.peer.get_prompt_once(request), &context)
            .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        self.bounded(self.peer.complete(request), &context).await
    }

    #[expect(
        deprecated,
        reason = "forwarded for upstreams on older protocol versions"
    )]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.bounded(self.peer.subscribe(request), &context).await
    }

    #[expect(
        deprecated,
        reason = "forwarded for upstreams on older protocol versions"
    )]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.bounded(self.peer.unsubscribe(request), &context).await
    }
}

impl Proxied {
    /// Ends the upstream session and the child: closes its input (a server
    /// exits at the end of its input), waits up to `grace` for it to exit, then
    /// kills it. Also done, without the wait, when the last handle is dropped.
    pub async fn shutdown(&self, grace: Duration) {
        let service = self
            .keep
            .service
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(service) = service {
            let _ = service.cancel().await;
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if self.keep.exit().is_some() {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut child = self
            .keep
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = child.start_kill();
    }
}
