//! A tool call as the gate sees it.

use mcpguard_core::Fingerprint;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The verified identity of a caller: an id and the groups it belongs to, as the
/// embedder's authentication established them. A session id alone never proves
/// identity; this does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    id: String,
    groups: Vec<String>,
}

impl Principal {
    /// A principal in no group.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            groups: Vec::new(),
        }
    }

    /// Adds a group (policies test `principal in Mcp::Group::"<name>"`).
    #[must_use]
    pub fn in_group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The groups.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }
}

/// One `tools/call` to authorize.
///
/// ```
/// use mcpguard_policy::{Principal, ToolCall};
/// let call = ToolCall::new(Principal::new("ana").in_group("eng"), "filesystem", "read_text_file")
///     .arguments(serde_json::json!({"path": "src/lib.rs"}))
///     .session("conv-42")
///     .purpose("answer a question about the code");
/// assert_eq!(call.tool(), "read_text_file");
/// ```
///
/// Its `Debug` shows no text the caller sent (names, session, arguments and
/// purpose may all carry secrets): only the call's digest, which binds them, and
/// which parts are set.
#[derive(Clone, PartialEq)]
pub struct ToolCall {
    /// `None` for `tools/call`; the server action for `resources/read` and
    /// `prompts/get`, whose `tool` is the resource URI or prompt name.
    action: Option<ServerAction>,
    principal: Principal,
    session: Option<String>,
    server: String,
    tool: String,
    arguments: Value,
    /// The arguments given were nested deeper than
    /// [`mcpguard_core::MAX_JSON_DEPTH`]: dropped, and the call is denied.
    too_deep: bool,
    purpose: Option<String>,
    definition: Option<Fingerprint>,
}

impl ToolCall {
    /// A call with no arguments (`{}`), no session and no purpose.
    pub fn new(principal: Principal, server: impl Into<String>, tool: impl Into<String>) -> Self {
        Self {
            action: None,
            principal,
            session: None,
            server: server.into(),
            tool: tool.into(),
            arguments: Value::Object(serde_json::Map::new()),
            too_deep: false,
            purpose: None,
            definition: None,
        }
    }

    /// A `resources/read` of `subject` (the URI) or `prompts/get` of `subject`
    /// (the prompt's name), with the prompt's arguments if any: decided by that
    /// action's policies on the server, and audited, redacted and recorded in the
    /// session like a tool call ([`crate::Gate::admit`]). `tool()` is the subject.
    pub fn server_action(
        principal: Principal,
        server: impl Into<String>,
        action: ServerAction,
        subject: impl Into<String>,
    ) -> Self {
        let mut call = Self::new(principal, server, subject);
        call.action = Some(action);
        call
    }

    /// The server action, for a `resources/read` or `prompts/get`; `None` for a
    /// tool call.
    pub fn action(&self) -> Option<ServerAction> {
        self.action
    }

    /// The MCP method: `tools/call`, or that of the server action
    /// ([`ServerAction::method`]).
    pub fn method(&self) -> &'static str {
        self.action.map_or("tools/call", ServerAction::method)
    }

    /// Sets the arguments (a JSON object, as in `params.arguments`).
    ///
    /// Arguments nested deeper than [`mcpguard_core::MAX_JSON_DEPTH`] levels
    /// (more than any JSON parser hands over; only a value built in code can
    /// be) are not kept: the call has empty arguments and is denied as
    /// malformed, so nothing downstream walks, clones or logs them.
    #[must_use]
    pub fn arguments(mut self, arguments: Value) -> Self {
        if mcpguard_core::nested_deeper_than(&arguments, mcpguard_core::MAX_JSON_DEPTH) {
            mcpguard_core::dismantle(arguments);
            self.arguments = Value::Object(serde_json::Map::new());
            self.too_deep = true;
        } else {
            self.arguments = arguments;
            self.too_deep = false;
        }
        self
    }

    /// Whether the arguments given were nested too deep to keep (see
    /// [`ToolCall::arguments`]).
    pub(crate) fn arguments_too_deep(&self) -> bool {
        self.too_deep
    }

    /// Sets the session handle. Sessions are kept per principal: the same handle
    /// used by another principal is another session. Without one, the principal's
    /// calls share one session, so taint is never escaped by omitting it.
    #[must_use]
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Sets what the call is for.
    #[must_use]
    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    /// Sets the fingerprint of the tool definition the caller saw (a gateway
    /// computes it from the server's `tools/list`); checked against the pin.
    #[must_use]
    pub fn definition(mut self, fingerprint: Fingerprint) -> Self {
        self.definition = Some(fingerprint);
        self
    }

    /// The caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The session handle, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The server id.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The tool name.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The arguments.
    pub fn arguments_value(&self) -> &Value {
        &self.arguments
    }

    /// The stated purpose, if any.
    pub fn purpose_text(&self) -> Option<&str> {
        self.purpose.as_deref()
    }

    /// The fingerprint of the definition the caller saw, if given.
    pub fn definition_fingerprint(&self) -> Option<Fingerprint> {
        self.definition
    }

    /// The digest an approval is bound to: SHA-256 over the principal, server,
    /// tool and canonical JSON of the arguments. Any change to any of them (even
    /// one argument) gives another digest.
    pub fn digest(&self) -> CallDigest {
        let mut h = Sha256::new();
        // A server action is another call than a tool of the same name (tool
        // calls keep the digest they always had).
        if self.action.is_some() {
            let method = self.method();
            h.update((method.len() as u64).to_le_bytes());
            h.update(method.as_bytes());
        }
        for part in [
            self.principal.id.as_str(),
            self.server.as_str(),
            self.tool.as_str(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update(mcpguard_core::canonical_json(&self.arguments).as_bytes());
        CallDigest(h.finalize().into())
    }
}

impl std::fmt::Debug for ToolCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const HIDDEN: &str = "[REDACTED]";
        let arguments = match &self.arguments {
            Value::Object(map) => format!("[REDACTED: {} arguments]", map.len()),
            _ => HIDDEN.to_owned(),
        };
        f.debug_struct("ToolCall")
            .field("method", &self.method())
            .field("digest", &self.digest())
            .field("principal", &HIDDEN)
            .field("server", &HIDDEN)
            .field("tool", &HIDDEN)
            .field("session", &self.session.as_ref().map(|_| HIDDEN))
            .field("arguments", &arguments)
            .field("purpose", &self.purpose.as_ref().map(|_| HIDDEN))
            .field("definition", &self.definition)
            .finish()
    }
}

