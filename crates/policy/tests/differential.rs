//! The policy index decides exactly as stock Cedar over the whole set: random
//! inventories, random policy sets (scopes of every kind, `when`/`unless` over
//! context and entities, conditions that error), random principals and sessions.
//! Every decision — verdict, determining policy ids, whether it errored — of
//! `Evaluator::evaluate` (indexed) must equal `Evaluator::evaluate_exhaustive` (stock
//! `Authorizer::is_authorized` over the full set).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::sync::Arc;

use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{
    CallState, Gate, MemorySessionStore, PolicySource, Principal, SessionKey, SessionState,
    SessionStore, ToolCall,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct ToolSpec {
    class: &'static str,
    actions: &'static str,
    reach: &'static str,
    untrusted: bool,
    approval: bool,
}

#[derive(Debug, Clone)]
struct ServerSpec {
    third_party: Option<&'static str>,
    tools: Vec<ToolSpec>,
}

fn tool_spec() -> impl Strategy<Value = ToolSpec> {
    (
        prop::sample::select(vec![
            "public",
            "internal",
            "confidential",
            "customer",
            "production",
            "secret",
        ]),
        prop::sample::select(vec![
            r#"["read"]"#,
            r#"["write"]"#,
            r#"["read", "delete"]"#,
            r#"["execute"]"#,
            r#"["read", "egress"]"#,
        ]),
        prop::sample::select(vec!["internal", "public"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(class, actions, reach, untrusted, approval)| ToolSpec {
            class,
            actions,
            reach,
            untrusted,
            approval,
        })
}

fn server_spec() -> impl Strategy<Value = ServerSpec> {
    (
        prop::option::of(prop::sample::select(vec![
            "approved",
            "unreviewed",
            "in_review",
        ])),
        prop::collection::vec(tool_spec(), 1..4),
    )
        .prop_map(|(third_party, tools)| ServerSpec { third_party, tools })
}

fn inventory_text(servers: &[ServerSpec]) -> String {
    let mut out = String::from("version = 1\n");
    for (s, server) in servers.iter().enumerate() {
        let provenance = match server.third_party {
            Some(review) => format!(
                r#"{{ kind = "third_party", vendor = "v", source = "s", version = "1.0.0", review = "{review}" }}"#
            ),
            None => r#"{ kind = "first_party" }"#.to_owned(),
        };
        out.push_str(&format!(
            "[[servers]]\nid = \"s{s}\"\nowner = \"o\"\ntransport = \"stdio\"\nprovenance = {provenance}\n\
             credential = \"none\"\ndata_classes = [\"public\", \"internal\", \"confidential\", \"customer\", \"production\", \"secret\"]\n"
        ));
        for (t, tool) in server.tools.iter().enumerate() {
            out.push_str(&format!(
                "[[servers.tools]]\nname = \"t{t}\"\ndata_classes = [\"{}\"]\nactions = {}\nreach = \"{}\"\nuntrusted_output = {}\napproval_required = {}\n",
                tool.class, tool.actions, tool.reach, tool.untrusted, tool.approval
            ));
        }
    }
    out
}

/// Conditions valid for `call_tool` on a tool.
const CALL_CONDITIONS: &[&str] = &[
    "resource.read_only",
    "resource.destructive",
    "resource.egress && context.session.private_data",
    "resource.data_level >= 3",
    "context.approved",
    "context.session.tainted",
    "context.tier == \"team\"",
    "context.purpose == \"audit\"",
    "principal in Mcp::Group::\"g1\"",
    "resource.third_party && resource.review != \"approved\"",
    "resource.reach == \"public\" || context.session.tainted",
    "resource.untrusted_output",
    "resource.risk > 9",
    // Overflows, so the policy errors, for tools with a risk of 2 or more.
    "resource.risk * 4611686018427387904 > 0",
    "context.session.tainted && resource.risk * 4611686018427387904 > 0",
];

/// Conditions valid for every action and resource type.
const ANY_CONDITIONS: &[&str] = &[
    "context.tier == \"production\"",
    "principal in Mcp::Group::\"g0\"",
    "principal == Mcp::User::\"u1\"",
];

fn principal_scope() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("principal".to_owned()),
        (0..3u8).prop_map(|u| format!("principal == Mcp::User::\"u{u}\"")),
        (0..3u8).prop_map(|g| format!("principal in Mcp::Group::\"g{g}\"")),
        Just("principal in Mcp::User::\"u0\"".to_owned()),
        Just("principal is Mcp::User".to_owned()),
        (0..3u8).prop_map(|g| format!("principal is Mcp::User in Mcp::Group::\"g{g}\"")),
    ]
}

fn resource_scope() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("resource".to_owned()),
        (0..3u8, 0..4u8).prop_map(|(s, t)| format!("resource == Mcp::Tool::\"s{s}/t{t}\"")),
        (0..3u8).prop_map(|s| format!("resource in Mcp::Server::\"s{s}\"")),
        Just("resource is Mcp::Tool".to_owned()),
        (0..3u8).prop_map(|s| format!("resource is Mcp::Tool in Mcp::Server::\"s{s}\"")),
    ]
}

