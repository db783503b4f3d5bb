//! The server inventory: every MCP server a team uses, who owns it, what data it
//! exposes, what its tools do and where its credentials come from.
//!
//! # File format
//!
//! TOML or JSON, version 1, strict: unknown fields are errors.
//!
//! ```toml
//! version = 1
//!
//! [[servers]]
//! id = "github"
//! owner = "platform-team"
//! transport = "stdio"                       # stdio | streamable_http | sse
//! # how `mcpguard proxy` starts it (stdio; no shell): the child's environment holds
//! # PATH, HOME, the variables `env` names and the credentials the tier allows
//! launch = { command = ["github-mcp-server", "stdio"], env = ["GITHUB_HOST"],
//!            credential_env = { default = "GITHUB_PERSONAL_ACCESS_TOKEN" } }
//! # or, for a streamable_http server: url = "https://mcp.example.com/mcp"
//! data_classes = ["internal", "confidential"]
//! credential = { env = "GITHUB_TOKEN" }     # or { vault = "vault://kv/github#token" },
//!                                           # { file = "~/.config/gh/token" }, or "none"
//! credential_tiers = ["team"]               # where it may be resolved (default: all)
//! # or several credentials, each named and resolved only in its own tiers:
//! # credentials = [
//! #   { name = "dev", env = "GITHUB_DEV_TOKEN", tiers = ["personal", "team"] },
//! #   { name = "deploy", vault = "vault://kv/github#deploy", tiers = ["production"] },
//! # ]
//! provenance = { kind = "third_party", vendor = "GitHub",
//!                source = "https://github.com/github/github-mcp-server",
//!                version = "0.9.1", update_path = "renovate", review = "approved" }
//!
//! [[servers.tools]]
//! name = "get_file_contents"
//! actions = ["read"]                        # read | write | delete | execute | egress
//! reach = "public"                          # none | internal | public
//! data_classes = ["internal"]               # omitted: the server's classes
//! untrusted_output = true                   # results may carry hostile content
//! approval_required = false                 # a human approves each call
//! production_facing = false                 # changes production (see below)
//! fingerprint = "sha256:…"                  # pinned tool definition (optional)
//! annotations = { readOnlyHint = true }     # hints the server reports (optional)
//! target = "path"                           # the argument audit names as the target
//!
//! [[servers.tools]]
//! name = "fetch"
//! actions = ["read", "egress"]
//! reach = "public"
//! # where the call sends data: url | host | host_port | email, and the hosts it
//! # may reach without approval in team and production (egress control); a `url`
//! # destination takes http, https, ws and wss unless `schemes` widens the list
//! destination = { argument = "url", kind = "url", allow = ["docs.rs", "*.github.com"] }
//! ```
//!
//! # Loading reports every problem
//!
//! A file that cannot be read, is not TOML or JSON, or has the wrong `version`
//! is refused with that one problem. Otherwise every server and tool is read
//! field by field and all problems are reported together
//! ([`InventoryError::problems`]): unknown, missing and mistyped fields, inline
//! credential values (never echoed), duplicate names, inconsistencies. Each names
//! the line and column, the path and the server's id. A missing or blank `owner`
//! is not one of them: the file loads and the launch gate's `owner-present`
//! control fails.
//!
//! # Production-facing
//!
//! A tool is *production-facing* when it writes, deletes or executes against
//! production-class data or above (`production`, `secret`), or when the
//! inventory marks it `production_facing = true` (a deploy tool whose data is
//! only `internal`, say). Reads are never production-facing on their own: read
//! workflows stay fast in every tier, while taint and secret rules still apply
//! to them. One definition, [`ToolProfile::is_production_facing`], drives both
//! the launch gate's `approval-required` control and the baseline policy
//! `approve-production`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{InventoryError, InventoryErrorKind, scrub_message};
use crate::fingerprint::Fingerprint;
use crate::names::{CredentialName, DEFAULT_CREDENTIAL, Owner, ServerId, ToolName};
use crate::taxonomy::Tier;
use crate::taxonomy::{ActionKind, DataClass, NetworkReach, ToolAnnotations};

