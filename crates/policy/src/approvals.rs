//! Approvals: issued for one exact call, single use, expiring.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::call::{CallDigest, ToolCall};
use crate::decision::{ApprovalRequest, Decision, DecisionError, DecisionErrorKind};
use crate::error::StoreError;
use crate::state::{ApprovalGrant, ApprovalStore};

/// Issues and redeems approvals: the service a [`crate::Gate`] holds
/// ([`crate::Gate::approvals`]), over its approval store.
///
/// A grant is bound to the digest of one call (principal, server, tool,
/// arguments), expires, and is used up by the call it approves. It lifts only
/// approval gates: the policies are evaluated again with `context.approved`, so
/// any other forbid still denies.
pub struct Approvals {
    store: Arc<dyn ApprovalStore>,
    nonce: AtomicU64,
}

impl Approvals {
    pub(crate) fn new(store: Arc<dyn ApprovalStore>) -> Self {
        Self {
            store,
            nonce: AtomicU64::new(0),
        }
    }

    /// Issues a single-use approval of `request` by `approver`, valid for `ttl`.
    ///
    /// # Errors
    ///
    /// The approval store could not record it.
    pub fn approve(
        &self,
        request: &ApprovalRequest,
        approver: &str,
        ttl: Duration,
    ) -> Result<ApprovalGrant, StoreError> {
        self.issue(request.digest(), approver, ttl)
    }

    /// Issues a single-use approval of a call directly, without a pending
    /// [`ApprovalRequest`] (a runbook's pre-approval, an approver UI that rebuilt the
    /// call). An approval only lifts approval gates: a call some other policy
    /// forbids stays denied.
    ///
    /// # Errors
    ///
    /// The approval store could not record it.
    pub fn approve_call(
        &self,
        call: &ToolCall,
        approver: &str,
        ttl: Duration,
    ) -> Result<ApprovalGrant, StoreError> {
        self.issue(call.digest(), approver, ttl)
    }

    fn issue(
        &self,
        digest: CallDigest,
        approver: &str,
        ttl: Duration,
    ) -> Result<ApprovalGrant, StoreError> {
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let grant = ApprovalGrant::new(digest, approver, ttl, nonce);
        self.store.insert(&grant)?;
        Ok(grant)
    }

    /// Uses up `grant` for `call`: it must be for exactly this call, issued by
    /// this store, unused and unexpired. Otherwise the Deny to answer with.
    pub(crate) fn redeem(&self, call: &ToolCall, grant: &ApprovalGrant) -> Result<(), Decision> {
        if grant.digest() != call.digest().to_hex() {
            return Err(Decision::deny(
                "the approval was given for a different call (another tool, principal or arguments)",
            ));
        }
        match self.store.take(grant.id()) {
            Err(e) => {
                return Err(Decision::deny_error(
                    "the approval store could not be read",
                    DecisionError::new(DecisionErrorKind::Store, e.to_string()),
                ));
            }
            Ok(None) => {
                return Err(Decision::deny(
                    "the approval is unknown or was already used",
                ));
            }
            Ok(Some(stored)) if stored != *grant => {
                return Err(Decision::deny(
                    "the approval does not match the one that was issued",
                ));
            }
            Ok(Some(_)) => {}
        }
        if grant.expired() {
            return Err(Decision::deny("the approval has expired"));
        }
        Ok(())
    }
}

impl fmt::Debug for Approvals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approvals")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
