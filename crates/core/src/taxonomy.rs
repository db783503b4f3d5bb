//! The vocabulary every other part of mcpguard speaks: how sensitive data is, what a
//! tool does to it, how far it reaches, and what an MCP server claims about its tools.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How sensitive the data a tool or server touches is, from least to most.
///
/// The order is meaningful: `Public < Internal < Confidential < Customer < Production
/// < Secret`, so "confidential or above" is `class >= DataClass::Confidential`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DataClass {
    /// Published, or fine to publish.
    Public,
    /// Internal to the organisation: wikis, most source code, tickets.
    Internal,
    /// Restricted within the organisation: unreleased plans, HR, security findings.
    Confidential,
    /// Data about or belonging to customers, including personal data.
    Customer,
    /// Live production systems and their data.
    Production,
    /// Credentials, keys and other secrets.
    Secret,
}

impl DataClass {
    /// Every class, least sensitive first.
    pub const ALL: [Self; 6] = [
        Self::Public,
        Self::Internal,
        Self::Confidential,
        Self::Customer,
        Self::Production,
        Self::Secret,
    ];

    /// The class's name as written in inventory files and policies.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Customer => "customer",
            Self::Production => "production",
            Self::Secret => "secret",
        }
    }

    /// The sensitivity level, `0` for public up to `5` for secret. Policies compare it.
    pub const fn level(self) -> u8 {
        match self {
            Self::Public => 0,
            Self::Internal => 1,
            Self::Confidential => 2,
            Self::Customer => 3,
            Self::Production => 4,
            Self::Secret => 5,
        }
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataClass {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName::new("data class", s, &Self::ALL.map(Self::as_str)))
    }
}

/// What a tool does to its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActionKind {
    /// Reads data and changes nothing.
    Read,
    /// Creates or modifies data.
    Write,
    /// Removes data or otherwise destroys state.
    Delete,
    /// Runs code or commands: may do anything the process can.
    Execute,
    /// Sends data over the network to a destination the caller can influence.
    Egress,
}

impl ActionKind {
    /// Every action kind.
    pub const ALL: [Self; 5] = [
        Self::Read,
        Self::Write,
        Self::Delete,
        Self::Execute,
        Self::Egress,
    ];

    /// The action's name as written in inventory files and policies.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Delete => "delete",
            Self::Execute => "execute",
            Self::Egress => "egress",
        }
    }

    /// Whether the action changes state (write, delete or execute).
    pub const fn mutates(self) -> bool {
        matches!(self, Self::Write | Self::Delete | Self::Execute)
    }

    /// Whether the action can destroy state (delete or execute).
    pub const fn is_destructive(self) -> bool {
        matches!(self, Self::Delete | Self::Execute)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName::new("action", s, &Self::ALL.map(Self::as_str)))
    }
}

/// How far over the network a tool can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NetworkReach {
    /// No network access beyond the MCP transport itself.
    None,
    /// Hosts inside the organisation's network only.
    Internal,
    /// Any host on the internet.
    Public,
}

impl NetworkReach {
    /// Every reach, narrowest first.
    pub const ALL: [Self; 3] = [Self::None, Self::Internal, Self::Public];

    /// The reach's name as written in inventory files and policies.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Internal => "internal",
            Self::Public => "public",
        }
    }
}

impl fmt::Display for NetworkReach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NetworkReach {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName::new("network reach", s, &Self::ALL.map(Self::as_str)))
    }
}

