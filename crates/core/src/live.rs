//! Live definitions against the inventory: what a gateway in front of a running
//! server (`mcpguard proxy`) withholds of the tools it offers now.

use std::collections::HashSet;

use serde_json::Value;

use crate::fingerprint::Fingerprint;
use crate::inventory::ServerRecord;
use crate::lint::Linter;
use crate::taxonomy::Tier;

/// The inventory's view of one server's live tool definitions (see
/// [`LivePins::check`]).
#[derive(Debug, Clone, Copy)]
pub struct LivePins<'a> {
    record: &'a ServerRecord,
    tier: Tier,
    inventory: &'a str,
    others: &'a [String],
}

/// A definition that is withheld, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Withheld {
    /// The tool's name as listed (`?` when it has none).
    pub name: String,
    /// Its live fingerprint, when it has one.
    pub fingerprint: Option<Fingerprint>,
    /// Why, in a sentence that says what would accept it.
    pub reason: String,
}

/// What [`LivePins::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveCheck {
    /// The definitions withheld.
    pub withheld: Vec<Withheld>,
    /// What the lint found in definitions it let through (personal tier).
    pub warnings: Vec<String>,
}

impl<'a> LivePins<'a> {
    /// The live definitions of `record`'s server, checked in `tier`; messages
    /// name the inventory file as `inventory` (in the `mcpguard pin` command
    /// that accepts a tool) and the lint's cross-server check knows `others`,
    /// the tool names of the inventory's other servers.
    pub fn new(
        record: &'a ServerRecord,
        tier: Tier,
        inventory: &'a str,
        others: &'a [String],
    ) -> Self {
        Self {
            record,
            tier,
            inventory,
            others,
        }
    }

    /// Checks `tools` (definitions as `tools/list` shows them). Withheld: a
    /// tool with no name, or listed twice; a definition that cannot be
    /// fingerprinted; a tool that is not in the inventory; one whose
    /// definition is not its pinned one; and, in team and production, one the
    /// lint finds poisoned ([`Linter`]; in personal the finding is a warning).
    /// A pinned tool that is not offered is not withheld here: a call to it has
    /// no definition to check, and is refused as such.
    pub fn check(&self, tools: &[Value]) -> LiveCheck {
        let server = self.record.id.as_str();
        let mut found = LiveCheck::default();
        let mut seen = HashSet::new();
        let mut twice = HashSet::new();
        let linter = Linter::new().other_names(self.others);
        for tool in tools {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                found.withheld.push(Withheld {
                    name: "?".to_owned(),
                    fingerprint: None,
                    reason: format!("the upstream lists a tool of `{server}` without a name"),
                });
                continue;
            };
            if !seen.insert(name) {
                twice.insert(name);
                continue;
            }
            let Ok(live) = Fingerprint::of_tool(tool) else {
                found.withheld.push(Withheld {
                    name: name.to_owned(),
                    fingerprint: None,
                    reason: format!(
                        "the definition of `{server}/{name}` could not be fingerprinted, so it cannot be checked against a pin"
                    ),
                });
                continue;
            };
            if let Some(reason) = self.reason(name, live, tool, &linter, &mut found.warnings) {
                found.withheld.push(Withheld {
                    name: name.to_owned(),
                    fingerprint: Some(live),
                    reason,
                });
            }
        }
        for name in twice {
            found.withheld.retain(|w| w.name != name);
            found.withheld.push(Withheld {
                name: name.to_owned(),
                fingerprint: None,
                reason: format!(
                    "the upstream lists `{server}/{name}` more than once, so which definition a call reaches is unknown"
                ),
            });
        }
        found
    }

    fn reason(
        &self,
        name: &str,
        live: Fingerprint,
        tool: &Value,
        linter: &Linter<'_>,
        warnings: &mut Vec<String>,
    ) -> Option<String> {
        let server = self.record.id.as_str();
        let accept = format!(
            "`mcpguard pin {} --server {server} --tool {name} --fingerprint {live}`",
            self.inventory
        );
        match self.record.tool(name) {
            None => {
                return Some(format!(
                    "`{server}/{name}` is offered by the upstream but is not in the inventory: review it, \
                     add a `[[servers.tools]]` entry for it to {}, then accept this definition with {accept}",
                    self.inventory
                ));
            }
            Some(profile) => {
                if let Some(pin) = profile.fingerprint
                    && pin != live
                {
                    return Some(format!(
                        "the definition of `{server}/{name}` changed since it was pinned ({pin}; now {live}): \
                         a changed tool is a different tool; review the change, then accept it with {accept}"
                    ));
                }
            }
        }
        let finding = linter.lint_tool(tool).into_iter().next()?;
        if self.tier == Tier::Personal {
            warnings.push(format!(
                "the definition of `{server}/{name}` is shown in the personal tier, but the lint finds: {finding}"
            ));
            return None;
        }
        Some(format!(
            "the definition of `{server}/{name}` is withheld in the {} tier because the lint finds it poisoned: {finding}",
            self.tier
        ))
    }
}
