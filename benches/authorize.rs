//! Criterion benchmarks of authorization: group `authorize`, on an inventory of N
//! tools with the baseline pack plus one permit policy per tool, N in
//! {10, 100, 1000, 10000}:
//!
//! - `gate/N`: `Gate::authorize` end to end (lookup, arguments, session, context,
//!   entities, request, Cedar evaluation, reasons);
//! - `raw_cedar/N`: `cedar_policy::Authorizer::is_authorized` alone on the same full
//!   policy set, with the request and entities built beforehand: stock Cedar;
//! - `gate_swap/1000`: `Gate::swap_policies` with the 1000-tool set: parsing,
//!   validation and the index rebuilt, as after a policy change;
//! - `guard/1000`: `Gate::admit` + `Permit::finish` with a trivial handler: authorize, the `started`
//!   and `ok` audit events (arguments redacted) to an in-memory sink, and the
//!   session update (the tools' output is untrusted, so each call taints).
//! - `guard_redis/1000` (with `--features redis`): the same with the session store
//!   on a `redis-server` the bench starts on loopback: one round trip to read the
//!   session, one to record it.
//!
//! Run once as a test (`cargo test --benches`), only N = 10 and 100 are measured,
//! to keep CI quick.
#![expect(clippy::expect_used, reason = "a benchmark may stop on broken setup")]

use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mcpguard::Inventory;
use mcpguard::Tier;
use mcpguard::policy::{
    AuditError, AuditEvent, AuditSink, BASELINE_POLICIES, Gate, PolicySource, Principal, ToolCall,
};
use std::sync::{Arc, Mutex};

#[cfg(feature = "redis")]
#[path = "../crates/policy/tests/support/redis_server.rs"]
#[allow(
    dead_code,
    clippy::panic,
    reason = "the tests' helper: the bench uses part of it, and stops on broken setup"
)]
mod redis_server;

fn inventory(n: usize) -> Inventory {
    let mut toml = String::from(
        "version = 1\n[[servers]]\nid = \"bench\"\nowner = \"perf\"\ntransport = \"stdio\"\n\
         provenance = { kind = \"first_party\" }\ncredential = \"none\"\ndata_classes = [\"internal\"]\n",
    );
    for i in 0..n {
        toml.push_str(&format!(
            "[[servers.tools]]\nname = \"tool_{i}\"\nactions = [\"read\"]\nreach = \"none\"\nuntrusted_output = true\n"
        ));
    }
    Inventory::from_toml_str(&toml, "bench.toml").expect("the bench inventory loads")
}

fn per_tool_policies(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "@id(\"tool-{i}\") @reason(\"group g{i} may call tool_{i}\")\n\
                 permit (principal in Mcp::Group::\"g{i}\", action == Mcp::Action::\"call_tool\", resource == Mcp::Tool::\"bench/tool_{i}\");\n"
            )
        })
        .collect()
}

/// The same policy set as the gate's, parsed by Cedar directly.
fn raw_policy_set(extra: &str) -> PolicySet {
    let mut set = PolicySet::new();
    for text in [BASELINE_POLICIES, extra] {
        let parsed = PolicySet::from_str(text).expect("the policies parse");
        for p in parsed.policies() {
            let id = p
                .annotation("id")
                .expect("every bench policy has an id")
                .to_owned();
            set.add(p.new_id(cedar_policy::PolicyId::new(id)))
                .expect("ids are unique");
        }
    }
    set
}

/// An in-memory sink that keeps the last 1024 events, so memory stays flat however
/// many iterations criterion runs.
#[derive(Debug, Default)]
struct RingSink {
    events: Mutex<(usize, Vec<AuditEvent>)>,
}

