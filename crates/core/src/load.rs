//! Reading an inventory file: every problem in one pass.
//!
//! The text is parsed once into a plain tree (TOML is read as TOML, then viewed as
//! JSON values), and each server and tool is read field by field, so that one
//! mistyped field does not hide the next one. Positions are looked up only for
//! the problems found, in the original text ([`Locator`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::{self, Write as _};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{
    InventoryError, InventoryErrorKind, Position, Problem, is_name_shaped, scrub_message,
};
use crate::inventory::{
    Credential, CredentialSource, Format, INVENTORY_VERSION, Inventory, Launch, ServerRecord,
    ToolProfile, Transport, check_destination, is_env_var_name,
};
use crate::names::{CredentialName, Owner, ServerId, ToolName};
use crate::taxonomy::{ActionKind, DataClass, NetworkReach};

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document, written as `servers[1].tools[0].name`. A key that is
/// not name-shaped is written `(key not shown)`: a key is text from the file, and
/// a value pasted where a key goes may be a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DocPath(Vec<Seg>);

impl DocPath {
    fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Seg::Key(key.to_owned()));
        next
    }

    fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Seg::Index(index));
        next
    }

    fn extend(&self, inner: &serde_path_to_error::Path) -> Self {
        let mut next = self.clone();
        for segment in inner.iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => next.0.push(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => next.0.push(Seg::Key(key.clone())),
                _ => {}
            }
        }
        next
    }
}

impl fmt::Display for DocPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_name_shaped(k) {
                        f.write_str(k)?;
                    } else {
                        f.write_str("(key not shown)")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem before its position is looked up.
#[derive(Debug)]
pub(crate) struct Found {
    kind: InventoryErrorKind,
    at: DocPath,
    /// Whether the problem is the key itself (an unknown field), not its value.
    key: bool,
    server: Option<String>,
    message: String,
}

/// The problems of one load, with the server (by id) that each is about.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    found: Vec<Found>,
    /// Found past [`MAX_PROBLEMS`]: counted, not kept.
    more: usize,
    server: Option<String>,
}

impl Problems {
    /// Whether there is room for one more problem; counts it when there is not.
    fn room(&mut self) -> bool {
        let room = self.found.len() < MAX_PROBLEMS;
        if !room {
            self.more += 1;
        }
        room
    }

    pub(crate) fn push(&mut self, kind: InventoryErrorKind, at: DocPath, message: String) {
        if !self.room() {
            return;
        }
        self.found.push(Found {
            kind,
            at,
            key: false,
            server: self.server.clone(),
            message,
        });
    }

    fn unknown_key(&mut self, at: DocPath, known: &[&str]) {
        if !self.room() {
            return;
        }
        let key = match at.0.last() {
            Some(Seg::Key(k)) => k.clone(),
            _ => String::new(),
        };
        self.found.push(Found {
            kind: InventoryErrorKind::Schema,
            message: unknown_field(&key, known),
            at,
            key: true,
            server: self.server.clone(),
        });
    }

    fn schema(&mut self, at: DocPath, message: String) {
        self.push(InventoryErrorKind::Schema, at, message);
    }

    pub(crate) fn invalid(&mut self, at: DocPath, message: String) {
        self.push(InventoryErrorKind::Invalid, at, message);
    }

    pub(crate) fn about_server(&mut self, id: Option<&ServerId>) {
        self.server = id.map(ToString::to_string);
    }

    /// The error, with positions looked up in `source` when there is one.
    pub(crate) fn into_error(
        self,
        origin: &str,
        source: Option<&Locator<'_>>,
    ) -> Option<InventoryError> {
        let more = self.more;
        let mut problems: Vec<Problem> = self
            .found
            .into_iter()
            .map(|f| {
                let mut p = Problem::new(f.kind, f.message);
                p.position = source.and_then(|s| s.position(&f.at.0, f.key));
                let path = f.at.to_string();
                p.path = (!path.is_empty()).then_some(path);
                p.server = f.server;
                p
            })
            .collect();
        // Document order where the positions are known; found order otherwise.
        problems.sort_by_key(|p| p.position.map(|p| (p.line, p.column)));
        if more > 0 {
            problems.push(Problem::new(
                InventoryErrorKind::Invalid,
                format!("and {more} more problems, not listed; mend these and load the file again"),
            ));
        }
        InventoryError::from_problems(origin, problems)
    }
}

/// How many problems one error lists (and locates): enough for any file a
/// person writes, and a bound on the work a hostile file can cause.
pub(crate) const MAX_PROBLEMS: usize = 200;