/// A generated policy: permit?, principal scope, resource scope, conditions
/// (`when`?, body), and whether it is for `call_tool` only.
type PolicySpec = (bool, String, String, Vec<(bool, String)>, bool);

/// One policy: a `call_tool` policy with call conditions, or one on any action with
/// conditions every environment types.
fn policy() -> impl Strategy<Value = PolicySpec> {
    (
        any::<bool>(),
        principal_scope(),
        resource_scope(),
        any::<bool>(),
        prop::collection::vec((any::<bool>(), prop::sample::select(CALL_CONDITIONS)), 0..3),
        prop::collection::vec((any::<bool>(), prop::sample::select(ANY_CONDITIONS)), 0..2),
    )
        .prop_map(|(permit, p, r, call_only, call_conds, any_conds)| {
            let conds: Vec<(bool, String)> = if call_only {
                call_conds
                    .into_iter()
                    .map(|(w, c)| (w, c.to_owned()))
                    .collect()
            } else {
                any_conds
                    .into_iter()
                    .map(|(w, c)| (w, c.to_owned()))
                    .collect()
            };
            (permit, p, r, conds, call_only)
        })
}

fn policy_text(policies: &[PolicySpec]) -> String {
    let mut out = String::new();
    for (i, (permit, p, r, conds, call_only)) in policies.iter().enumerate() {
        let effect = if *permit { "permit" } else { "forbid" };
        let action = if *call_only {
            "action == Mcp::Action::\"call_tool\""
        } else {
            "action"
        };
        // Resource scopes naming tools only fit tool actions.
        let resource = if *call_only { r.as_str() } else { "resource" };
        out.push_str(&format!(
            "@id(\"p{i}\")\n{effect} ({p}, {action}, {resource})"
        ));
        for (when, c) in conds {
            out.push_str(&format!(
                " {} {{ {c} }}",
                if *when { "when" } else { "unless" }
            ));
        }
        out.push_str(";\n");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn index_decides_exactly_as_cedar(
        servers in prop::collection::vec(server_spec(), 1..4),
        policies in prop::collection::vec(policy(), 0..14),
        baseline in any::<bool>(),
        tier in prop::sample::select(vec![Tier::Personal, Tier::Team, Tier::Production]),
        calls in prop::collection::vec(
            (0..3u8, prop::collection::vec(0..3u8, 0..3), 0..4usize, 0..5usize, any::<bool>(), any::<bool>(), prop::sample::select(vec!["", "audit"])),
            1..6,
        ),
    ) {
        let inventory = Inventory::from_toml_str(&inventory_text(&servers), "random.toml").unwrap();
        let text = policy_text(&policies);
        let source = if baseline { PolicySource::baseline() } else { PolicySource::empty() };
        let store = Arc::new(MemorySessionStore::default());
        let gate = Gate::builder()
            .inventory(inventory)
            .tier(tier)
            .session_store(store.clone())
            .policies(source.with_str("random.cedar", text.clone()))
            .build()
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        // The same gate answers several calls: slices are cached across them.
        for (user, groups, server, tool, tainted, private, purpose) in calls {
            let mut principal = Principal::new(format!("u{user}"));
            for g in groups {
                principal = principal.in_group(format!("g{g}"));
            }
            let session = format!("s{}", u8::from(tainted) + 2 * u8::from(private));
            store.merge(
                &SessionKey { principal: principal.id().to_owned(), session: session.clone() },
                SessionState::with(tainted, private),
            ).unwrap();
            let server = server % servers.len();
            let tool = tool % (servers[server].tools.len() + 1); // sometimes unknown
            let call = ToolCall::new(principal, format!("s{server}"), format!("t{tool}"))
                .session(session)
                .purpose(purpose);
            // The pure evaluator, in the state the session store holds: the index
            // and stock Cedar agree, and the gate decides as its evaluator does.
            let state = CallState::new(SessionState::with(tainted, private));
            let evaluator = gate.evaluator();
            let indexed = evaluator.evaluate(&call, &state);
            let full = evaluator.evaluate_exhaustive(&call, &state);
            prop_assert_eq!(&gate.authorize(&call), &indexed);
            prop_assert_eq!(indexed.verdict(), full.verdict(), "{}\n{:?}\n{:?}", text, indexed, full);
            prop_assert_eq!(indexed.policy_ids(), full.policy_ids(), "{}", text);
            prop_assert_eq!(indexed.errors().is_empty(), full.errors().is_empty(), "{}", text);
        }
    }
}
