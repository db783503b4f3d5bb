//! No secret leaves the gate: catalogued and registered secrets placed in every
//! field of a call (principal, session, server, tool, argument keys and values,
//! purpose), in a refusal's reason, a handler's error and its result (text and
//! structured keys) are found in none of the audit events, decisions, errors,
//! `Debug` prints or results.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::sync::Arc;

use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{Gate, GuardError, MemorySink, Principal, ToolCall};
use mcpguard_redact::Redactor;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const INVENTORY: &str = r#"
version = 1
[[servers]]
id = "notes"
owner = "platform"
transport = "stdio"
credential = "none"
data_classes = ["internal"]
provenance = { kind = "first_party" }

[[servers.tools]]
name = "read"
actions = ["read"]
reach = "none"
target = "path"
"#;

/// Secrets the built-in catalogue knows by shape (obviously fake).
const CATALOGUED: [&str; 4] = [
    "ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U",
    "xoxb-2048163525-1207493682-Kq8ZtR3mWv5NpL2xYc7DbF9s",
    "sk_live_51HqLyjWDarjtT1zdp7dcXkJ9Rb3VmP2cQ8nA4Tz",
    "AKIAZ7VQ3XK2M4TNRW5P",
];

/// The places a secret can be put.
#[derive(Debug, Clone, Copy)]
enum Place {
    Principal,
    Session,
    Server,
    Tool,
    ArgumentKey,
    ArgumentValue,
    Purpose,
    RefusalReason,
    HandlerError,
    ResultText,
    ResultKey,
}

const PLACES: [Place; 11] = [
    Place::Principal,
    Place::Session,
    Place::Server,
    Place::Tool,
    Place::ArgumentKey,
    Place::ArgumentValue,
    Place::Purpose,
    Place::RefusalReason,
    Place::HandlerError,
    Place::ResultText,
    Place::ResultKey,
];

/// Everything that left the gate for one call, as text.
fn run(place: Place, secret: &str, registered: &str) -> String {
    let redactor = Redactor::new().unwrap();
    redactor.register_known_secret("token", registered).unwrap();
    let sink = Arc::new(MemorySink::default());
    let gate = Gate::builder()
        .inventory(Inventory::from_toml_str(INVENTORY, "notes.toml").unwrap())
        .tier(Tier::Personal)
        .audit_sink(sink.clone())
        .redactor(redactor)
        .build()
        .unwrap();
    let put = |p: Place, plain: &str| {
        if std::mem::discriminant(&p) == std::mem::discriminant(&place) {
            format!("x {secret} y")
        } else {
            plain.to_owned()
        }
    };
    let mut arguments = Map::new();
    arguments.insert("path".to_owned(), json!(put(Place::ArgumentValue, "a.md")));
    arguments.insert(put(Place::ArgumentKey, "extra"), json!("e"));
    let call = ToolCall::new(
        Principal::new(put(Place::Principal, "ana")),
        put(Place::Server, "notes"),
        put(Place::Tool, "read"),
    )
    .arguments(Value::Object(arguments))
    .session(put(Place::Session, "s1"))
    .purpose(put(Place::Purpose, "answer a question"));

    let mut out = vec![format!("{call:?}")];
    let decision = gate.authorize(&call);
    out.push(format!("{decision:?}"));
    out.push(serde_json::to_string(&decision).unwrap());
    if matches!(place, Place::RefusalReason) {
        let d = gate.refuse(&call, format!("the person said {secret}"));
        out.push(format!("{d:?}"));
    }
    let result: Result<Value, GuardError<String>> = gate.admit(&call).run(|| {
        if matches!(place, Place::HandlerError) {
            return Err(format!("failed: {secret}"));
        }
        let mut structured = Map::new();
        structured.insert(put(Place::ResultKey, "owner"), json!("ana"));
        Ok(json!({
            "content": [{"type": "text", "text": put(Place::ResultText, "fine")}],
            "structuredContent": structured,
        }))
    });
    match result {
        Ok(value) => out.push(value.to_string()),
        Err(e) => {
            out.push(e.to_string());
            out.push(format!("{e:?}"));
        }
    }
    for event in sink.events() {
        out.push(serde_json::to_string(&event).unwrap());
        out.push(format!("{event:?}"));
    }
    out.join("\n")
}

fn secrets(registered: &str) -> Vec<String> {
    let mut all: Vec<String> = CATALOGUED.iter().map(|s| (*s).to_owned()).collect();
    all.push(registered.to_owned());
    all
}

#[test]
fn every_place_is_redacted_for_every_catalogued_secret() {
    let registered = "Zq8vR2mX7kL4pN9w";
    for place in PLACES {
        for secret in secrets(registered) {
            let text = run(place, &secret, registered);
            assert!(
                !text.contains(&secret),
                "{place:?}: `{secret}` leaked:\n{text}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn no_registered_secret_leaves_the_gate(
        registered in "[A-Za-z0-9]{12,40}",
        place in 0..PLACES.len(),
        which in 0..5usize,
    ) {
        let all = secrets(&registered);
        let secret = &all[which.min(all.len() - 1)];
        let text = run(PLACES[place], secret, &registered);
        prop_assert!(!text.contains(secret.as_str()), "{:?}: leaked:\n{}", PLACES[place], text);
    }
}