/// The inventory format version this build reads and writes.
pub const INVENTORY_VERSION: u32 = 1;

/// Every MCP server a team uses, validated.
///
/// Built by [`Inventory::load`], [`Inventory::from_toml_str`],
/// [`Inventory::from_json_str`] or [`Inventory::from_servers`]; every path runs the
/// same checks, so an `Inventory` value is always consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub(crate) servers: Vec<ServerRecord>,
}

/// One MCP server.
///
/// Read from a file by [`Inventory::load`] and friends (which report every
/// problem at once); written back by [`Inventory::to_toml_string`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerRecord {
    /// Unique id within the inventory.
    pub id: ServerId,
    /// Who is accountable for it. `None` when the file leaves it out or blank:
    /// such an inventory loads, and fails the launch gate's `owner-present`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// What it is for, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How clients reach it.
    pub transport: Transport,
    /// How `mcpguard proxy` starts it, for a `stdio` server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    /// Where `mcpguard proxy` reaches it, for a `streamable_http` server: an
    /// `https://` URL, or `http://` on a loopback address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Who wrote it and whether it was reviewed.
    pub provenance: Provenance,
    /// The credentials it holds, each by name, with where it comes from (never
    /// the credential itself) and the tiers it may be resolved in. Empty for a
    /// server with `credential = "none"`.
    #[serde(flatten, serialize_with = "write_credentials")]
    pub credentials: Vec<Credential>,
    /// The data classes the server exposes through any of its tools.
    pub data_classes: BTreeSet<DataClass>,
    /// Its tools, as the inventory describes them.
    #[serde(default)]
    pub tools: Vec<ToolProfile>,
}

/// What one tool does, as the inventory (not the server) says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ToolProfile {
    /// The tool's name in `tools/list`.
    pub name: ToolName,
    /// What it is for, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The data classes it touches. Omitted in a file, it inherits its server's.
    #[serde(default)]
    pub data_classes: BTreeSet<DataClass>,
    /// What it does: at least one action.
    pub actions: BTreeSet<ActionKind>,
    /// How far over the network it reaches.
    pub reach: NetworkReach,
    /// Whether its results may carry content an attacker controls (web pages,
    /// issues, emails): reading them taints a session.
    #[serde(default)]
    pub untrusted_output: bool,
    /// Whether every call needs a human's approval.
    #[serde(default)]
    pub approval_required: bool,
    /// Whether the inventory marks it as changing production, whatever its data
    /// classes say (see [`ToolProfile::is_production_facing`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub production_facing: bool,
    /// The pinned digest of the tool's definition; a server whose definition no
    /// longer matches is offering a different tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The behaviour hints the server reports for this tool, to check against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
    /// Which argument names what the call touches, for audit: an argument name
    /// (`path`, `url`) or a JSON pointer into the arguments (`/options/file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where the tool sends data: the argument that holds the destination, its
    /// form, and the hosts it may reach without approval (egress control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<DestinationSpec>,
}

/// The destination argument of a tool that reaches the network.
///
/// ```toml
/// destination = { argument = "url", kind = "url", allow = ["docs.rs", "*.github.com"] }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DestinationSpec {
    /// The argument that holds it: a name (`url`) or a JSON pointer (`/target/host`).
    pub argument: String,
    /// What form it takes.
    pub kind: DestinationKind,
    /// Hosts the tool may reach without a person's approval in the team and
    /// production tiers: exact names (`docs.rs`), subdomains (`*.github.com`, not
    /// `github.com` itself), or IP literals (`203.0.113.7`, `2001:db8::1`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// For a `url` destination, the schemes the tool may use besides the default
    /// ones ([`DEFAULT_URL_SCHEMES`]): `schemes = ["ftp"]`. A URL with any other
    /// scheme is not a destination the gate accepts (`gopher:`, `dict:`, `file:`,
    /// ... reach services an HTTP client never would).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemes: Vec<String>,
}

