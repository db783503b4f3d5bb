//! The Gate: one per server (or gateway), built once, asked on every call.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use crate::egress::Destination;
use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression, Schema,
};
use mcpguard_core::{
    CredentialSource, DataClass, Fingerprint, Inventory, NetworkReach, Provenance, ServerRecord,
    Tier, ToolProfile,
};
use mcpguard_redact::Redactor;
use serde_json::Value;

use crate::args::{self, ArgType};
use crate::audit::{AuditSink, TracingSink};
use crate::call::{Principal, ToolCall};
use crate::credentials::{CredentialError, CredentialErrorKind, CredentialResolver};
use crate::decision::{ApprovalRequest, Decision, Explanation, PolicyOutcome, Verdict};
use crate::error::{BuildError, BuildErrorKind, StoreError};
use crate::index::{Outcome as CedarOutcome, Scope, SliceKey};
use crate::policies::{CompiledPolicies, PolicySource};
use crate::state::{
    ApprovalGrant, ApprovalStore, MemoryApprovalStore, MemorySessionStore, SessionKey,
    SessionState, SessionStore,
};

/// The schema as shipped; `type Args = {};` is replaced per gate.
pub const SCHEMA: &str = include_str!("../schema/mcpguard.cedarschema");
const ARGS_PLACEHOLDER: &str = "type Args = {};";

/// Authorizes MCP tool calls against an inventory and a Cedar policy set.
///
/// Built once ([`Gate::builder`]); `Send + Sync`, so one gate serves every request
/// of a server. [`Gate::authorize`] never panics and never returns an error: what
/// cannot be evaluated is denied, with the cause in [`Decision::errors`] or
/// [`Decision::reasons`].
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
/// let grant = gate.approve(request, "lead@example.com", std::time::Duration::from_secs(300))?;
/// assert_eq!(gate.authorize_approved(&write, &grant).verdict(), Verdict::Allow);
/// // Single use: the same approval does not work twice.
/// assert_eq!(gate.authorize_approved(&write, &grant).verdict(), Verdict::Deny);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Gate {
    index: Arc<ToolIndex>,
    policies: RwLock<Arc<CompiledPolicies>>,
    sessions: Arc<dyn SessionStore>,
    approvals: Arc<dyn ApprovalStore>,
    tier: Tier,
    nonce: AtomicU64,
    authorizer: Authorizer,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) redactor: Redactor,
    pub(crate) unaudited_calls: bool,
    pub(crate) redact_results: bool,
    pub(crate) sanitize_untrusted: bool,
}

/// Everything the inventory and tool definitions fix, built once.
struct ToolIndex {
    /// Tools by server id, then tool name: looked up without building a key.
    tools: HashMap<String, HashMap<String, ToolEntry>>,
    servers: HashMap<String, (EntityUid, Entity)>,
    /// What reading a server's resources or prompts does to a session.
    server_flags: HashMap<String, ServerFlags>,
    /// Each server's credential source and the tiers it may be resolved in.
    credentials: HashMap<String, (CredentialSource, Option<BTreeSet<Tier>>)>,
    args: BTreeMap<String, ArgType>,
    /// Properties of tools' input schemas with no Cedar type, by "server/tool".
    untyped: Vec<(String, args::Untyped)>,
    schema: Schema,
    schema_text: String,
    notes: Vec<String>,
    actions: Actions,
    user_type: EntityTypeName,
    group_type: EntityTypeName,
    tool_type: EntityTypeName,
    server_type: EntityTypeName,
}

/// How `resources/read` and `prompts/get` of a server mark a session.
#[derive(Debug, Clone, Copy)]
struct ServerFlags {
    /// Third-party, or some tool's output is untrusted: its content may be hostile.
    tainted: bool,
    /// Confidential-or-above data.
    private: bool,
}

struct Actions {
    call_tool: EntityUid,
    list_tools: EntityUid,
    read_resource: EntityUid,
    get_prompt: EntityUid,
}

struct ToolEntry {
    uid: EntityUid,
    server_uid: EntityUid,
    entity: Entity,
    server_entity: Entity,
    args: Option<BTreeMap<String, ArgType>>,
    pinned: Option<Fingerprint>,
    observed: Option<Fingerprint>,
    untrusted_output: bool,
    private: bool,
    profile: ToolProfile,
}

/// An MCP action on a server rather than a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerAction {
    /// `resources/read`.
    ReadResource,
    /// `prompts/get`.
    GetPrompt,
}

/// How a call that ran ended, for [`Gate::record_outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The handler returned a result.
    Ok,
    /// The handler returned an error (its output may still have been read).
    Error,
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
    keep_results: bool,
    keep_untrusted_output: bool,
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
        self.keep_results = !redact;
        self
    }

    /// Whether guarded calls of tools with untrusted output (`untrusted_output` in
    /// the inventory) have terminal escapes and hidden Unicode stripped from their
    /// results ([`mcpguard_core::sanitize`]), with what was removed in the audit
    /// event (default: yes).
    #[must_use]
    pub fn sanitize_untrusted_output(mut self, sanitize: bool) -> Self {
        self.keep_untrusted_output = !sanitize;
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
        let index = ToolIndex::build(&inventory, &self.definitions)?;
        let policies = self
            .policies
            .unwrap_or_default()
            .compile(&index.schema, &index.untyped)?;
        Ok(Gate {
            index: Arc::new(index),
            policies: RwLock::new(Arc::new(policies)),
            sessions: self
                .sessions
                .unwrap_or_else(|| Arc::new(MemorySessionStore::default())),
            approvals: self
                .approvals
                .unwrap_or_else(|| Arc::new(MemoryApprovalStore::default())),
            tier: self.tier.unwrap_or(Tier::Production),
            nonce: AtomicU64::new(0),
            authorizer: Authorizer::new(),
            audit: self.audit.unwrap_or_else(|| Arc::new(TracingSink)),
            redactor: match self.redactor {
                Some(r) => r,
                None => Redactor::new()
                    .map_err(|e| BuildError::new(BuildErrorKind::Redactor, e.to_string()))?,
            },
            unaudited_calls: self.unaudited_calls,
            redact_results: !self.keep_results,
            sanitize_untrusted: !self.keep_untrusted_output,
        })
    }
}

