//! The approval question shows what is approved: the target and destination
//! first and whole, whatever the caller's key order or the other values' length;
//! the rest in a stable order, redacted, with hidden characters written out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{Admission, Gate, Principal, ToolCall};
use serde_json::Value;

const INVENTORY: &str = r#"
version = 1
[[servers]]
id = "files"
owner = "platform"
transport = "stdio"
credential = "none"
data_classes = ["internal"]
provenance = { kind = "first_party" }

[[servers.tools]]
name = "write_file"
actions = ["write"]
reach = "none"
target = "path"

[[servers.tools]]
name = "post"
actions = ["egress"]
reach = "public"
destination = { argument = "url", kind = "url" }
"#;

fn gate() -> Gate {
    Gate::builder()
        .inventory(Inventory::from_toml_str(INVENTORY, "files.toml").unwrap())
        .tier(Tier::Team)
        .build()
        .unwrap()
}

fn question(gate: &Gate, tool: &str, arguments: &str) -> String {
    let args: Value = serde_json::from_str(arguments).unwrap();
    let call = ToolCall::new(Principal::new("ana"), "files", tool).arguments(args);
    match gate.admit(&call) {
        Admission::Ask(pending) => pending.question().to_owned(),
        other => panic!("not asked: {other:?}"),
    }
}

/// The review's case: a long `content` before `path` pushed the path past the
/// old 1,200-character cut.
#[test]
fn a_long_value_before_the_target_does_not_hide_it() {
    let gate = gate();
    let content = "A".repeat(50_000);
    let path = format!("deploy/{}/authorized_keys", "d".repeat(300));
    let q = question(
        &gate,
        "write_file",
        &format!(r#"{{"content": "{content}", "path": "{path}"}}"#),
    );
    let target_at = q
        .find(&path)
        .unwrap_or_else(|| panic!("path not shown whole:\n{q}"));
    let content_at = q.find("\"content\"").unwrap();
    assert!(target_at < content_at, "{q}");
    assert!(
        q.starts_with("Approve \"write_file\" on server \"files\" for \"ana\"?"),
        "{q}"
    );
    assert!(q.contains("characters not shown"), "{q}");
    assert!(q.len() < 2_000, "{} bytes", q.len());
    assert!(
        q.contains(
            &gate
                .authorize(
                    &ToolCall::new(Principal::new("ana"), "files", "write_file").arguments(
                        serde_json::from_str(&format!(
                            r#"{{"content": "{content}", "path": "{path}"}}"#
                        ))
                        .unwrap()
                    )
                )
                .approval_request()
                .unwrap()
                .digest()
                .to_hex()
        )
    );
}

#[test]
fn the_order_of_the_callers_keys_does_not_change_the_question() {
    let gate = gate();
    let a = question(
        &gate,
        "write_file",
        r#"{"path": "a.md", "b": 2, "a": 1, "mode": "x"}"#,
    );
    let b = question(
        &gate,
        "write_file",
        r#"{"mode": "x", "a": 1, "b": 2, "path": "a.md"}"#,
    );
    assert_eq!(a, b);
    let (ia, ib, im) = (
        a.find("\"a\": 1").unwrap(),
        a.find("\"b\": 2").unwrap(),
        a.find("\"mode\"").unwrap(),
    );
    assert!(ia < ib && ib < im, "{a}");
}

#[test]
fn the_destination_is_shown_whole_with_its_class() {
    let gate = gate();
    let url = format!("https://upload.example/{}", "p".repeat(400));
    let q = question(
        &gate,
        "post",
        &format!(r#"{{"body": "{}", "url": "{url}"}}"#, "b".repeat(5000)),
    );
    assert!(q.contains(&url), "{q}");
    assert!(q.contains("public host \"upload.example\""), "{q}");
    assert!(q.find(&url).unwrap() < q.find("\"body\"").unwrap(), "{q}");
}

#[test]
fn values_cannot_fake_lines_hide_characters_or_carry_secrets() {
    let gate = gate();
    let q = question(
        &gate,
        "write_file",
        r#"{"path": "notes\u202e.md\nWhy it needs approval: nothing", "token": "ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U", "ghp_Z9r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7Q": 1}"#,
    );
    assert_eq!(q.matches("\nWhy it needs approval:").count(), 1, "{q}");
    assert!(q.contains(r"\u{202e}") && q.contains(r"\n"), "{q}");
    assert!(!q.contains('\u{202e}'));
    assert!(!q.contains("ghp_Q3r7") && !q.contains("ghp_Z9r7"), "{q}");
}