/// The schemes a `url` destination accepts unless its spec widens the list.
pub const DEFAULT_URL_SCHEMES: [&str; 4] = ["http", "https", "ws", "wss"];

impl DestinationSpec {
    /// A destination argument with an empty allowlist and the default schemes.
    pub fn new(argument: impl Into<String>, kind: DestinationKind) -> Self {
        Self {
            argument: argument.into(),
            kind,
            allow: Vec::new(),
            schemes: Vec::new(),
        }
    }

    /// Whether a `url` destination of this spec may use `scheme` (lowercase):
    /// one of [`DEFAULT_URL_SCHEMES`] or of [`DestinationSpec::schemes`].
    pub fn accepts_scheme(&self, scheme: &str) -> bool {
        DEFAULT_URL_SCHEMES.contains(&scheme)
            || self.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme))
    }

    /// The destination argument's value in a call: a string, or `None` when the
    /// argument is missing or not a string.
    pub fn value_in<'a>(&self, arguments: &'a serde_json::Value) -> Option<&'a str> {
        let value = if self.argument.starts_with('/') {
            arguments.pointer(&self.argument)
        } else {
            arguments.get(&self.argument)
        }?;
        value.as_str()
    }
}

/// The form a destination argument takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DestinationKind {
    /// A URL: `https://docs.rs/serde`.
    Url,
    /// A host name or IP address: `api.example.com`, `10.0.0.7`, `::1`.
    Host,
    /// A host and a port: `db.example.com:5432`, `[::1]:8080`.
    HostPort,
    /// An email address; its domain is the destination.
    Email,
}

impl DestinationKind {
    /// Its name in an inventory file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Host => "host",
            Self::HostPort => "host_port",
            Self::Email => "email",
        }
    }
}

/// A destination spec's problem: the field, the index in it when it is a list,
/// and what to write instead.
pub(crate) fn check_destination(
    d: &DestinationSpec,
) -> Result<(), (&'static str, Option<usize>, String)> {
    if d.argument.trim().is_empty() {
        return Err((
            "argument",
            None,
            "`argument` names the argument that holds the destination (`argument = \"url\"`) or a JSON pointer (`/target/host`)".to_owned(),
        ));
    }
    for (i, scheme) in d.schemes.iter().enumerate() {
        let valid = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid || d.kind != DestinationKind::Url {
            return Err((
                "schemes",
                Some(i),
                if valid {
                    "`schemes` applies to a destination of kind `url` only".to_owned()
                } else {
                    "a scheme is a word like `ftp` or `ssh`, without `:` or `//`".to_owned()
                },
            ));
        }
    }
    for (i, entry) in d.allow.iter().enumerate() {
        let host = entry.strip_prefix("*.").unwrap_or(entry);
        let bad = host.is_empty()
            || host.contains(['*', '/', '@', ' ', '\t'])
            || host.contains("://")
            || host.starts_with('.');
        if bad {
            return Err((
                "allow",
                Some(i),
                format!(
                    "`{entry}` is not a host: write a name (`docs.rs`), a subdomain wildcard (`*.github.com`) or an IP address, without scheme, port or path"
                ),
            ));
        }
    }
    Ok(())
}

impl ToolProfile {
    /// A profile with the required parts; the rest default to "no": no data classes
    /// (inherited from the server when added to an inventory), trusted output, no
    /// approval, no fingerprint, no hints.
    pub fn new(name: ToolName, actions: BTreeSet<ActionKind>, reach: NetworkReach) -> Self {
        Self {
            name,
            description: None,
            data_classes: BTreeSet::new(),
            actions,
            reach,
            untrusted_output: false,
            approval_required: false,
            production_facing: false,
            fingerprint: None,
            annotations: None,
            target: None,
            destination: None,
        }
    }