/// The behaviour hints an MCP server attaches to a tool in `tools/list`
/// (`annotations.readOnlyHint` and friends).
///
/// Hints come from the server and are **not trusted** over the inventory: mcpguard
/// uses them only to spot an inventory that disagrees with what the server says
/// ([`ToolAnnotations::contradictions`]). A hint the server did not send is `None`
/// and is never compared; the protocol's defaults are deliberately not assumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ToolAnnotations {
    /// `readOnlyHint`: the tool does not modify its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// `destructiveHint`: the tool may perform destructive updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// `idempotentHint`: calling it again with the same arguments has no further effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// `openWorldHint`: the tool interacts with an open world of external entities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    /// Hints with nothing set.
    pub const fn new() -> Self {
        Self {
            read_only_hint: None,
            destructive_hint: None,
            idempotent_hint: None,
            open_world_hint: None,
        }
    }

    /// Sets `readOnlyHint`.
    #[must_use]
    pub const fn read_only(mut self, hint: bool) -> Self {
        self.read_only_hint = Some(hint);
        self
    }

    /// Sets `destructiveHint`.
    #[must_use]
    pub const fn destructive(mut self, hint: bool) -> Self {
        self.destructive_hint = Some(hint);
        self
    }

    /// Sets `idempotentHint`.
    #[must_use]
    pub const fn idempotent(mut self, hint: bool) -> Self {
        self.idempotent_hint = Some(hint);
        self
    }

    /// Sets `openWorldHint`.
    #[must_use]
    pub const fn open_world(mut self, hint: bool) -> Self {
        self.open_world_hint = Some(hint);
        self
    }

    /// The actions these hints imply, the way mcpguard maps them:
    ///
    /// | hint | actions implied |
    /// |---|---|
    /// | `readOnlyHint: true` | `read` only |
    /// | `readOnlyHint: false` | `write` |
    /// | `destructiveHint: true` (and not read-only) | `delete` |
    /// | `openWorldHint: true` | `egress` |
    /// | `idempotentHint` | none: it describes repetition, not effect |
    ///
    /// The result is a lower bound of what the server admits to, not a profile:
    /// the inventory stays the source of truth.
    pub fn implied_actions(&self) -> BTreeSet<ActionKind> {
        let mut actions = BTreeSet::new();
        match self.read_only_hint {
            Some(true) => {
                actions.insert(ActionKind::Read);
            }
            Some(false) => {
                actions.insert(ActionKind::Write);
                if self.destructive_hint == Some(true) {
                    actions.insert(ActionKind::Delete);
                }
            }
            None => {
                if self.destructive_hint == Some(true) {
                    actions.insert(ActionKind::Delete);
                }
            }
        }
        if self.open_world_hint == Some(true) {
            actions.insert(ActionKind::Egress);
        }
        actions
    }

    /// Where these hints contradict an inventory profile with `actions` and `reach`,
    /// one sentence per contradiction (empty when they agree).
    ///
    /// The hints are read as the MCP specification defines them. A hint the server
    /// did not send is never compared (the spec's defaults, `readOnlyHint: false`
    /// and `destructiveHint: true`, are not assumed: an absent hint says nothing).
    ///
    /// | hint | agrees with | contradicts |
    /// |---|---|---|
    /// | `readOnlyHint: true` ("does not modify its environment") | `read`, with or without `egress` | `write`, `delete` or `execute`; or `egress` without `read` (a tool that only sends data out changes the world it sends to) |
    /// | `readOnlyHint: false` (the spec's default) | `write`, `delete`, `execute` or `egress` | only `read` |
    /// | `destructiveHint: true` ("may perform destructive updates") | `write` (a write can overwrite), `delete`, `execute` | none of those; not compared when `readOnlyHint: true` (the spec: meaningful only when not read-only) |
    /// | `destructiveHint: false` ("only additive updates") | `read`, `write`, `egress` | `delete` or `execute`; not compared when `readOnlyHint: true` |
    /// | `openWorldHint: true` | reach `public` | reach `none` or `internal` |
    /// | `openWorldHint: false` | reach `none` or `internal` | reach `public` |
    /// | `idempotentHint` | anything | nothing: it describes repetition, not effect |
    ///
    /// Both directions matter: a server that calls a tool read-only while the
    /// inventory says it writes is understating, and a server that calls a tool
    /// destructive while the inventory says read-only means the inventory is wrong.
    pub fn contradictions(
        &self,
        actions: &BTreeSet<ActionKind>,
        reach: NetworkReach,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mutates = actions.iter().any(|a| a.mutates());
        let destroys = actions.iter().any(|a| a.is_destructive());
        let reads = actions.contains(&ActionKind::Read);
        let sends = actions.contains(&ActionKind::Egress);
        match self.read_only_hint {
            Some(true) if mutates => out.push(
                "the server marks it readOnlyHint: true but the inventory lists write, delete or execute"
                    .to_owned(),
            ),
            Some(true) if sends && !reads => out.push(
                "the server marks it readOnlyHint: true but the inventory lists it as only sending data out (egress), which changes the world it sends to"
                    .to_owned(),
            ),
            Some(false) if !mutates && !sends => out.push(
                "the server marks it readOnlyHint: false but the inventory lists it as read-only"
                    .to_owned(),
            ),
            _ => {}
        }
        // destructiveHint is only meaningful when the tool is not read-only.
        if self.read_only_hint != Some(true) {
            match self.destructive_hint {
                Some(true) if !mutates => out.push(
                    "the server marks it destructiveHint: true (may overwrite or destroy) but the inventory lists no write, delete or execute"
                        .to_owned(),
                ),
                Some(false) if destroys => out.push(
                    "the server marks it destructiveHint: false (only additive updates) but the inventory lists delete or execute"
                        .to_owned(),
                ),
                _ => {}
            }
        }
        match self.open_world_hint {
            Some(true) if reach != NetworkReach::Public => out.push(format!(
                "the server marks it openWorldHint: true but the inventory gives reach `{reach}`"
            )),
            Some(false) if reach == NetworkReach::Public => out.push(
                "the server marks it openWorldHint: false but the inventory gives reach `public`"
                    .to_owned(),
            ),
            _ => {}
        }
        out
    }
}

