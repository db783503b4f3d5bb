//! Arbitrary Cedar text: a build error or a gate, never a panic; a gate that builds
//! decides a call.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{CallState, Gate, PolicySource, Principal, ToolCall};

static INVENTORY: LazyLock<Inventory> = LazyLock::new(|| {
    Inventory::from_toml_str(
        include_str!("../../examples/inventories/team.toml"),
        "team.toml",
    )
    .expect("the example inventory loads")
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let built = Gate::builder()
        .inventory(INVENTORY.clone())
        .tier(Tier::Team)
        .policies(PolicySource::empty().with_str("fuzz.cedar", text))
        .build();
    match built {
        Ok(gate) => {
            let call = ToolCall::new(
                Principal::new("ana").in_group("g"),
                "filesystem",
                "read_text_file",
            )
            .arguments(serde_json::json!({"path": "a"}));
            let d = gate.authorize(&call);
            let full = gate
                .evaluator()
                .evaluate_exhaustive(&call, &CallState::default());
            assert_eq!(d.verdict(), full.verdict());
            assert_eq!(d.policy_ids(), full.policy_ids());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