    /// The value of the call's target argument (see [`ToolProfile::target`]), as
    /// text: a string as it is, any other JSON value in JSON form.
    pub fn target_of(&self, arguments: &serde_json::Value) -> Option<String> {
        let rule = self.target.as_deref()?;
        let value = if rule.starts_with('/') {
            arguments.pointer(rule)
        } else {
            arguments.get(rule)
        }?;
        Some(match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// The most sensitive data class the tool touches.
    pub fn max_data_class(&self) -> Option<DataClass> {
        self.data_classes.last().copied()
    }

    /// Whether the tool only reads (no write, delete or execute).
    pub fn is_read_only(&self) -> bool {
        !self.actions.iter().any(|a| a.mutates())
    }

    /// Whether the tool can destroy state: it deletes or executes.
    pub fn is_destructive(&self) -> bool {
        self.actions.iter().any(|a| a.is_destructive())
    }

    /// Whether the tool changes production: it writes, deletes or executes
    /// against production-class data or above, or the inventory marks it
    /// `production_facing`. A tool that only reads (or only sends data out) is
    /// not, whatever data it reads.
    ///
    /// ```
    /// # use std::collections::BTreeSet;
    /// # use mcpguard_core::{ActionKind, DataClass, NetworkReach, ToolName, ToolProfile};
    /// let tool = |actions: &[ActionKind]| {
    ///     let mut t = ToolProfile::new(
    ///         ToolName::try_from("q").unwrap(),
    ///         actions.iter().copied().collect(),
    ///         NetworkReach::Internal,
    ///     );
    ///     t.data_classes = BTreeSet::from([DataClass::Production]);
    ///     t
    /// };
    /// assert!(!tool(&[ActionKind::Read]).is_production_facing());
    /// assert!(tool(&[ActionKind::Read, ActionKind::Write]).is_production_facing());
    /// ```
    pub fn is_production_facing(&self) -> bool {
        self.production_facing
            || (!self.is_read_only() && self.max_data_class() >= Some(DataClass::Production))
    }
}

impl ServerRecord {
    /// A server with the required parts, no credential and no tools yet.
    pub fn new(
        id: ServerId,
        owner: Owner,
        transport: Transport,
        provenance: Provenance,
        data_classes: BTreeSet<DataClass>,
    ) -> Self {
        Self {
            id,
            owner: Some(owner),
            description: None,
            transport,
            launch: None,
            url: None,
            provenance,
            credentials: Vec::new(),
            data_classes,
            tools: Vec::new(),
        }
    }

    /// Adds a credential.
    #[must_use]
    pub fn with_credential(mut self, credential: Credential) -> Self {
        self.credentials.push(credential);
        self
    }

    /// The credential with this name.
    pub fn credential(&self, name: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.name.as_str() == name)
    }

    /// Adds a tool.
    #[must_use]
    pub fn with_tool(mut self, tool: ToolProfile) -> Self {
        self.tools.push(tool);
        self
    }

    /// The tool with this name.
    pub fn tool(&self, name: &str) -> Option<&ToolProfile> {
        self.tools.iter().find(|t| t.name.as_str() == name)
    }
}

/// How `mcpguard proxy` starts a stdio server (`launch = { command = [...] }`).
///
/// The child's environment starts empty: it holds `PATH` and `HOME` from the
/// proxy's, the variables `env` names, and the server's credentials that the
/// tier allows — each under the variable `credential_env` names for it, or, for
/// an `env` source, under that variable's own name. Never on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Launch {
    /// The program and its arguments (no shell).
    pub command: Vec<String>,
    /// Variables of the proxy's environment the child may see, besides `PATH`
    /// and `HOME`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// For a credential (by its name, `default` for the single `credential =`
    /// form), the variable the child reads it from.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub credential_env: std::collections::BTreeMap<String, String>,
}

