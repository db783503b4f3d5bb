//! Launch gates: may this inventory's servers run in a personal repo, a team repo, or
//! production? Each tier checks a set of controls, stricter tiers include the looser
//! tiers' controls, and the report names every control that fails, with the server,
//! the tool and a sentence a reviewer can act on.
//!
//! | control | tiers | fails when |
//! |---|---|---|
//! | `owner-present` | all | the owner is missing, blank or a placeholder (`unknown`, `TODO`, ...) |
//! | `credential-source` | all | a credential comes from a plaintext file, not env or a vault |
//! | `annotations-consistent` | all | the server's tool hints contradict the inventory (table in [`crate::ToolAnnotations`]) |
//! | `no-secret-public-reach` | all | a tool touches secret-class data and reaches the public network |
//! | `credential-tiers` | all | a credential may be resolved in production and in a looser tier (personal or team): no `tiers`, or tiers listing both |
//! | `read-write-split` | team, production | one tool both reads and writes or deletes confidential-or-above data |
//! | `approval-required` | team, production | a destructive (delete, execute) or production-facing tool is not approval-required |
//! | `third-party-reviewed` | team, production | a third-party server's review state is not `approved` |
//! | `third-party-pinned` | team, production | a third-party server's version is missing or floating |
//! | `tool-fingerprint-pinned` | production | a third-party tool has no pinned fingerprint |
//!
//! `credential-tiers` is checked in every tier because the personal laptop that
//! holds the production deploy key is the case that matters most. A tool is
//! production-facing when it writes, deletes or executes against production or
//! secret data, or the inventory marks it so
//! ([`crate::ToolProfile::is_production_facing`]); a read-only tool is not, so
//! read workflows need no approval.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::lint::{Linter, SecretFinder};

use serde::Serialize;

use crate::inventory::{CredentialSource, Inventory, ReviewState, ServerRecord, ToolProfile};
use crate::names::{ServerId, ToolName};
use crate::risk::RiskScore;
use crate::taxonomy::{ActionKind, DataClass, NetworkReach, Tier};

/// A launch-gate control, by its stable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Control {
    /// The owner is someone to call, not a placeholder.
    OwnerPresent,
    /// Credentials come from the environment or a secret manager.
    CredentialSource,
    /// The server's tool hints agree with the inventory.
    AnnotationsConsistent,
    /// No tool combines secret-class data with public network reach.
    NoSecretPublicReach,
    /// No credential may be resolved both in production and in a looser tier.
    CredentialTiers,
    /// No tool both reads and writes confidential-or-above data.
    ReadWriteSplit,
    /// Destructive and production-facing tools need a human's approval.
    ApprovalRequired,
    /// Third-party servers were reviewed and approved.
    ThirdPartyReviewed,
    /// Third-party servers run an exact, pinned version.
    ThirdPartyPinned,
    /// Third-party tools have pinned fingerprints.
    ToolFingerprintPinned,
    /// Third-party tool definitions carry nothing the lint finds (hidden
    /// characters, instructions to the model, references to other servers' tools,
    /// secrets). Checked only when the definitions are given
    /// ([`LaunchGate::evaluate_with_definitions`]).
    ToolDefinitionsClean,
}

impl Control {
    /// Every control, in report order.
    pub const ALL: [Self; 11] = [
        Self::OwnerPresent,
        Self::CredentialSource,
        Self::AnnotationsConsistent,
        Self::NoSecretPublicReach,
        Self::CredentialTiers,
        Self::ReadWriteSplit,
        Self::ApprovalRequired,
        Self::ThirdPartyReviewed,
        Self::ThirdPartyPinned,
        Self::ToolFingerprintPinned,
        Self::ToolDefinitionsClean,
    ];

