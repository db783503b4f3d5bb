#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod edit;
mod error;
mod fingerprint;
mod inventory;
mod launch;
mod lint;
mod names;
mod risk;
mod sanitize;
mod taxonomy;

pub use error::{InventoryError, InventoryErrorKind, NameError, Position};
pub use fingerprint::{Fingerprint, FingerprintError, canonical_json};
pub use inventory::{
    CredentialSource, DEFAULT_URL_SCHEMES, DestinationKind, DestinationSpec, INVENTORY_VERSION,
    Inventory, Provenance, ReviewState, ServerRecord, ThirdParty, ToolProfile, Transport,
};
pub use launch::{Control, ControlFailure, Definitions, LaunchGate, LaunchReport, ToolRisk};
pub use lint::{LintFinding, LintId, Linter, SecretFinder};
pub use names::{Owner, ServerId, ToolName};
pub use risk::{RiskLevel, RiskScore};
pub use sanitize::{Sanitized, sanitize};
pub use taxonomy::{ActionKind, DataClass, NetworkReach, Tier, ToolAnnotations, UnknownName};