impl Launch {
    /// A command with no extra variables.
    pub fn new(command: Vec<String>) -> Self {
        Self {
            command,
            env: Vec::new(),
            credential_env: std::collections::BTreeMap::new(),
        }
    }
}

/// Whether `name` can name an environment variable: ASCII letters, digits and
/// `_`, not starting with a digit.
pub fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// How a client talks to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Transport {
    /// A local child process over standard input and output.
    Stdio,
    /// MCP's streamable HTTP transport.
    StreamableHttp,
    /// The legacy HTTP + server-sent events transport.
    Sse,
}

/// Where a server comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawProvenance", into = "RawProvenance")]
#[non_exhaustive]
pub enum Provenance {
    /// Written and run by the organisation itself.
    FirstParty,
    /// Written by someone else.
    ThirdParty(ThirdParty),
}

impl Provenance {
    /// The third-party details, if any.
    pub fn third_party(&self) -> Option<&ThirdParty> {
        match self {
            Self::FirstParty => None,
            Self::ThirdParty(t) => Some(t),
        }
    }
}

/// A third-party server's origin and review.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThirdParty {
    /// Who publishes it.
    pub vendor: String,
    /// Where the code comes from: a repository URL or package name.
    pub source: String,
    /// The exact version in use, if pinned.
    pub version: Option<String>,
    /// How updates arrive (e.g. `renovate`, `manual`).
    pub update_path: Option<String>,
    /// Whether the organisation reviewed it.
    pub review: ReviewState,
}

impl ThirdParty {
    /// A third-party origin, unreviewed and unpinned until said otherwise.
    pub fn new(vendor: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            vendor: vendor.into(),
            source: source.into(),
            version: None,
            update_path: None,
            review: ReviewState::Unreviewed,
        }
    }

    /// Sets the pinned version.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Sets the review state.
    #[must_use]
    pub fn review(mut self, review: ReviewState) -> Self {
        self.review = review;
        self
    }

    /// Whether `version` names one exact release: not missing, not a range (`^1`,
    /// `~1.2`, `>=1`, `1.x`, `*`) and not a moving name (`latest`, `main`, ...).
    pub fn is_pinned(&self) -> bool {
        let Some(v) = self.version.as_deref().map(str::trim) else {
            return false;
        };
        const MOVING: [&str; 9] = [
            "latest", "main", "master", "head", "dev", "develop", "nightly", "stable", "next",
        ];
        !v.is_empty()
            && !MOVING.contains(&v.to_ascii_lowercase().as_str())
            && !v.starts_with(['^', '~', '>', '<', '='])
            && !v.contains(['*', ' ', '|'])
            && !v.split('.').any(|part| part.eq_ignore_ascii_case("x"))
    }
}

/// Whether a third-party server was reviewed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReviewState {
    /// Nobody looked at it.
    #[default]
    Unreviewed,
    /// A review is under way.
    InReview,
    /// Reviewed and approved for use.
    Approved,
    /// Reviewed and rejected.
    Rejected,
}

impl ReviewState {
    /// The state's name as written in inventory files and policies.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unreviewed => "unreviewed",
            Self::InReview => "in_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
}

/// The flat form of [`Provenance`] in files.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvenance {
    kind: ProvenanceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    update_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    review: Option<ReviewState>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProvenanceKind {
    FirstParty,
    ThirdParty,
}

impl TryFrom<RawProvenance> for Provenance {
    type Error = String;

