//! The Cedar model: the schema, and the typed records every request is built from.
//!
//! The vocabulary policies speak exists once in Rust: [`ServerAttrs`] and
//! [`ToolAttrs`] (the attributes of `Mcp::Server` and `Mcp::Tool`),
//! [`SessionAttrs`], [`DestinationAttrs`] and [`CallContext`] (the context of
//! `call_tool`), [`ListContext`] (that of `list_tools`, `read_resource` and
//! `get_prompt`). Each has one conversion to Cedar. Every prebuilt entity is
//! validated against the schema when the model is built, so a misspelt or
//! missing attribute is a build error, not a Deny for everyone at run time; a test
//! checks that the records and `mcpguard.cedarschema` name the same attributes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression, Schema,
};
use mcpguard_core::{
    ActionKind, Credential, DataClass, Fingerprint, Inventory, NetworkReach, Provenance,
    ServerRecord, Tier, ToolProfile,
};
use serde_json::Value;

use crate::args::{self, ArgType};
use crate::egress::Destination;
use crate::error::{BuildError, BuildErrorKind};
use crate::state::SessionState;

/// The schema as shipped; `type Args = {};` is replaced per gate.
pub const SCHEMA: &str = include_str!("../schema/mcpguard.cedarschema");
const ARGS_PLACEHOLDER: &str = "type Args = {};";

/// A record's fields, in the order they are declared.
type Fields = Vec<(String, RestrictedExpression)>;

fn text(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn texts<'a>(items: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(text))
}

fn field(name: &str, value: RestrictedExpression) -> (String, RestrictedExpression) {
    (name.to_owned(), value)
}

/// The attributes of an `Mcp::Server` entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerAttrs {
    pub(crate) owner: String,
    pub(crate) third_party: bool,
    /// `first_party`, or the review state of a third-party server.
    pub(crate) review: String,
    pub(crate) pinned: bool,
}

impl ServerAttrs {
    pub(crate) fn of(server: &ServerRecord) -> Self {
        let (third_party, review, pinned) = match &server.provenance {
            Provenance::ThirdParty(t) => (true, t.review.as_str(), t.is_pinned()),
            _ => (false, "first_party", true),
        };
        Self {
            owner: server
                .owner
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            third_party,
            review: review.to_owned(),
            pinned,
        }
    }

    pub(crate) fn to_cedar(&self) -> Fields {
        vec![
            field("owner", text(&self.owner)),
            field(
                "third_party",
                RestrictedExpression::new_bool(self.third_party),
            ),
            field("review", text(&self.review)),
            field("pinned", RestrictedExpression::new_bool(self.pinned)),
        ]
    }
}

/// The attributes of an `Mcp::Tool` entity: the inventory's profile of the tool,
/// and mirrors of its server's provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolAttrs {
    pub(crate) name: String,
    pub(crate) server: String,
    /// 0 public … 5 secret; a tool with no data class counts as secret.
    pub(crate) data_level: i64,
    /// It can reach secret-class data: its own data classes say so, or it
    /// executes on a server that holds secret data.
    pub(crate) reaches_secrets: bool,
    pub(crate) data_classes: Vec<String>,
    pub(crate) actions: Vec<String>,
    pub(crate) read_only: bool,
    pub(crate) destructive: bool,
    pub(crate) production_facing: bool,
    /// Sends data out: the egress action, or writing with public reach.
    pub(crate) egress: bool,
    pub(crate) has_destination: bool,
    pub(crate) reach: String,
    pub(crate) untrusted_output: bool,
    pub(crate) approval_required: bool,
    pub(crate) risk: i64,
    pub(crate) third_party: bool,
    pub(crate) review: String,
}

impl ToolAttrs {
    /// The attributes of `tool` of `server`, whose own attributes (`provenance`)
    /// it mirrors.
    pub(crate) fn of(server: &ServerRecord, provenance: &ServerAttrs, tool: &ToolProfile) -> Self {
        let data_class = tool.max_data_class().unwrap_or(DataClass::Secret);
        // A command reaches whatever its server's process can: an execute
        // tool on a server that holds secrets reaches them, whatever data
        // class the tool itself was given.
        let executes_beside_secrets = tool.actions.contains(&ActionKind::Execute)
            && server.data_classes.contains(&DataClass::Secret);
        Self {
            name: tool.name.to_string(),
            server: server.id.to_string(),
            data_level: i64::from(data_class.level()),
            reaches_secrets: data_class >= DataClass::Secret || executes_beside_secrets,
            data_classes: tool.data_classes.iter().map(ToString::to_string).collect(),
            actions: tool.actions.iter().map(ToString::to_string).collect(),
            read_only: tool.is_read_only(),
            destructive: tool.is_destructive(),
            production_facing: tool.is_production_facing(),
            egress: tool.actions.contains(&ActionKind::Egress)
                || (tool.reach == NetworkReach::Public && !tool.is_read_only()),
            has_destination: tool.destination.is_some(),
            reach: tool.reach.to_string(),
            untrusted_output: tool.untrusted_output,
            approval_required: tool.approval_required,
            risk: i64::from(tool.risk().score()),
            third_party: provenance.third_party,
            review: provenance.review.clone(),
        }
    }

