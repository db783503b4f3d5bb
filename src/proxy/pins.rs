//! Live pinning: the upstream's definitions as last listed, checked against the
//! inventory by [`mcpguard_core::LivePins`] when the proxy connects and whenever
//! the upstream says its list changed.

use std::collections::HashMap;

use mcpguard_core::{Fingerprint, LivePins, ServerRecord, Tier};
use rmcp::model::Tool;

/// The upstream's tools as last listed, and those withheld, with why.
#[derive(Debug, Default, Clone)]
pub(super) struct Snapshot {
    /// Every definition, in the upstream's order (withheld ones included: a
    /// call to one is refused by name, with its reason).
    pub(super) tools: Vec<Tool>,
    /// Tool name to the reason it is withheld.
    pub(super) withheld: HashMap<String, String>,
    /// Tool name to the fingerprint of its definition, computed once when the
    /// definitions arrived: what each call's pin is checked against.
    pub(super) fingerprints: HashMap<String, Fingerprint>,
    /// What the lint found in definitions it did not withhold (personal tier).
    pub(super) warnings: Vec<String>,
}

/// What the snapshot is checked against.
pub(super) struct Pins<'a> {
    pub(super) record: &'a ServerRecord,
    pub(super) tier: Tier,
    /// The inventory file as a person would name it in a command.
    pub(super) inventory: &'a str,
    /// The tool names of the inventory's other servers.
    pub(super) others: &'a [String],
}

impl Pins<'_> {
    /// Checks `tools` as `tools/list` shows them (the definitions rmcp read,
    /// written back: what the agent would see).
    pub(super) fn check(&self, tools: Vec<Tool>) -> Snapshot {
        let values: Vec<serde_json::Value> = tools
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or(serde_json::Value::Null))
            .collect();
        let found =
            LivePins::new(self.record, self.tier, self.inventory, self.others).check(&values);
        let fingerprints = tools
            .iter()
            .zip(&values)
            .filter_map(|(tool, value)| {
                Some((tool.name.to_string(), Fingerprint::of_tool(value).ok()?))
            })
            .collect();
        Snapshot {
            tools,
            fingerprints,
            withheld: found
                .withheld
                .into_iter()
                .map(|w| (w.name, w.reason))
                .collect(),
            warnings: found.warnings,
        }
    }
}