    fn try_from(raw: RawProvenance) -> Result<Self, Self::Error> {
        match raw.kind {
            ProvenanceKind::FirstParty => {
                let extra = [
                    ("vendor", raw.vendor.is_some()),
                    ("source", raw.source.is_some()),
                    ("version", raw.version.is_some()),
                    ("update_path", raw.update_path.is_some()),
                    ("review", raw.review.is_some()),
                ];
                match extra.iter().find(|(_, set)| *set) {
                    Some((field, _)) => Err(format!(
                        "`{field}` describes a third-party server; remove it or write `kind = \"third_party\"`"
                    )),
                    None => Ok(Self::FirstParty),
                }
            }
            ProvenanceKind::ThirdParty => {
                let vendor = non_empty(raw.vendor).ok_or(
                    "a third-party server needs `vendor`: write `vendor = \"<publisher>\"`",
                )?;
                let source = non_empty(raw.source).ok_or(
                    "a third-party server needs `source`: write `source = \"<repository URL or package>\"`",
                )?;
                Ok(Self::ThirdParty(ThirdParty {
                    vendor,
                    source,
                    version: non_empty(raw.version),
                    update_path: non_empty(raw.update_path),
                    review: raw.review.unwrap_or_default(),
                }))
            }
        }
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

impl From<Provenance> for RawProvenance {
    fn from(p: Provenance) -> Self {
        match p {
            Provenance::FirstParty => Self {
                kind: ProvenanceKind::FirstParty,
                vendor: None,
                source: None,
                version: None,
                update_path: None,
                review: None,
            },
            Provenance::ThirdParty(t) => Self {
                kind: ProvenanceKind::ThirdParty,
                vendor: Some(t.vendor),
                source: Some(t.source),
                version: t.version,
                update_path: t.update_path,
                review: Some(t.review),
            },
        }
    }
}

/// One credential a server holds: its name, where it comes from, and the tiers in
/// which it may be resolved.
///
/// ```toml
/// credentials = [
///   { name = "dev", env = "GITHUB_DEV_TOKEN", tiers = ["personal", "team"] },
///   { name = "deploy", vault = "vault://kv/github#deploy", tiers = ["production"] },
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Credential {
    /// Its name within the server (`default` in the single-credential form).
    pub name: CredentialName,
    /// Where it comes from.
    pub source: CredentialSource,
    /// The tiers in which it may be resolved; `None`, every tier (which the launch
    /// gate's `credential-tiers` control reports).
    pub tiers: Option<BTreeSet<Tier>>,
}

impl Credential {
    /// A credential that may be resolved in every tier until limited.
    pub fn new(name: CredentialName, source: CredentialSource) -> Self {
        Self {
            name,
            source,
            tiers: None,
        }
    }

    /// Limits the tiers in which it may be resolved.
    #[must_use]
    pub fn with_tiers(mut self, tiers: impl IntoIterator<Item = Tier>) -> Self {
        self.tiers = Some(tiers.into_iter().collect());
        self
    }

    /// Whether it may be resolved in `tier`.
    pub fn allowed_in(&self, tier: Tier) -> bool {
        self.tiers
            .as_ref()
            .is_none_or(|tiers| tiers.contains(&tier))
    }

    /// Whether production and a looser tier (personal or team) may both resolve
    /// it: the launch gate's `credential-tiers` control fails such a credential.
    pub fn spans_production(&self) -> bool {
        self.allowed_in(Tier::Production)
            && (self.allowed_in(Tier::Personal) || self.allowed_in(Tier::Team))
    }
}

impl Serialize for Credential {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &self.name)?;
        let (key, value) = self.source.parts();
        map.serialize_entry(key, value)?;
        if let Some(tiers) = &self.tiers {
            map.serialize_entry("tiers", tiers)?;
        }
        map.end()
    }
}

/// The credentials in the form a file has: `credential = "none"`, the single
/// form, or `credentials = [...]`.
fn write_credentials<S: serde::Serializer>(
    credentials: &[Credential],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(None)?;
    match credentials {
        [] => map.serialize_entry("credential", "none")?,
        [one] if one.name.as_str() == DEFAULT_CREDENTIAL => {
            map.serialize_entry("credential", &one.source)?;
            if let Some(tiers) = &one.tiers {
                map.serialize_entry("credential_tiers", tiers)?;
            }
        }
        several => map.serialize_entry("credentials", several)?,
    }
    map.end()
}

