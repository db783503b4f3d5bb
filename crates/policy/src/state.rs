//! Session and approval state, behind traits so that replicas can share it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::call::CallDigest;
use crate::error::StoreError;

/// What a session has been through; policies read it as `context.session`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionState {
    /// It has read the output of a tool whose results may carry hostile content.
    pub tainted: bool,
    /// It has seen confidential-or-above data.
    pub private_data: bool,
}

impl SessionState {
    /// A clean session.
    pub const fn new() -> Self {
        Self {
            tainted: false,
            private_data: false,
        }
    }

    /// A session with these flags.
    pub const fn with(tainted: bool, private_data: bool) -> Self {
        Self {
            tainted,
            private_data,
        }
    }
}

/// A session, bound to the verified principal: the same handle used by another
/// principal names another session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[expect(
    clippy::exhaustive_structs,
    reason = "a plain key that stores build and read: these two fields are the contract"
)]
pub struct SessionKey {
    /// The principal's id.
    pub principal: String,
    /// The embedder's session handle (empty: the principal's default session).
    pub session: String,
}

/// Where session state lives. The in-memory default serves one process; replicas
/// share a store such as Redis. Taint only ever accumulates: `merge` must be an
/// atomic "or" of the flags.
pub trait SessionStore: Send + Sync + fmt::Debug {
    /// The state of a session (clean if unknown).
    ///
    /// # Errors
    ///
    /// The store could not answer; the gate then denies the call.
    fn load(&self, key: &SessionKey) -> Result<SessionState, StoreError>;

    /// Adds `flags` to a session's state (never clears a flag).
    ///
    /// # Errors
    ///
    /// The store could not record it.
    fn merge(&self, key: &SessionKey, flags: SessionState) -> Result<(), StoreError>;

    /// Binds a transport session handle (an HTTP `mcp-session-id`) to the
    /// principal that first presents it: `Ok(true)` when the handle is now, or
    /// already was, `principal`'s; `Ok(false)` when another principal holds it,
    /// and the request that presented it must be refused. Replicas share the
    /// binding, so a session id stolen from one principal is refused on every
    /// replica.
    ///
    /// # Errors
    ///
    /// The store could not answer; the request is then refused.
    fn claim(&self, handle: &str, principal: &str) -> Result<bool, StoreError>;

    /// The principal a transport session handle is bound to, if any (and, like
    /// [`SessionStore::load`], the binding's expiry pushed out).
    ///
    /// # Errors
    ///
    /// The store could not answer; the request is then refused.
    fn owner(&self, handle: &str) -> Result<Option<String>, StoreError>;
}

/// Sessions in this process's memory, at most `capacity` of them. When full, a
/// clean session is forgotten to make room; a flagged one never is (the store
/// refuses the new session instead, and the gate denies), because forgetting taint
/// would re-open the tools it closed. Sessions are kept until the process ends,
/// or [`MemorySessionStore::session_ttl`] after their last use.
#[derive(Debug)]
pub struct MemorySessionStore {
    sessions: Mutex<HashMap<SessionKey, (SessionState, Instant)>>,
    /// Transport session handles and the principal each is bound to.
    owners: Mutex<HashMap<String, String>>,
    capacity: usize,
    ttl: Option<Duration>,
}