/// The JSON form of a call ([`ToolCall`]'s `Deserialize`): what the CLI's
/// `policy explain`, the fuzz targets and the verdict corpus read.
///
/// ```json
/// {"principal": {"id": "ana", "groups": ["eng"]}, "server": "filesystem",
///  "tool": "write_file", "arguments": {"path": "a.md"}, "session": "conv-7",
///  "purpose": "fix a typo", "definition": "sha256:…", "method": "tools/call"}
/// ```
///
/// `principal` may be a bare id (`"ana"`), with the groups beside it
/// (`"groups": [...]`); `method` is `tools/call` (the default),
/// `resources/read` or `prompts/get` (whose `tool` is the URI or prompt name).
#[derive(serde::Deserialize)]
struct CallForm {
    principal: PrincipalForm,
    #[serde(default)]
    groups: Vec<String>,
    server: String,
    tool: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    definition: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum PrincipalForm {
    Id(String),
    Full {
        id: String,
        #[serde(default)]
        groups: Vec<String>,
    },
}

impl<'de> serde::Deserialize<'de> for ToolCall {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let form = CallForm::deserialize(deserializer)?;
        let (id, mut groups) = match form.principal {
            PrincipalForm::Id(id) => (id, Vec::new()),
            PrincipalForm::Full { id, groups } => (id, groups),
        };
        groups.extend(form.groups);
        let principal = Principal { id, groups };
        let action = match form.method.as_deref() {
            None | Some("tools/call") => None,
            Some(method) => Some(
                [
                    ServerAction::ReadResource,
                    ServerAction::GetPrompt,
                    ServerAction::CreateMessage,
                    ServerAction::Elicit,
                    ServerAction::ListRoots,
                ]
                .into_iter()
                .find(|a| a.method() == method)
                .ok_or_else(|| {
                    D::Error::custom(format!(
                        "unknown method `{}`: expected `tools/call`, `resources/read`, `prompts/get`, \
                         `sampling/createMessage`, `elicitation/create` or `roots/list`",
                        method.escape_debug()
                    ))
                })?,
            ),
        };
        let mut call = match action {
            None => Self::new(principal, form.server, form.tool),
            Some(action) => Self::server_action(principal, form.server, action, form.tool),
        };
        if let Some(arguments) = form.arguments {
            call = call.arguments(arguments);
        }
        call.session = form.session;
        call.purpose = form.purpose;
        if let Some(fp) = form.definition {
            let fp: Fingerprint = fp
                .parse()
                .map_err(|e| D::Error::custom(format!("`definition` is not a fingerprint: {e}")))?;
            call = call.definition(fp);
        }
        Ok(call)
    }
}

/// The digest of one exact call (see [`ToolCall::digest`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallDigest([u8; 32]);

impl CallDigest {
    /// The digest as 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The digest of 64 hex digits, as [`CallDigest::to_hex`] wrote it.
    pub(crate) fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(bytes))
    }
}

impl std::fmt::Debug for CallDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallDigest({})", self.to_hex())
    }
}

