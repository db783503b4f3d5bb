//! Arbitrary text as a TOML or JSON inventory: an error or an inventory, never a
//! panic; an error has at least one problem; a parsed inventory evaluates at every
//! tier and round-trips through JSON and TOML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpguard_core::{Inventory, LaunchGate, Tier};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for parsed in [
        Inventory::from_toml_str(&text, "fuzz.toml"),
        Inventory::from_json_str(&text, "fuzz.json"),
    ] {
        match parsed {
            Ok(inv) => {
                for tier in Tier::ALL {
                    let report = LaunchGate::evaluate(&inv, tier);
                    let _ = report.to_string();
                    let _ = report.to_markdown();
                }
                let again = Inventory::from_json_str(&inv.to_json_string(), "again.json")
                    .expect("a written inventory reads back");
                assert_eq!(again, inv);
                if let Ok(toml) = inv.to_toml_string() {
                    let again = Inventory::from_toml_str(&toml, "again.toml")
                        .expect("written TOML reads back");
                    assert_eq!(again, inv);
                }
            }
            Err(e) => {
                assert!(!e.problems().is_empty());
                let _ = e.to_string();
            }
        }
    }
});