fn schema_error(e: impl fmt::Display) -> BuildError {
    BuildError::new(
        BuildErrorKind::Schema,
        format!("the generated schema does not parse: {e}"),
    )
}

fn uid(type_name: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
}

fn type_name(name: &str) -> Result<EntityTypeName, BuildError> {
    EntityTypeName::from_str(name).map_err(schema_error)
}

impl ToolIndex {
    fn tool(&self, server: &str, tool: &str) -> Option<&ToolEntry> {
        self.tools.get(server)?.get(tool)
    }

    fn build(inventory: &Inventory, definitions: &[(String, Value)]) -> Result<Self, BuildError> {
        let mut notes = Vec::new();
        let mut untyped_args = Vec::new();
        // Tool definitions by "server/tool": fingerprint and input type.
        let mut defs: HashMap<String, (Fingerprint, Option<BTreeMap<String, ArgType>>)> =
            HashMap::new();
        for (server, value) in definitions {
            let list = value
                .pointer("/result/tools")
                .or_else(|| value.get("tools"))
                .unwrap_or(value);
            let Some(list) = list.as_array() else {
                return Err(BuildError::new(
                    BuildErrorKind::ToolDefinitions,
                    format!(
                        "tool definitions of `{server}`: expected `tools`, `result.tools` or an array"
                    ),
                ));
            };
            for (i, tool) in list.iter().enumerate() {
                let fp = Fingerprint::of_tool(tool).map_err(|e| {
                    BuildError::new(
                        BuildErrorKind::ToolDefinitions,
                        format!("tool definitions of `{server}`, tool {i}: {e}"),
                    )
                })?;
                let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
                if inventory.tool(server, name).is_none() {
                    notes.push(format!(
                        "server `{server}` offers tool `{name}`, which is not in the inventory; calls to it are denied"
                    ));
                }
                let key = format!("{server}/{name}");
                let mut untyped = Vec::new();
                let args = tool
                    .get("inputSchema")
                    .and_then(|schema| ArgType::of_input_schema(schema, &mut untyped));
                for u in untyped {
                    notes.push(format!(
                        "tool `{key}`: argument `{}` cannot be typed for policies ({}); policies cannot see it",
                        u.path, u.why
                    ));
                    untyped_args.push((key.clone(), u));
                }
                defs.insert(key, (fp, args));
            }
        }
        // The union of all argument records.
        let mut union = BTreeMap::new();
        let mut conflicts = Vec::new();
        let mut dropped = BTreeSet::new();
        let mut keys: Vec<&String> = defs.keys().collect();
        keys.sort();
        for key in keys {
            if let Some((_, Some(r))) = defs.get(key) {
                ArgType::merge(&mut union, r, "", &mut conflicts, &mut dropped);
            }
        }
        for c in conflicts {
            notes.push(format!(
                "argument `{c}` has different types in different tools; policies cannot see it"
            ));
        }
        // What policies cannot see after all: untypable in a tool, and not typed
        // by another tool under the same name.
        untyped_args.retain(|(_, u)| !arg_path_in(&union, &u.path));
        let mut args_type = String::from("type Args = ");
        args::record_to_cedar(&union, &mut args_type);
        args_type.push(';');
        let schema_text = SCHEMA.replacen(ARGS_PLACEHOLDER, &args_type, 1);
        let (schema, _warnings) =
            Schema::from_cedarschema_str(&schema_text).map_err(schema_error)?;

        let user_type = type_name("Mcp::User")?;
        let group_type = type_name("Mcp::Group")?;
        let server_type = type_name("Mcp::Server")?;
        let tool_type = type_name("Mcp::Tool")?;
        let action_type = type_name("Mcp::Action")?;
        let actions = Actions {
            call_tool: uid(&action_type, "call_tool"),
            list_tools: uid(&action_type, "list_tools"),
            read_resource: uid(&action_type, "read_resource"),
            get_prompt: uid(&action_type, "get_prompt"),
        };

        let mut servers = HashMap::new();
        let mut server_flags = HashMap::new();
        let mut credentials = HashMap::new();
        let mut tools = HashMap::new();
        for server in inventory.servers() {
            let server_uid = uid(&server_type, server.id.as_str());
            let server_entity =
                Entity::new(server_uid.clone(), server_attrs(server), HashSet::new())
                    .map_err(schema_error)?;
            for tool in &server.tools {
                let key = format!("{}/{}", server.id, tool.name);
                let tool_uid = uid(&tool_type, &key);
                let entity = Entity::new(
                    tool_uid.clone(),
                    tool_attrs(server, tool),
                    HashSet::from([server_uid.clone()]),
                )
                .map_err(schema_error)?;
                let (observed, args) = match defs.remove(&key) {
                    Some((fp, args)) => (Some(fp), args),
                    None => (None, None),
                };
                if let (Some(pin), Some(seen)) = (tool.fingerprint, observed)
                    && pin != seen
                {
                    notes.push(format!(
                        "tool `{key}` does not match its pinned fingerprint; calls to it are denied"
                    ));
                }
                tools
                    .entry(server.id.to_string())
                    .or_insert_with(HashMap::new)
                    .insert(
                        tool.name.to_string(),
                        ToolEntry {
                            uid: tool_uid,
                            server_uid: server_uid.clone(),
                            entity,
                            server_entity: server_entity.clone(),
                            args,
                            pinned: tool.fingerprint,
                            observed,
                            untrusted_output: tool.untrusted_output,
                            private: tool.max_data_class() >= Some(DataClass::Confidential),
                            profile: tool.clone(),
                        },
                    );
            }
            servers.insert(server.id.to_string(), (server_uid, server_entity));
            server_flags.insert(
                server.id.to_string(),
                ServerFlags {
                    tainted: matches!(server.provenance, Provenance::ThirdParty(_))
                        || server.tools.iter().any(|t| t.untrusted_output),
                    private: server.data_classes.iter().max() >= Some(&DataClass::Confidential)
                        || server
                            .tools
                            .iter()
                            .any(|t| t.max_data_class() >= Some(DataClass::Confidential)),
                },
            );
            credentials.insert(
                server.id.to_string(),
                (server.credential.clone(), server.credential_tiers.clone()),
            );
        }
        Ok(Self {
            tools,
            servers,
            server_flags,
            credentials,
            args: union,
            untyped: untyped_args,
            schema,
            schema_text,
            notes,
            actions,
            user_type,
            group_type,
            tool_type,
            server_type,
        })
    }
}

