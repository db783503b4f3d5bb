//! The evaluator is pure and the gate around it reads each call's state once.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{
    BuildErrorKind, CallState, Gate, MemorySessionStore, PolicySource, Principal, SessionKey,
    SessionState, SessionStore, StoreError, ToolCall, Verdict,
};

/// A session store that counts its reads.
#[derive(Debug, Default)]
struct Counting {
    inner: MemorySessionStore,
    loads: AtomicUsize,
}

impl SessionStore for Counting {
    fn load(&self, key: &SessionKey) -> Result<SessionState, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(key)
    }

    fn merge(&self, key: &SessionKey, flags: SessionState) -> Result<(), StoreError> {
        self.inner.merge(key, flags)
    }

    fn claim(&self, handle: &str, principal: &str) -> Result<bool, StoreError> {
        self.inner.claim(handle, principal)
    }

    fn owner(&self, handle: &str) -> Result<Option<String>, StoreError> {
        self.inner.owner(handle)
    }
}

fn gate(store: Arc<Counting>) -> Gate {
    Gate::builder()
        .inventory(Inventory::load("../../examples/inventories/team.toml").unwrap())
        .tier(Tier::Team)
        .session_store(store)
        .build()
        .unwrap()
}

fn write() -> ToolCall {
    ToolCall::new(Principal::new("ana"), "filesystem", "write_file")
        .arguments(serde_json::json!({"path": "notes.md", "content": "hi"}))
        .session("s")
}

#[test]
fn the_evaluator_reads_no_store() {
    let store = Arc::new(Counting::default());
    let gate = gate(store.clone());
    let evaluator = gate.evaluator();
    let state = CallState::new(SessionState::with(true, false));
    let first = evaluator.evaluate(&write(), &state);
    for _ in 0..3 {
        assert_eq!(evaluator.evaluate(&write(), &state), first);
    }
    assert_eq!(first.verdict(), Verdict::RequireApproval);
    assert_eq!(store.loads.load(Ordering::SeqCst), 0);
    // The state is what decides: approved, the same call runs.
    let approved = evaluator.evaluate(&write(), &state.approved(true));
    assert_eq!(approved.verdict(), Verdict::Allow);
}

/// Before the reshaping, an approval-gated call loaded its session twice (the
/// decision re-entered itself to ask whether an approval would allow it).
#[test]
fn an_approval_gated_call_reads_its_session_once() {
    let store = Arc::new(Counting::default());
    let gate = gate(store.clone());
    assert_eq!(gate.authorize(&write()).verdict(), Verdict::RequireApproval);
    assert_eq!(store.loads.load(Ordering::SeqCst), 1);
}

#[test]
fn a_swap_replaces_the_evaluator_and_keeps_the_old_one_for_its_holders() {
    let gate = gate(Arc::new(Counting::default()));
    let before = gate.evaluator();
    gate.swap_policies(&PolicySource::empty()).unwrap();
    let call = ToolCall::new(Principal::new("ana"), "filesystem", "read_text_file");
    assert_eq!(
        before.evaluate(&call, &CallState::default()).verdict(),
        Verdict::Allow
    );
    assert_eq!(gate.authorize(&call).verdict(), Verdict::Deny);
    assert!(gate.evaluator().policy_ids().is_empty());
}

#[test]
fn errors_keep_their_source() {
    let err = PolicySource::empty()
        .with_file("/nonexistent/policies.cedar")
        .unwrap_err();
    assert_eq!(err.kind(), BuildErrorKind::Io);
    let source = std::error::Error::source(&err).expect("the I/O error is kept");
    assert!(source.downcast_ref::<std::io::Error>().is_some());
    // An audit log that cannot be opened (a directory) keeps its I/O error too.
    let dir = std::env::temp_dir();
    let key = mcpguard_policy::AuditKey::parse(
        "7632f554e38178ebe4aac8ee506989d27832ae2c33c7428100f3947ec8385671",
    )
    .unwrap();
    let err = mcpguard_policy::JsonLinesSink::open(&dir, key).unwrap_err();
    let source = std::error::Error::source(&err).expect("the I/O error is kept");
    assert!(source.downcast_ref::<std::io::Error>().is_some(), "{err}");
}
