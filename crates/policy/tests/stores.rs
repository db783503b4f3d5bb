//! One suite, two backends: the in-memory stores and the Redis stores (a real
//! `redis-server` this test starts on loopback and stops). Then what replicas
//! depend on: taint seen by another gate, a grant spent once under races, and
//! Redis going away mid-test denying calls.
#![cfg(feature = "redis")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{
    ApprovalStore, Gate, MemoryApprovalStore, MemorySessionStore, Principal, RedisApprovalStore,
    RedisConfig, RedisSessionStore, SessionKey, SessionState, SessionStore, ToolCall, Verdict,
};
use redis_server::RedisServer;

const INVENTORY: &str = r#"
version = 1
[[servers]]
id = "ws"
owner = "team"
transport = "stdio"
credential = "none"
data_classes = ["public", "internal", "secret"]
provenance = { kind = "first_party" }

[[servers.tools]]
name = "fetch"
data_classes = ["public"]
actions = ["read", "egress"]
reach = "public"
untrusted_output = true

[[servers.tools]]
name = "read_secret"
data_classes = ["secret"]
actions = ["read"]
reach = "none"

[[servers.tools]]
name = "write"
data_classes = ["internal"]
actions = ["write"]
reach = "none"
"#;

fn key(principal: &str, session: &str) -> SessionKey {
    SessionKey {
        principal: principal.into(),
        session: session.into(),
    }
}

fn session_suite(store: &dyn SessionStore) {
    let a = key("ana", "s1");
    assert_eq!(
        store.load(&a).unwrap(),
        SessionState::new(),
        "unknown is clean"
    );
    store.merge(&a, SessionState::with(true, false)).unwrap();
    assert_eq!(store.load(&a).unwrap(), SessionState::with(true, false));
    store.merge(&a, SessionState::with(false, true)).unwrap();
    assert_eq!(
        store.load(&a).unwrap(),
        SessionState::with(true, true),
        "flags accumulate"
    );
    store.merge(&a, SessionState::new()).unwrap();
    assert_eq!(
        store.load(&a).unwrap(),
        SessionState::with(true, true),
        "nothing clears a flag"
    );
    // Bound to the principal: the same handle of another principal is another session.
    assert_eq!(store.load(&key("bo", "s1")).unwrap(), SessionState::new());
    assert_eq!(store.load(&key("ana", "s2")).unwrap(), SessionState::new());
    // No separator games: ("an", "as1") is not ("ana", "s1").
    assert_eq!(store.load(&key("an", "as1")).unwrap(), SessionState::new());

    // A transport session handle is the first claimant's, for good.
    assert!(store.claim("mcp-1", "ana").unwrap());
    assert!(store.claim("mcp-1", "ana").unwrap(), "its owner again");
    assert!(!store.claim("mcp-1", "bo").unwrap(), "another principal");
    assert!(
        !store.claim("mcp-1", "an").unwrap(),
        "a prefix of the owner"
    );
    assert!(store.claim("mcp-2", "bo").unwrap());
    assert!(!store.claim("mcp-2", "ana").unwrap());
}

fn grant(gate: &Gate, n: u64) -> mcpguard_policy::ApprovalGrant {
    let call = ToolCall::new(Principal::new("ana"), "ws", "write")
        .arguments(serde_json::json!({ "n": n }));
    gate.approvals()
        .approve_call(&call, "lead", Duration::from_secs(60))
        .unwrap()
}

fn approval_suite(store: &Arc<dyn ApprovalStore>) {
    let gate = gate_with(Arc::new(MemorySessionStore::default()), Arc::clone(store));
    // `approve_call` inserted them; each can be taken once.
    let (g1, g2) = (grant(&gate, 1), grant(&gate, 2));
    assert_eq!(store.take(g1.id()).unwrap(), Some(g1.clone()));
    assert_eq!(store.take(g1.id()).unwrap(), None, "taken once");
    assert_eq!(store.take("no-such-grant").unwrap(), None);
    assert_eq!(
        store.take(g2.id()).unwrap(),
        Some(g2),
        "grants are independent"
    );
}

fn gate_with(sessions: Arc<dyn SessionStore>, approvals: Arc<dyn ApprovalStore>) -> Gate {
    Gate::builder()
        .inventory(Inventory::from_toml_str(INVENTORY, "stores.toml").unwrap())
        .tier(Tier::Team)
        .session_store(sessions)
        .approval_store(approvals)
        .build()
        .unwrap()
}

/// A gate as one replica builds it: its own connections to the shared Redis.
fn replica(config: &RedisConfig) -> Gate {
    gate_with(
        Arc::new(RedisSessionStore::new(config.clone())),
        Arc::new(RedisApprovalStore::new(config.clone())),
    )
}

#[test]
fn the_memory_stores_pass_the_suite() {
    session_suite(&MemorySessionStore::default());
    approval_suite(&(Arc::new(MemoryApprovalStore::default()) as Arc<dyn ApprovalStore>));
}