impl MemorySessionStore {
    /// A store for up to `capacity` sessions.
    pub fn new(capacity: usize) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl: None,
        }
    }

    /// Forgets a session's state `ttl` after its last use (a read or a merge),
    /// as Redis does with `RedisConfig::session_ttl`: the window a principal's
    /// taint lasts when no conversation id exists (stateless HTTP). Default:
    /// never forgotten.
    #[must_use]
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    fn live(&self, used: Instant) -> bool {
        self.ttl.is_none_or(|ttl| used.elapsed() < ttl)
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl SessionStore for MemorySessionStore {
    fn load(&self, key: &SessionKey) -> Result<SessionState, StoreError> {
        let mut map = self
            .sessions
            .lock()
            .map_err(|_| StoreError::new("the session map is poisoned"))?;
        let Some((state, used)) = map.get_mut(key) else {
            return Ok(SessionState::new());
        };
        if !self.live(*used) {
            map.remove(key);
            return Ok(SessionState::new());
        }
        *used = Instant::now();
        Ok(*state)
    }

    fn merge(&self, key: &SessionKey, flags: SessionState) -> Result<(), StoreError> {
        let mut map = self
            .sessions
            .lock()
            .map_err(|_| StoreError::new("the session map is poisoned"))?;
        if !map.contains_key(key) && map.len() >= self.capacity {
            // Forget an expired or clean session first; if every session is
            // live and flagged, refuse rather than forget taint.
            let victim = map
                .iter()
                .find(|(_, (s, used))| !self.live(*used) || (!s.tainted && !s.private_data))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => {
                    map.remove(&k);
                }
                None => return Err(StoreError::new("the session store is full")),
            }
        }
        let now = Instant::now();
        let entry = map.entry(key.clone()).or_insert((SessionState::new(), now));
        if !self.live(entry.1) {
            entry.0 = SessionState::new();
        }
        entry.0.tainted |= flags.tainted;
        entry.0.private_data |= flags.private_data;
        entry.1 = now;
        Ok(())
    }

    fn claim(&self, handle: &str, principal: &str) -> Result<bool, StoreError> {
        let mut owners = self
            .owners
            .lock()
            .map_err(|_| StoreError::new("the session owner map is poisoned"))?;
        if let Some(owner) = owners.get(handle) {
            return Ok(owner == principal);
        }
        // Forgetting a binding would let another principal claim the handle: a
        // full map refuses new sessions instead.
        if owners.len() >= self.capacity {
            return Err(StoreError::new(
                "the session store holds as many sessions as it may",
            ));
        }
        owners.insert(handle.to_owned(), principal.to_owned());
        Ok(true)
    }

    fn owner(&self, handle: &str) -> Result<Option<String>, StoreError> {
        let owners = self
            .owners
            .lock()
            .map_err(|_| StoreError::new("the session owner map is poisoned"))?;
        Ok(owners.get(handle).cloned())
    }
}

/// A person's approval of one exact call: bound to its digest, with an expiry, used
/// at most once.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ApprovalGrant {
    id: String,
    digest: String,
    approver: String,
    expires_at: u64,
    /// Issued by a reviewer other than the caller, out of band ([`crate::Reviews`]):
    /// the only grants that lift a four-eyes gate.
    #[serde(default)]
    reviewed: bool,
}

impl ApprovalGrant {
    pub(crate) fn new(digest: CallDigest, approver: &str, ttl: Duration, nonce: u64) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let expires_at = now.saturating_add(ttl).as_secs();
        let mut h = Sha256::new();
        h.update(digest.to_hex().as_bytes());
        h.update(approver.as_bytes());
        h.update(expires_at.to_le_bytes());
        h.update(nonce.to_le_bytes());
        h.update(now.as_nanos().to_le_bytes());
        let id: String = h
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            id,
            digest: digest.to_hex(),
            approver: approver.to_owned(),
            expires_at,
            reviewed: false,
        }
    }

    /// The same grant, marked as issued by a reviewer other than the caller.
    pub(crate) fn reviewed(mut self) -> Self {
        self.reviewed = true;
        self
    }

    /// Whether a reviewer other than the caller issued it (four eyes).
    pub fn is_reviewed(&self) -> bool {
        self.reviewed
    }

    /// The grant's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Who approved.
    pub fn approver(&self) -> &str {
        &self.approver
    }

    /// The digest of the approved call.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// When it expires, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    pub(crate) fn expired(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        now >= self.expires_at
    }
}

impl fmt::Debug for ApprovalGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApprovalGrant")
            .field("id", &self.id)
            .field("approver", &self.approver)
            .field("expires_at", &self.expires_at)
            .field("reviewed", &self.reviewed)
            .finish_non_exhaustive()
    }
}

/// Where issued approvals wait to be used.
pub trait ApprovalStore: Send + Sync + fmt::Debug {
    /// Keeps an issued grant until it is used.
    ///
    /// # Errors
    ///
    /// The store could not record it.
    fn insert(&self, grant: &ApprovalGrant) -> Result<(), StoreError>;

    /// Removes and returns the grant with this id: a grant can be taken once.
    ///
    /// # Errors
    ///
    /// The store could not answer; the gate then denies the call.
    fn take(&self, id: &str) -> Result<Option<ApprovalGrant>, StoreError>;

