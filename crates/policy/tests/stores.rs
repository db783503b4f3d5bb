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
    Admission, ApprovalStore, Gate, MemoryApprovalStore, MemorySessionStore, PolicySource,
    Principal, RedisApprovalStore, RedisConfig, RedisSessionStore, ReviewError, SessionKey,
    SessionState, SessionStore, ToolCall, Verdict,
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
    assert_eq!(store.owner("mcp-1").unwrap().as_deref(), Some("ana"));
    assert_eq!(store.owner("mcp-9").unwrap(), None, "never claimed");
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

const FOUR_EYES: &str = r#"
@id("four-eyes-writes")
@approval("four-eyes")
@reason("a write needs a second person's approval")
forbid (principal, action == Mcp::Action::"call_tool", resource == Mcp::Tool::"ws/write")
unless { context.approved };
"#;

/// Four eyes over a store: the caller's own approval does not count; another
/// person's lets the call run once; of replicas racing on a decided review, one
/// takes it.
fn four_eyes_suite(store: &Arc<dyn ApprovalStore>) {
    let gate = Arc::new(
        Gate::builder()
            .inventory(Inventory::from_toml_str(INVENTORY, "stores.toml").unwrap())
            .policies(PolicySource::baseline().with_str("four-eyes.cedar", FOUR_EYES))
            .tier(Tier::Team)
            .approval_store(Arc::clone(store))
            .build()
            .unwrap(),
    );
    let call = ToolCall::new(Principal::new("ana"), "ws", "write")
        .arguments(serde_json::json!({"path": "notes.md"}));
    let decision = gate.authorize(&call);
    assert_eq!(decision.verdict(), Verdict::RequireApproval);
    assert!(decision.approval_request().unwrap().needs_reviewer());
    let Admission::Ask(pending) = gate.admit(&call) else {
        panic!("a four-eyes call is held for approval")
    };

    // The caller's own approval (as asked through the client) does not lift it.
    let own = gate
        .approvals()
        .approve(pending.request(), "ana", Duration::from_secs(60))
        .unwrap();
    let d = gate.authorize_approved(&call, &own);
    assert_eq!(d.verdict(), Verdict::Deny);
    assert!(d.reasons().any(|r| r.contains("four eyes")), "{d:?}");

    let reviews = gate.reviews();
    let redacted = gate.redacted_call(&call);
    let review = reviews
        .open(&pending, &redacted, Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        reviews
            .open(&pending, &redacted, Duration::from_secs(60))
            .unwrap()
            .id(),
        review.id(),
        "one call, one review"
    );
    assert_eq!(review.caller(), "ana");
    assert!(review.question().contains("write"), "{}", review.question());
    assert_eq!(reviews.list().unwrap().len(), 1);
    assert!(matches!(
        reviews.approve(review.id(), "ana"),
        Err(ReviewError::OwnCall(_))
    ));
    assert!(matches!(
        reviews.approve(review.id(), " "),
        Err(ReviewError::NoReviewer)
    ));
    assert!(matches!(
        reviews.approve("nope", "lead"),
        Err(ReviewError::Unknown(_))
    ));
    let approved = reviews.approve(review.id(), "lead").unwrap();
    assert!(matches!(
        reviews.deny(review.id(), "cy"),
        Err(ReviewError::Decided {
            verb: "approved",
            ..
        })
    ));

    // Replicas racing on the decided review: one takes it.
    let winners = AtomicUsize::new(0);
    let barrier = Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                if reviews.take(&approved).unwrap().is_some() {
                    winners.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(winners.load(Ordering::SeqCst), 1);
    assert!(
        reviews.for_call(&call.digest()).unwrap().is_none(),
        "taken: gone"
    );

    let grant = approved.decision().unwrap().grant().unwrap();
    assert!(grant.is_reviewed());
    let run = gate.authorize_approved(&call, grant);
    assert_eq!(run.verdict(), Verdict::Allow, "{run:?}");
    assert_eq!(
        gate.authorize_approved(&call, grant).verdict(),
        Verdict::Deny,
        "once"
    );

    // Denied: decided, and taken like an approval (its retry is refused).
    let review = reviews
        .open(&pending, &redacted, Duration::from_secs(60))
        .unwrap();
    let denied = reviews.deny(review.id(), "lead").unwrap();
    assert!(!denied.decision().unwrap().approved());
    assert!(denied.decision().unwrap().grant().is_none());
    assert!(reviews.take(&denied).unwrap().is_some());
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
    four_eyes_suite(&(Arc::new(MemoryApprovalStore::default()) as Arc<dyn ApprovalStore>));
}

#[test]
fn the_redis_stores_pass_the_suite_and_every_key_expires() {
    let server = RedisServer::start();
    let config = RedisConfig::new(&server.url(), "suite").unwrap();
    let sessions = RedisSessionStore::new(config.clone());
    sessions.ping().unwrap();
    session_suite(&sessions);
    approval_suite(&(Arc::new(RedisApprovalStore::new(config.clone())) as Arc<dyn ApprovalStore>));
    four_eyes_suite(&(Arc::new(RedisApprovalStore::new(config.clone())) as Arc<dyn ApprovalStore>));
    let _review = {
        let gate = Gate::builder()
            .inventory(Inventory::from_toml_str(INVENTORY, "stores.toml").unwrap())
            .policies(PolicySource::baseline().with_str("four-eyes.cedar", FOUR_EYES))
            .tier(Tier::Team)
            .approval_store(Arc::new(RedisApprovalStore::new(config.clone())))
            .build()
            .unwrap();
        let call = ToolCall::new(Principal::new("ana"), "ws", "write");
        let Admission::Ask(pending) = gate.admit(&call) else {
            panic!("held")
        };
        gate.reviews()
            .open(
                &pending,
                &gate.redacted_call(&call),
                Duration::from_secs(60),
            )
            .unwrap()
    };
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
