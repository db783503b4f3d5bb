//! Hostile inventories: nesting far beyond any real document, huge numbers, NUL
//! bytes, a million tools. Each gets a clear error or a correct result.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::collections::BTreeSet;

use mcpguard_core::{
    ActionKind, DataClass, Inventory, InventoryErrorKind, LaunchGate, NetworkReach, Owner,
    Provenance, ServerId, ServerRecord, Tier, ToolName, ToolProfile, Transport,
};

#[test]
fn nesting_10000_deep_is_an_error_not_a_crash() {
    let deep_json = format!(
        "{{\"version\": 1, \"servers\": {}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let err = Inventory::from_json_str(&deep_json, "deep.json").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Syntax);
    assert!(err.to_string().contains("recursion"), "{err}");
    let deep_toml = format!(
        "version = 1\nx = {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let err = Inventory::from_toml_str(&deep_toml, "deep.toml").unwrap_err();
    assert!(err.position().is_some() || err.path().is_some(), "{err}");
}

#[test]
fn huge_numbers_and_nul_bytes_are_clear_errors() {
    for text in [
        "version = 99999999999999999999999999\n",
        "version = 1e400\n",
        "version = -1\n",
    ] {
        let err = Inventory::from_toml_str(text, "n.toml").unwrap_err();
        // Each names where the problem is: a line and column, or the field.
        assert!(
            err.position().is_some() || err.path() == Some("version"),
            "{err}"
        );
        assert!(err.to_string().starts_with("n.toml"), "{err}");
    }
    let err = Inventory::from_json_str("{\"version\": 1e400}", "n.json").unwrap_err();
    assert!(err.to_string().starts_with("n.json:1:"), "{err}");
    let err =
        Inventory::from_json_str("{\"version\": 18446744073709551617}", "n.json").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Version, "{err}");
    let err = Inventory::from_toml_str("version = 1\n[[servers]]\nid = \"a\0b\"\n", "nul.toml")
        .unwrap_err();
    assert!(err.to_string().starts_with("nul.toml:"), "{err}");
}

#[test]
fn a_million_tools_load_and_evaluate() {
    let tools: Vec<ToolProfile> = (0..1_000_000)
        .map(|i| {
            ToolProfile::new(
                ToolName::try_from(format!("t{i}").as_str()).unwrap(),
                BTreeSet::from([ActionKind::Read]),
                NetworkReach::None,
            )
        })
        .collect();
    let mut server = ServerRecord::new(
        ServerId::try_from("big").unwrap(),
        Owner::try_from("platform").unwrap(),
        Transport::Stdio,
        Provenance::FirstParty,
        BTreeSet::from([DataClass::Internal]),
    );
    server.tools = tools;
    let inv = Inventory::from_servers(vec![server]).unwrap();
    assert_eq!(inv.tool_count(), 1_000_000);
    let report = LaunchGate::evaluate(&inv, Tier::Production);
    assert!(report.passed());
    assert_eq!(report.risks.len(), 1_000_000);
}

#[test]
fn a_file_of_a_hundred_thousand_problems_reports_a_bounded_list() {
    let mut json = String::from(r#"{"version": 1, "servers": ["#);
    for i in 0..20_000 {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(r#"{{"id": "s{i}", "colour": 1}}"#));
    }
    json.push_str("]}");
    let err = Inventory::from_json_str(&json, "many.json").unwrap_err();
    let problems = err.problems();
    // Four missing fields and one unknown, in each of 20,000 servers.
    assert_eq!(problems.len(), 201, "{}", problems.len());
    assert!(problems.first().unwrap().position.is_some());
    let last = &problems.last().unwrap().message;
    assert!(last.starts_with("and 99800 more problems"), "{last}");
}