    /// The stable id, as in reports.
    pub const fn id(self) -> &'static str {
        match self {
            Self::OwnerPresent => "owner-present",
            Self::CredentialSource => "credential-source",
            Self::AnnotationsConsistent => "annotations-consistent",
            Self::NoSecretPublicReach => "no-secret-public-reach",
            Self::CredentialTiers => "credential-tiers",
            Self::ReadWriteSplit => "read-write-split",
            Self::ApprovalRequired => "approval-required",
            Self::ThirdPartyReviewed => "third-party-reviewed",
            Self::ThirdPartyPinned => "third-party-pinned",
            Self::ToolFingerprintPinned => "tool-fingerprint-pinned",
            Self::ToolDefinitionsClean => "tool-definitions-clean",
        }
    }

    /// What the control asks for, in a sentence.
    pub const fn description(self) -> &'static str {
        match self {
            Self::OwnerPresent => {
                "Every server has an owner who answers for it, not a placeholder."
            }
            Self::CredentialSource => {
                "Credentials come from the environment or a secret manager, not a plaintext file."
            }
            Self::AnnotationsConsistent => {
                "The server's tool hints (readOnlyHint, destructiveHint, openWorldHint) agree with the inventory."
            }
            Self::NoSecretPublicReach => {
                "No tool combines secret-class data with public network reach."
            }
            Self::CredentialTiers => {
                "No credential may be resolved both in production and in a looser tier (personal or team)."
            }
            Self::ReadWriteSplit => "No tool both reads and writes confidential-or-above data.",
            Self::ApprovalRequired => {
                "Destructive (delete, execute) and production-facing tools need a person's approval for each call."
            }
            Self::ThirdPartyReviewed => "Third-party servers were reviewed and approved.",
            Self::ThirdPartyPinned => "Third-party servers run an exact, pinned version.",
            Self::ToolFingerprintPinned => "Third-party tools have pinned definition fingerprints.",
            Self::ToolDefinitionsClean => {
                "Third-party tool definitions carry nothing the lint finds."
            }
        }
    }

    /// The least demanding tier that checks this control; every stricter tier does too.
    pub const fn from_tier(self) -> Tier {
        match self {
            Self::OwnerPresent
            | Self::CredentialSource
            | Self::AnnotationsConsistent
            | Self::NoSecretPublicReach
            | Self::CredentialTiers => Tier::Personal,
            Self::ReadWriteSplit
            | Self::ApprovalRequired
            | Self::ThirdPartyReviewed
            | Self::ThirdPartyPinned
            | Self::ToolDefinitionsClean => Tier::Team,
            Self::ToolFingerprintPinned => Tier::Production,
        }
    }

    /// The controls a tier checks.
    pub fn for_tier(tier: Tier) -> impl Iterator<Item = Self> {
        Self::ALL.into_iter().filter(move |c| c.from_tier() <= tier)
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One control that failed, where, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ControlFailure {
    /// Which control.
    pub control: Control,
    /// The server concerned.
    pub server: ServerId,
    /// The tool concerned, when the control is about one tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolName>,
    /// What is wrong and what to do, in a sentence.
    pub message: String,
}

/// A tool's risk, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ToolRisk {
    /// The server.
    pub server: ServerId,
    /// The tool.
    pub tool: ToolName,
    /// Its score and factors.
    pub risk: RiskScore,
}

/// The outcome of a launch gate for one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LaunchReport {
    /// The tier evaluated.
    pub tier: Tier,
    /// The controls checked, in order.
    pub controls: Vec<Control>,
    /// How many servers and tools were checked.
    pub servers: usize,
    /// How many tools were checked.
    pub tools: usize,
    /// Every failure, grouped by control in the order of `controls`.
    pub failures: Vec<ControlFailure>,
    /// Every tool's risk, riskiest first.
    pub risks: Vec<ToolRisk>,
}

impl LaunchReport {
    /// Whether every control passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failures of one control.
    pub fn failures_of(&self, control: Control) -> impl Iterator<Item = &ControlFailure> {
        self.failures.iter().filter(move |f| f.control == control)
    }
}

/// Evaluates inventories against the controls of a tier.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct LaunchGate;

impl LaunchGate {
    /// Checks every server and tool of `inventory` against the controls of `tier`.
    ///
    /// ```
    /// # use mcpguard_core::{Inventory, LaunchGate, Tier, Control};
    /// let inv = Inventory::from_toml_str(r#"
    ///     version = 1
    ///     [[servers]]
    ///     id = "shell"
    ///     owner = "unknown"
    ///     transport = "stdio"
    ///     provenance = { kind = "first_party" }
    ///     credential = "none"
    ///     data_classes = ["internal"]
    ///     [[servers.tools]]
    ///     name = "run"
    ///     actions = ["execute"]
    ///     reach = "internal"
    /// "#, "inline")?;
    /// let report = LaunchGate::evaluate(&inv, Tier::Team);
    /// assert!(!report.passed());
    /// assert_eq!(report.failures_of(Control::OwnerPresent).count(), 1);
    /// assert_eq!(report.failures_of(Control::ApprovalRequired).count(), 1);
    /// assert!(LaunchGate::evaluate(&inv, Tier::Personal).failures_of(Control::ApprovalRequired).next().is_none());
    /// # Ok::<(), mcpguard_core::InventoryError>(())
    /// ```
    ///
    /// [`Control::ToolDefinitionsClean`] needs the servers' tool definitions and is
    /// not checked (nor listed) here; see [`LaunchGate::evaluate_with_definitions`].
    pub fn evaluate(inventory: &Inventory, tier: Tier) -> LaunchReport {
        Self::report(inventory, tier, None)
    }

