//! Four-eyes approval: a call whose gate is `@approval("four-eyes")` is not
//! approved by the person who made it. It is refused with a review id; a
//! reviewer — someone else — approves or denies it out of band (`mcpguard
//! approvals approve ID`); the caller's retry of the same call then runs once, on
//! any replica that shares the approval store.
//!
//! **Who may review.** Anyone who can reach the approval store: the store is the
//! authority, and `mcpguard approvals` names its reviewer (`--reviewer`, else
//! `USER`) without proving it. Keep the store (Redis) reachable only by the
//! servers and the people who review; every decision records its reviewer.
//!
//! **Who counts as the caller.** A reviewer is compared with the caller the way
//! principal ids are matched by identity providers that treat them as names:
//! ignoring case (`ANA` may not review `ana`'s call). A reviewer id that is not
//! a plausible principal id — empty, with white space, control, escape or
//! hidden characters, or over 256 bytes — is refused, never recorded. A denied
//! request stays denied until it expires: retrying the call does not open a new
//! one.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::call::{CallDigest, RedactedCall};
use crate::decision::Pending;
use crate::error::StoreError;
use crate::state::{ApprovalGrant, ApprovalStore, Review, ReviewDecision};

/// Why a review could not be decided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// No review has this id (never opened, expired, or already used).
    #[error("no pending approval request `{0}` (it expired, was used, or never existed)")]
    Unknown(String),
    /// It was decided already.
    #[error("approval request `{id}` was already {verb} by {reviewer}")]
    Decided {
        /// The review.
        id: String,
        /// `approved` or `denied`.
        verb: &'static str,
        /// Who decided.
        reviewer: String,
    },
    /// The reviewer is the caller: four eyes means two people.
    #[error("{0} made this call and may not review it: another person must approve or deny it")]
    OwnCall(String),
    /// No reviewer was named.
    #[error("name the reviewer (who approves or denies the call)")]
    NoReviewer,
    /// The reviewer id is not a principal id (white space, control, escape or
    /// hidden characters, or too long); it is shown quoted.
    #[error(
        "the reviewer {0} is not a principal id (no white space, control, escape or hidden \
         characters, at most 256 bytes)"
    )]
    BadReviewer(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens, lists and decides reviews in an approval store. A [`crate::Gate`] has
/// one ([`crate::Gate::reviews`]); the `mcpguard approvals` command makes its
/// own over the deployment's store.
pub struct Reviews {
    store: Arc<dyn ApprovalStore>,
    nonce: AtomicU64,
}

impl fmt::Debug for Reviews {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reviews")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Reviews {
    /// Reviews kept in `store`.
    pub fn new(store: Arc<dyn ApprovalStore>) -> Self {
        Self {
            store,
            nonce: AtomicU64::new(0),
        }
    }

    /// The review of a call held back for a reviewer: the one already open for
    /// this exact call, or a new one open for `ttl`.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub fn open(
        &self,
        pending: &Pending,
        call: &RedactedCall,
        ttl: Duration,
    ) -> Result<Review, StoreError> {
        let digest = pending.request().digest().to_hex();
        if let Some(open) = self.for_call(&pending.request().digest())? {
            return Ok(open);
        }
        let requested_at = now();
        let mut h = Sha256::new();
        h.update(digest.as_bytes());
        h.update(self.nonce.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        h.update(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_le_bytes(),
        );
        let id: String = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let review = Review {
            id,
            digest,
            caller: call.actor().to_owned(),
            server: call.server().to_owned(),
            tool: call.tool().to_owned(),
            target: call.target().map(ToOwned::to_owned),
            question: pending.question().to_owned(),
            arguments: call.arguments().clone(),
            requested_at,
            expires_at: requested_at.saturating_add(ttl.as_secs().max(1)),
            decision: None,
        };
        if self.store.put_review(&review, false)? {
            return Ok(review);
        }
        // Another replica opened one for this call meanwhile: that one.
        self.for_call(&pending.request().digest())?
            .ok_or_else(|| StoreError::new("the review of this call could not be recorded"))
    }

    /// The unexpired review of this exact call, if one is open or decided.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub fn for_call(&self, digest: &CallDigest) -> Result<Option<Review>, StoreError> {
        Ok(self
            .store
            .review_for(&digest.to_hex())?
            .filter(|r| !r.expired()))
    }

    /// Takes a decided review, once: of replicas racing on one, exactly one gets
    /// it (with the grant its retry runs with).
    ///
    /// # Errors
    ///
    /// The store failed.
    pub fn take(&self, review: &Review) -> Result<Option<Review>, StoreError> {
        Ok(self
            .store
            .take_review(review.id())?
            .filter(|r| !r.expired() && r.decision.is_some()))
    }

    /// Every unexpired review, oldest first.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub fn list(&self) -> Result<Vec<Review>, StoreError> {
        let mut reviews: Vec<Review> = self
            .store
            .reviews()?
            .into_iter()
            .filter(|r| !r.expired())
            .collect();
        reviews.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
        Ok(reviews)
    }

    /// The unexpired review with this id.
    ///
    /// # Errors
    ///
    /// The store failed.
    pub fn get(&self, id: &str) -> Result<Option<Review>, StoreError> {
        Ok(self.store.review(id)?.filter(|r| !r.expired()))
    }

    /// `reviewer` approves the review `id`: the caller's retry of the same call
    /// runs once, with a grant valid until the review expires.
    ///
    /// # Errors
    ///
    /// [`ReviewError`]: unknown or expired, already decided, the reviewer is the
    /// caller, or the store failed.
    pub fn approve(&self, id: &str, reviewer: &str) -> Result<Review, ReviewError> {
        self.decide(id, reviewer, true)
    }

    /// `reviewer` denies the review `id`: the caller's retry is refused, saying
    /// who denied it.
    ///
    /// # Errors
    ///
    /// As [`Reviews::approve`].
    pub fn deny(&self, id: &str, reviewer: &str) -> Result<Review, ReviewError> {
        self.decide(id, reviewer, false)
    }

    fn decide(&self, id: &str, reviewer: &str, approved: bool) -> Result<Review, ReviewError> {
        let reviewer = reviewer.trim();
        if reviewer.is_empty() {
            return Err(ReviewError::NoReviewer);
        }
        if !is_principal_id(reviewer) {
            return Err(ReviewError::BadReviewer(crate::question::quoted(reviewer)));
        }
        let mut review = self
            .get(id)?
            .ok_or_else(|| ReviewError::Unknown(id.to_owned()))?;
        if let Some(d) = &review.decision {
            return Err(ReviewError::Decided {
                id: id.to_owned(),
                verb: if d.approved { "approved" } else { "denied" },
                reviewer: d.reviewer.clone(),
            });
        }
        if same_person(reviewer, &review.caller) {
            return Err(ReviewError::OwnCall(crate::question::quoted(reviewer)));
        }
        let digest = CallDigest::from_hex(&review.digest)
            .ok_or_else(|| StoreError::new("a stored review holds a malformed call digest"))?;
        let grant = if approved {
            let left = Duration::from_secs(review.expires_at.saturating_sub(now()).max(1));
            let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
            let grant = ApprovalGrant::new(digest, reviewer, left, nonce).reviewed();
            self.store.insert(&grant)?;
            Some(grant)
        } else {
            None
        };
        review.decision = Some(ReviewDecision {
            reviewer: reviewer.to_owned(),
            approved,
            decided_at: now(),
            grant,
        });
        if !self.store.put_review(&review, true)? {
            return Err(ReviewError::Unknown(id.to_owned()));
        }
        Ok(review)
    }
}