/// Finds the position of a path in the original text.
#[derive(Debug)]
pub(crate) enum Locator<'a> {
    Toml(toml_edit::Document<&'a str>),
    Json(&'a str),
}

impl<'a> Locator<'a> {
    pub(crate) fn new(text: &'a str, format: Format) -> Option<Self> {
        match format {
            Format::Toml => toml_edit::Document::parse(text).ok().map(Self::Toml),
            Format::Json => Some(Self::Json(text)),
        }
    }

    /// The position of the value at `path` (of its key, with `key`), or of the
    /// nearest enclosing value that exists (a missing field is reported where its
    /// table is).
    pub(crate) fn position(&self, path: &[Seg], key: bool) -> Option<Position> {
        match self {
            Self::Toml(doc) => {
                let mut node = TomlNode::Item(doc.as_item());
                let mut span = None;
                for (i, seg) in path.iter().enumerate() {
                    if let Some(s) = node.key_span(seg).filter(|_| key && i + 1 == path.len()) {
                        span = Some(s);
                        break;
                    }
                    let Some(next) = node.child(seg) else { break };
                    node = next;
                    span = node.span().or(span);
                }
                span.map(|s| Position::of_offset(doc.raw(), s.start))
            }
            Self::Json(text) => {
                let mut value: &str = text;
                for seg in path {
                    let child = match seg {
                        Seg::Key(k) => serde_json::from_str::<
                            BTreeMap<String, &serde_json::value::RawValue>,
                        >(value)
                        .ok()
                        .and_then(|mut m| m.remove(k)),
                        Seg::Index(i) => {
                            serde_json::from_str::<Vec<&serde_json::value::RawValue>>(value)
                                .ok()
                                .and_then(|v| v.get(*i).copied())
                        }
                    };
                    let Some(child) = child else { break };
                    value = child.get();
                }
                let mut offset = offset_in(text, value)?;
                if key {
                    offset = json_key_start(text, offset).unwrap_or(offset);
                }
                Some(Position::of_offset(text, offset))
            }
        }
    }
}

#[derive(Clone, Copy)]
enum TomlNode<'a> {
    Item(&'a toml_edit::Item),
    Table(&'a toml_edit::Table),
    Value(&'a toml_edit::Value),
}

impl<'a> TomlNode<'a> {
    fn child(self, seg: &Seg) -> Option<Self> {
        use toml_edit::{Item, Value as V};
        match (self, seg) {
            (Self::Item(Item::Table(t)) | Self::Table(t), Seg::Key(k)) => t.get(k).map(Self::Item),
            (Self::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => a.get(*i).map(Self::Table),
            (Self::Item(Item::Value(v)) | Self::Value(v), seg) => match (v, seg) {
                (V::InlineTable(t), Seg::Key(k)) => t.get(k).map(Self::Value),
                (V::Array(a), Seg::Index(i)) => a.get(*i).map(Self::Value),
                _ => None,
            },
            _ => None,
        }
    }

    /// The span of `seg`'s key in this table.
    fn key_span(self, seg: &Seg) -> Option<std::ops::Range<usize>> {
        use toml_edit::{Item, Value as V};
        let Seg::Key(k) = seg else { return None };
        match self {
            Self::Item(Item::Table(t)) | Self::Table(t) => t.key(k)?.span(),
            Self::Item(Item::Value(V::InlineTable(t))) | Self::Value(V::InlineTable(t)) => {
                t.key(k)?.span()
            }
            _ => None,
        }
    }

    fn span(self) -> Option<std::ops::Range<usize>> {
        match self {
            Self::Item(i) => i.span(),
            Self::Table(t) => t.span(),
            Self::Value(v) => v.span(),
        }
    }
}

/// Where `part`, a slice of `text` (a borrowed `RawValue`), starts in it.
pub(crate) fn offset_in(text: &str, part: &str) -> Option<usize> {
    let at = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    (at <= text.len()).then_some(at)
}

/// Where the key of the member whose value starts at `value` begins: back over
/// `"key" :` (a key with escaped quotes is found at its last unescaped quote).
fn json_key_start(text: &str, value: usize) -> Option<usize> {
    let before = text.get(..value)?.trim_end();
    let before = before.strip_suffix(':')?.trim_end();
    let body = before.strip_suffix('"')?;
    let bytes = body.as_bytes();
    let mut i = body.len();
    while i > 0 {
        i -= 1;
        if bytes.get(i) == Some(&b'"') {
            let backslashes = bytes
                .get(..i)?
                .iter()
                .rev()
                .take_while(|b| **b == b'\\')
                .count();
            if backslashes % 2 == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Parses the text into a tree, checks the version, and reads every server.
pub(crate) fn read(
    text: &str,
    origin: &str,
    format: Format,
) -> Result<Vec<ServerRecord>, InventoryError> {
    let tree = match format {
        Format::Toml => {
            let table: toml::Table = toml::from_str(text)
                .map_err(|e| toml_error(text, origin, InventoryErrorKind::Syntax, &e))?;
            serde_json::to_value(table).map_err(|e| {
                InventoryError::new(
                    InventoryErrorKind::Syntax,
                    origin,
                    format!("cannot read the TOML: {}", scrub_message(&e.to_string())),
                )
            })?
        }
        Format::Json => serde_json::from_str::<Value>(text).map_err(|e| json_error(origin, &e))?,
    };
    let Value::Object(mut top) = tree else {
        return Err(InventoryError::new(
            InventoryErrorKind::Schema,
            origin,
            "an inventory is a JSON object: `{ \"version\": 1, \"servers\": [...] }`",
        ));
    };
    let locator = || Locator::new(text, format);
    check_version(top.get("version"), origin).map_err(|e| {
        let position = locator().and_then(|l| l.position(&[Seg::Key("version".into())], false));
        e.at(position)
    })?;
    let _ = top.remove("version");
    let mut problems = Problems::default();
    let servers = match top.remove("servers") {
        None => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(_) => {
            problems.schema(
                DocPath::default().key("servers"),
                "`servers` is a list of tables: write `[[servers]]` sections (TOML) or `\"servers\": [...]` (JSON)".to_owned(),
            );
            Vec::new()
        }
    };
    for key in top.keys() {
        problems.unknown_key(DocPath::default().key(key), &["version", "servers"]);
    }
    let root = DocPath::default().key("servers");
    // Each record with its index in the file, so that the checks below point at
    // the right server even when an earlier one could not be read.
    let mut records = Vec::with_capacity(servers.len());
    for (i, value) in servers.into_iter().enumerate() {
        if let Some(record) = read_server(value, &root.index(i), &mut problems) {
            records.push((i, record));
        }
    }
    check_servers(&mut records, &mut problems);
    if problems.found.is_empty() {
        return Ok(records.into_iter().map(|(_, r)| r).collect());
    }
    // The text is parsed for positions only when there is a problem to place.
    let located = problems.into_error(origin, locator().as_ref());
    Err(located.unwrap_or_else(|| {
        InventoryError::new(
            InventoryErrorKind::Invalid,
            origin,
            "the inventory is not valid",
        )
    }))
}

/// The fields of one table, taken one at a time; what is left is unknown.
struct Fields<'p> {
    map: Map<String, Value>,
    at: DocPath,
    known: &'static [&'static str],
    problems: &'p mut Problems,
    ok: bool,
}

impl<'p> Fields<'p> {
    /// The table at `at`, or `None` (and a problem) when the value is not one.
    fn of(
        value: Value,
        at: DocPath,
        what: &str,
        known: &'static [&'static str],
        problems: &'p mut Problems,
    ) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self {
                map,
                at,
                known,
                problems,
                ok: true,
            }),
            _ => {
                problems.schema(at, format!("{what} is a table of fields"));
                None
            }
        }
    }

    fn raw(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// An optional field; a value of the wrong type is a problem.
    fn take<T: DeserializeOwned>(&mut self, key: &str) -> Option<T> {
        let value = self.map.remove(key)?;
        let at = self.at.key(key);
        self.typed(value, &at)
    }

    /// `value`, found at `at`, as a `T`; a value of the wrong type is a problem
    /// at the path inside it where it went wrong.
    fn typed<T: DeserializeOwned>(&mut self, value: Value, at: &DocPath) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner = at.extend(e.path());
                self.fail(inner, with_hint(&scrub_message(&e.inner().to_string())));
                None
            }
        }
    }

    /// A required field: missing is a problem that says what to write.
    fn require<T: DeserializeOwned>(&mut self, key: &str, hint: &str) -> Option<T> {
        if !self.map.contains_key(key) {
            let at = self.at.clone();
            self.fail(at, format!("missing field `{key}`; {hint}"));
            return None;
        }
        self.take(key)
    }

    fn fail(&mut self, at: DocPath, message: String) {
        self.ok = false;
        self.problems.schema(at, message);
    }

    /// Reports every field not taken; `true` when the table had no problem.
    fn finish(self) -> bool {
        let mut ok = self.ok;
        for key in self.map.keys() {
            ok = false;
            self.problems.unknown_key(self.at.key(key), self.known);
        }
        ok
    }
}