    pub(crate) fn to_cedar(&self) -> Fields {
        let flag = RestrictedExpression::new_bool;
        vec![
            field("name", text(&self.name)),
            field("server", text(&self.server)),
            field(
                "data_level",
                RestrictedExpression::new_long(self.data_level),
            ),
            field("reaches_secrets", flag(self.reaches_secrets)),
            field(
                "data_classes",
                texts(self.data_classes.iter().map(String::as_str)),
            ),
            field("actions", texts(self.actions.iter().map(String::as_str))),
            field("read_only", flag(self.read_only)),
            field("destructive", flag(self.destructive)),
            field("production_facing", flag(self.production_facing)),
            field("egress", flag(self.egress)),
            field("has_destination", flag(self.has_destination)),
            field("reach", text(&self.reach)),
            field("untrusted_output", flag(self.untrusted_output)),
            field("approval_required", flag(self.approval_required)),
            field("risk", RestrictedExpression::new_long(self.risk)),
            field("third_party", flag(self.third_party)),
            field("review", text(&self.review)),
        ]
    }
}

/// `context.session`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionAttrs(pub(crate) SessionState);

impl SessionAttrs {
    pub(crate) fn to_cedar(self) -> Fields {
        vec![
            field("tainted", RestrictedExpression::new_bool(self.0.tainted)),
            field(
                "private_data",
                RestrictedExpression::new_bool(self.0.private_data),
            ),
        ]
    }
}

/// `context.destination`: the call's destination parsed and classified by the
/// tool's spec, or `kind: "none"` for a tool without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DestinationAttrs {
    pub(crate) kind: &'static str,
    pub(crate) valid: bool,
    pub(crate) allowed: bool,
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) class: &'static str,
    /// The address the destination is judged by (Cedar's `ip()` takes no IPv4
    /// inside IPv6 notation), when the host is an IP literal.
    pub(crate) ip: Option<std::net::IpAddr>,
}

impl DestinationAttrs {
    /// The destination of a tool that declares none.
    pub(crate) const NONE: Self = Self {
        kind: "none",
        valid: false,
        allowed: false,
        scheme: String::new(),
        host: String::new(),
        port: 0,
        class: "",
        ip: None,
    };

    pub(crate) fn of_call(profile: &ToolProfile, arguments: &Value) -> Self {
        let Some(spec) = &profile.destination else {
            return Self::NONE;
        };
        let kind = spec.kind.as_str();
        match Destination::of_call(spec, arguments) {
            Ok(d) => Self {
                kind,
                valid: true,
                allowed: d.is_allowed(&spec.allow),
                scheme: d.scheme().to_owned(),
                host: d.host().to_owned(),
                port: d.port().unwrap_or(0),
                class: d.class().as_str(),
                ip: d.judged_ip(),
            },
            Err(_) => Self { kind, ..Self::NONE },
        }
    }

    pub(crate) fn to_cedar(&self) -> Fields {
        let mut fields = vec![
            field("kind", text(self.kind)),
            field("valid", RestrictedExpression::new_bool(self.valid)),
            field("allowed", RestrictedExpression::new_bool(self.allowed)),
            field("scheme", text(&self.scheme)),
            field("host", text(&self.host)),
            field("port", RestrictedExpression::new_long(i64::from(self.port))),
            field("class", text(self.class)),
        ];
        if let Some(ip) = self.ip {
            fields.push(field("ip", RestrictedExpression::new_ip(ip.to_string())));
        }
        fields
    }

    /// The record as Cedar sees it. Most tools have no destination: theirs is
    /// built once (records are shared, so a clone copies a pointer).
    pub(crate) fn to_expression(&self) -> Result<RestrictedExpression, String> {
        static NONE: LazyLock<Result<RestrictedExpression, String>> = LazyLock::new(|| {
            RestrictedExpression::new_record(DestinationAttrs::NONE.to_cedar())
                .map_err(|e| e.to_string())
        });
        if *self == Self::NONE {
            return NONE.clone();
        }
        RestrictedExpression::new_record(self.to_cedar()).map_err(|e| e.to_string())
    }
}

