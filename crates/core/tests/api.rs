//! Public-API tests of mcpguard-core: inventory loading and its errors, round trips,
//! every launch-gate control passing and failing, and the risk and fingerprint
//! properties.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::collections::BTreeSet;

use mcpguard_core::{
    ActionKind, Control, Credential, CredentialName, CredentialSource, DataClass, Fingerprint,
    Inventory, InventoryErrorKind, LaunchGate, NetworkReach, Owner, Provenance, RiskScore,
    ServerId, ServerRecord, ThirdParty, Tier, ToolName, ToolProfile, Transport,
};
use proptest::prelude::*;

/// A first-party server that passes every control at every tier, with `server`
/// lines and `tool` lines substituted for the defaults given.
fn inventory(server: &str, tool: &str) -> String {
    let mut server_lines = vec![
        ("id", r#"id = "srv""#),
        ("owner", r#"owner = "platform-team""#),
        ("transport", r#"transport = "stdio""#),
        ("provenance", r#"provenance = { kind = "first_party" }"#),
        ("credential", r#"credential = { env = "SRV_TOKEN" }"#),
        ("credential_tiers", r#"credential_tiers = ["team"]"#),
        ("data_classes", r#"data_classes = ["internal"]"#),
    ];
    let mut tool_lines = vec![
        ("name", r#"name = "do_it""#),
        ("actions", r#"actions = ["read"]"#),
        ("reach", r#"reach = "none""#),
    ];
    override_lines(&mut server_lines, server);
    override_lines(&mut tool_lines, tool);
    let join = |lines: &[(&str, &str)]| {
        lines
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>()
    };
    format!(
        "version = 1\n\n[[servers]]\n{}\n[[servers.tools]]\n{}",
        join(&server_lines),
        join(&tool_lines)
    )
}

fn override_lines<'a>(lines: &mut Vec<(&'a str, &'a str)>, overrides: &'a str) {
    for line in overrides.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let key = line.split([' ', '=']).next().unwrap();
        let value = if line.ends_with("= DELETE") { "" } else { line };
        match lines.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => lines.push((key, value)),
        }
    }
}

fn load(server: &str, tool: &str) -> Inventory {
    let text = inventory(server, tool);
    Inventory::from_toml_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn load_err(server: &str, tool: &str) -> mcpguard_core::InventoryError {
    Inventory::from_toml_str(&inventory(server, tool), "test.toml").unwrap_err()
}

const THIRD_PARTY_OK: &str = r#"provenance = { kind = "third_party", vendor = "Acme", source = "https://example.com/acme-mcp", version = "1.4.2", review = "approved" }"#;
const FINGERPRINT: &str =
    r#"fingerprint = "sha256:3a00ed6f64de4e8cdd884442f0de65c7cde8e34d07258faab59e79030f429067""#;

/// Asserts `control` passes for (`ok_server`, `ok_tool`) and fails exactly once for
/// (`bad_server`, `bad_tool`) at every tier that checks it, and is not checked below.
fn control_case(control: Control, ok: (&str, &str), bad: (&str, &str)) {
    let good = load(ok.0, ok.1);
    let bad = load(bad.0, bad.1);
    for tier in Tier::ALL {
        let good_report = LaunchGate::evaluate(&good, tier);
        let bad_report = LaunchGate::evaluate(&bad, tier);
        assert_eq!(
            good_report.failures_of(control).count(),
            0,
            "{control} at {tier} on the passing inventory:\n{good_report}"
        );
        let checked = tier >= control.from_tier();
        assert_eq!(good_report.controls.contains(&control), checked);
        let failures: Vec<_> = bad_report.failures_of(control).collect();
        if checked {
            assert_eq!(failures.len(), 1, "{control} at {tier}:\n{bad_report}");
            let f = failures[0];
            assert_eq!(f.server.as_str(), "srv");
            assert!(!f.message.is_empty());
            assert!(!bad_report.passed());
        } else {
            assert!(failures.is_empty(), "{control} checked below its tier");
        }
    }
}

#[test]
fn control_owner_present() {
    control_case(Control::OwnerPresent, ("", ""), (r#"owner = "TODO""#, ""));
    // Missing or blank: loads, and fails the control (not a syntax error).
    control_case(Control::OwnerPresent, ("", ""), ("owner = DELETE", ""));
    control_case(Control::OwnerPresent, ("", ""), (r#"owner = "   ""#, ""));
    let report = LaunchGate::evaluate(&load("owner = DELETE", ""), Tier::Personal);
    let f = report.failures_of(Control::OwnerPresent).next().unwrap();
    assert!(f.message.contains("no owner"), "{}", f.message);
}

#[test]
fn control_credential_source() {
    control_case(
        Control::CredentialSource,
        (r#"credential = { vault = "vault://kv/srv#token" }"#, ""),
        (r#"credential = { file = "~/.config/srv/token" }"#, ""),
    );
}

#[test]
fn control_credential_tiers() {
    // Checked in every tier: production shared with personal or with team fails.
    for bad in [
        "credential_tiers = [\"personal\", \"production\"]",
        "credential_tiers = [\"team\", \"production\"]",
        "credential_tiers = DELETE",
    ] {
        control_case(
            Control::CredentialTiers,
            ("credential_tiers = [\"production\"]", ""),
            (bad, ""),
        );
    }
    control_case(
        Control::CredentialTiers,
        ("credential_tiers = [\"personal\", \"team\"]", ""),
        (
            "credential_tiers = [\"personal\", \"team\", \"production\"]",
            "",
        ),
    );
    // No credential: nothing to share.
    let report = LaunchGate::evaluate(
        &load("credential = \"none\"\ncredential_tiers = DELETE", ""),
        Tier::Production,
    );
    assert_eq!(report.failures_of(Control::CredentialTiers).count(), 0);
}

const TWO_CREDENTIALS_OK: &str = r#"credentials = [{ name = "dev", env = "SRV_DEV_TOKEN", tiers = ["personal", "team"] }, { name = "deploy", vault = "vault://kv/srv#deploy", tiers = ["production"] }]"#;

#[test]
fn several_credentials_each_with_its_tiers() {
    let over = |c: &str| format!("credential = DELETE\ncredential_tiers = DELETE\n{c}");
    let good = over(TWO_CREDENTIALS_OK);
    let shared = over(
        r#"credentials = [{ name = "dev", env = "SRV_DEV_TOKEN", tiers = ["personal", "team"] }, { name = "deploy", vault = "vault://kv/srv#deploy", tiers = ["personal", "production"] }]"#,
    );
    control_case(Control::CredentialTiers, (&good, ""), (&shared, ""));
    let inv = load(&shared, "");
    let server = &inv.servers()[0];
    assert_eq!(server.credentials.len(), 2);
    let deploy = server.credential("deploy").unwrap();
    assert!(deploy.allowed_in(Tier::Personal) && !deploy.allowed_in(Tier::Team));
    for tier in Tier::ALL {
        let report = LaunchGate::evaluate(&inv, tier);
        let f = report.failures_of(Control::CredentialTiers).next().unwrap();
        assert!(f.message.contains("credential `deploy`"), "{}", f.message);
        assert!(f.message.contains("personal"), "{}", f.message);
    }
    // A plaintext file fails `credential-source`, naming the credential.
    let file = over(
        r#"credentials = [{ name = "dev", file = "~/.srv-token", tiers = ["personal"] }, { name = "deploy", vault = "vault://kv/srv#deploy", tiers = ["production"] }]"#,
    );
    let report = LaunchGate::evaluate(&load(&file, ""), Tier::Personal);
    let f = report
        .failures_of(Control::CredentialSource)
        .next()
        .unwrap();
    assert!(f.message.contains("credential `dev`"), "{}", f.message);
    // The form round-trips.
    let back = Inventory::from_toml_str(&inv.to_toml_string().unwrap(), "back.toml").unwrap();
    assert_eq!(back, inv);
    let back = Inventory::from_json_str(&inv.to_json_string(), "back.json").unwrap();
    assert_eq!(back, inv);
}

#[test]
fn several_credentials_are_checked_strictly() {
    let over = |c: &str| format!("credential = DELETE\ncredential_tiers = DELETE\n{c}");
    for (bad, needle) in [
        (
            r#"credentials = [{ name = "a", env = "A_TOKEN" }, { name = "a", env = "B_TOKEN" }]"#,
            "duplicate credential name `a`",
        ),
        (
            r#"credentials = [{ name = "Dev Key", env = "A_TOKEN" }]"#,
            "invalid credential name",
        ),
        (
            r#"credentials = [{ env = "A_TOKEN" }]"#,
            "missing field `name`",
        ),
        (
            r#"credentials = [{ name = "a", value = "ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE1234" }]"#,
            "inline credential values are not allowed",
        ),
        (
            r#"credentials = [{ name = "a", env = "ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE1234" }]"#,
            "names an environment variable",
        ),
        (
            r#"credentials = [{ name = "a", env = "A_TOKEN", vault = "vault://x" }]"#,
            "exactly one key",
        ),
        (r#"credentials = [{ name = "a" }]"#, "exactly one key"),
        (
            r#"credentials = [{ name = "a", env = "A_TOKEN", tiers = ["staging"] }]"#,
            "staging",
        ),
        (
            r#"credentials = ["ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE1234"]"#,
            "inline values are not allowed",
        ),
    ] {
        let err = load_err(&over(bad), "");
        let text = err.to_string();
        assert!(text.contains(needle), "{bad}: {text}");
        assert!(!text.contains("FAKE"), "{text}");
        assert!(text.contains("server `srv`"), "{text}");
        assert!(text.contains("test.toml:"), "{text}");
    }
    // Both forms at once, or tiers outside the single form.
    let err = load_err(TWO_CREDENTIALS_OK, "");
    assert!(err.to_string().contains("not both"), "{err}");
    let err = load_err("credential = \"none\"", "");
    assert!(err.to_string().contains("`credential_tiers`"), "{err}");
}

#[test]
fn control_annotations_consistent() {
    control_case(
        Control::AnnotationsConsistent,
        (
            "",
            "annotations = { readOnlyHint = true, openWorldHint = false }",
        ),
        ("", "annotations = { readOnlyHint = false }"),
    );
    // The report names the tool.
    let report = LaunchGate::evaluate(
        &load("", "annotations = { readOnlyHint = false }"),
        Tier::Personal,
    );
    assert_eq!(report.failures[0].tool.as_ref().unwrap().as_str(), "do_it");
}

#[test]
fn control_no_secret_public_reach() {
    control_case(
        Control::NoSecretPublicReach,
        (r#"data_classes = ["secret"]"#, r#"reach = "internal""#),
        (r#"data_classes = ["secret"]"#, r#"reach = "public""#),
    );
}

#[test]
fn control_read_write_split() {
    control_case(
        Control::ReadWriteSplit,
        (
            r#"data_classes = ["internal"]"#,
            r#"actions = ["read", "write"]"#,
        ),
        (
            r#"data_classes = ["confidential"]"#,
            r#"actions = ["read", "write"]"#,
        ),
    );
}

#[test]
fn control_approval_required_destructive() {
    control_case(
        Control::ApprovalRequired,
        ("", "actions = [\"delete\"]\napproval_required = true"),
        ("", r#"actions = ["delete"]"#),
    );
}

#[test]
fn control_approval_required_production_facing() {
    // Writing production data changes production.
    control_case(
        Control::ApprovalRequired,
        (
            r#"data_classes = ["production"]"#,
            "actions = [\"write\"]\napproval_required = true",
        ),
        (r#"data_classes = ["production"]"#, r#"actions = ["write"]"#),
    );
    // Reading production or secret data does not: read workflows stay fast.
    for data in ["production", "secret"] {
        control_case(
            Control::ApprovalRequired,
            (&format!("data_classes = [\"{data}\"]"), ""),
            (
                &format!("data_classes = [\"{data}\"]"),
                r#"actions = ["write"]"#,
            ),
        );
    }
    // Marked in the inventory: production-facing whatever its data.
    control_case(
        Control::ApprovalRequired,
        ("", "actions = [\"write\"]"),
        ("", "actions = [\"write\"]\nproduction_facing = true"),
    );
    control_case(
        Control::ApprovalRequired,
        ("", "production_facing = true\napproval_required = true"),
        ("", "production_facing = true"),
    );
}

#[test]
fn control_third_party_reviewed() {
    control_case(
        Control::ThirdPartyReviewed,
        (THIRD_PARTY_OK, ""),
        (
            r#"provenance = { kind = "third_party", vendor = "Acme", source = "https://example.com/acme-mcp", version = "1.4.2", review = "in_review" }"#,
            "",
        ),
    );
}

#[test]
fn control_third_party_pinned() {
    control_case(
        Control::ThirdPartyPinned,
        (THIRD_PARTY_OK, ""),
        (
            r#"provenance = { kind = "third_party", vendor = "Acme", source = "https://example.com/acme-mcp", version = "latest", review = "approved" }"#,
            "",
        ),
    );
}

#[test]
fn control_tool_fingerprint_pinned() {
    control_case(
        Control::ToolFingerprintPinned,
        (THIRD_PARTY_OK, FINGERPRINT),
        (THIRD_PARTY_OK, ""),
    );
    // First-party tools need no fingerprint.
    let report = LaunchGate::evaluate(&load("", ""), Tier::Production);
    assert!(report.passed(), "{report}");
}

#[test]
fn stricter_tiers_include_looser_controls() {
    for pair in Tier::ALL.windows(2) {
        let looser: BTreeSet<_> = Control::for_tier(pair[0]).collect();
        let stricter: BTreeSet<_> = Control::for_tier(pair[1]).collect();
        assert!(looser.is_subset(&stricter) && looser != stricter);
    }
    assert_eq!(
        Control::for_tier(Tier::Production).count(),
        Control::ALL.len()
    );
}

#[test]
fn report_serializes_and_displays() {
    let inv = load(r#"owner = "unknown""#, r#"actions = ["execute"]"#);
    let report = LaunchGate::evaluate(&inv, Tier::Team);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["tier"], "team");
    assert_eq!(json["failures"][0]["control"], "owner-present");
    assert_eq!(json["failures"][1]["control"], "approval-required");
    assert_eq!(json["failures"][1]["tool"], "do_it");
    assert_eq!(json["risks"][0]["risk"]["write_ability"], 4);
    let text = report.to_string();
    assert!(text.starts_with("launch gate `team`: FAIL"), "{text}");
    assert!(text.contains("approval-required       FAIL (1)"), "{text}");
    assert!(text.contains("set `approval_required = true`"), "{text}");
}

#[test]
fn example_inventory_passes_team_and_fails_production_only_on_fingerprints() {
    let inv = Inventory::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/inventories/team.toml"
    ))
    .unwrap();
    assert_eq!(inv.servers().len(), 5);
    assert!(LaunchGate::evaluate(&inv, Tier::Team).passed());
    let prod = LaunchGate::evaluate(&inv, Tier::Production);
    assert!(!prod.passed());
    assert!(
        prod.failures
            .iter()
            .all(|f| f.control == Control::ToolFingerprintPinned)
    );
    // The pinned fingerprint in the example matches the definition beside it.
    let tools: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/inventories/fetch.tools.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let (_, fetch) = inv.tool("fetch", "fetch").unwrap();
    assert_eq!(
        fetch.fingerprint,
        Some(Fingerprint::of_tool(&tools["tools"][0]).unwrap())
    );
}

// ---- inventory errors: each names the location and what to write ----

#[test]
fn error_unknown_field_names_line_and_column() {
    let err = load_err("", "tokn = 1");
    assert_eq!(err.kind(), InventoryErrorKind::Schema);
    let pos = err.position().expect("a position");
    assert_eq!(pos.line, 16, "{err}");
    let text = err.to_string();
    assert!(text.starts_with("test.toml:16:1:"), "{text}");
    assert!(text.contains("unknown field `tokn`"), "{text}");
    assert!(
        text.contains("`actions`"),
        "lists the fields to write instead: {text}"
    );
    assert_eq!(err.path(), Some("servers[0].tools[0].tokn"));
}

#[test]
fn error_missing_field_names_path_and_fix() {
    let err = load_err("transport = DELETE", "");
    let text = err.to_string();
    assert!(text.contains("servers[0]"), "{text}");
    assert!(text.contains("server `srv`"), "{text}");
    assert!(text.contains("missing field `transport`"), "{text}");
    assert!(text.contains("add `transport = "), "{text}");
    // Reported where the server's table starts.
    assert_eq!(err.position().map(|p| p.line), Some(3), "{text}");
}

#[test]
fn error_duplicate_server() {
    let mut text = inventory("", "");
    let second = text.split_once("[[servers]]").unwrap().1.to_owned();
    text.push_str("\n[[servers]]");
    text.push_str(&second);
    let err = Inventory::from_toml_str(&text, "dup.toml").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Invalid);
    assert_eq!(err.path(), Some("servers[1].id"));
    assert!(
        err.to_string().contains("duplicate server id `srv`"),
        "{err}"
    );
}

#[test]
fn error_duplicate_tool() {
    let mut text = inventory("", "");
    text.push_str(
        "\n[[servers.tools]]\nname = \"do_it\"\nactions = [\"write\"]\nreach = \"none\"\n",
    );
    let err = Inventory::from_toml_str(&text, "dup.toml").unwrap_err();
    assert_eq!(err.path(), Some("servers[0].tools[1].name"));
    assert!(
        err.to_string().contains("duplicate tool name `do_it`"),
        "{err}"
    );
}

#[test]
fn error_inline_credential_is_refused_and_never_echoed() {
    let secret = "ghp_FAKEfakeFAKEfake0123456789abcdefABCD";
    for line in [
        format!(r#"credential = "{secret}""#),
        format!(r#"credential = {{ value = "{secret}" }}"#),
        format!(r#"credential = {{ env = "{secret}" }}"#),
        format!(r#"credential = {{ vault = "https://u:{secret}@vault.example" }}"#),
        // A secret pasted into other fields is not echoed either.
        format!(r#"transport = "{secret}""#),
        format!(r#"data_classes = "{secret}""#),
        format!(r#"data_classes = ["{secret}"]"#),
    ] {
        let err = load_err(&line, "");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("FAKE"), "{shown}");
        assert!(err.position().is_some() || err.path().is_some(), "{shown}");
        if line.starts_with("credential") {
            assert!(shown.contains("credential"), "{shown}");
            assert!(
                shown.contains("credential = {"),
                "says what to write: {shown}"
            );
        }
    }
}

#[test]
fn error_unsupported_or_missing_version() {
    let text = inventory("", "").replace("version = 1", "version = 2");
    let err = Inventory::from_toml_str(&text, "v.toml").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Version);
    assert!(
        err.to_string()
            .contains("unsupported inventory version `2`"),
        "{err}"
    );
    assert!(err.to_string().contains("write `version = 1`"), "{err}");
    let text = inventory("", "").replace("version = 1", "");
    let err = Inventory::from_toml_str(&text, "v.toml").unwrap_err();
    assert!(err.to_string().contains("missing `version`"), "{err}");
    let err =
        Inventory::from_json_str(r#"{"version": "one", "servers": []}"#, "v.json").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Version);
}

#[test]
fn error_syntax_names_line() {
    let text = inventory("", "").replace("reach = \"none\"", "reach = \"none");
    let err = Inventory::from_toml_str(&text, "bad.toml").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Syntax);
    assert_eq!(err.position().unwrap().line, 15, "{err}");
    let err =
        Inventory::from_json_str("{\"version\": 1,\n \"servers\": [}", "bad.json").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Syntax);
    assert_eq!(err.position().unwrap().line, 2, "{err}");
    assert!(err.to_string().starts_with("bad.json:2:"), "{err}");
}

#[test]
fn error_json_schema_names_line_and_path() {
    let inv = load("", "");
    let json = inv
        .to_json_string()
        .replace("\"stdio\"", "\"carrier-pigeon\"");
    let err = Inventory::from_json_str(&json, "inv.json").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Schema);
    assert_eq!(err.path(), Some("servers[0].transport"));
    assert!(err.position().is_some());
    assert!(err.to_string().contains("`carrier-pigeon`"), "{err}");
    assert!(err.to_string().contains("`streamable_http`"), "{err}");
}

#[test]
fn error_inconsistent_inventories() {
    let cases = [
        (
            ("", r#"data_classes = ["secret"]"#),
            "servers[0].tools[0].data_classes",
            "add `secret`",
        ),
        (
            ("", "actions = [\"egress\"]\nreach = \"none\""),
            "servers[0].tools[0].reach",
            "reach = \"internal\"",
        ),
        (
            ("data_classes = []", ""),
            "servers[0].data_classes",
            "data_classes = [",
        ),
        (
            ("", "actions = []"),
            "servers[0].tools[0].actions",
            "actions = [",
        ),
    ];
    for ((server, tool), path, fix) in cases {
        let err = load_err(server, tool);
        assert_eq!(err.kind(), InventoryErrorKind::Invalid, "{err}");
        assert_eq!(err.path(), Some(path), "{err}");
        assert!(err.to_string().contains(fix), "{err}");
    }
}

#[test]
fn error_provenance_needs_vendor_and_fits_its_kind() {
    let err = load_err(r#"provenance = { kind = "third_party", source = "x" }"#, "");
    assert!(err.to_string().contains("needs `vendor`"), "{err}");
    assert_eq!(err.path(), Some("servers[0].provenance"));
    let err = load_err(
        r#"provenance = { kind = "first_party", review = "approved" }"#,
        "",
    );
    assert!(
        err.to_string()
            .contains("`review` describes a third-party server"),
        "{err}"
    );
}

#[test]
fn error_bad_names_and_fingerprints() {
    let err = load_err(r#"id = "my server""#, "");
    assert_eq!(err.path(), Some("servers[0].id"));
    assert!(err.to_string().contains("invalid server id"), "{err}");
    let err = load_err("", r#"fingerprint = "md5:abc""#);
    assert_eq!(err.path(), Some("servers[0].tools[0].fingerprint"));
    assert!(err.to_string().contains("sha256:"), "{err}");
}

#[test]
fn error_unreadable_file_and_unknown_extension() {
    let err = Inventory::load("does/not/exist.toml").unwrap_err();
    assert_eq!(err.kind(), InventoryErrorKind::Io);
    assert!(
        err.to_string()
            .starts_with("does/not/exist.toml: cannot read"),
        "{err}"
    );
    let err = Inventory::load("inventory.yaml").unwrap_err();
    assert!(err.to_string().contains("`*.toml` or `*.json`"), "{err}");
}

// ---- round trips ----

#[test]
fn round_trips_through_toml_and_json() {
    let inv = Inventory::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/inventories/team.toml"
    ))
    .unwrap();
    let toml = inv.to_toml_string().unwrap();
    assert_eq!(Inventory::from_toml_str(&toml, "rt.toml").unwrap(), inv);
    let json = inv.to_json_string();
    assert_eq!(Inventory::from_json_str(&json, "rt.json").unwrap(), inv);
    // Tools without data classes inherited their server's.
    let (_, t) = inv.tool("postgres", "query").unwrap();
    assert_eq!(
        t.data_classes,
        BTreeSet::from([DataClass::Customer, DataClass::Production])
    );
}

#[test]
fn built_in_code_matches_parsed() {
    let parsed = load(THIRD_PARTY_OK, "");
    let server = ServerRecord::new(
        ServerId::try_from("srv").unwrap(),
        Owner::try_from("platform-team").unwrap(),
        Transport::Stdio,
        Provenance::ThirdParty(
            ThirdParty::new("Acme", "https://example.com/acme-mcp")
                .version("1.4.2")
                .review(mcpguard_core::ReviewState::Approved),
        ),
        BTreeSet::from([DataClass::Internal]),
    )
    .with_credential(
        Credential::new(
            CredentialName::default_name(),
            CredentialSource::Env("SRV_TOKEN".into()),
        )
        .with_tiers([Tier::Team]),
    )
    .with_tool(ToolProfile::new(
        ToolName::try_from("do_it").unwrap(),
        BTreeSet::from([ActionKind::Read]),
        NetworkReach::None,
    ));
    assert_eq!(Inventory::from_servers(vec![server]).unwrap(), parsed);
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Inventory>();
    assert_send_sync::<mcpguard_core::LaunchReport>();
    assert_send_sync::<mcpguard_core::InventoryError>();
}

// ---- properties ----

fn data_class() -> impl Strategy<Value = DataClass> {
    prop::sample::select(DataClass::ALL.to_vec())
}
fn action() -> impl Strategy<Value = ActionKind> {
    prop::sample::select(ActionKind::ALL.to_vec())
}
fn reach() -> impl Strategy<Value = NetworkReach> {
    prop::sample::select(NetworkReach::ALL.to_vec())
}

proptest! {
    #[test]
    fn risk_never_decreases(
        c1 in data_class(), c2 in data_class(),
        acts in prop::collection::btree_set(action(), 1..5), extra in action(),
        r1 in reach(), r2 in reach(),
    ) {
        let base = RiskScore::from_parts(c1.min(c2), acts.iter().copied(), r1.min(r2));
        let more_sensitive = RiskScore::from_parts(c1.max(c2), acts.iter().copied(), r1.min(r2));
        let more_actions = RiskScore::from_parts(c1.min(c2), acts.iter().copied().chain([extra]), r1.min(r2));
        let wider = RiskScore::from_parts(c1.min(c2), acts.iter().copied(), r1.max(r2));
        prop_assert!(more_sensitive.score() >= base.score());
        prop_assert!(more_actions.score() >= base.score());
        prop_assert!(wider.score() >= base.score());
        prop_assert!((1..=72).contains(&base.score()));
        prop_assert_eq!(
            u32::from(base.score()),
            u32::from(base.sensitivity) * u32::from(base.write_ability) * u32::from(base.reach_factor)
        );
    }

    #[test]
    fn fingerprint_ignores_key_order_and_tracks_description(
        desc in "[ -~]{0,40}",
        other in "[ -~]{0,40}",
        props in prop::collection::btree_map("[a-z]{1,8}", "[a-z]{1,8}", 0..6),
        rotate in 0usize..8,
    ) {
        // The same definition written with its members in different orders.
        let schema_members: Vec<String> = props
            .iter()
            .map(|(k, v)| format!("{}: {{\"type\": \"string\", \"description\": {}}}", serde_json::to_string(k).unwrap(), serde_json::to_string(v).unwrap()))
            .collect();
        let mut reversed = schema_members.clone();
        reversed.reverse();
        let mut members = [
            "\"name\": \"tool\"".to_owned(),
            format!("\"description\": {}", serde_json::to_string(&desc).unwrap()),
            format!("\"inputSchema\": {{\"type\": \"object\", \"properties\": {{{}}}}}", schema_members.join(", ")),
            "\"annotations\": {\"readOnlyHint\": true}".to_owned(),
        ];
        let a = format!("{{{}}}", members.join(", "));
        members[2] = format!("\"inputSchema\": {{\"properties\": {{{}}}, \"type\": \"object\"}}", reversed.join(",\n"));
        let len = members.len();
        members.rotate_left(rotate % len);
        let b = format!("{{ {} }}", members.join(" ,\n "));
        let fa = Fingerprint::of_tool_json(&a).unwrap();
        prop_assert_eq!(fa, Fingerprint::of_tool_json(&b).unwrap());
        let member = |d: &str| format!("\"description\": {}", serde_json::to_string(d).unwrap());
        let changed = a.replacen(&member(&desc), &member(&other), 1);
        prop_assert_eq!(fa == Fingerprint::of_tool_json(&changed).unwrap(), desc == other);
    }

    #[test]
    fn loading_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Inventory::from_toml_str(&text, "fuzz.toml");
        let _ = Inventory::from_json_str(&text, "fuzz.json");
    }
}

// ---- every problem at once ----

const FIVE_PROBLEMS: &str = r#"version = 1

[[servers]]
id = "github"
owner = "platform-team"
transport = "stdio"
provenance = { kind = "first_party" }
credential = "none"
data_classes = ["internal"]
colour = "blue"

[[servers.tools]]
name = "read"
actions = ["read"]
reach = "none"
data_classes = ["confidental"]

[[servers]]
id = "db"
owner = ""
transport = "stdio"
provenance = { kind = "first_party" }
credential = "hunter2-hunter2-hunter2"
data_classes = ["internal"]

[[servers.tools]]
name = "query"
actions = ["read"]
reach = "none"

[[servers.tools]]
name = "query"
actions = ["read"]
reach = "none"

[[servers.tools]]
name = "drop"
actions = ["delete"]
"#;

#[test]
fn five_independent_problems_are_reported_in_one_load() {
    let err = Inventory::from_toml_str(FIVE_PROBLEMS, "five.toml").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("five.toml: 5 problems"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let got: Vec<(usize, Option<&str>, Option<&str>)> = err
        .problems()
        .iter()
        .map(|p| {
            (
                p.position.map_or(0, |p| p.line),
                p.path.as_deref(),
                p.server.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (10, Some("servers[0].colour"), Some("github")),
            (
                16,
                Some("servers[0].tools[0].data_classes[0]"),
                Some("github")
            ),
            (23, Some("servers[1].credential"), Some("db")),
            (32, Some("servers[1].tools[1].name"), Some("db")),
            (36, Some("servers[1].tools[2]"), Some("db")),
        ],
        "{text}"
    );
    let messages: Vec<&str> = err.problems().iter().map(|p| p.message.as_str()).collect();
    assert!(messages[0].contains("unknown field `colour`"), "{text}");
    assert!(messages[1].contains("confidental"), "{text}");
    assert!(messages[2].contains("inline credential"), "{text}");
    assert!(
        messages[3].contains("duplicate tool name `query`"),
        "{text}"
    );
    assert!(messages[4].contains("missing field `reach`"), "{text}");
    // The blank owner is not among them: it loads and fails `owner-present`.
    assert!(
        err.problems()
            .iter()
            .all(|p| !p.path.as_deref().unwrap_or_default().ends_with("owner")),
        "{text}"
    );
}

#[test]
fn json_problems_have_line_and_column_too() {
    let json = r#"{
  "version": 1,
  "servers": [
    {
      "id": "a",
      "owner": "team",
      "transport": "stdio",
      "provenance": { "kind": "first_party" },
      "credential": "none",
      "data_classes": ["internal"],
      "tools": [
        { "name": "t", "actions": ["reed"], "reach": "none" },
        { "name": "u", "actions": ["read"], "reach": "none", "x\"y": 1 }
      ]
    },
    { "id": "b" }
  ]
}"#;
    let err = Inventory::from_json_str(json, "inv.json").unwrap_err();
    let got: Vec<(usize, usize, String)> = err
        .problems()
        .iter()
        .map(|p| {
            let pos = p.position.unwrap();
            (pos.line, pos.column, p.path.clone().unwrap_or_default())
        })
        .collect();
    assert_eq!(
        got[0],
        (12, 36, "servers[0].tools[0].actions[0]".to_owned()),
        "{err}"
    );
    assert_eq!(
        got[1],
        (13, 62, "servers[0].tools[1].(key not shown)".to_owned()),
        "{err}"
    );
    // Server `b` lacks every required field but `id`: each is reported, at its table.
    let b: Vec<&mcpguard_core::Problem> = err
        .problems()
        .iter()
        .filter(|p| p.server.as_deref() == Some("b"))
        .collect();
    assert_eq!(b.len(), 4, "{err}");
    assert!(b.iter().all(|p| p.position.unwrap().line == 16), "{err}");
}

#[test]
fn a_secret_pasted_as_a_key_is_not_echoed() {
    let err = load_err("ghp_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE1234 = 1", "");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("FAKE"), "{text}");
    assert!(text.contains("unknown field"), "{text}");
    assert!(text.contains("server `srv`"), "{text}");
}
