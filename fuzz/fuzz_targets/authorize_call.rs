//! Arbitrary tool calls against a gate built from the example inventory: never a
//! panic, unknown tools always Deny, and the index agrees with stock Cedar. Inputs
//! in `ToolCall`'s JSON form are read as such.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{CallState, Gate, Principal, ToolCall, Verdict};
use serde_json::Value;

static INVENTORY: LazyLock<Inventory> = LazyLock::new(|| {
    Inventory::from_toml_str(
        include_str!("../../examples/inventories/team.toml"),
        "team.toml",
    )
    .expect("the example inventory loads")
});

static GATE: LazyLock<Gate> = LazyLock::new(|| {
    Gate::builder()
        .inventory(INVENTORY.clone())
        .tier(Tier::Team)
        .build()
        .expect("the gate builds")
});

/// The call in `ToolCall`'s JSON form (the one `mcpguard policy explain` and the
/// verdict corpus read) when the input is one; otherwise fields picked from the
/// bytes.
fn call_of(data: &[u8]) -> ToolCall {
    if let Ok(call) = serde_json::from_slice::<ToolCall>(data) {
        return call;
    }
    let v: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    let text = |k: &str, i: usize| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let parts: Vec<&[u8]> = data.split(|b| *b == b'|').collect();
                parts
                    .get(i)
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .unwrap_or_default()
            })
    };
    let mut principal = Principal::new(text("principal", 0));
    for g in v
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(g) = g.as_str() {
            principal = principal.in_group(g);
        }
    }
    ToolCall::new(principal, text("server", 1), text("tool", 2))
        .arguments(v.get("arguments").cloned().unwrap_or(Value::Null))
        .session(text("session", 3))
}

fuzz_target!(|data: &[u8]| {
    let call = call_of(data);
    let decision = GATE.authorize(&call);
    if call.action().is_none() && INVENTORY.tool(call.server(), call.tool()).is_none() {
        assert_eq!(decision.verdict(), Verdict::Deny);
    }
    let full = GATE
        .evaluator()
        .evaluate_exhaustive(&call, &CallState::default());
    assert_eq!(decision.verdict(), full.verdict());
    assert_eq!(decision.policy_ids(), full.policy_ids());
    let _ = GATE.audit_event(&call, &decision);
});
