#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod edit;
mod error;
mod fingerprint;
mod inventory;
mod json;
mod launch;
mod lint;
mod live;
mod load;
mod names;
mod report;
mod risk;
mod sanitize;
mod taxonomy;

pub use error::{InventoryError, InventoryErrorKind, NameError, Position, Problem};
pub use fingerprint::{Fingerprint, FingerprintError, canonical_json};
pub use inventory::{
    Credential, CredentialSource, DEFAULT_URL_SCHEMES, DestinationKind, DestinationSpec,
    INVENTORY_VERSION, Inventory, Launch, Provenance, ReviewState, ServerRecord, ThirdParty,
    ToolProfile, Transport, is_env_var_name,
};
pub use json::{MAX_JSON_DEPTH, dismantle, nested_deeper_than};
pub use launch::{Control, ControlFailure, Definitions, LaunchGate, LaunchReport, ToolRisk};
pub use lint::{DEFAULT_MAX_TEXT, LintFinding, LintId, Linter, SecretFinder};
pub use live::{LiveCheck, LivePins, Withheld};
pub use names::{CredentialName, DEFAULT_CREDENTIAL, Owner, ServerId, ToolName};
pub use report::{InventorySource, SourcePositions};
pub use risk::{RiskLevel, RiskScore};
pub use sanitize::{Sanitized, sanitize};
pub use taxonomy::{ActionKind, DataClass, NetworkReach, Tier, ToolAnnotations, UnknownName};