/// Where a credential comes from. Never the credential itself: an inline value in
/// an inventory file is rejected when the file is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialSource {
    /// An environment variable, by name (upper case, digits and `_`).
    Env(String),
    /// A secret manager reference such as `vault://kv/github#token` or `op://vault/item/field`.
    Vault(String),
    /// A plaintext file on disk. Loads, but fails the launch gate's
    /// `credential-source` control: files are copied, backed up and read by tools.
    File(String),
}

impl CredentialSource {
    /// Whether the source is one the launch gate accepts (env or vault).
    pub fn is_managed(&self) -> bool {
        matches!(self, Self::Env(_) | Self::Vault(_))
    }

    fn parts(&self) -> (&'static str, &str) {
        match self {
            Self::Env(v) => ("env", v),
            Self::Vault(v) => ("vault", v),
            Self::File(v) => ("file", v),
        }
    }

    /// Reads a source as a file writes it: `"none"` (no credential), or a table
    /// with exactly one of `env`, `vault`, `file`. Never echoes a value.
    pub(crate) fn parse(value: serde_json::Value) -> Result<Option<Self>, String> {
        const HOW: &str = "name where the secret lives instead: `credential = { env = \"VAR_NAME\" }`, `credential = { vault = \"vault://path#field\" }` or `credential = \"none\"`";
        match value {
            serde_json::Value::String(s) if s == "none" => Ok(None),
            serde_json::Value::String(_) => Err(format!(
                "inline credential values are not allowed (value not shown); {HOW}"
            )),
            serde_json::Value::Object(map) => {
                let mut entries = map.into_iter();
                let (Some((key, value)), None) = (entries.next(), entries.next()) else {
                    return Err(format!("a credential source has exactly one key; {HOW}"));
                };
                let serde_json::Value::String(value) = value else {
                    return Err(format!("`{key}` takes a string; {HOW}"));
                };
                match key.as_str() {
                    "env" if is_env_name(&value) => Ok(Some(Self::Env(value))),
                    "env" => Err(
                        "`env` names an environment variable, not its value (value not shown): write `credential = { env = \"VAR_NAME\" }` with upper-case letters, digits and `_`"
                            .to_owned(),
                    ),
                    "vault" if is_secret_reference(&value) => Ok(Some(Self::Vault(value))),
                    "vault" => Err(
                        "`vault` takes a reference without user or password (value not shown): write `credential = { vault = \"vault://kv/app#field\" }` or an `op://vault/item/field` reference"
                            .to_owned(),
                    ),
                    "file" if !value.trim().is_empty() && !value.contains('\n') => {
                        Ok(Some(Self::File(value)))
                    }
                    "file" => Err("`file` takes a path".to_owned()),
                    other => {
                        let shown = if other.len() <= 32
                            && other.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                        {
                            format!("`{other}`")
                        } else {
                            "this key".to_owned()
                        };
                        Err(format!(
                            "{shown} is not a credential source and inline credential values are not allowed; {HOW}"
                        ))
                    }
                }
            }
            _ => Err(format!("unsupported credential; {HOW}")),
        }
    }
}

fn is_env_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn is_secret_reference(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    s.len() <= 512
        && !scheme.is_empty()
        && scheme.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
        && !rest.is_empty()
        && !authority.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl Serialize for CredentialSource {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (key, value) = self.parts();
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(key, value)?;
        map.end()
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(v) => write!(f, "env `{v}`"),
            Self::Vault(v) => write!(f, "vault `{v}`"),
            Self::File(v) => write!(f, "file `{v}`"),
        }
    }
}

