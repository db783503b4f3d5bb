//! No public entry point that takes a JSON value aborts on one nested deeper
//! than the stack allows. Values built in code (parsed JSON stops at 128
//! levels) 100,000 levels deep aborted the process with a stack overflow in
//! `redact_json` under a sensitive key, `Gate::authorize`, `Fingerprint::of_tool`
//! and `Linter::lint_tool`. Each runs here on a thread with a small stack.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use mcpguard_core::{Fingerprint, Inventory, LintId, Linter, Tier, dismantle};
use mcpguard_policy::{Gate, Principal, ToolCall, Verdict};
use mcpguard_redact::Redactor;
use serde_json::{Map, Value, json};

const DEPTH: usize = 100_000;

/// `depth` objects inside each other (`{"a":{"a":…}}`), built without
/// recursion.
fn nested(depth: usize) -> Value {
    let mut value = json!("the innermost text");
    for _ in 0..depth {
        let mut map = Map::new();
        map.insert("a".to_owned(), value);
        value = Value::Object(map);
    }
    value
}

/// Runs `f` on a thread with a 256 KiB stack, as a server's worker thread may
/// have: a recursive walk of [`DEPTH`] levels cannot fit.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn redact_json_replaces_a_deep_value_under_a_sensitive_key() {
    let redacted = on_small_stack(|| {
        let redactor = Redactor::new().unwrap();
        let mut value = json!({"password": Value::Null, "note": "fine"});
        value["password"] = nested(DEPTH);
        let changed = redactor.redact_json(&mut value);
        (changed, value)
    });
    let (changed, value) = redacted;
    assert_eq!(changed, 1);
    assert!(
        value["password"]
            .as_str()
            .is_some_and(|s| s.starts_with("[REDACTED:")),
        "{}",
        value["password"]
    );
    assert_eq!(value["note"], "fine");
}

#[test]
fn the_gate_denies_arguments_nested_too_deep_as_malformed() {
    let decision = on_small_stack(|| {
        let inventory = Inventory::load("../../examples/inventories/team.toml").unwrap();
        let gate = Gate::builder()
            .inventory(inventory)
            .tier(Tier::Team)
            .build()
            .unwrap();
        let mut arguments = json!({"path": "README.md"});
        arguments["path"] = nested(DEPTH);
        let call = ToolCall::new(Principal::new("ana"), "filesystem", "read_text_file")
            .arguments(arguments);
        let decision = gate.authorize(&call);
        // The audit event of the refusal is made (and serialized) too.
        let event = serde_json::to_string(&gate.audit_event(&call, &decision)).unwrap();
        (
            decision.verdict(),
            decision.reasons().collect::<Vec<_>>().join("; "),
            event,
        )
    });
    let (verdict, reasons, event) = decision;
    assert_eq!(verdict, Verdict::Deny);
    assert!(
        reasons.contains("nested deeper than 128 levels"),
        "{reasons}"
    );
    assert!(!event.contains("the innermost text"), "{event}");
}

#[test]
fn a_deep_definition_is_fingerprinted_and_linted_without_recursion() {
    let (fingerprints, findings) = on_small_stack(|| {
        let mut tool = json!({"name": "deep", "description": "d", "inputSchema": {}});
        tool["inputSchema"] = nested(DEPTH);
        let first = Fingerprint::of_tool(&tool).unwrap();
        let second = Fingerprint::of_tool(&tool).unwrap();
        let findings = Linter::new().lint_tool(&tool);
        let listed = Linter::new().lint_tools(&json!([]));
        assert!(listed.is_empty());
        dismantle(tool);
        (first == second, findings)
    });
    assert!(fingerprints, "the same definition, the same fingerprint");
    assert!(
        findings
            .iter()
            .any(|f| f.id == LintId::OversizedDefinition && f.excerpt.contains("deeper than")),
        "{findings:?}"
    );
}
