//! The schemas rmcp's `#[tool]` macros really generate (through schemars) type
//! `context.args`: `Option<String>`, `u32`, `Vec<String>`, a unit enum, a nested
//! struct. A forbid on an optional path fires; a number is reported, and a policy
//! that names it fails validation saying why.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    dead_code,
    reason = "test helpers fail loudly; argument types exist for their schemas"
)]
#![cfg(feature = "rmcp")]

use mcpguard::policy::{Gate, PolicySource, Principal, ToolCall, Verdict};
use mcpguard::{Inventory, Tier};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone)]
struct Files {
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Append,
    Replace,
}

#[derive(Deserialize, JsonSchema)]
struct Options {
    /// Follow symbolic links.
    follow: bool,
    /// How deep to go.
    depth: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
struct WriteArgs {
    /// Where to write; the working file when absent.
    path: Option<String>,
    /// How many times.
    count: u32,
    /// Labels.
    tags: Vec<String>,
    /// How to write.
    mode: Mode,
    /// How to write, if not the default.
    fallback: Option<Mode>,
    /// Nested options.
    options: Options,
    /// More options, maybe.
    extra: Option<Options>,
    /// A fraction: Cedar has no type for it.
    ratio: f64,
}

#[tool_router]
impl Files {
    #[tool(description = "Write a file.")]
    async fn write(
        &self,
        Parameters(_args): Parameters<WriteArgs>,
    ) -> Result<CallToolResult, McpError> {
        Ok(CallToolResult::success(vec![ContentBlock::text("ok")]))
    }
}

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
name = "write"
actions = ["write"]
reach = "none"
"#;

const FORBID_ETC: &str = r#"
@id("no-etc")
@reason("nothing under /etc")
forbid (principal, action == Mcp::Action::"call_tool", resource)
when { context.args has path && context.args.path like "/etc/*" };

@id("no-deep")
@reason("not that deep")
forbid (principal, action == Mcp::Action::"call_tool", resource)
when { context.args has options && context.args.options has depth && context.args.options.depth > 5 };

@id("no-replace-tagged")
@reason("tagged files are appended to")
forbid (principal, action == Mcp::Action::"call_tool", resource)
when { context.args has mode && context.args.mode == "replace" && context.args has tags && context.args.tags.contains("keep") };

@id("no-extra-follow")
@reason("no following links in extra options")
forbid (principal, action == Mcp::Action::"call_tool", resource)
when { context.args has extra && context.args.extra has follow && context.args.extra.follow };

@id("count-cap")
@reason("at most 100")
forbid (principal, action == Mcp::Action::"call_tool", resource)
when { context.args has count && context.args.count > 100 };
"#;

fn definitions() -> Value {
    let router = Files::tool_router();
    serde_json::to_value(router.list_all()).unwrap()
}

fn gate(policies: PolicySource) -> Result<Gate, mcpguard::policy::BuildError> {
    Gate::builder()
        .inventory(Inventory::from_toml_str(INVENTORY, "files.toml").unwrap())
        .tier(Tier::Personal)
        .tool_definitions("files", definitions())
        .policies(policies)
        .build()
}

fn args(over: &Value) -> Value {
    let mut base = json!({
        "path": "notes.md", "count": 1, "tags": ["a"], "mode": "append",
        "fallback": null, "options": {"follow": false, "depth": 2}, "extra": null, "ratio": 0.5
    });
    for (k, v) in over.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn decide(gate: &Gate, over: &Value) -> mcpguard::policy::Decision {
    gate.authorize(&ToolCall::new(Principal::new("ana"), "files", "write").arguments(args(over)))
}

#[test]
fn schemars_schemas_type_optional_integer_set_enum_and_nested_arguments() {
    let gate = gate(PolicySource::baseline().with_str("etc.cedar", FORBID_ETC)).unwrap();
    let names = gate.evaluator().argument_names();
    for name in [
        "path",
        "count",
        "tags",
        "mode",
        "fallback",
        "options",
        "options.follow",
        "options.depth",
        "extra",
        "extra.follow",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "ratio"), "{names:?}");
    let evaluator = gate.evaluator();
    let schema = evaluator.schema_text();
    assert!(schema.contains(r#""count"?: Long"#), "{schema}");
    assert!(schema.contains(r#""path"?: String"#), "{schema}");
    assert!(schema.contains(r#""tags"?: Set<String>"#), "{schema}");

    // The failing input of the review: `Option<String>` under /etc.
    let d = decide(&gate, &json!({"path": "/etc/passwd"}));
    assert_eq!(d.verdict(), Verdict::Deny, "{d:?}");
    assert!(d.policy_ids().iter().any(|p| p == "no-etc"), "{d:?}");
    // Absent (`null`) is absent.
    let d = decide(&gate, &json!({"path": null}));
    assert!(!d.policy_ids().iter().any(|p| p == "no-etc"), "{d:?}");
    assert_ne!(d.verdict(), Verdict::Deny, "{d:?}");
    // Nested optional integer, enum and set, optional nested struct, integer.
    for (over, id) in [
        (json!({"options": {"follow": false, "depth": 9}}), "no-deep"),
        (
            json!({"mode": "replace", "tags": ["keep", "x"]}),
            "no-replace-tagged",
        ),
        (
            json!({"extra": {"follow": true, "depth": null}}),
            "no-extra-follow",
        ),
        (json!({"count": 1000}), "count-cap"),
    ] {
        let d = decide(&gate, &over);
        assert!(d.policy_ids().iter().any(|p| p == id), "{over}: {d:?}");
        assert_eq!(d.verdict(), Verdict::Deny, "{over}");
    }
    // A value of the wrong type is a malformed call.
    let d = decide(&gate, &json!({"count": "many"}));
    assert_eq!(d.verdict(), Verdict::Deny);
    assert!(d.reasons().any(|r| r.contains("count")), "{d:?}");
}

#[test]
fn untypable_arguments_are_reported_and_policies_naming_them_fail() {
    let gate = gate(PolicySource::baseline()).unwrap();
    let evaluator = gate.evaluator();
    let note = evaluator
        .schema_notes()
        .iter()
        .find(|n| n.contains("`ratio`"))
        .unwrap_or_else(|| panic!("no note for ratio: {:?}", gate.evaluator().schema_notes()));
    assert!(note.contains("files/write"), "{note}");
    assert!(note.contains("number"), "{note}");

    let e = gate_err(
        r#"@id("ratio-cap") forbid (principal, action == Mcp::Action::"call_tool", resource)
        when { context.args has ratio && context.args.ratio > 1 };"#,
    );
    assert!(e.contains("ratio-cap"), "{e}");
    assert!(
        e.contains("argument `ratio` of tool `files/write` cannot be typed"),
        "{e}"
    );
    assert!(e.contains("whole numbers"), "{e}");
}

fn gate_err(policy: &str) -> String {
    gate(PolicySource::baseline().with_str("ratio.cedar", policy))
        .unwrap_err()
        .to_string()
}