    /// Records a four-eyes review ([`crate::Reviews`]) until it expires. With
    /// `replace` false, only if no review of the same call (digest) is recorded;
    /// with `replace` true, only over the recorded review with the same id.
    /// `Ok(false)` when that condition failed.
    ///
    /// # Errors
    ///
    /// The store could not record it.
    fn put_review(&self, review: &Review, replace: bool) -> Result<bool, StoreError>;

    /// The review with this id.
    ///
    /// # Errors
    ///
    /// The store could not answer.
    fn review(&self, id: &str) -> Result<Option<Review>, StoreError>;

    /// The review of the call with this digest.
    ///
    /// # Errors
    ///
    /// The store could not answer.
    fn review_for(&self, digest: &str) -> Result<Option<Review>, StoreError>;

    /// Every recorded review.
    ///
    /// # Errors
    ///
    /// The store could not answer.
    fn reviews(&self) -> Result<Vec<Review>, StoreError>;

    /// Removes and returns the review with this id (and its call's index): of any
    /// number of callers racing, one gets it.
    ///
    /// # Errors
    ///
    /// The store could not answer.
    fn take_review(&self, id: &str) -> Result<Option<Review>, StoreError>;
}

/// Issued approvals in this process's memory; expired ones are dropped as new ones
/// arrive.
#[derive(Debug, Default)]
pub struct MemoryApprovalStore {
    grants: Mutex<HashMap<String, ApprovalGrant>>,
    reviews: Mutex<HashMap<String, Review>>,
}

impl MemoryApprovalStore {
    fn reviews_map(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, Review>>, StoreError> {
        let mut map = self
            .reviews
            .lock()
            .map_err(|_| StoreError::new("the review map is poisoned"))?;
        map.retain(|_, r| !r.expired());
        Ok(map)
    }
}

impl ApprovalStore for MemoryApprovalStore {
    fn insert(&self, grant: &ApprovalGrant) -> Result<(), StoreError> {
        let mut map = self
            .grants
            .lock()
            .map_err(|_| StoreError::new("the approval map is poisoned"))?;
        map.retain(|_, g| !g.expired());
        map.insert(grant.id.clone(), grant.clone());
        Ok(())
    }

    fn take(&self, id: &str) -> Result<Option<ApprovalGrant>, StoreError> {
        let mut map = self
            .grants
            .lock()
            .map_err(|_| StoreError::new("the approval map is poisoned"))?;
        Ok(map.remove(id))
    }

    fn put_review(&self, review: &Review, replace: bool) -> Result<bool, StoreError> {
        let mut map = self.reviews_map()?;
        let allowed = if replace {
            map.contains_key(review.id())
        } else {
            !map.values().any(|r| r.digest() == review.digest())
        };
        if allowed {
            map.insert(review.id().to_owned(), review.clone());
        }
        Ok(allowed)
    }

    fn review(&self, id: &str) -> Result<Option<Review>, StoreError> {
        Ok(self.reviews_map()?.get(id).cloned())
    }

    fn review_for(&self, digest: &str) -> Result<Option<Review>, StoreError> {
        Ok(self
            .reviews_map()?
            .values()
            .find(|r| r.digest() == digest)
            .cloned())
    }

    fn reviews(&self) -> Result<Vec<Review>, StoreError> {
        Ok(self.reviews_map()?.values().cloned().collect())
    }

    fn take_review(&self, id: &str) -> Result<Option<Review>, StoreError> {
        Ok(self.reviews_map()?.remove(id))
    }
}

/// A call waiting for a reviewer, as the reviewer sees it: every text redacted.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub(crate) id: String,
    pub(crate) digest: String,
    pub(crate) caller: String,
    pub(crate) server: String,
    pub(crate) tool: String,
    pub(crate) target: Option<String>,
    pub(crate) question: String,
    pub(crate) arguments: Value,
    pub(crate) requested_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) decision: Option<ReviewDecision>,
}

/// What a reviewer decided.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewDecision {
    pub(crate) reviewer: String,
    pub(crate) approved: bool,
    pub(crate) decided_at: u64,
    /// The grant the caller's retry runs with (approvals only).
    pub(crate) grant: Option<ApprovalGrant>,
}

impl ReviewDecision {
    /// Who decided.
    pub fn reviewer(&self) -> &str {
        &self.reviewer
    }

    /// Whether the call was approved.
    pub fn approved(&self) -> bool {
        self.approved
    }

    /// When, in seconds since the Unix epoch.
    pub fn decided_at(&self) -> u64 {
        self.decided_at
    }