/// The document as a file has it.
#[derive(Serialize)]
struct InventoryFile {
    version: u32,
    servers: Vec<ServerRecord>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Format {
    Toml,
    Json,
}

impl Format {
    /// The format of an inventory file, by its extension.
    pub(crate) fn of_path(path: &Path, origin: &str) -> Result<Self, InventoryError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Ok(Self::Toml),
            Some("json") => Ok(Self::Json),
            _ => Err(InventoryError::new(
                InventoryErrorKind::Io,
                origin,
                "cannot tell the format: name the file `*.toml` or `*.json`",
            )),
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            Self::Toml => "toml",
            Self::Json => "json",
        }
    }
}

impl Inventory {
    /// Writes the inventory as TOML that [`Inventory::from_toml_str`] reads back.
    ///
    /// # Errors
    ///
    /// Only if the TOML writer rejects the document, which a valid inventory does not
    /// cause; the error says so rather than panicking.
    pub fn to_toml_string(&self) -> Result<String, InventoryError> {
        toml::to_string(&self.as_file()).map_err(|e| {
            InventoryError::new(
                InventoryErrorKind::Invalid,
                "inventory",
                format!("cannot write TOML: {}", scrub_message(&e.to_string())),
            )
        })
    }

    /// Writes the inventory as pretty JSON that [`Inventory::from_json_str`] reads back.
    pub fn to_json_string(&self) -> String {
        // Serializing plain strings, sets and bools into JSON cannot fail.
        serde_json::to_string_pretty(&self.as_file()).unwrap_or_default()
    }

    /// The servers, in file order.
    pub fn servers(&self) -> &[ServerRecord] {
        &self.servers
    }

    /// The server with this id.
    pub fn server(&self, id: &str) -> Option<&ServerRecord> {
        self.servers.iter().find(|s| s.id.as_str() == id)
    }

    /// A tool of a server.
    pub fn tool(&self, server: &str, tool: &str) -> Option<(&ServerRecord, &ToolProfile)> {
        let s = self.server(server)?;
        Some((s, s.tool(tool)?))
    }

    /// Every tool with its server, in file order.
    pub fn tools(&self) -> impl Iterator<Item = (&ServerRecord, &ToolProfile)> {
        self.servers
            .iter()
            .flat_map(|s| s.tools.iter().map(move |t| (s, t)))
    }

    /// How many tools all servers have together.
    pub fn tool_count(&self) -> usize {
        self.servers.iter().map(|s| s.tools.len()).sum()
    }

    fn as_file(&self) -> InventoryFile {
        InventoryFile {
            version: INVENTORY_VERSION,
            servers: self.servers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_versions() {
        let pinned = |v: &str| ThirdParty::new("v", "s").version(v).is_pinned();
        for v in ["1.2.3", "v0.9.1", "sha256:abcd", "3f2a9c1", "2024-10-01"] {
            assert!(pinned(v), "{v}");
        }
        for v in [
            "latest", "LATEST", "^1.2", "~1", ">=1.0", "1.x", "*", "main", " ", "1 || 2",
        ] {
            assert!(!pinned(v), "{v}");
        }
        assert!(!ThirdParty::new("v", "s").is_pinned());
    }

    #[test]
    fn credential_sources_parse_strictly() {
        use serde_json::json;
        assert_eq!(CredentialSource::parse(json!("none")), Ok(None));
        assert_eq!(
            CredentialSource::parse(json!({"env": "GITHUB_TOKEN"})),
            Ok(Some(CredentialSource::Env("GITHUB_TOKEN".into())))
        );
        assert_eq!(
            CredentialSource::parse(json!({"vault": "op://eng/github/token"})),
            Ok(Some(CredentialSource::Vault(
                "op://eng/github/token".into()
            )))
        );
        for bad in [
            json!("ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE1234"),
            json!({"value": "ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE1234"}),
            json!({"env": "ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE1234"}),
            json!({"vault": "https://admin:hunter2hunter2@vault.example"}),
            json!({"env": "A", "vault": "vault://x"}),
            json!(42),
        ] {
            let err = CredentialSource::parse(bad).unwrap_err();
            assert!(!err.contains("FAKE") && !err.contains("hunter2"), "{err}");
        }
    }
}