/// Whether `id` could be a principal id: printable, without white space or
/// anything [`mcpguard_core::sanitize`] would remove, at most 256 bytes.
fn is_principal_id(id: &str) -> bool {
    id.len() <= 256
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
        && mcpguard_core::sanitize(id).1.is_empty()
}

/// Whether two principal ids name the same person: equal ignoring case.
fn same_person(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_caller_is_the_caller_whatever_the_case() {
        assert!(same_person("ANA", "ana"));
        assert!(same_person("Ana@Example.com", "ana@example.com"));
        assert!(same_person("ÉLODIE", "élodie"));
        assert!(!same_person("ana", "bo"));
        assert!(!same_person("ana", "anna"));
    }

    #[test]
    fn a_reviewer_id_with_hidden_or_control_characters_is_not_one() {
        assert!(is_principal_id("lead@example.com"));
        assert!(is_principal_id("auth0|5f7c8ec7c33c6c004bbafe82"));
        for bad in [
            "lead\u{1b}[2K",
            "lead\napproved",
            "le ad",
            "lead\u{202e}",
            "lead\u{200b}",
            "a\u{e0041}",
        ] {
            assert!(!is_principal_id(bad), "{bad:?}");
        }
        assert!(!is_principal_id(&"x".repeat(257)));
    }

    #[test]
    fn a_review_does_not_show_its_grant() {
        let digest = crate::ToolCall::new(crate::Principal::new("ana"), "s", "t").digest();
        let grant = ApprovalGrant::new(digest, "lead", Duration::from_secs(60), 0).reviewed();
        let review = Review {
            id: "r1".into(),
            digest: digest.to_hex(),
            caller: "ana".into(),
            server: "s".into(),
            tool: "t".into(),
            target: None,
            question: "q".into(),
            arguments: Value::Null,
            requested_at: 0,
            expires_at: u64::MAX,
            decision: Some(ReviewDecision {
                reviewer: "lead".into(),
                approved: true,
                decided_at: 0,
                grant: Some(grant.clone()),
            }),
        };
        let shown = format!("{review:?}");
        assert!(
            shown.contains("lead") && !shown.contains(grant.id()),
            "{shown}"
        );
    }
}
