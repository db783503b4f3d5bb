//! One module per command.

pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod inventory;
pub(crate) mod pin;
pub(crate) mod policy;
pub(crate) mod proxy;
pub(crate) mod redact;