/// Whether the dotted `path` (`opts.depth`, `tags[]`) is declared in `record`.
fn arg_path_in(record: &BTreeMap<String, ArgType>, path: &str) -> bool {
    let mut current = record;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some(t) = current.get(part.trim_end_matches("[]")) else {
            return false;
        };
        if parts.peek().is_none() {
            return true;
        }
        let mut t = t;
        while let ArgType::Set(inner) = t {
            t = inner;
        }
        let ArgType::Record(inner) = t else {
            return false;
        };
        current = inner;
    }
    false
}

fn server_attrs(server: &ServerRecord) -> HashMap<String, RestrictedExpression> {
    let (third_party, review, pinned) = match &server.provenance {
        Provenance::ThirdParty(t) => (true, t.review.as_str(), t.is_pinned()),
        _ => (false, "first_party", true),
    };
    HashMap::from([
        (
            "owner".to_owned(),
            RestrictedExpression::new_string(server.owner.to_string()),
        ),
        (
            "third_party".to_owned(),
            RestrictedExpression::new_bool(third_party),
        ),
        (
            "review".to_owned(),
            RestrictedExpression::new_string(review.to_owned()),
        ),
        ("pinned".to_owned(), RestrictedExpression::new_bool(pinned)),
    ])
}

/// `context.destination`: the call's destination parsed and classified by the
/// tool's spec, or `kind: "none"` for a tool without one.
fn destination_context(profile: &ToolProfile, arguments: &Value) -> RestrictedExpression {
    /// Most tools have no destination: their record is built once (records are
    /// shared, so a clone copies a pointer).
    static NONE: LazyLock<RestrictedExpression> =
        LazyLock::new(|| destination_record("none", None, false));
    let Some(spec) = &profile.destination else {
        return NONE.clone();
    };
    let parsed = Destination::of_call(spec, arguments).ok();
    let allowed = parsed.as_ref().is_some_and(|d| d.is_allowed(&spec.allow));
    destination_record(spec.kind.as_str(), parsed.as_ref(), allowed)
}

fn destination_record(
    kind: &str,
    parsed: Option<&Destination>,
    allowed: bool,
) -> RestrictedExpression {
    // Distinct literal keys: building the record cannot fail; if it ever did, an
    // invalid destination is the fail-closed reading.
    RestrictedExpression::new_record(destination_fields(kind, parsed, allowed))
        .or_else(|_| RestrictedExpression::new_record(destination_fields(kind, None, false)))
        .unwrap_or_else(|_| RestrictedExpression::new_bool(false))
}

fn destination_fields(
    kind: &str,
    parsed: Option<&Destination>,
    allowed: bool,
) -> Vec<(String, RestrictedExpression)> {
    let text = |s: &str| RestrictedExpression::new_string(s.to_owned());
    let mut fields = vec![
        ("kind".to_owned(), text(kind)),
        (
            "valid".to_owned(),
            RestrictedExpression::new_bool(parsed.is_some()),
        ),
        (
            "allowed".to_owned(),
            RestrictedExpression::new_bool(allowed),
        ),
    ];
    let (scheme, host, port, class) = parsed.map_or(("", "", 0, ""), |d| {
        (
            d.scheme(),
            d.host(),
            d.port().unwrap_or(0),
            d.class().as_str(),
        )
    });
    fields.push(("scheme".to_owned(), text(scheme)));
    fields.push(("host".to_owned(), text(host)));
    fields.push((
        "port".to_owned(),
        RestrictedExpression::new_long(i64::from(port)),
    ));
    fields.push(("class".to_owned(), text(class)));
    // Cedar's `ip()` takes no IPv4 inside IPv6 notation: the address the
    // destination is judged by is what policies see.
    if let Some(ip) = parsed.and_then(Destination::judged_ip) {
        fields.push((
            "ip".to_owned(),
            RestrictedExpression::new_ip(ip.to_string()),
        ));
    }
    fields
}