/// A name that is not one of a fixed set (a data class, an action, a reach, a tier).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`; expected one of {expected}")]
pub struct UnknownName {
    kind: &'static str,
    name: String,
    expected: String,
}

impl UnknownName {
    pub(crate) fn new(kind: &'static str, name: &str, expected: &[&str]) -> Self {
        // Only short, name-shaped input is echoed: a value pasted in the wrong place
        // may be a secret.
        let name = if name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
        {
            name.to_owned()
        } else {
            "(value not shown)".to_owned()
        };
        Self {
            kind,
            name,
            expected: expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// What kind of name was expected, e.g. `data class`.
    pub fn kind(&self) -> &str {
        self.kind
    }
}

/// Where servers are to run, from least to most demanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tier {
    /// One developer's own repository.
    Personal,
    /// A repository a team shares.
    Team,
    /// Production systems.
    Production,
}

impl Tier {
    /// Every tier, least demanding first.
    pub const ALL: [Self; 3] = [Self::Personal, Self::Team, Self::Production];

    /// The tier's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Team => "team",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName::new("tier", s, &Self::ALL.map(Self::as_str)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_classes_are_ordered_by_sensitivity() {
        let mut sorted = DataClass::ALL;
        sorted.sort();
        assert_eq!(sorted, DataClass::ALL);
        assert!(DataClass::Customer >= DataClass::Confidential);
        for pair in DataClass::ALL.windows(2) {
            assert!(pair[0].level() < pair[1].level());
        }
    }

    #[test]
    fn names_round_trip() {
        for c in DataClass::ALL {
            assert_eq!(c.as_str().parse::<DataClass>().unwrap(), c);
        }
        for a in ActionKind::ALL {
            assert_eq!(a.as_str().parse::<ActionKind>().unwrap(), a);
        }
        for r in NetworkReach::ALL {
            assert_eq!(r.as_str().parse::<NetworkReach>().unwrap(), r);
        }
        let err = "confidental".parse::<DataClass>().unwrap_err();
        assert!(err.to_string().contains("`confidental`"), "{err}");
        let err = "ghp_0123456789abcdef".parse::<DataClass>().unwrap_err();
        assert!(!err.to_string().contains("ghp_"), "{err}");
    }

    #[test]
    fn hints_map_onto_actions() {
        let ro = ToolAnnotations::new().read_only(true).open_world(false);
        assert_eq!(ro.implied_actions(), BTreeSet::from([ActionKind::Read]));
        let destructive = ToolAnnotations::new().read_only(false).destructive(true);
        assert_eq!(
            destructive.implied_actions(),
            BTreeSet::from([ActionKind::Write, ActionKind::Delete])
        );
        let fetch = ToolAnnotations::new().read_only(true).open_world(true);
        assert_eq!(
            fetch.implied_actions(),
            BTreeSet::from([ActionKind::Read, ActionKind::Egress])
        );
        assert!(
            ToolAnnotations::new()
                .idempotent(true)
                .implied_actions()
                .is_empty()
        );
    }