    /// [`LaunchGate::evaluate`], and from the team tier up
    /// [`Control::ToolDefinitionsClean`]: the given third-party servers' tool
    /// definitions are linted ([`crate::Linter`], knowing every other server's id
    /// and tool names), and each finding fails the control.
    pub fn evaluate_with_definitions(
        inventory: &Inventory,
        tier: Tier,
        definitions: &Definitions<'_>,
    ) -> LaunchReport {
        Self::report(inventory, tier, Some(definitions))
    }

    fn report(
        inventory: &Inventory,
        tier: Tier,
        definitions: Option<&Definitions<'_>>,
    ) -> LaunchReport {
        let controls: Vec<Control> = Control::for_tier(tier)
            .filter(|c| *c != Control::ToolDefinitionsClean || definitions.is_some())
            .collect();
        let mut failures = Vec::new();
        for &control in &controls {
            for server in inventory.servers() {
                match (control, definitions) {
                    (Control::ToolDefinitionsClean, Some(d)) => {
                        check_definitions(inventory, server, d, &mut failures);
                    }
                    _ => check(control, server, &mut failures),
                }
            }
        }
        let mut risks: Vec<ToolRisk> = inventory
            .tools()
            .map(|(s, t)| ToolRisk {
                server: s.id.clone(),
                tool: t.name.clone(),
                risk: t.risk(),
            })
            .collect();
        risks.sort_by_key(|r| std::cmp::Reverse(r.risk.score()));
        LaunchReport {
            tier,
            controls,
            servers: inventory.servers().len(),
            tools: inventory.tool_count(),
            failures,
            risks,
        }
    }
}

/// Servers' tool definitions as `tools/list` returns them, for
/// [`LaunchGate::evaluate_with_definitions`].
#[derive(Default)]
pub struct Definitions<'a> {
    by_server: BTreeMap<String, Value>,
    secrets: Option<SecretFinder<'a>>,
}

impl fmt::Debug for Definitions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Definitions")
            .field("servers", &self.by_server.keys().collect::<Vec<_>>())
            .field("secrets", &self.secrets.is_some())
            .finish()
    }
}

impl<'a> Definitions<'a> {
    /// No definitions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `tools/list` of server `id` (an array of tools, or an object with a
    /// `tools` array).
    #[must_use]
    pub fn server(mut self, id: impl Into<String>, tools: Value) -> Self {
        self.by_server.insert(id.into(), tools);
        self
    }

    /// How to find secrets in definitions (a redactor's `find`).
    #[must_use]
    pub fn secrets(mut self, finder: SecretFinder<'a>) -> Self {
        self.secrets = Some(finder);
        self
    }
}

fn check_definitions(
    inventory: &Inventory,
    server: &ServerRecord,
    definitions: &Definitions<'_>,
    out: &mut Vec<ControlFailure>,
) {
    if server.provenance.third_party().is_none() {
        return;
    }
    let Some(tools) = definitions.by_server.get(server.id.as_str()) else {
        return;
    };
    let others = inventory
        .servers()
        .iter()
        .filter(|s| s.id != server.id)
        .flat_map(|s| {
            std::iter::once(s.id.to_string()).chain(s.tools.iter().map(|t| t.name.to_string()))
        });
    let mut linter = Linter::new().other_names(others);
    if let Some(secrets) = definitions.secrets {
        linter = linter.secrets(secrets);
    }
    for finding in linter.lint_tools(tools) {
        let tool = ToolName::try_from(finding.tool.as_str()).ok();
        let named = if tool.is_some() {
            String::new()
        } else {
            format!("tool `{}`: ", escape_name(&finding.tool))
        };
        let at = if finding.field.is_empty() {
            "the definition".to_owned()
        } else {
            format!("`{}`", escape_name(&finding.field))
        };
        out.push(ControlFailure {
            control: Control::ToolDefinitionsClean,
            server: server.id.clone(),
            tool,
            message: format!(
                "{named}{} in {at} at bytes {}..{} ({}): {}",
                finding.id,
                finding.span.start,
                finding.span.end,
                finding.excerpt,
                finding.explanation
            ),
        });
    }
}