fn tool_attrs(server: &ServerRecord, tool: &ToolProfile) -> HashMap<String, RestrictedExpression> {
    let (third_party, review) = match &server.provenance {
        Provenance::ThirdParty(t) => (true, t.review.as_str()),
        _ => (false, "first_party"),
    };
    let strings = |items: Vec<String>| {
        RestrictedExpression::new_set(items.into_iter().map(RestrictedExpression::new_string))
    };
    let egress = tool.actions.contains(&mcpguard_core::ActionKind::Egress)
        || (tool.reach == NetworkReach::Public && !tool.is_read_only());
    HashMap::from([
        (
            "name".to_owned(),
            RestrictedExpression::new_string(tool.name.to_string()),
        ),
        (
            "server".to_owned(),
            RestrictedExpression::new_string(server.id.to_string()),
        ),
        (
            "data_level".to_owned(),
            RestrictedExpression::new_long(i64::from(
                tool.max_data_class().unwrap_or(DataClass::Secret).level(),
            )),
        ),
        (
            "data_classes".to_owned(),
            strings(tool.data_classes.iter().map(ToString::to_string).collect()),
        ),
        (
            "actions".to_owned(),
            strings(tool.actions.iter().map(ToString::to_string).collect()),
        ),
        (
            "read_only".to_owned(),
            RestrictedExpression::new_bool(tool.is_read_only()),
        ),
        (
            "destructive".to_owned(),
            RestrictedExpression::new_bool(tool.is_destructive()),
        ),
        ("egress".to_owned(), RestrictedExpression::new_bool(egress)),
        (
            "has_destination".to_owned(),
            RestrictedExpression::new_bool(tool.destination.is_some()),
        ),
        (
            "reach".to_owned(),
            RestrictedExpression::new_string(tool.reach.to_string()),
        ),
        (
            "untrusted_output".to_owned(),
            RestrictedExpression::new_bool(tool.untrusted_output),
        ),
        (
            "approval_required".to_owned(),
            RestrictedExpression::new_bool(tool.approval_required),
        ),
        (
            "risk".to_owned(),
            RestrictedExpression::new_long(i64::from(tool.risk().score())),
        ),
        (
            "third_party".to_owned(),
            RestrictedExpression::new_bool(third_party),
        ),
        (
            "review".to_owned(),
            RestrictedExpression::new_string(review.to_owned()),
        ),
    ])
}

/// What a request is about: the action, the resource and its ancestors, and the
/// resource entities Cedar needs.
struct Target<'a, const N: usize> {
    action: &'a EntityUid,
    resource: &'a EntityUid,
    ancestors: &'a [EntityUid],
    resource_type: &'a EntityTypeName,
    entities: [&'a Entity; N],
}

impl Gate {
    /// A builder.
    pub fn builder() -> GateBuilder {
        GateBuilder::default()
    }

