//! The verdict corpus: every `tests/cases/*.json` is one call against an example
//! inventory, in a stated session state, with the verdict and the determining
//! policies a reviewer expects. The call is in the JSON form `ToolCall` reads
//! (the one `mcpguard policy explain` takes), and each case is decided three
//! ways that must agree: the pure evaluator, stock Cedar over the whole set, and
//! the gate with the state put in its session store.
//!
//! A case:
//!
//! ```json
//! {"about": "…", "inventory": "team.toml", "tier": "team",
//!  "baseline": true, "extra_policies": "…cedar…", "tool_definitions": {"server": {…}},
//!  "state": {"session": {"tainted": false, "private_data": false}, "approved": false},
//!  "call": {…}, "verdict": "allow" | "require_approval" | "deny", "policies": ["id", …]}
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{
    CallState, Gate, MemorySessionStore, PolicySource, SessionKey, SessionStore, ToolCall, Verdict,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    about: String,
    inventory: String,
    tier: Tier,
    #[serde(default = "yes")]
    baseline: bool,
    #[serde(default)]
    extra_policies: Option<String>,
    #[serde(default)]
    tool_definitions: BTreeMap<String, Value>,
    #[serde(default)]
    state: CallState,
    call: ToolCall,
    verdict: Verdict,
    policies: Vec<String>,
}

fn yes() -> bool {
    true
}

fn run(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Case = serde_json::from_str(&text).map_err(|e| format!("does not parse: {e}"))?;
    let inventory = Inventory::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/inventories")
            .join(&case.inventory),
    )
    .map_err(|e| e.to_string())?;
    let mut source = if case.baseline {
        PolicySource::baseline()
    } else {
        PolicySource::empty()
    };
    if let Some(extra) = &case.extra_policies {
        source = source.with_str("case.cedar", extra.clone());
    }
    let sessions = Arc::new(MemorySessionStore::default());
    let mut builder = Gate::builder()
        .inventory(inventory)
        .tier(case.tier)
        .policies(source)
        .session_store(sessions.clone());
    for (server, tools) in &case.tool_definitions {
        builder = builder.tool_definitions(server.clone(), tools.clone());
    }
    let gate = builder.build().map_err(|e| e.to_string())?;
    let evaluator = gate.evaluator();
    let decision = evaluator.evaluate(&case.call, &case.state);
    let full = evaluator.evaluate_exhaustive(&case.call, &case.state);
    let what = |d: &mcpguard_policy::Decision| {
        format!(
            "{} {:?} because {:?}",
            d.verdict(),
            d.policy_ids(),
            d.reasons().collect::<Vec<_>>()
        )
    };
    if decision.verdict() != case.verdict {
        return Err(format!(
            "{}: expected {}, got {}",
            case.about,
            case.verdict,
            what(&decision)
        ));
    }
    if decision.policy_ids() != case.policies.as_slice() {
        return Err(format!(
            "{}: expected policies {:?}, got {}",
            case.about,
            case.policies,
            what(&decision)
        ));
    }
    if full.verdict() != decision.verdict() || full.policy_ids() != decision.policy_ids() {
        return Err(format!(
            "{}: stock Cedar says {}, the index {}",
            case.about,
            what(&full),
            what(&decision)
        ));
    }
    // The gate, reading the same session state from its store, agrees (an
    // approved state is the evaluator's alone: the gate approves through grants).
    if !case.state.approved {
        sessions
            .merge(
                &SessionKey {
                    principal: case.call.principal().id().to_owned(),
                    session: case.call.session_id().unwrap_or_default().to_owned(),
                },
                case.state.session,
            )
            .map_err(|e| e.to_string())?;
        let gated = gate.authorize(&case.call);
        if gated.verdict() != decision.verdict() || gated.policy_ids() != decision.policy_ids() {
            return Err(format!(
                "{}: the gate says {}, its evaluator {}",
                case.about,
                what(&gated),
                what(&decision)
            ));
        }
    }
    Ok(())
}

#[test]
fn every_case_gets_its_verdict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 15, "the corpus shrank: {}", paths.len());
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            run(p)
                .err()
                .map(|e| format!("{}: {e}", p.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
