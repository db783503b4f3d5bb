//! Risk scores: how much harm a tool can do, with the reasons shown.
//!
//! # Formula
//!
//! `score = sensitivity × write ability × reach`, each factor a small whole number:
//!
//! | factor | values |
//! |---|---|
//! | sensitivity (most sensitive data class) | public 1, internal 2, confidential 3, customer 4, production 5, secret 6 |
//! | write ability (strongest action) | read or egress only 1, write 2, delete 3, execute 4 |
//! | reach | none 1, internal 2, public 3 |
//!
//! Scores run from 1 to 72. Levels: `low` up to 6, `medium` up to 18, `high` up to
//! 36, `critical` above. A product keeps every factor visible: doubling any one of
//! them doubles the score, and no factor can hide another. Each factor rises with its
//! input, so the score never falls when data gets more sensitive, a tool gains a
//! stronger action, or its reach widens.

use std::fmt;

use serde::Serialize;

use crate::inventory::{ServerRecord, ToolProfile};
use crate::taxonomy::{ActionKind, DataClass, NetworkReach};

/// A tool's risk score and the factors behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct RiskScore {
    /// The most sensitive data class the tool touches.
    pub data_class: DataClass,
    /// The factor for `data_class`, 1 to 6.
    pub sensitivity: u8,
    /// The strongest action, as far as writing goes (`read` when it only reads).
    pub strongest_action: ActionKind,
    /// The factor for `strongest_action`, 1 to 4.
    pub write_ability: u8,
    /// The tool's network reach.
    pub reach: NetworkReach,
    /// The factor for `reach`, 1 to 3.
    pub reach_factor: u8,
    score: u8,
}

/// A coarse band of [`RiskScore`] for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RiskLevel {
    /// 1 to 6.
    Low,
    /// 7 to 18.
    Medium,
    /// 19 to 36.
    High,
    /// 37 to 72.
    Critical,
}

impl RiskScore {
    /// The score of a tool profile. Pure and deterministic.
    ///
    /// A tool with no data classes (only possible when built in code and not yet
    /// added to an inventory) counts as `secret`: unknown data is treated as the
    /// most sensitive.
    pub fn of(tool: &ToolProfile) -> Self {
        Self::from_parts(
            tool.max_data_class().unwrap_or(DataClass::Secret),
            tool.actions.iter().copied(),
            tool.reach,
        )
    }

    /// The score from the three inputs directly.
    pub fn from_parts(
        data_class: DataClass,
        actions: impl IntoIterator<Item = ActionKind>,
        reach: NetworkReach,
    ) -> Self {
        let sensitivity = data_class.level() + 1;
        let (strongest_action, write_ability) = actions
            .into_iter()
            .map(|a| (a, write_factor(a)))
            .max_by_key(|(_, f)| *f)
            .filter(|(_, f)| *f > 1)
            .unwrap_or((ActionKind::Read, 1));
        let reach_factor = match reach {
            NetworkReach::None => 1,
            NetworkReach::Internal => 2,
            NetworkReach::Public => 3,
        };
        Self {
            data_class,
            sensitivity,
            strongest_action,
            write_ability,
            reach,
            reach_factor,
            // INVARIANT: at most 6 × 4 × 3 = 72.
            score: sensitivity * write_ability * reach_factor,
        }
    }

    /// The score, 1 to 72.
    pub fn score(&self) -> u8 {
        self.score
    }

    /// The score's band.
    pub fn level(&self) -> RiskLevel {
        match self.score {
            0..=6 => RiskLevel::Low,
            7..=18 => RiskLevel::Medium,
            19..=36 => RiskLevel::High,
            _ => RiskLevel::Critical,
        }
    }
}

fn write_factor(action: ActionKind) -> u8 {
    match action {
        ActionKind::Read | ActionKind::Egress => 1,
        ActionKind::Write => 2,
        ActionKind::Delete => 3,
        ActionKind::Execute => 4,
    }
}

impl fmt::Display for RiskScore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} = {} ({}) × {} ({}) × {} (reach {})",
            self.level(),
            self.score,
            self.sensitivity,
            self.data_class,
            self.write_ability,
            self.strongest_action,
            self.reach_factor,
            self.reach
        )
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        })
    }
}

impl ToolProfile {
    /// The tool's risk score.
    pub fn risk(&self) -> RiskScore {
        RiskScore::of(self)
    }
}

impl ServerRecord {
    /// The server's riskiest tool and its score: a server is as risky as its worst tool.
    pub fn risk(&self) -> Option<(&ToolProfile, RiskScore)> {
        self.tools
            .iter()
            .map(|t| (t, t.risk()))
            .max_by_key(|(_, r)| r.score())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_and_factors() {
        let low = RiskScore::from_parts(DataClass::Public, [ActionKind::Read], NetworkReach::None);
        assert_eq!((low.score(), low.level()), (1, RiskLevel::Low));
        let shell = RiskScore::from_parts(
            DataClass::Secret,
            [ActionKind::Read, ActionKind::Execute],
            NetworkReach::Public,
        );
        assert_eq!((shell.score(), shell.level()), (72, RiskLevel::Critical));
        assert_eq!(shell.strongest_action, ActionKind::Execute);
        assert_eq!(
            shell.to_string(),
            "critical 72 = 6 (secret) × 4 (execute) × 3 (reach public)"
        );
        let egress = RiskScore::from_parts(
            DataClass::Internal,
            [ActionKind::Egress],
            NetworkReach::Public,
        );
        assert_eq!(egress.strongest_action, ActionKind::Read);
        assert_eq!(egress.score(), 6);
    }
}