/// The context of `call_tool`.
#[derive(Debug, Clone)]
pub(crate) struct CallContext<'a> {
    pub(crate) tier: Tier,
    pub(crate) session: SessionState,
    pub(crate) approved: bool,
    pub(crate) purpose: &'a str,
    pub(crate) destination: RestrictedExpression,
    /// `context.args`, typed by the tools' input schemas.
    pub(crate) args: RestrictedExpression,
}

impl CallContext<'_> {
    pub(crate) fn to_cedar(&self) -> Result<Fields, String> {
        let session = RestrictedExpression::new_record(SessionAttrs(self.session).to_cedar())
            .map_err(|e| e.to_string())?;
        Ok(vec![
            field("tier", text(self.tier.as_str())),
            field("session", session),
            field("approved", RestrictedExpression::new_bool(self.approved)),
            field("purpose", text(self.purpose)),
            field("destination", self.destination.clone()),
            field("args", self.args.clone()),
        ])
    }

    pub(crate) fn to_context(&self) -> Result<Context, String> {
        Context::from_pairs(self.to_cedar()?).map_err(|e| e.to_string())
    }
}

/// The context of `list_tools`, `read_resource` and `get_prompt`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListContext {
    pub(crate) tier: Tier,
}

impl ListContext {
    pub(crate) fn to_cedar(self) -> Fields {
        vec![field("tier", text(self.tier.as_str()))]
    }

    pub(crate) fn to_context(self) -> Result<Context, String> {
        Context::from_pairs(self.to_cedar()).map_err(|e| e.to_string())
    }
}

/// How `resources/read` and `prompts/get` of a server mark a session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerFlags {
    /// Third-party, or some tool's output is untrusted: its content may be hostile.
    pub(crate) tainted: bool,
    /// Confidential-or-above data.
    pub(crate) private: bool,
}

pub(crate) struct Actions {
    pub(crate) call_tool: EntityUid,
    pub(crate) list_tools: EntityUid,
    pub(crate) read_resource: EntityUid,
    pub(crate) get_prompt: EntityUid,
    pub(crate) sample: EntityUid,
    pub(crate) elicit: EntityUid,
    pub(crate) list_roots: EntityUid,
}

pub(crate) struct ToolEntry {
    pub(crate) uid: EntityUid,
    pub(crate) server_uid: EntityUid,
    pub(crate) entity: Entity,
    pub(crate) server_entity: Entity,
    pub(crate) args: Option<BTreeMap<String, ArgType>>,
    pub(crate) pinned: Option<Fingerprint>,
    pub(crate) observed: Option<Fingerprint>,
    pub(crate) untrusted_output: bool,
    pub(crate) private: bool,
    pub(crate) profile: ToolProfile,
}

/// Each server's credentials, by server id.
pub(crate) type CredentialSources = HashMap<String, Vec<Credential>>;

/// Everything the inventory and tool definitions fix, built once.
pub(crate) struct Model {
    /// Tools by server id, then tool name: looked up without building a key.
    pub(crate) tools: HashMap<String, HashMap<String, ToolEntry>>,
    pub(crate) servers: HashMap<String, (EntityUid, Entity)>,
    /// What reading a server's resources or prompts does to a session.
    pub(crate) server_flags: HashMap<String, ServerFlags>,
    pub(crate) args: BTreeMap<String, ArgType>,
    /// Properties of tools' input schemas with no Cedar type, by "server/tool".
    pub(crate) untyped: Vec<(String, args::Untyped)>,
    pub(crate) schema: Schema,
    pub(crate) schema_text: String,
    pub(crate) notes: Vec<String>,
    pub(crate) actions: Actions,
    pub(crate) user_type: EntityTypeName,
    pub(crate) group_type: EntityTypeName,
    pub(crate) tool_type: EntityTypeName,
    pub(crate) server_type: EntityTypeName,
}

fn schema_error(e: impl fmt::Display) -> BuildError {
    BuildError::new(
        BuildErrorKind::Schema,
        format!("the generated schema does not parse: {e}"),
    )
}

pub(crate) fn uid(type_name: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
}

fn type_name(name: &str) -> Result<EntityTypeName, BuildError> {
    EntityTypeName::from_str(name).map_err(schema_error)
}

