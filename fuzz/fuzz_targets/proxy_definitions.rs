//! Arbitrary `tools/list` results from an upstream, as `mcpguard proxy` checks
//! them against the inventory (`mcpguard_core::LivePins`): never a panic; the
//! same answer twice; every withheld name is one the upstream listed (or `?`);
//! a listed tool the inventory does not describe, or whose definition is not
//! its pin, is always withheld, with the `mcpguard pin` command in the reason.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mcpguard_core::{Fingerprint, Inventory, LivePins, Tier};
use serde_json::Value;

/// `fs/read` pinned to a definition the fuzzer is unlikely to produce; `fs/write`
/// unpinned; anything else is not in the inventory.
static INVENTORY: LazyLock<Inventory> = LazyLock::new(|| {
    Inventory::from_toml_str(
        r#"
version = 1
[[servers]]
id = "fs"
owner = "platform"
transport = "stdio"
provenance = { kind = "first_party" }
credential = "none"
data_classes = ["internal"]
[[servers.tools]]
name = "read"
actions = ["read"]
reach = "none"
fingerprint = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
[[servers.tools]]
name = "write"
actions = ["write"]
reach = "none"
"#,
        "fuzz.toml",
    )
    .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let Some((&tier, json)) = data.split_first() else {
        return;
    };
    let tier = [Tier::Personal, Tier::Team, Tier::Production][usize::from(tier % 3)];
    let Ok(listed) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let tools: Vec<Value> = match listed.get("tools").unwrap_or(&listed) {
        Value::Array(tools) => tools.clone(),
        one => vec![one.clone()],
    };
    let record = INVENTORY.server("fs").unwrap();
    let others = ["search".to_owned()];
    let pins = LivePins::new(record, tier, "inventory.toml", &others);
    let found = pins.check(&tools);
    assert_eq!(found, pins.check(&tools), "the check is deterministic");
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .collect();
    for withheld in &found.withheld {
        assert!(
            withheld.name == "?" || names.contains(&withheld.name.as_str()),
            "withheld a tool that was not listed: {}",
            withheld.name
        );
    }
    for tool in &tools {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        let Ok(live) = Fingerprint::of_tool(tool) else {
            continue;
        };
        let pinned_elsewhere = record.tool(name).and_then(|t| t.fingerprint);
        let must_withhold =
            record.tool(name).is_none() || pinned_elsewhere.is_some_and(|p| p != live);
        if must_withhold {
            let withheld = found.withheld.iter().find(|w| w.name == name);
            assert!(
                withheld.is_some(),
                "`{name}` is not in the inventory or not its pin, and was let through"
            );
            if let Some(w) = withheld
                && w.fingerprint.is_some()
            {
                assert!(w.reason.contains("mcpguard pin"), "{}", w.reason);
            }
        }
    }
});