#[test]
fn the_redis_stores_pass_the_suite_and_every_key_expires() {
    let server = RedisServer::start();
    let config = RedisConfig::new(&server.url(), "suite").unwrap();
    let sessions = RedisSessionStore::new(config.clone());
    sessions.ping().unwrap();
    session_suite(&sessions);
    approval_suite(&(Arc::new(RedisApprovalStore::new(config.clone())) as Arc<dyn ApprovalStore>));
    let gate = replica(&config);
    let _pending = grant(&gate, 99);

    let mut conn = server.connection();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert!(keys.len() >= 2, "{keys:?}");
    for k in &keys {
        assert!(k.starts_with("suite:"), "namespaced: {k}");
        let ttl: i64 = redis::cmd("TTL").arg(k).query(&mut conn).unwrap();
        assert!(ttl > 0, "{k} has no expiry ({ttl})");
    }
    // Another namespace sees none of it.
    let other = RedisSessionStore::new(RedisConfig::new(&server.url(), "other").unwrap());
    assert_eq!(other.load(&key("ana", "s1")).unwrap(), SessionState::new());
}

#[test]
fn taint_set_on_one_replica_holds_on_another() {
    let server = RedisServer::start();
    let config = RedisConfig::new(&server.url(), "replicas").unwrap();
    let (a, b) = (replica(&config), replica(&config));
    let fetch = ToolCall::new(Principal::new("ana"), "ws", "fetch").session("conv-1");
    let secret = ToolCall::new(Principal::new("ana"), "ws", "read_secret").session("conv-1");
    assert_eq!(
        b.authorize(&secret).verdict(),
        Verdict::Allow,
        "clean: a read runs"
    );
    assert_eq!(a.authorize(&fetch).verdict(), Verdict::Allow);
    a.record_outcome(&fetch).unwrap();
    let d = b.authorize(&secret);
    assert_eq!(d.verdict(), Verdict::Deny);
    assert!(
        d.policy_ids()
            .iter()
            .any(|p| p == "no-secrets-when-tainted"),
        "{d:?}"
    );
    // The same session handle of another principal is clean.
    let other = ToolCall::new(Principal::new("bo"), "ws", "read_secret").session("conv-1");
    assert_eq!(b.authorize(&other).verdict(), Verdict::Allow);
}

#[test]
fn a_grant_raced_by_two_replicas_is_spent_exactly_once() {
    const ROUNDS: u64 = 2000;
    const THREADS: usize = 8;
    let server = RedisServer::start();
    let config = RedisConfig::new(&server.url(), "race")
        .unwrap()
        .pool(THREADS);
    let gates = [replica(&config), replica(&config)];
    let call = |n: u64| {
        ToolCall::new(Principal::new("ana"), "ws", "write").arguments(serde_json::json!({ "n": n }))
    };
    let barrier = Barrier::new(THREADS);
    for round in 0..ROUNDS {
        let c = call(round);
        let g = gates[0]
            .approvals()
            .approve_call(&c, "lead", Duration::from_secs(60))
            .unwrap();
        let allowed = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (gate, c, g, barrier, allowed) = (&gates[t % 2], &c, &g, &barrier, &allowed);
                s.spawn(move || {
                    barrier.wait();
                    if gate.authorize_approved(c, g).verdict() == Verdict::Allow {
                        allowed.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::SeqCst), 1, "round {round}");
    }
}

#[test]
fn redis_going_away_denies_within_the_timeout() {
    let mut server = RedisServer::start();
    let config = RedisConfig::new(&server.url(), "outage")
        .unwrap()
        .timeout(Duration::from_millis(200));
    let gate = replica(&config);
    let read = ToolCall::new(Principal::new("ana"), "ws", "fetch").session("s");
    let write = ToolCall::new(Principal::new("ana"), "ws", "write");
    assert_eq!(gate.authorize(&read).verdict(), Verdict::Allow);
    let g = gate
        .approvals()
        .approve_call(&write, "lead", Duration::from_secs(60))
        .unwrap();

    server.stop();
    let start = Instant::now();
    let d = gate.authorize(&read);
    assert_eq!(d.verdict(), Verdict::Deny, "no stale local state: {d:?}");
    let shown = format!("{:?} {:?}", d.reasons().collect::<Vec<_>>(), d.errors());
    assert!(shown.contains("redis"), "{shown}");
    assert_eq!(gate.authorize_approved(&write, &g).verdict(), Verdict::Deny);
    assert!(
        gate.record_outcome(&read).is_err(),
        "taint cannot be dropped silently"
    );
    assert!(
        gate.approvals()
            .approve_call(&write, "lead", Duration::from_secs(60))
            .is_err()
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn passwords_work_and_are_never_shown() {
    let server = RedisServer::start_with_password(Some("hunter2-correct-horse"));
    let good = RedisSessionStore::new(RedisConfig::new(&server.url(), "auth").unwrap());
    good.ping().unwrap();
    let url = server
        .url()
        .replace("hunter2-correct-horse", "wrong-password-here");
    let config = RedisConfig::new(&url, "auth").unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("wrong-password"), "{shown}");
    let bad = RedisSessionStore::new(config);
    let e = bad.ping().unwrap_err().to_string();
    assert!(!e.contains("wrong-password"), "{e}");
    let gate = gate_with(Arc::new(bad), Arc::new(MemoryApprovalStore::default()));
    let call = ToolCall::new(Principal::new("ana"), "ws", "fetch");
    assert_eq!(gate.authorize(&call).verdict(), Verdict::Deny);

    let e = RedisConfig::new("redis://:hunter2-correct-horse@[::1", "auth").unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let e = RedisConfig::new("redis://127.0.0.1", "bad:namespace").unwrap_err();
    assert!(e.to_string().contains("namespace"), "{e}");
}