    /// Decides a call. Never panics; anything that cannot be evaluated is a Deny.
    pub fn authorize(&self, call: &ToolCall) -> Decision {
        if let Some(action) = call.action() {
            return self.authorize_server(call.principal(), call.server(), action);
        }
        self.decide(call, false, false)
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

    /// Decides a call that a person approved. The grant must be for exactly this
    /// call (same principal, server, tool and arguments), unexpired and unused; it
    /// is used up by this call. The policies are evaluated again with
    /// `context.approved`, so an approval lifts only approval gates: any other
    /// forbid still denies.
    pub fn authorize_approved(&self, call: &ToolCall, grant: &ApprovalGrant) -> Decision {
        let decision = self.check_approved(call, grant);
        self.released(decision)
    }

    fn check_approved(&self, call: &ToolCall, grant: &ApprovalGrant) -> Decision {
        if call.action().is_some() {
            return self.authorize(call);
        }
        if grant.digest() != call.digest().to_hex() {
            return Decision::deny(
                "the approval was given for a different call (another tool, principal or arguments)",
            );
        }
        match self.approvals.take(grant.id()) {
            Err(e) => {
                return Decision::deny_error("the approval store could not be read", e.to_string());
            }
            Ok(None) => {
                return Decision::deny("the approval is unknown or was already used");
            }
            Ok(Some(stored)) if stored != *grant => {
                return Decision::deny("the approval does not match the one that was issued");
            }
            Ok(Some(_)) => {}
        }
        if grant.expired() {
            return Decision::deny("the approval has expired");
        }
        self.decide(call, true, false)
    }

    /// Issues a single-use approval of `request` by `approver`, valid for `ttl`.
    ///
    /// # Errors
    ///
    /// The approval store could not record it.
    pub fn approve(
        &self,
        request: &ApprovalRequest,
        approver: &str,
        ttl: Duration,
    ) -> Result<ApprovalGrant, StoreError> {
        self.issue(request.digest(), approver, ttl)
    }

    /// Issues a single-use approval of a call directly, without a pending
    /// [`ApprovalRequest`] (a runbook's pre-approval, an approver UI that rebuilt the
    /// call). An approval only lifts approval gates: a call some other policy
    /// forbids stays denied.
    ///
    /// # Errors
    ///
    /// The approval store could not record it.
    pub fn approve_call(
        &self,
        call: &ToolCall,
        approver: &str,
        ttl: Duration,
    ) -> Result<ApprovalGrant, StoreError> {
        self.issue(call.digest(), approver, ttl)
    }

    /// How the inventory describes a tool of a server: its data classes, actions,
    /// reach and whether its output is untrusted. `None` for a tool not in it.
    pub fn tool_profile(&self, server: &str, tool: &str) -> Option<&ToolProfile> {
        self.index.tool(server, tool).map(|entry| &entry.profile)
    }

    /// Whether the inventory marks the tool of `call` as having untrusted output.
    pub(crate) fn untrusted_output(&self, call: &ToolCall) -> bool {
        if call.action().is_some() {
            return self
                .index
                .server_flags
                .get(call.server())
                .is_some_and(|f| f.tainted);
        }
        self.index
            .tool(call.server(), call.tool())
            .is_some_and(|entry| entry.untrusted_output)
    }

    /// The target argument of a call, by the inventory's rule for its tool.
    pub(crate) fn target_of(&self, call: &ToolCall) -> Option<String> {
        if call.action().is_some() {
            return Some(call.tool().to_owned());
        }
        self.index
            .tool(call.server(), call.tool())?
            .profile
            .target_of(call.arguments_value())
    }

    /// A fresh id for a call's audit events.
    pub(crate) fn call_id(&self) -> String {
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
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

    fn issue(
        &self,
        digest: crate::call::CallDigest,
        approver: &str,
        ttl: Duration,
    ) -> Result<ApprovalGrant, StoreError> {
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let grant = ApprovalGrant::new(digest, approver, ttl, nonce);
        self.approvals.insert(&grant)?;
        Ok(grant)
    }

    /// Records that a call ran, so the session remembers it: a tool with untrusted
    /// output taints the session, confidential-or-above data marks private data
    /// seen. A call that ended in an error counts the same: its output may have
    /// been read. Unknown tools change nothing.
    ///
    /// # Errors
    ///
    /// The session store could not record it; the embedder should treat the
    /// session as tainted.
    pub fn record_outcome(&self, call: &ToolCall, outcome: Outcome) -> Result<(), StoreError> {
        let (Outcome::Ok | Outcome::Error) = outcome;
        let flags = if call.action().is_some() {
            // What a server's resources and prompts carry: its data classes, and
            // content an attacker may shape when the server is third-party or any
            // of its tools has untrusted output.
            let Some(server) = self.index.server_flags.get(call.server()) else {
                return Ok(());
            };
            SessionState::with(server.tainted, server.private)
        } else {
            let Some(entry) = self.index.tool(call.server(), call.tool()) else {
                return Ok(());
            };
            SessionState::with(entry.untrusted_output, entry.private)
        };
        if flags == SessionState::new() {
            return Ok(());
        }
        self.sessions.merge(&session_key(call), flags)
    }

    /// The state of the session a call belongs to.
    ///
    /// # Errors
    ///
    /// The session store could not answer.
    pub fn session_state(&self, call: &ToolCall) -> Result<SessionState, StoreError> {
        self.sessions.load(&session_key(call))
    }

    /// Whether `principal` may see a tool in `tools/list`: decided by `list_tools`
    /// policies, apart from `call_tool`, so a condition on arguments never hides a
    /// tool.
    pub fn authorize_list(&self, principal: &Principal, server: &str, tool: &str) -> Decision {
        let Some(entry) = self.index.tool(server, tool) else {
            return not_in_inventory(server, tool);
        };
        let target = Target {
            action: &self.index.actions.list_tools,
            resource: &entry.uid,
            ancestors: std::slice::from_ref(&entry.server_uid),
            resource_type: &self.index.tool_type,
            entities: [&entry.entity, &entry.server_entity],
        };
        let decision = self
            .list_context()
            .and_then(|context| self.evaluate(principal, &target, context, false))
            .map_or_else(
                |d| d,
                |(outcome, policies)| interpret(&policies, outcome, None),
            );
        self.released(decision)
    }

    /// The tools of `server` that `principal` may see, in inventory order.
    pub fn visible_tools<'a>(
        &self,
        principal: &Principal,
        inventory: &'a Inventory,
        server: &str,
    ) -> Vec<&'a str> {
        inventory
            .server(server)
            .map(|s| {
                s.tools
                    .iter()
                    .filter(|t| {
                        self.authorize_list(principal, server, t.name.as_str())
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
        let Some((server_uid, entity)) = self.index.servers.get(server) else {
            return self.released(Decision::deny(format!(
                "server `{}` is not in the inventory",
                shown_name(server)
            )));
        };
        let action = match action {
            ServerAction::ReadResource => &self.index.actions.read_resource,
            ServerAction::GetPrompt => &self.index.actions.get_prompt,
        };
        let target = Target {
            action,
            resource: server_uid,
            ancestors: &[],
            resource_type: &self.index.server_type,
            entities: [entity],
        };
        let decision = self
            .list_context()
            .and_then(|context| self.evaluate(principal, &target, context, false))
            .map_or_else(
                |d| d,
                |(outcome, policies)| interpret(&policies, outcome, None),
            );
        self.released(decision)
    }

    /// The decision with every policy's part in it (in the order of their sources):
    /// which matched, which errored.
    /// Costs one evaluation per policy; for reviewers and tools, not the hot path.
    pub fn explain(&self, call: &ToolCall) -> Explanation {
        let decision = self.authorize(call);
        let policies = self.current_policies();
        let mut outcomes = Vec::new();
        let prepared = self.call_context(call, false).and_then(|(entry, context)| {
            let target = tool_target(&self.index, entry);
            self.request_and_entities(call.principal(), &target, context)
        });
        if let Ok((request, entities)) = prepared {
            for id in &policies.order {
                let Some(policy) = policies.set.policy(&cedar_policy::PolicyId::new(id)) else {
                    continue;
                };
                let id = id.clone();
                let meta = policies.meta.get(&id);
                let mut single = PolicySet::new();
                let (matched, error) = match single.add(policy.clone()) {
                    Ok(()) => {
                        let r = self.authorizer.is_authorized(&request, &single, &entities);
                        let matched = r.diagnostics().reason().any(|p| p.to_string() == id);
                        let error = r.diagnostics().errors().next().map(ToString::to_string);
                        (matched, error)
                    }
                    Err(e) => (false, Some(e.to_string())),
                };
                outcomes.push(PolicyOutcome {
                    id,
                    effect: if meta.is_some_and(|m| m.forbid) {
                        "forbid"
                    } else {
                        "permit"
                    },
                    approval: meta.is_some_and(|m| m.approval),
                    matched,
                    reason: meta.map_or_else(String::new, |m| m.reason.to_string()),
                    error,
                });
            }
        }
        Explanation {
            decision,
            policies: outcomes,
        }
    }

    /// The same decision as [`Gate::authorize`], computed by evaluating every
    /// policy of the set with stock Cedar, without the index. Slower (linear in the
    /// number of policies); for checking the index and for debugging.
    pub fn authorize_exhaustive(&self, call: &ToolCall) -> Decision {
        self.decide(call, false, true)
    }

    /// Replaces the policy set atomically: calls already being decided finish with
    /// the old set, later ones see the new one.
    ///
    /// # Errors
    ///
    /// As [`GateBuilder::build`]; the old set stays in force.
    pub fn swap_policies(&self, policies: &PolicySource) -> Result<(), BuildError> {
        let compiled = Arc::new(policies.compile(&self.index.schema, &self.index.untyped)?);
        // A poisoned lock still holds a valid Arc: replace it all the same.
        let mut guard = self
            .policies
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = compiled;
        Ok(())
    }

    /// Resolves a server's credential, if the inventory allows it in the gate's
    /// tier, and registers the value with the gate's redactor at once, so that from
    /// now on it (and its base64, URL-encoded and JSON-escaped forms) is redacted
    /// from audit events, logs and tool results.
    ///
    /// # Errors
    ///
    /// [`CredentialError`]: an unknown server, no credential, a tier the inventory
    /// does not allow (naming the credential and the tier), what the resolver
    /// reports, or a value too short to redact. Never the value.
    pub fn resolve_credential(
        &self,
        server: &str,
        resolver: &dyn CredentialResolver,
    ) -> Result<mcpguard_redact::Secret<String>, CredentialError> {
        let Some((source, tiers)) = self.index.credentials.get(server) else {
            return Err(CredentialError::new(
                CredentialErrorKind::UnknownServer,
                format!("server `{server}` is not in the inventory"),
            ));
        };
        if *source == CredentialSource::None {
            return Err(CredentialError::new(
                CredentialErrorKind::NoCredential,
                format!("server `{server}` has no credential"),
            ));
        }
        if tiers.as_ref().is_some_and(|t| !t.contains(&self.tier)) {
            let allowed: Vec<String> = tiers.iter().flatten().map(ToString::to_string).collect();
            return Err(CredentialError::new(
                CredentialErrorKind::NotAllowedInTier,
                format!(
                    "the credential of server `{server}` ({source}) may not be resolved in the `{}` tier; the inventory allows it in: {}",
                    self.tier,
                    allowed.join(", ")
                ),
            ));
        }
        let secret = resolver.resolve(source)?;
        if secret.expose().is_empty() {
            return Err(CredentialError::new(
                CredentialErrorKind::Unusable,
                format!("the credential of server `{server}` ({source}) is empty"),
            ));
        }
        self.redactor
            .register_known_secret(&source.to_string(), secret.expose())
            .map_err(|_| {
                CredentialError::new(
                    CredentialErrorKind::Unusable,
                    format!(
                        "the credential of server `{server}` ({source}) is shorter than {} bytes, too short to redact safely",
                        mcpguard_redact::MIN_KNOWN_SECRET_LEN
                    ),
                )
            })?;
        Ok(secret)
    }

    /// The redactor the gate uses for audit events and results; pass log lines
    /// through it too, so resolved credentials never reach a log.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Whether guarded calls redact their results ([`GateBuilder::redact_results`]);
    /// adapters that return results by other paths (task results) follow it.
    pub fn redacts_results(&self) -> bool {
        self.redact_results
    }

    /// The tier the gate runs in.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The Cedar schema this gate validates against, with its generated `Args`.
    pub fn schema_text(&self) -> &str {
        &self.index.schema_text
    }

    /// What the gate noticed while it was built: tools offered but not inventoried,
    /// pins that do not match, argument names typed differently by different tools.
    pub fn schema_notes(&self) -> &[String] {
        &self.index.notes
    }

    /// The ids of the policies in force.
    pub fn policy_ids(&self) -> Vec<String> {
        let policies = self.current_policies();
        let mut ids: Vec<String> = policies
            .set
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// The argument names policies can see, as dotted paths.
    pub fn argument_names(&self) -> Vec<String> {
        fn walk(prefix: &str, r: &BTreeMap<String, ArgType>, out: &mut Vec<String>) {
            for (k, t) in r {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if let ArgType::Record(inner) = t {
                    walk(&path, inner, out);
                }
                out.push(path);
            }
        }
        let mut out = Vec::new();
        walk("", &self.index.args, &mut out);
        out
    }

    fn current_policies(&self) -> Arc<CompiledPolicies> {
        self.policies
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn decide(&self, call: &ToolCall, approved: bool, exhaustive: bool) -> Decision {
        let decision = self.decide_inner(call, approved, exhaustive);
        self.released(decision)
    }

    fn decide_inner(&self, call: &ToolCall, approved: bool, exhaustive: bool) -> Decision {
        let outcome = self
            .call_context(call, approved)
            .and_then(|(entry, context)| {
                self.evaluate(
                    call.principal(),
                    &tool_target(&self.index, entry),
                    context,
                    exhaustive,
                )
            });
        let first = match outcome {
            Ok((o, policies)) => interpret(&policies, o, Some(call)),
            Err(d) => return d,
        };
        if approved || first.verdict() != Verdict::RequireApproval {
            return first;
        }
        // Only approval gates denied: would an approval let it through?
        let with_approval = self.decide_inner(call, true, exhaustive);
        if with_approval.is_allowed() {
            first
        } else {
            with_approval
        }
    }

    /// Checks a call and builds its context: the tool must be known, its pinned
    /// definition unchanged, its arguments well-typed, its session readable.
    fn call_context(
        &self,
        call: &ToolCall,
        approved: bool,
    ) -> Result<(&ToolEntry, Context), Decision> {
        let Some(entry) = self.index.tool(call.server(), call.tool()) else {
            return Err(not_in_inventory(call.server(), call.tool()));
        };
        let key = || tool_key(call);
        if let Some(pin) = entry.pinned {
            match call.definition_fingerprint().or(entry.observed) {
                None => {
                    return Err(Decision::deny(format!(
                        "tool `{}` has a pinned fingerprint but its definition was not seen; give the gate the server's tools/list",
                        key()
                    )));
                }
                Some(seen) if seen != pin => {
                    return Err(Decision::deny(format!(
                        "the definition of tool `{}` changed since it was pinned: a changed tool is a different tool",
                        key()
                    )));
                }
                Some(_) => {}
            }
        }
        let args = match &entry.args {
            Some(t) => args::to_context(call.arguments_value(), t, &self.index.args),
            None if call.arguments_value().is_object() => RestrictedExpression::new_record([])
                .map_err(|_| args::ArgMismatch {
                    path: String::new(),
                    expected: "an object",
                }),
            None => Err(args::ArgMismatch {
                path: String::new(),
                expected: "an object",
            }),
        };
        let args = args.map_err(|m| {
            let at = if m.path.is_empty() {
                "the arguments".to_owned()
            } else {
                format!("argument `{}`", m.path)
            };
            Decision::deny(format!("malformed call: {at} must be {}", m.expected))
        })?;
        let session = self.sessions.load(&session_key(call)).map_err(|e| {
            Decision::deny_error("the session state could not be read", e.to_string())
        })?;
        let session_expr = RestrictedExpression::new_record([
            (
                "tainted".to_owned(),
                RestrictedExpression::new_bool(session.tainted),
            ),
            (
                "private_data".to_owned(),
                RestrictedExpression::new_bool(session.private_data),
            ),
        ])
        .map_err(|e| Decision::deny_error("the context could not be built", e.to_string()))?;
        let context = Context::from_pairs([
            (
                "tier".to_owned(),
                RestrictedExpression::new_string(self.tier.to_string()),
            ),
            ("session".to_owned(), session_expr),
            (
                "approved".to_owned(),
                RestrictedExpression::new_bool(approved),
            ),
            (
                "purpose".to_owned(),
                RestrictedExpression::new_string(
                    call.purpose_text().unwrap_or_default().to_owned(),
                ),
            ),
            (
                "destination".to_owned(),
                destination_context(&entry.profile, call.arguments_value()),
            ),
            ("args".to_owned(), args),
        ])
        .map_err(|e| Decision::deny_error("the context could not be built", e.to_string()))?;
        Ok((entry, context))
    }

    fn list_context(&self) -> Result<Context, Decision> {
        Context::from_pairs([(
            "tier".to_owned(),
            RestrictedExpression::new_string(self.tier.to_string()),
        )])
        .map_err(|e| Decision::deny_error("the context could not be built", e.to_string()))
    }

    fn principal_uids(&self, principal: &Principal) -> (EntityUid, Vec<EntityUid>) {
        let mut names: Vec<&String> = principal.groups().iter().collect();
        names.sort_unstable();
        names.dedup();
        (
            uid(&self.index.user_type, principal.id()),
            names
                .into_iter()
                .map(|g| uid(&self.index.group_type, g))
                .collect(),
        )
    }

    fn entities<const N: usize>(
        principal: &EntityUid,
        groups: &[EntityUid],
        target: &Target<'_, N>,
    ) -> Result<Entities, String> {
        let group_entities = groups
            .iter()
            .map(|g| Entity::new_no_attrs(g.clone(), HashSet::new()));
        let principal_entity =
            Entity::new_no_attrs(principal.clone(), groups.iter().cloned().collect());
        Entities::from_entities(
            std::iter::once(principal_entity)
                .chain(group_entities)
                .chain(target.entities.iter().map(|e| (*e).clone())),
            None,
        )
        .map_err(|e| e.to_string())
    }

    fn request_and_entities<const N: usize>(
        &self,
        principal: &Principal,
        target: &Target<'_, N>,
        context: Context,
    ) -> Result<(Request, Entities), Decision> {
        let (principal_uid, groups) = self.principal_uids(principal);
        let entities = Self::entities(&principal_uid, &groups, target)
            .map_err(|e| Decision::deny_error("the entities could not be built", e))?;
        let request = Request::new(
            principal_uid,
            target.action.clone(),
            target.resource.clone(),
            context,
            None,
        )
        .map_err(|e| Decision::deny_error("the request could not be built", e.to_string()))?;
        Ok((request, entities))
    }

    /// Evaluates a request: through the index (only the policies whose scope
    /// matches, the context-free ones once per principal, groups and resource), or
    /// over the whole set with stock Cedar when `exhaustive`.
    fn evaluate<const N: usize>(
        &self,
        principal: &Principal,
        target: &Target<'_, N>,
        context: Context,
        exhaustive: bool,
    ) -> Result<(CedarOutcome, Arc<CompiledPolicies>), Decision> {
        // One read of the policy set per decision: the reasons come from the same
        // set as the verdict, even if a swap happens meanwhile.
        let policies = self.current_policies();
        if exhaustive {
            let (request, entities) = self.request_and_entities(principal, target, context)?;
            let outcome = CedarOutcome::of(&self.authorizer.is_authorized(
                &request,
                &policies.set,
                &entities,
            ));
            return Ok((outcome, policies));
        }
        let (principal_uid, groups) = self.principal_uids(principal);
        let request = Request::new(
            principal_uid.clone(),
            target.action.clone(),
            target.resource.clone(),
            context,
            None,
        )
        .map_err(|e| Decision::deny_error("the request could not be built", e.to_string()))?;
        let key = SliceKey {
            principal: principal_uid,
            groups,
            resource: target.resource.clone(),
            action: target.action.clone(),
        };
        let slice = policies
            .index
            .slice(
                &key,
                &Scope {
                    ancestors: target.ancestors,
                    resource_type: target.resource_type,
                    principal_type: &self.index.user_type,
                },
                || Self::entities(&key.principal, &key.groups, target),
                &request,
                &self.authorizer,
            )
            .map_err(|e| Decision::deny_error("the policy index could not be built", e))?;
        let outcome = slice.decide(&request, &self.authorizer);
        Ok((outcome, policies))
    }
}

/// Maps Cedar's answer onto a decision. With `call`, a Deny made only by
/// approval gates becomes RequireApproval (the caller then checks that an
/// approval would allow it).
fn interpret(
    policies: &CompiledPolicies,
    outcome: CedarOutcome,
    call: Option<&ToolCall>,
) -> Decision {
    let CedarOutcome { allow, ids, errors } = outcome;
    let reasons: Vec<Arc<str>> = ids
        .iter()
        .map(|id| {
            policies
                .meta
                .get(id)
                .map_or_else(|| Arc::from(format!("policy `{id}`")), |m| m.reason.clone())
        })
        .collect();
    if !errors.is_empty() {
        let mut reasons = reasons;
        reasons.insert(
            0,
            Arc::from("a policy could not be evaluated for this call, so it is denied"),
        );
        return Decision::from_parts(Verdict::Deny, ids, reasons, errors, None);
    }
    if allow {
        return Decision::from_parts(Verdict::Allow, ids, reasons, errors, None);
    }
    if ids.is_empty() {
        return Decision::from_parts(
            Verdict::Deny,
            ids,
            vec![Arc::from("no policy permits this call")],
            errors,
            None,
        );
    }
    let only_approval = ids
        .iter()
        .all(|id| policies.meta.get(id).is_some_and(|m| m.approval));
    match call {
        Some(call) if only_approval => {
            let request = ApprovalRequest::new(
                call.digest(),
                call.principal().id(),
                call.server(),
                call.tool(),
                ids.clone(),
                reasons.clone(),
            );
            Decision::from_parts(
                Verdict::RequireApproval,
                ids,
                reasons,
                errors,
                Some(request),
            )
        }
        _ => Decision::from_parts(Verdict::Deny, ids, reasons, errors, None),
    }
}

fn tool_target<'a>(index: &'a ToolIndex, entry: &'a ToolEntry) -> Target<'a, 2> {
    Target {
        action: &index.actions.call_tool,
        resource: &entry.uid,
        ancestors: std::slice::from_ref(&entry.server_uid),
        resource_type: &index.tool_type,
        entities: [&entry.entity, &entry.server_entity],
    }
}

fn tool_key(call: &ToolCall) -> String {
    format!("{}/{}", call.server(), call.tool())
}

fn session_key(call: &ToolCall) -> SessionKey {
    SessionKey {
        principal: call.principal().id().to_owned(),
        session: call.session_id().unwrap_or_default().to_owned(),
    }
}

/// A name that came from a client, as a reason shows it: only when it is
/// name-shaped (the gate's redactor still passes over every reason that leaves it).
fn shown_name(s: &str) -> &str {
    if s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        s
    } else {
        "(name not shown)"
    }
}

fn not_in_inventory(server: &str, tool: &str) -> Decision {
    Decision::deny(format!(
        "tool `{}` of server `{}` is not in the inventory",
        shown_name(tool),
        shown_name(server)
    ))
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("tier", &self.tier)
            .field(
                "tools",
                &self.index.tools.values().map(HashMap::len).sum::<usize>(),
            )
            .field("policies", &self.current_policies().set.num_of_policies())
            .field("sessions", &self.sessions)
            .field("approvals", &self.approvals)
            .finish()
    }
}