/// A name or path with hidden characters shown as `\u{...}`.
fn escape_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic()
                || c == ' '
                || (!c.is_ascii() && crate::sanitize::hidden(c).is_none())
            {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", u32::from(c))
            }
        })
        .collect()
}

fn check(control: Control, server: &ServerRecord, out: &mut Vec<ControlFailure>) {
    let fail = |tool: Option<&ToolProfile>, message: String| ControlFailure {
        control,
        server: server.id.clone(),
        tool: tool.map(|t| t.name.clone()),
        message,
    };
    let third_party = server.provenance.third_party();
    match control {
        Control::OwnerPresent => match &server.owner {
            None => out.push(fail(
                None,
                "no owner; write `owner = \"<team or person>\"` naming who answers for this server".to_owned(),
            )),
            Some(owner) if owner.is_placeholder() => out.push(fail(None, format!(
                "owner `{owner}` is a placeholder; name the team or person who answers for this server"
            ))),
            Some(_) => {}
        },
        Control::CredentialSource => {
            for c in &server.credentials {
                if let CredentialSource::File(_) = c.source {
                    out.push(fail(None, format!(
                        "credential `{}` is read from a plaintext {}; move it to an environment variable or a secret manager (`env = \"VAR\"` or `vault = \"...\"`)",
                        c.name, c.source
                    )));
                }
            }
        }
        Control::CredentialTiers => {
            for c in server.credentials.iter().filter(|c| c.spans_production()) {
                let looser: Vec<&str> = [Tier::Personal, Tier::Team]
                    .into_iter()
                    .filter(|t| c.allowed_in(*t))
                    .map(Tier::as_str)
                    .collect();
                let how = if server.credentials.len() == 1 && c.name.as_str() == crate::names::DEFAULT_CREDENTIAL {
                    "`credential_tiers = [\"production\"]`, or write `credentials = [...]` with one credential per tier"
                } else {
                    "`tiers = [\"production\"]` on this one and a credential of its own for the others"
                };
                out.push(fail(None, format!(
                    "credential `{}` ({}) may be resolved in production and in {} alike, so a looser machine holds a production credential; give each tier its own credential: {how}",
                    c.name,
                    c.source,
                    looser.join(" and ")
                )));
            }
        }
        Control::AnnotationsConsistent => {
            for tool in &server.tools {
                let Some(hints) = tool.annotations else {
                    continue;
                };
                for c in hints.contradictions(&tool.actions, tool.reach) {
                    out.push(fail(Some(tool), format!(
                        "{c}; check what the tool really does and correct the inventory, or have the server fixed"
                    )));
                }
            }
        }
        Control::NoSecretPublicReach => {
            for tool in &server.tools {
                if tool.data_classes.contains(&DataClass::Secret)
                    && tool.reach == NetworkReach::Public
                {
                    out.push(fail(Some(tool), "touches secret-class data and reaches the public network, so one injected instruction can send secrets out; split the tool or narrow its reach".to_owned()));
                }
            }
        }
        Control::ReadWriteSplit => {
            for tool in &server.tools {
                let reads = tool.actions.contains(&ActionKind::Read);
                let writes = tool.actions.contains(&ActionKind::Write)
                    || tool.actions.contains(&ActionKind::Delete);
                if reads && writes && tool.max_data_class() >= Some(DataClass::Confidential) {
                    out.push(fail(Some(tool), format!(
                        "reads and writes `{}` data in one tool, so read-only access cannot be granted alone; split it into a read tool and a write tool",
                        tool.max_data_class().unwrap_or(DataClass::Confidential)
                    )));
                }
            }
        }
        Control::ApprovalRequired => {
            for tool in &server.tools {
                if tool.approval_required {
                    continue;
                }
                let why = if tool.is_destructive() {
                    "can delete or execute"
                } else if tool.is_production_facing() {
                    "changes production (writes production or secret data, or is marked `production_facing`)"
                } else {
                    continue;
                };
                out.push(fail(Some(tool), format!(
                    "{why} but is not approval-required; set `approval_required = true` so a person approves each call"
                )));
            }
        }
        Control::ThirdPartyReviewed => {
            if let Some(t) = third_party.filter(|t| t.review != ReviewState::Approved) {
                out.push(fail(None, format!(
                    "third-party server from `{}` is `{}`; review it and record `review = \"approved\"`, or remove it",
                    t.vendor,
                    t.review.as_str()
                )));
            }
        }
        Control::ThirdPartyPinned => {
            if let Some(t) = third_party.filter(|t| !t.is_pinned()) {
                let what = if t.version.is_some() {
                    "a floating version"
                } else {
                    "no version"
                };
                out.push(fail(None, format!(
                    "third-party server from `{}` has {what}; pin the exact release with `version = \"1.2.3\"` (or a commit or digest)",
                    t.vendor
                )));
            }
        }
        // Needs the definitions: see `check_definitions`.
        Control::ToolDefinitionsClean => {}
        Control::ToolFingerprintPinned => {
            if third_party.is_some() {
                for tool in server.tools.iter().filter(|t| t.fingerprint.is_none()) {
                    out.push(fail(Some(tool), "third-party tool has no pinned fingerprint, so a changed description would go unnoticed; record `fingerprint = \"sha256:...\"` from the reviewed definition".to_owned()));
                }
            }
        }
    }
}