    /// Every cell of the hint table in [`ToolAnnotations::contradictions`].
    #[test]
    fn hint_table() {
        use ActionKind::{Delete, Egress, Execute, Read, Write};
        let ro = |b| ToolAnnotations::new().read_only(b);
        let de = |b| ToolAnnotations::new().read_only(false).destructive(b);
        let de_under_ro = |b| ToolAnnotations::new().read_only(true).destructive(b);
        let ow = |b| ToolAnnotations::new().open_world(b);
        let idem = |b| ToolAnnotations::new().idempotent(b);
        // (hints, actions, reach, contradictions expected)
        let none = NetworkReach::None;
        let public = NetworkReach::Public;
        let internal = NetworkReach::Internal;
        let cases: Vec<(ToolAnnotations, Vec<ActionKind>, NetworkReach, usize)> = vec![
            // readOnlyHint: true
            (ro(true), vec![Read], none, 0),
            (ro(true), vec![Read, Egress], public, 0),
            (ro(true), vec![Egress], public, 1),
            (ro(true), vec![Write], none, 1),
            (ro(true), vec![Read, Delete], none, 1),
            (ro(true), vec![Execute], none, 1),
            // readOnlyHint: false, the spec's default, agrees with any change
            (ro(false), vec![Read], none, 1),
            (ro(false), vec![Egress], public, 0),
            (ro(false), vec![Read, Egress], public, 0),
            (ro(false), vec![Write], none, 0),
            (ro(false), vec![Delete], none, 0),
            (ro(false), vec![Execute], none, 0),
            // destructiveHint: true, with readOnlyHint: false
            (de(true), vec![Write], none, 0),
            (de(true), vec![Delete], none, 0),
            (de(true), vec![Execute], none, 0),
            (de(true), vec![Egress], public, 1),
            // destructiveHint: false, with readOnlyHint: false
            (de(false), vec![Write], none, 0),
            (de(false), vec![Egress], public, 0),
            (de(false), vec![Write, Delete], none, 1),
            (de(false), vec![Execute], none, 1),
            // destructiveHint under readOnlyHint: true is not compared
            (de_under_ro(true), vec![Read], none, 0),
            (de_under_ro(false), vec![Read], none, 0),
            (de_under_ro(false), vec![Delete], none, 1),
            // destructiveHint alone
            (
                ToolAnnotations::new().destructive(true),
                vec![Read],
                none,
                1,
            ),
            (
                ToolAnnotations::new().destructive(true),
                vec![Write],
                none,
                0,
            ),
            // openWorldHint
            (ow(true), vec![Read], public, 0),
            (ow(true), vec![Read], internal, 1),
            (ow(true), vec![Read], none, 1),
            (ow(false), vec![Read], none, 0),
            (ow(false), vec![Read], internal, 0),
            (ow(false), vec![Read], public, 1),
            // idempotentHint is never compared
            (idem(true), vec![Delete], public, 0),
            (idem(false), vec![Read], none, 0),
            // no hints, nothing compared
            (ToolAnnotations::new(), vec![Execute], public, 0),
        ];
        for (hints, actions, reach, expected) in cases {
            let actions: BTreeSet<ActionKind> = actions.into_iter().collect();
            let found = hints.contradictions(&actions, reach);
            assert_eq!(
                found.len(),
                expected,
                "{hints:?} {actions:?} {reach}: {found:?}"
            );
        }
    }

    #[test]
    fn contradictions_go_both_ways() {
        let read = BTreeSet::from([ActionKind::Read]);
        let delete = BTreeSet::from([ActionKind::Read, ActionKind::Delete]);
        let says_destructive = ToolAnnotations::new().read_only(false).destructive(true);
        assert_eq!(
            says_destructive
                .contradictions(&read, NetworkReach::None)
                .len(),
            2
        );
        assert!(
            says_destructive
                .contradictions(&delete, NetworkReach::None)
                .is_empty()
        );
        let says_read_only = ToolAnnotations::new().read_only(true);
        assert_eq!(
            says_read_only
                .contradictions(&delete, NetworkReach::None)
                .len(),
            1
        );
        let open = ToolAnnotations::new().open_world(true);
        assert_eq!(open.contradictions(&read, NetworkReach::Internal).len(), 1);
        assert!(open.contradictions(&read, NetworkReach::Public).is_empty());
        assert!(
            ToolAnnotations::new()
                .contradictions(&delete, NetworkReach::Public)
                .is_empty()
        );
    }
}