/// A tool definition's fingerprint and input type, by "server/tool".
type Definitions = HashMap<String, (Fingerprint, Option<BTreeMap<String, ArgType>>)>;

impl Model {
    pub(crate) fn tool(&self, server: &str, tool: &str) -> Option<&ToolEntry> {
        self.tools.get(server)?.get(tool)
    }

    /// Builds the model; returns it with each server's credential source.
    pub(crate) fn build(
        inventory: &Inventory,
        definitions: &[(String, Value)],
    ) -> Result<(Self, CredentialSources), BuildError> {
        let mut notes = Vec::new();
        let mut untyped_args = Vec::new();
        let mut defs = read_definitions(inventory, definitions, &mut notes, &mut untyped_args)?;
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
            sample: uid(&action_type, "sample"),
            elicit: uid(&action_type, "elicit"),
            list_roots: uid(&action_type, "list_roots"),
        };

        let mut servers = HashMap::new();
        let mut server_flags = HashMap::new();
        let mut credentials = HashMap::new();
        let mut tools = HashMap::new();
        for server in inventory.servers() {
            let server_uid = uid(&server_type, server.id.as_str());
            let server_attrs = ServerAttrs::of(server);
            let server_entity = Entity::new(
                server_uid.clone(),
                server_attrs.to_cedar().into_iter().collect(),
                HashSet::new(),
            )
            .map_err(schema_error)?;
            for tool in &server.tools {
                let key = format!("{}/{}", server.id, tool.name);
                let tool_uid = uid(&tool_type, &key);
                let entity = Entity::new(
                    tool_uid.clone(),
                    ToolAttrs::of(server, &server_attrs, tool)
                        .to_cedar()
                        .into_iter()
                        .collect(),
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
            server_flags.insert(server.id.to_string(), server_flags_of(server));
            credentials.insert(server.id.to_string(), server.credentials.clone());
        }
        let model = Self {
            tools,
            servers,
            server_flags,
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
        };
        model.validate_entities()?;
        Ok((model, credentials))
    }

    /// Every prebuilt entity, checked against the schema: an attribute the schema
    /// does not declare, or one it requires and the model did not produce, is a
    /// build error naming the entity.
    fn validate_entities(&self) -> Result<(), BuildError> {
        let servers = self.servers.values().map(|(_, e)| e.clone());
        let tools = self
            .tools
            .values()
            .flat_map(HashMap::values)
            .map(|t| t.entity.clone());
        Entities::from_entities(servers.chain(tools), Some(&self.schema))
            .map(drop)
            .map_err(|e| {
                BuildError::new(
                    BuildErrorKind::Schema,
                    format!("the inventory's entities do not match the Cedar schema: {e}"),
                )
            })
    }
}

/// Reads the servers' tool definitions: each one's fingerprint and input type.
fn read_definitions(
    inventory: &Inventory,
    definitions: &[(String, Value)],
    notes: &mut Vec<String>,
    untyped_args: &mut Vec<(String, args::Untyped)>,
) -> Result<Definitions, BuildError> {
    let mut defs = Definitions::new();
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
    Ok(defs)
}

/// What reading a server's resources or prompts does to a session: its data
/// classes, and content an attacker may shape when the server is third-party or
/// any of its tools has untrusted output.
fn server_flags_of(server: &ServerRecord) -> ServerFlags {
    ServerFlags {
        tainted: matches!(server.provenance, Provenance::ThirdParty(_))
            || server.tools.iter().any(|t| t.untrusted_output),
        private: server.data_classes.iter().max() >= Some(&DataClass::Confidential)
            || server
                .tools
                .iter()
                .any(|t| t.max_data_class() >= Some(DataClass::Confidential)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use cedar_policy::SchemaFragment;

    /// The attribute names the schema declares for an entity type or a common
    /// type of the `Mcp` namespace.
    fn declared(schema: &Value, section: &str, name: &str) -> BTreeSet<String> {
        let shape = match section {
            "entityTypes" => &schema["Mcp"]["entityTypes"][name]["shape"],
            _ => &schema["Mcp"]["commonTypes"][name],
        };
        shape["attributes"]
            .as_object()
            .unwrap_or_else(|| panic!("no attributes for {name}: {shape}"))
            .keys()
            .cloned()
            .collect()
    }

    fn produced(fields: &Fields) -> BTreeSet<String> {
        fields.iter().map(|(k, _)| k.clone()).collect()
    }

    fn sample_server() -> ServerRecord {
        let inventory = Inventory::from_toml_str(
            r#"
version = 1
[[servers]]
id = "web"
owner = "platform"
transport = "stdio"
credential = "none"
data_classes = ["public"]
provenance = { kind = "third_party", vendor = "acme", source = "https://example.com/web", version = "1.2.3", update_path = "manual", review = "approved" }
[[servers.tools]]
name = "fetch"
data_classes = ["public"]
actions = ["read", "egress"]
reach = "public"
destination = { argument = "url", kind = "url" }
"#,
            "sample.toml",
        )
        .unwrap();
        inventory.servers()[0].clone()
    }

    #[test]
    fn records_and_schema_name_the_same_attributes() {
        let (fragment, _) = SchemaFragment::from_cedarschema_str(SCHEMA).unwrap();
        let schema = fragment.to_json_value().unwrap();
        let server = sample_server();
        let tool = &server.tools[0];
        assert_eq!(
            produced(&ServerAttrs::of(&server).to_cedar()),
            declared(&schema, "entityTypes", "Server")
        );
        assert_eq!(
            produced(&ToolAttrs::of(&server, &ServerAttrs::of(&server), tool).to_cedar()),
            declared(&schema, "entityTypes", "Tool")
        );
        assert_eq!(
            produced(&SessionAttrs(SessionState::new()).to_cedar()),
            declared(&schema, "commonTypes", "Session")
        );
        // With an IP literal, the optional `ip` is produced too.
        let dest = DestinationAttrs::of_call(tool, &serde_json::json!({"url": "http://10.0.0.1/"}));
        assert!(dest.valid && dest.ip.is_some(), "{dest:?}");
        assert_eq!(
            produced(&dest.to_cedar()),
            declared(&schema, "commonTypes", "Destination")
        );
        let context = CallContext {
            tier: Tier::Team,
            session: SessionState::new(),
            approved: false,
            purpose: "",
            destination: dest.to_expression().unwrap(),
            args: RestrictedExpression::new_record([]).unwrap(),
        };
        assert_eq!(
            produced(&context.to_cedar().unwrap()),
            declared(&schema, "commonTypes", "CallContext")
        );
        assert_eq!(
            produced(&ListContext { tier: Tier::Team }.to_cedar()),
            declared(&schema, "commonTypes", "ListContext")
        );
    }

    #[test]
    fn contexts_validate_against_the_schema() {
        let server = sample_server();
        let inventory = Inventory::from_servers(vec![server.clone()]).unwrap();
        let (model, _) = Model::build(&inventory, &[]).unwrap();
        let entry = model.tool("web", "fetch").unwrap();
        let principal = uid(&model.user_type, "ana");
        for arguments in [
            serde_json::json!({"url": "https://docs.rs/"}),
            serde_json::json!({"url": "http://[::ffff:10.0.0.1]/"}),
            serde_json::json!({"url": "not a url"}),
            serde_json::json!({}),
        ] {
            let context = CallContext {
                tier: Tier::Production,
                session: SessionState::with(true, false),
                approved: true,
                purpose: "check",
                destination: DestinationAttrs::of_call(&entry.profile, &arguments)
                    .to_expression()
                    .unwrap(),
                args: RestrictedExpression::new_record([]).unwrap(),
            };
            cedar_policy::Request::new(
                principal.clone(),
                model.actions.call_tool.clone(),
                entry.uid.clone(),
                context.to_context().unwrap(),
                Some(&model.schema),
            )
            .unwrap_or_else(|e| panic!("{arguments}: {e}"));
        }
        cedar_policy::Request::new(
            principal,
            model.actions.list_tools.clone(),
            entry.uid.clone(),
            ListContext {
                tier: Tier::Personal,
            }
            .to_context()
            .unwrap(),
            Some(&model.schema),
        )
        .unwrap();
    }

    #[test]
    fn an_attribute_the_schema_does_not_declare_fails_the_build_check() {
        let server = sample_server();
        let inventory = Inventory::from_servers(vec![server.clone()]).unwrap();
        let (mut model, _) = Model::build(&inventory, &[]).unwrap();
        let (server_uid, _) = model.servers["web"].clone();
        let mut fields = ServerAttrs::of(&server).to_cedar();
        fields.push(field("ownr", text("typo")));
        let bad = Entity::new(
            server_uid.clone(),
            fields.into_iter().collect(),
            HashSet::new(),
        )
        .unwrap();
        model.servers.insert("web".to_owned(), (server_uid, bad));
        let err = model.validate_entities().unwrap_err();
        assert!(
            err.to_string().contains("do not match the Cedar schema"),
            "{err}"
        );
    }
}