fn unknown_field(key: &str, known: &[&str]) -> String {
    let mut expected = String::new();
    for (i, k) in known.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(expected, "{sep}`{k}`");
    }
    scrub_message(&format!(
        "unknown field `{key}`, expected one of {expected}"
    ))
}

const SERVER_FIELDS: &[&str] = &[
    "id",
    "owner",
    "description",
    "transport",
    "launch",
    "url",
    "provenance",
    "credential",
    "credential_tiers",
    "credentials",
    "data_classes",
    "tools",
];

const TOOL_FIELDS: &[&str] = &[
    "name",
    "description",
    "data_classes",
    "actions",
    "reach",
    "untrusted_output",
    "approval_required",
    "production_facing",
    "fingerprint",
    "annotations",
    "target",
    "destination",
];

fn read_server(value: Value, at: &DocPath, problems: &mut Problems) -> Option<ServerRecord> {
    problems.about_server(None);
    let mut f = Fields::of(value, at.clone(), "a server", SERVER_FIELDS, problems)?;
    let id: Option<ServerId> = f.require("id", "add `id = \"<unique name>\"`");
    f.problems.about_server(id.as_ref());
    let owner = read_owner(&mut f);
    let description: Option<String> = f.take("description");
    let transport = f.require(
        "transport",
        "add `transport = \"stdio\"`, `\"streamable_http\"` or `\"sse\"`",
    );
    let launch: Option<Launch> = f.take("launch");
    let url: Option<String> = f.take("url");
    let provenance = f.require(
        "provenance",
        "add `provenance = { kind = \"first_party\" }` or a third-party table with `vendor` and `source`",
    );
    let credentials = read_credentials(&mut f);
    let data_classes = f.require(
        "data_classes",
        "add `data_classes = [\"internal\"]` listing what the server exposes",
    );
    let tools = match f.raw("tools") {
        None => Some(Vec::new()),
        Some(Value::Array(list)) => {
            let mut tools = Vec::with_capacity(list.len());
            let complete = list.len();
            for (j, tool) in list.into_iter().enumerate() {
                let tool_at = at.key("tools").index(j);
                if let Some(t) = read_tool(tool, tool_at, f.problems) {
                    tools.push((j, t));
                }
            }
            // The tools that could be read are checked against each other and
            // their server even when others could not.
            check_tools(
                id.as_ref(),
                data_classes.as_ref(),
                &mut tools,
                at,
                f.problems,
            );
            (tools.len() == complete).then(|| tools.into_iter().map(|(_, t)| t).collect())
        }
        Some(_) => {
            let tools_at = at.key("tools");
            f.fail(
                tools_at,
                "`tools` is a list of tables: write `[[servers.tools]]` sections".to_owned(),
            );
            None
        }
    };
    let ok = f.finish();
    let (
        Some(id),
        Some(owner),
        Some(transport),
        Some(provenance),
        Some(credentials),
        Some(data_classes),
        Some(tools),
        true,
    ) = (
        id,
        owner,
        transport,
        provenance,
        credentials,
        data_classes,
        tools,
        ok,
    )
    else {
        return None;
    };
    Some(ServerRecord {
        id,
        owner,
        description,
        transport,
        launch,
        url,
        provenance,
        credentials,
        data_classes,
        tools,
    })
}