impl std::fmt::Display for CallDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An MCP action on a server rather than a tool: what a client asks of it
/// (`resources/read`, `prompts/get`), or what it asks of the client, relayed by
/// `mcpguard proxy` only when the policies permit (Cedar actions `sample`,
/// `elicit`, `list_roots`, whose resource is the asking server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerAction {
    /// `resources/read`.
    ReadResource,
    /// `prompts/get`.
    GetPrompt,
    /// `sampling/createMessage`: the server asks the client's model to
    /// generate text — a prompt-injection channel when the server is not
    /// trusted (the baseline permits it in the personal tier only).
    CreateMessage,
    /// `elicitation/create`: the server asks the person at the client for input.
    Elicit,
    /// `roots/list`: the server asks which directories the client exposes.
    ListRoots,
}

impl ServerAction {
    /// The MCP method.
    pub fn method(self) -> &'static str {
        match self {
            Self::ReadResource => "resources/read",
            Self::GetPrompt => "prompts/get",
            Self::CreateMessage => "sampling/createMessage",
            Self::Elicit => "elicitation/create",
            Self::ListRoots => "roots/list",
        }
    }

    /// Whether the server's content comes back to the client (`resources/read`,
    /// `prompts/get`) and so may taint the session; the requests a server makes
    /// of the client carry the client's answer to the server instead.
    pub fn reads_server(self) -> bool {
        matches!(self, Self::ReadResource | Self::GetPrompt)
    }
}

/// A call as it may be shown: every text the caller sent (names, session,
/// target, purpose, argument keys and values) passed through the gate's
/// redactor, once, at admission. Every audit event of the call and its approval
/// question are made from it.
#[derive(Debug, Clone, PartialEq)]
pub struct RedactedCall {
    pub(crate) method: &'static str,
    pub(crate) actor: String,
    pub(crate) session: Option<String>,
    pub(crate) server: String,
    pub(crate) tool: String,
    pub(crate) target: Option<String>,
    pub(crate) purpose: Option<String>,
    pub(crate) arguments: Value,
}

impl RedactedCall {
    /// The MCP method (`tools/call`, `resources/read`, `prompts/get`).
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The caller's id.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The session handle, if any.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The server id.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The tool (or the resource URI, the prompt name).
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The target argument, by the inventory's rule for the tool.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The stated purpose.
    pub fn purpose(&self) -> Option<&str> {
        self.purpose.as_deref()
    }

    /// The arguments, keys and values redacted.
    pub fn arguments(&self) -> &Value {
        &self.arguments
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digest_binds_every_part_but_not_key_order() {
        let base = ToolCall::new(Principal::new("ana"), "fs", "write")
            .arguments(json!({"path": "a", "body": "x"}));
        let same = ToolCall::new(Principal::new("ana"), "fs", "write")
            .arguments(serde_json::from_str(r#"{"body":"x","path":"a"}"#).unwrap());
        assert_eq!(base.digest(), same.digest());
        for other in [
            base.clone().arguments(json!({"path": "b", "body": "x"})),
            ToolCall::new(Principal::new("bob"), "fs", "write")
                .arguments(json!({"path": "a", "body": "x"})),
            ToolCall::new(Principal::new("ana"), "fs", "delete")
                .arguments(json!({"path": "a", "body": "x"})),
            ToolCall::new(Principal::new("ana"), "fs2", "write")
                .arguments(json!({"path": "a", "body": "x"})),
            // Length-prefixed: moving a character between parts changes the digest.
            ToolCall::new(Principal::new("anaf"), "s", "write")
                .arguments(json!({"path": "a", "body": "x"})),
        ] {
            assert_ne!(base.digest(), other.digest());
        }
        assert_eq!(base.digest().to_hex().len(), 64);
    }

    #[test]
    fn the_json_form_reads_every_part() {
        let call: ToolCall = serde_json::from_value(json!({
            "principal": {"id": "ana", "groups": ["eng"]},
            "groups": ["ops"],
            "server": "fs", "tool": "write",
            "arguments": {"path": "a", "body": "x"},
            "session": "s1", "purpose": "p",
        }))
        .unwrap();
        let built = ToolCall::new(
            Principal::new("ana").in_group("eng").in_group("ops"),
            "fs",
            "write",
        )
        .arguments(json!({"path": "a", "body": "x"}))
        .session("s1")
        .purpose("p");
        assert!(call == built);
        let read: ToolCall = serde_json::from_value(json!({
            "principal": "ana", "server": "docs", "tool": "file:///a", "method": "resources/read"
        }))
        .unwrap();
        assert_eq!(read.action(), Some(ServerAction::ReadResource));
        for bad in [
            json!({"principal": "ana", "server": "fs"}),
            json!({"principal": "ana", "server": "fs", "tool": "t", "method": "tools/delete"}),
            json!({"principal": "ana", "server": "fs", "tool": "t", "definition": "md5:00"}),
            json!({"principal": 7, "server": "fs", "tool": "t"}),
        ] {
            assert!(
                serde_json::from_value::<ToolCall>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