impl AuditSink for RingSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut ring = self.events.lock().expect("the ring is not poisoned");
        let (next, events) = &mut *ring;
        if events.len() < 1024 {
            events.push(event.clone());
        } else if let Some(slot) = events.get_mut(*next % 1024) {
            *slot = event.clone();
        }
        *next += 1;
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full {
        &[10, 100, 1000, 10_000]
    } else {
        &[10, 100]
    };
    let mut group = c.benchmark_group("authorize");
    group.measurement_time(Duration::from_secs(4));
    for &n in sizes {
        let extra = per_tool_policies(n);
        let gate = Gate::builder()
            .inventory(inventory(n))
            .tier(Tier::Team)
            .policies(PolicySource::baseline().with_str("per-tool.cedar", extra.clone()))
            .build()
            .expect("the bench gate builds");
        let target = n / 2;
        let call = ToolCall::new(
            Principal::new("ana").in_group(format!("g{target}")),
            "bench",
            format!("tool_{target}"),
        )
        .session("bench");
        let decision = gate.authorize(&call);
        assert!(decision.is_allowed(), "{decision:?}");
        group.bench_with_input(BenchmarkId::new("gate", n), &call, |b, call| {
            b.iter(|| black_box(gate.authorize(black_box(call))));
        });
        if n == 1000 {
            let guarded = Gate::builder()
                .inventory(inventory(n))
                .tier(Tier::Team)
                .policies(PolicySource::baseline().with_str("per-tool.cedar", extra.clone()))
                .audit_sink(Arc::new(RingSink::default()))
                .build()
                .expect("the bench gate builds");
            let call = call
                .clone()
                .arguments(serde_json::json!({"path": "src/lib.rs", "note": "bench"}));
            group.bench_with_input(BenchmarkId::new("guard", n), &call, |b, call| {
                b.iter(|| {
                    guarded
                        .admit(black_box(call))
                        .run(|| Ok::<_, String>(()))
                        .expect("the call is allowed");
                });
            });
            #[cfg(feature = "redis")]
            {
                let server = redis_server::RedisServer::start();
                let config = mcpguard::policy::RedisConfig::new(&server.url(), "bench")
                    .expect("the bench Redis URL");
                let on_redis = Gate::builder()
                    .inventory(inventory(n))
                    .tier(Tier::Team)
                    .policies(PolicySource::baseline().with_str("per-tool.cedar", extra.clone()))
                    .audit_sink(Arc::new(RingSink::default()))
                    .session_store(Arc::new(mcpguard::policy::RedisSessionStore::new(config)))
                    .build()
                    .expect("the bench gate builds");
                group.bench_with_input(BenchmarkId::new("guard_redis", n), &call, |b, call| {
                    b.iter(|| {
                        on_redis
                            .admit(black_box(call))
                            .run(|| Ok::<_, String>(()))
                            .expect("the call is allowed");
                    });
                });
            }
            let source = PolicySource::baseline().with_str("per-tool.cedar", extra.clone());
            group.bench_function(BenchmarkId::new("gate_swap", n), |b| {
                b.iter(|| {
                    gate.swap_policies(black_box(&source))
                        .expect("the swap succeeds")
                });
            });
        }

        // Stock Cedar on the same policies, request and entities prebuilt.
        let set = raw_policy_set(&extra);
        let entities = Entities::from_json_value(
            serde_json::json!([
                {"uid": {"type": "Mcp::User", "id": "ana"}, "attrs": {}, "parents": [{"type": "Mcp::Group", "id": format!("g{target}")}]},
                {"uid": {"type": "Mcp::Group", "id": format!("g{target}")}, "attrs": {}, "parents": []},
                {"uid": {"type": "Mcp::Server", "id": "bench"}, "attrs": {"owner": "perf", "third_party": false, "review": "first_party", "pinned": true}, "parents": []},
                {"uid": {"type": "Mcp::Tool", "id": format!("bench/tool_{target}")}, "attrs": {
                    "name": format!("tool_{target}"), "server": "bench", "data_level": 1, "data_classes": ["internal"],
                    "actions": ["read"], "read_only": true, "destructive": false, "egress": false, "has_destination": false, "reach": "none",
                    "untrusted_output": false, "approval_required": false, "risk": 2, "third_party": false, "review": "first_party"
                }, "parents": [{"type": "Mcp::Server", "id": "bench"}]}
            ]),
            None,
        )
        .expect("the bench entities parse");
        let context = Context::from_json_value(
            serde_json::json!({"tier": "team", "session": {"tainted": false, "private_data": false}, "approved": false, "purpose": "",
                "destination": {"kind": "none", "valid": false, "scheme": "", "host": "", "port": 0, "class": "", "allowed": false}, "args": {}}),
            None,
        )
        .expect("the bench context parses");
        let request = Request::new(
            EntityUid::from_str("Mcp::User::\"ana\"").expect("uid"),
            EntityUid::from_str("Mcp::Action::\"call_tool\"").expect("uid"),
            EntityUid::from_str(&format!("Mcp::Tool::\"bench/tool_{target}\"")).expect("uid"),
            context,
            None,
        )
        .expect("the bench request builds");
        let authorizer = Authorizer::new();
        let response = authorizer.is_authorized(&request, &set, &entities);
        assert_eq!(response.decision(), cedar_policy::Decision::Allow);
        group.bench_function(BenchmarkId::new("raw_cedar", n), |b| {
            b.iter(|| black_box(authorizer.is_authorized(black_box(&request), &set, &entities)));
        });
    }
    group.finish();
}

#[allow(missing_docs, reason = "generated by criterion_group")]
mod harness {
    use super::*;
    criterion_group!(benches, bench);
}
criterion_main!(harness::benches);