    /// The grant an approval issued.
    pub fn grant(&self) -> Option<&ApprovalGrant> {
        self.grant.as_ref()
    }
}

impl fmt::Debug for ReviewDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReviewDecision")
            .field("reviewer", &self.reviewer)
            .field("approved", &self.approved)
            .field("decided_at", &self.decided_at)
            .finish_non_exhaustive()
    }
}

impl Review {
    /// The review's id (what a reviewer names).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The digest of the exact call (principal, server, tool, arguments).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Who made the call.
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// The server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The tool.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// What the call touches, redacted.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The approval question (the gate's, redacted).
    pub fn question(&self) -> &str {
        &self.question
    }

    /// The arguments, redacted.
    pub fn arguments(&self) -> &Value {
        &self.arguments
    }

    /// When the call asked, in seconds since the Unix epoch.
    pub fn requested_at(&self) -> u64 {
        self.requested_at
    }

    /// When the review (and an approval it holds) expires.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The reviewer's decision, once made.
    pub fn decision(&self) -> Option<&ReviewDecision> {
        self.decision.as_ref()
    }

    /// Whether it has expired.
    pub fn expired(&self) -> bool {
        unix_now() >= self.expires_at
    }
}

impl fmt::Debug for Review {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Texts are redacted already; the grant stays out.
        f.debug_struct("Review")
            .field("id", &self.id)
            .field("caller", &self.caller)
            .field("server", &self.server)
            .field("tool", &self.tool)
            .field("expires_at", &self.expires_at)
            .field("decision", &self.decision)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taint_only_accumulates_and_survives_eviction() {
        let store = MemorySessionStore::new(2);
        let k = |s: &str| SessionKey {
            principal: "ana".into(),
            session: s.into(),
        };
        store
            .merge(&k("a"), SessionState::with(true, false))
            .unwrap();
        store
            .merge(&k("a"), SessionState::with(false, true))
            .unwrap();
        assert_eq!(store.load(&k("a")).unwrap(), SessionState::with(true, true));
        store.merge(&k("b"), SessionState::new()).unwrap();
        // Full: the clean session goes, the tainted one stays.
        store
            .merge(&k("c"), SessionState::with(true, false))
            .unwrap();
        assert!(store.load(&k("a")).unwrap().tainted);
        assert!(store.load(&k("c")).unwrap().tainted);
        // Full of flagged sessions: refuse rather than forget.
        assert!(store.merge(&k("d"), SessionState::new()).is_err());
    }

    #[test]
    fn a_session_is_forgotten_its_ttl_after_its_last_use() {
        let store = MemorySessionStore::new(10).session_ttl(Duration::from_secs(1));
        let k = SessionKey {
            principal: "ana".into(),
            session: "http:stateless".into(),
        };
        store.merge(&k, SessionState::with(true, false)).unwrap();
        // Used again within the window: kept.
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(400));
            assert!(store.load(&k).unwrap().tainted);
        }
        std::thread::sleep(Duration::from_millis(1300));
        assert_eq!(store.load(&k).unwrap(), SessionState::new());
    }

    #[test]
    fn a_session_handle_belongs_to_its_first_principal() {
        let store = MemorySessionStore::new(2);
        assert!(store.claim("s1", "ana").unwrap());
        assert!(store.claim("s1", "ana").unwrap());
        assert!(!store.claim("s1", "bo").unwrap());
        assert!(store.claim("s2", "bo").unwrap());
        // Full: a new handle is refused, the bound ones keep their owners.
        assert!(store.claim("s3", "cy").is_err());
        assert!(!store.claim("s2", "ana").unwrap());
        assert_eq!(store.owner("s1").unwrap().as_deref(), Some("ana"));
        assert_eq!(store.owner("s9").unwrap(), None);
    }

    #[test]
    fn grants_are_taken_once() {
        let store = MemoryApprovalStore::default();
        let digest = crate::ToolCall::new(crate::Principal::new("p"), "s", "t").digest();
        let g = ApprovalGrant::new(digest, "lead", Duration::from_secs(60), 1);
        store.insert(&g).unwrap();
        assert_eq!(store.take(g.id()).unwrap(), Some(g.clone()));
        assert_eq!(store.take(g.id()).unwrap(), None);
        assert!(!format!("{g:?}").contains(g.digest()));
    }
}