impl fmt::Display for LaunchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        writeln!(
            f,
            "launch gate `{}`: {verdict} ({} servers, {} tools, {} controls checked, failures: {})",
            self.tier,
            self.servers,
            self.tools,
            self.controls.len(),
            self.failures.len()
        )?;
        writeln!(f)?;
        let rows: Vec<[String; 4]> = self
            .controls
            .iter()
            .map(|&c| {
                let n = self.failures_of(c).count();
                [
                    c.id().to_owned(),
                    if n == 0 {
                        "pass".to_owned()
                    } else {
                        format!("FAIL ({n})")
                    },
                    String::new(),
                    String::new(),
                ]
            })
            .collect();
        table(f, ["CONTROL", "RESULT", "", ""], &rows)?;
        if !self.failures.is_empty() {
            writeln!(f)?;
            writeln!(f, "failures:")?;
            let rows: Vec<[String; 4]> = self
                .failures
                .iter()
                .map(|x| {
                    [
                        x.control.id().to_owned(),
                        x.server.to_string(),
                        x.tool
                            .as_ref()
                            .map_or_else(|| "-".to_owned(), ToString::to_string),
                        x.message.clone(),
                    ]
                })
                .collect();
            table(f, ["CONTROL", "SERVER", "TOOL", "WHAT TO DO"], &rows)?;
        }
        if !self.risks.is_empty() {
            writeln!(f)?;
            writeln!(f, "risk (sensitivity × write ability × reach):")?;
            let rows: Vec<[String; 4]> = self
                .risks
                .iter()
                .map(|r| {
                    [
                        r.server.to_string(),
                        r.tool.to_string(),
                        format!("{:>2} {}", r.risk.score(), r.risk.level()),
                        format!(
                            "{} ({}) × {} ({}) × {} ({})",
                            r.risk.sensitivity,
                            r.risk.data_class,
                            r.risk.write_ability,
                            r.risk.strongest_action,
                            r.risk.reach_factor,
                            r.risk.reach
                        ),
                    ]
                })
                .collect();
            table(f, ["SERVER", "TOOL", "SCORE", "FACTORS"], &rows)?;
        }
        Ok(())
    }
}

/// Writes left-aligned columns; empty trailing columns are dropped.
fn table(f: &mut fmt::Formatter<'_>, header: [&str; 4], rows: &[[String; 4]]) -> fmt::Result {
    let used = header.iter().filter(|h| !h.is_empty()).count();
    let mut widths = [0usize; 4];
    for (i, h) in header.iter().enumerate().take(used) {
        let longest = rows
            .iter()
            .filter_map(|r| r.get(i))
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0);
        if let Some(w) = widths.get_mut(i) {
            *w = longest.max(h.chars().count());
        }
    }
    let line = |f: &mut fmt::Formatter<'_>, cells: [&str; 4]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate().take(used) {
            if i + 1 == used {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(f, "  {}", text.trim_end())
    };
    line(f, header)?;
    for r in rows {
        let [a, b, c, d] = r;
        line(f, [a.as_str(), b.as_str(), c.as_str(), d.as_str()])?;
    }
    Ok(())
}