/// `owner`: missing or blank loads (and fails the `owner-present` launch control).
fn read_owner(f: &mut Fields<'_>) -> Option<Option<Owner>> {
    match f.raw("owner") {
        None => Some(None),
        Some(Value::String(s)) if s.trim().is_empty() => Some(None),
        Some(Value::String(s)) => match Owner::try_from(s) {
            Ok(owner) => Some(Some(owner)),
            Err(e) => {
                let at = f.at.key("owner");
                f.fail(at, format!("{e}"));
                None
            }
        },
        Some(_) => {
            let at = f.at.key("owner");
            f.fail(
                at,
                "`owner` is a string naming the team or person accountable".to_owned(),
            );
            None
        }
    }
}

const CREDENTIAL_HINT: &str = "add `credential = { env = \"VAR_NAME\" }`, `{ vault = \"...\" }` or `\"none\"`, or several: `credentials = [{ name = \"dev\", env = \"VAR_NAME\", tiers = [\"personal\"] }, ...]`";

/// `credential` (+ `credential_tiers`) or `credentials`, exactly one of them.
fn read_credentials(f: &mut Fields<'_>) -> Option<Vec<Credential>> {
    let single = f.raw("credential");
    let tiers = f.take("credential_tiers");
    let several = f.raw("credentials");
    match (single, several) {
        (None, None) => {
            let at = f.at.clone();
            f.fail(at, format!("missing field `credential`; {CREDENTIAL_HINT}"));
            None
        }
        (Some(_), Some(_)) => {
            let at = f.at.key("credentials");
            f.fail(
                at,
                "write either `credential` (one credential) or `credentials` (several), not both"
                    .to_owned(),
            );
            None
        }
        (Some(value), None) => {
            let at = f.at.key("credential");
            match CredentialSource::parse(value) {
                Ok(None) => {
                    if tiers.is_some() {
                        let at = f.at.key("credential_tiers");
                        f.fail(
                            at,
                            "`credential_tiers` says where a credential may be resolved, and this server has none; remove it".to_owned(),
                        );
                        return None;
                    }
                    Some(Vec::new())
                }
                Ok(Some(source)) => {
                    let mut c = Credential::new(CredentialName::default_name(), source);
                    c.tiers = tiers;
                    Some(vec![c])
                }
                Err(message) => {
                    f.fail(at, message);
                    None
                }
            }
        }
        (None, Some(value)) => {
            if tiers.is_some() {
                let at = f.at.key("credential_tiers");
                f.fail(
                    at,
                    "with `credentials`, each entry lists its own `tiers`; remove `credential_tiers`"
                        .to_owned(),
                );
            }
            let at = f.at.key("credentials");
            let Value::Array(list) = value else {
                f.fail(
                    at,
                    "`credentials` is a list: `credentials = [{ name = \"dev\", env = \"VAR_NAME\", tiers = [\"personal\"] }]`".to_owned(),
                );
                return None;
            };
            let mut out = Vec::with_capacity(list.len());
            let mut ok = true;
            for (k, entry) in list.into_iter().enumerate() {
                match read_credential(entry, &at.index(k), f) {
                    Some(c) => out.push(c),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
    }
}

fn read_credential(entry: Value, at: &DocPath, f: &mut Fields<'_>) -> Option<Credential> {
    const HOW: &str = "write `{ name = \"dev\", env = \"VAR_NAME\", tiers = [\"personal\"] }` (or `vault = \"...\"` instead of `env`)";
    let Value::Object(mut map) = entry else {
        f.fail(
            at.clone(),
            format!("a credential is a table; {HOW} (inline values are not allowed)"),
        );
        return None;
    };
    let name: Option<CredentialName> = match map.remove("name") {
        Some(v) => f.typed(v, &at.key("name")),
        None => {
            f.fail(at.clone(), format!("missing field `name`; {HOW}"));
            None
        }
    };
    let tiers = match map.remove("tiers") {
        None => Some(None),
        Some(v) => f.typed(v, &at.key("tiers")).map(Some),
    };
    // What is left is the source: exactly one of `env`, `vault`, `file`.
    let source = match CredentialSource::parse(Value::Object(map)) {
        Ok(Some(source)) => Some(source),
        Ok(None) => {
            f.fail(
                at.clone(),
                format!("a credential in `credentials` has a source; {HOW}"),
            );
            None
        }
        Err(message) => {
            f.fail(at.clone(), message);
            None
        }
    };
    let (Some(name), Some(tiers), Some(source)) = (name, tiers, source) else {
        return None;
    };
    let mut c = Credential::new(name, source);
    c.tiers = tiers;
    Some(c)
}

fn read_tool(value: Value, at: DocPath, problems: &mut Problems) -> Option<ToolProfile> {
    let mut f = Fields::of(value, at, "a tool", TOOL_FIELDS, problems)?;
    let name: Option<ToolName> =
        f.require("name", "add `name = \"<the tool's name in tools/list>\"`");
    let description = f.take("description");
    let data_classes = f.take("data_classes").unwrap_or_default();
    let actions = f.require(
        "actions",
        "add `actions = [\"read\"]` listing what the tool does",
    );
    let reach = f.require(
        "reach",
        "add `reach = \"none\"`, `\"internal\"` or `\"public\"`",
    );
    let untrusted_output = f.take("untrusted_output").unwrap_or_default();
    let approval_required = f.take("approval_required").unwrap_or_default();
    let production_facing = f.take("production_facing").unwrap_or_default();
    let fingerprint = f.take("fingerprint");
    let annotations = f.take("annotations");
    let target = f.take("target");
    let destination = f.take("destination");
    let ok = f.finish();
    let (Some(name), Some(actions), Some(reach), true) = (name, actions, reach, ok) else {
        return None;
    };
    let mut tool = ToolProfile::new(name, actions, reach);
    tool.description = description;
    tool.data_classes = data_classes;
    tool.untrusted_output = untrusted_output;
    tool.approval_required = approval_required;
    tool.production_facing = production_facing;
    tool.fingerprint = fingerprint;
    tool.annotations = annotations;
    tool.target = target;
    tool.destination = destination;
    Some(tool)
}

/// The consistency checks of a whole inventory: every problem, each at the path
/// of the server or tool it is in (each server is given with its index in
/// `servers`).
pub(crate) fn check_servers(servers: &mut [(usize, ServerRecord)], problems: &mut Problems) {
    let mut ids = HashSet::new();
    for (i, server) in servers.iter() {
        if !ids.insert(server.id.clone()) {
            problems.about_server(Some(&server.id));
            problems.invalid(
                DocPath::default().key("servers").index(*i).key("id"),
                format!(
                    "duplicate server id `{}`; give each server its own id",
                    server.id
                ),
            );
        }
    }
    for (i, server) in servers.iter_mut() {
        let at = DocPath::default().key("servers").index(*i);
        check_server(server, &at, problems);
    }
    problems.about_server(None);
}

/// [`check_servers`] and the tool checks, for records built in code.
pub(crate) fn check_built(servers: &mut [(usize, ServerRecord)], problems: &mut Problems) {
    check_servers(servers, problems);
    for (i, server) in servers.iter_mut() {
        let at = DocPath::default().key("servers").index(*i);
        let mut tools: Vec<(usize, ToolProfile)> = std::mem::take(&mut server.tools)
            .into_iter()
            .enumerate()
            .collect();
        check_tools(
            Some(&server.id),
            Some(&server.data_classes),
            &mut tools,
            &at,
            problems,
        );
        server.tools = tools.into_iter().map(|(_, t)| t).collect();
    }
    problems.about_server(None);
}

fn check_server(server: &mut ServerRecord, at: &DocPath, problems: &mut Problems) {
    problems.about_server(Some(&server.id));
    if server.data_classes.is_empty() {
        problems.invalid(
            at.key("data_classes"),
            "a server declares the data it exposes; write for example `data_classes = [\"internal\"]`"
                .to_owned(),
        );
    }
    check_reach(server, at, problems);
    let mut credentials = HashSet::new();
    for (k, c) in server.credentials.iter().enumerate() {
        if !credentials.insert(&c.name) {
            problems.invalid(
                at.key("credentials").index(k).key("name"),
                format!(
                    "duplicate credential name `{}`; give each credential of a server its own name",
                    c.name
                ),
            );
        }
    }
}

/// `launch` and `url`: each with its transport, a command to run, variable
/// names that are names, credentials that exist, a URL the proxy may dial.
fn check_reach(server: &ServerRecord, at: &DocPath, problems: &mut Problems) {
    if let Some(launch) = &server.launch {
        let at = at.key("launch");
        if server.transport != Transport::Stdio {
            problems.invalid(
                at.clone(),
                "`launch` starts a stdio server; this one's transport is not `stdio` (give `url` instead)".to_owned(),
            );
        }
        if launch.command.first().is_none_or(|p| p.trim().is_empty()) {
            problems.invalid(
                at.key("command"),
                "`command` names the program and its arguments: `command = [\"npx\", \"-y\", \"@scope/server\"]`".to_owned(),
            );
        }
        for (k, name) in launch.env.iter().enumerate() {
            if !is_env_var_name(name) {
                problems.invalid(
                    at.key("env").index(k),
                    "`env` lists variable names (`NODE_OPTIONS`), never values: credentials come from `credential`".to_owned(),
                );
            }
        }
        for (credential, var) in &launch.credential_env {
            if !server
                .credentials
                .iter()
                .any(|c| c.name.as_str() == credential)
            {
                problems.invalid(
                    at.key("credential_env").key(credential),
                    "`credential_env` maps a credential of this server (by name; `default` for `credential = ...`) to a variable; this server has no credential by that name".to_owned(),
                );
            }
            if !is_env_var_name(var) {
                problems.invalid(
                    at.key("credential_env").key(credential),
                    "the value is the name of the variable the server reads the credential from, such as `GITHUB_TOKEN`".to_owned(),
                );
            }
        }
    }
    if let Some(url) = &server.url {
        let at = at.key("url");
        if server.transport != Transport::StreamableHttp {
            problems.invalid(
                at.clone(),
                "`url` is where a `streamable_http` server listens; this one's transport is not `streamable_http`".to_owned(),
            );
        }
        if let Err(why) = check_server_url(url) {
            problems.invalid(at, why);
        }
    }
    if server.launch.is_some() && server.url.is_some() {
        problems.invalid(
            at.clone(),
            "give `launch` (a stdio server) or `url` (a streamable HTTP server), not both"
                .to_owned(),
        );
    }
}

/// An `https://` URL, or `http://` to a loopback host, without credentials in it.
fn check_server_url(text: &str) -> Result<(), String> {
    let Ok(url) = url::Url::parse(text) else {
        return Err("`url` is not a URL; write `url = \"https://mcp.example.com/mcp\"`".to_owned());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "`url` must not carry credentials; the server's credential comes from `credential`"
                .to_owned(),
        );
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("`url` must be `https://` (or `http://` to a loopback address)".to_owned()),
    }
}

/// The checks of a server's tools (each with its index in the server's `tools`):
/// unique names, at least one action, reach for egress, targets and
/// destinations, and data classes within the server's (which tools without
/// their own inherit, when the server's are known).
fn check_tools(
    server: Option<&ServerId>,
    server_classes: Option<&BTreeSet<DataClass>>,
    tools: &mut [(usize, ToolProfile)],
    at: &DocPath,
    problems: &mut Problems,
) {
    let server_name =
        server.map_or_else(|| "this server".to_owned(), |id| format!("server `{id}`"));
    let mut names = HashSet::new();
    for (j, tool) in tools.iter_mut() {
        let tool_at = at.key("tools").index(*j);
        if !names.insert(tool.name.clone()) {
            problems.invalid(
                tool_at.key("name"),
                format!(
                    "duplicate tool name `{}` in {server_name}; each tool is listed once",
                    tool.name
                ),
            );
        }
        if tool.actions.is_empty() {
            problems.invalid(
                tool_at.key("actions"),
                "a tool does at least one thing; write for example `actions = [\"read\"]`"
                    .to_owned(),
            );
        }
        if tool.actions.contains(&ActionKind::Egress) && tool.reach == NetworkReach::None {
            problems.invalid(
                tool_at.key("reach"),
                "a tool with `egress` reaches the network; write `reach = \"internal\"` or `reach = \"public\"`"
                    .to_owned(),
            );
        }
        if tool.target.as_deref().is_some_and(|t| t.trim().is_empty()) {
            problems.invalid(
                tool_at.key("target"),
                "`target` names an argument (`target = \"path\"`) or a JSON pointer (`target = \"/options/file\"`)".to_owned(),
            );
        }
        if let Some(Err((field, index, message))) = tool.destination.as_ref().map(check_destination)
        {
            let dest = tool_at.key("destination").key(field);
            let dest = index.map_or_else(|| dest.clone(), |i| dest.index(i));
            problems.invalid(dest, message);
        }
        let Some(server_classes) = server_classes else {
            continue;
        };
        if tool.data_classes.is_empty() {
            tool.data_classes = server_classes.clone();
        } else {
            let extra: Vec<String> = tool
                .data_classes
                .iter()
                .filter(|c| !server_classes.contains(c))
                .map(ToString::to_string)
                .collect();
            if let Some(first) = extra.first() {
                problems.invalid(
                    tool_at.key("data_classes"),
                    format!(
                        "tool `{}` touches `{}` data but {server_name} does not declare it; add `{first}` to the server's `data_classes`",
                        tool.name,
                        extra.join("`, `"),
                    ),
                );
            }
        }
    }
}

/// `version` before anything else, so that a newer file is refused for its
/// version rather than for the fields this build does not know.
fn check_version(version: Option<&Value>, origin: &str) -> Result<(), InventoryError> {
    let version_error = |message: String| {
        InventoryError::new(InventoryErrorKind::Version, origin, message).in_path("version")
    };
    match version.map(Value::as_i64) {
        None => Err(InventoryError::new(
            InventoryErrorKind::Version,
            origin,
            format!(
                "missing `version`; write `version = {INVENTORY_VERSION}` at the top of the file"
            ),
        )),
        Some(Some(v)) if v == i64::from(INVENTORY_VERSION) => Ok(()),
        Some(Some(v)) => Err(version_error(format!(
            "unsupported inventory version `{v}`; this build reads version {INVENTORY_VERSION}: write `version = {INVENTORY_VERSION}` and the matching fields"
        ))),
        Some(None) => Err(version_error(format!(
            "`version` is a whole number; write `version = {INVENTORY_VERSION}`"
        ))),
    }
}

fn toml_error(
    text: &str,
    origin: &str,
    kind: InventoryErrorKind,
    e: &toml::de::Error,
) -> InventoryError {
    let position = e.span().map(|s| Position::of_offset(text, s.start));
    InventoryError::new(kind, origin, with_hint(&scrub_message(e.message()))).at(position)
}

fn json_error(origin: &str, e: &serde_json::Error) -> InventoryError {
    // serde_json appends " at line L column C" to its message; the position is
    // reported separately.
    let message = e.to_string();
    let message = message
        .rfind(" at line ")
        .and_then(|i| message.get(..i))
        .unwrap_or(&message);
    let position = (e.line() > 0).then_some(Position {
        line: e.line(),
        column: e.column(),
    });
    InventoryError::new(
        InventoryErrorKind::Syntax,
        origin,
        with_hint(&scrub_message(message)),
    )
    .at(position)
}

/// Adds what to write for the type errors people make most.
fn with_hint(message: &str) -> String {
    const HINTS: [(&str, &str); 2] = [
        (
            "invalid type: sequence, expected",
            "write a single value, not a list",
        ),
        (
            "invalid type: a string, expected a sequence",
            "write a list: `[\"...\"]`",
        ),
    ];
    match HINTS.iter().find(|(m, _)| message.starts_with(m)) {
        Some((_, hint)) => format!("{message}; {hint}"),
        None => message.to_owned(),
    }
}

/// Reading and checking an inventory: the constructors of [`Inventory`] live
/// here, beside the parser, so that `inventory` (the types) depends on nothing
/// that reads them.
impl Inventory {
    /// Reads an inventory file, TOML or JSON by its extension (`.toml`, `.json`).
    ///
    /// # Errors
    ///
    /// [`InventoryErrorKind::Io`] when the file cannot be read or its extension is
    /// neither; otherwise as [`Inventory::from_toml_str`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, InventoryError> {
        crate::InventorySource::read(path)?.parse()
    }

    /// Parses a TOML inventory. `origin` names it in errors (a file name, `stdin`).
    ///
    /// # Errors
    ///
    /// A syntax error, a missing or unsupported `version`, an unknown or missing
    /// field, a value of the wrong type, an inline credential, a duplicate server
    /// id or tool name, or a tool that claims data its server does not declare.
    /// The error names the line and column or path and what to write instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # use mcpguard_core::Inventory;
    /// let inv = Inventory::from_toml_str(r#"
    ///     version = 1
    ///     [[servers]]
    ///     id = "docs"
    ///     owner = "docs-team"
    ///     transport = "stdio"
    ///     provenance = { kind = "first_party" }
    ///     credential = "none"
    ///     data_classes = ["public"]
    ///     [[servers.tools]]
    ///     name = "search"
    ///     actions = ["read"]
    ///     reach = "none"
    /// "#, "inline")?;
    /// assert_eq!(inv.tool_count(), 1);
    ///
    /// let err = Inventory::from_toml_str("version = 2", "inline").unwrap_err();
    /// assert!(err.to_string().contains("version"));
    /// # Ok::<(), mcpguard_core::InventoryError>(())
    /// ```
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, InventoryError> {
        Self::parse(text, origin, Format::Toml)
    }

    /// Parses a JSON inventory, with the same shape and checks as TOML.
    ///
    /// # Errors
    ///
    /// As [`Inventory::from_toml_str`].
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, InventoryError> {
        Self::parse(text, origin, Format::Json)
    }

    /// Builds an inventory from records made in code, with the same consistency
    /// checks as a file. Tools without data classes inherit their server's.
    ///
    /// # Errors
    ///
    /// [`InventoryErrorKind::Invalid`] for duplicate names, a server without data
    /// classes, a tool without actions, a tool claiming data its server does not
    /// declare, or egress without network reach.
    pub fn from_servers(servers: Vec<ServerRecord>) -> Result<Self, InventoryError> {
        Self::validated(servers, "inventory")
    }

    pub(crate) fn parse(text: &str, origin: &str, format: Format) -> Result<Self, InventoryError> {
        read(text, origin, format).map(|servers| Self { servers })
    }

    fn validated(servers: Vec<ServerRecord>, origin: &str) -> Result<Self, InventoryError> {
        let mut indexed: Vec<(usize, ServerRecord)> = servers.into_iter().enumerate().collect();
        let mut problems = Problems::default();
        check_built(&mut indexed, &mut problems);
        match problems.into_error(origin, None) {
            Some(e) => Err(e),
            None => Ok(Self {
                servers: indexed.into_iter().map(|(_, s)| s).collect(),
            }),
        }
    }
}
