//! Runs the examples as a user would, from the binaries `cargo test` builds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "support/bins.rs"]
mod bins;
#[path = "../crates/redact/tests/support/mod.rs"]
mod support;

/// An example binary built beside this test, run from the repository root.
fn example(name: &str) -> Command {
    let mut cmd = Command::new(bins::example_binary(name));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn inventory(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/inventories")
        .join(name)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn inventory_report_passes_team_tier() {
    let out = example("inventory_report")
        .arg(inventory("team.toml"))
        .args(["--tier", "team"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("launch gate `team`: PASS"), "{stdout}");
    assert!(
        stdout.contains("risk (sensitivity × write ability × reach):"),
        "{stdout}"
    );
}

#[test]
fn inventory_report_fails_production_and_says_why() {
    let out = example("inventory_report")
        .arg(inventory("team.toml"))
        .args(["--tier", "production", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let failures = report["failures"].as_array().unwrap();
    assert!(!failures.is_empty());
    assert!(
        failures
            .iter()
            .all(|f| f["control"] == "tool-fingerprint-pinned")
    );
}

#[test]
fn inventory_report_rejects_bad_input_with_exit_2() {
    let out = example("inventory_report")
        .arg(inventory("team.toml"))
        .args(["--tier", "staging"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("unknown tier `staging`"),
        "{:?}",
        text(&out)
    );

    let dir = std::env::temp_dir().join(format!("mcpguard-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\n[[servers]]\nid = \"x\"\nownr = \"me\"\n",
    )
    .unwrap();
    let out = example("inventory_report")
        .arg(&bad)
        .args(["--tier", "personal"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.toml:4:1"), "{stderr}");
    assert!(stderr.contains("unknown field `ownr`"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fingerprint_prints_the_pinned_digest() {
    let out = example("fingerprint")
        .arg(inventory("fetch.tools.json"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let pinned = std::fs::read_to_string(inventory("team.toml")).unwrap();
    let (name, digest) = stdout.trim().split_once('\t').unwrap();
    assert_eq!(name, "fetch");
    assert!(
        pinned.contains(digest),
        "{digest} is not the digest pinned in team.toml"
    );
}

/// Runs the `redact` example over `input`, returning its standard output.
fn redact_example(input: &[u8], args: &[&str]) -> (Option<i32>, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = example("redact")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn redact_example_cleans_the_positive_corpus() {
    let corpus = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/redact/tests/corpus/positives.txt"),
    )
    .unwrap();
    let (clean, spans) = support::unmark(&corpus);
    let secrets: Vec<&str> = spans
        .iter()
        .map(|s| clean.get(s.clone()).unwrap())
        .collect();
    // Repeat the corpus so the stream spans several chunks.
    let input = clean.repeat(40);
    let (code, stdout, stderr) = redact_example(input.as_bytes(), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    for s in &secrets {
        assert!(!stdout.contains(s), "survives: {s}");
    }
    assert_eq!(
        stdout.matches("===== ").count(),
        input.matches("===== ").count()
    );
}

#[test]
fn redact_example_takes_known_secrets_from_the_environment() {
    let (code, stdout, _) = redact_example(b"pw is hunter2-and-more here\n", &[]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("hunter2"));
    let mut cmd = example("redact");
    cmd.env("MY_DB_PASSWORD", "hunter2-and-more")
        .args(["--known", "MY_DB_PASSWORD"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"pw is hunter2-and-more here\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "pw is [REDACTED:known-secret] here\n"
    );
    let (code, _, stderr) = redact_example(b"", &["--known", "MCPGUARD_UNSET_FOR_TEST"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is not set"), "{stderr}");
}

#[test]
fn rules_example_lists_the_catalogue() {
    let out = example("rules").output().unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    let count: usize = stdout.split_whitespace().next().unwrap().parse().unwrap();
    assert!(count >= 60, "{count}");
    assert!(stdout.contains("github-pat") && stdout.contains("keywords: ghp_"));
}

#[test]
fn audit_tail_verifies_and_prints_a_chained_log() {
    use mcpguard::policy::{AuditKey, Gate, JsonLinesSink, Principal, ToolCall};
    use std::sync::Arc;
    const KEY: &str = "a7e8e6d1f5fe9e73a36396a93f9990b4021c8aec5b2f15e94e9017d32be2c0e0";
    let dir = std::env::temp_dir().join(format!("mcpguard-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("audit.jsonl");
    let sink = Arc::new(JsonLinesSink::open(&log, AuditKey::parse(KEY).unwrap()).unwrap());
    let gate = Gate::builder()
        .inventory(mcpguard::Inventory::load(inventory("team.toml")).unwrap())
        .tier(mcpguard::Tier::Team)
        .audit_sink(sink)
        .build()
        .unwrap();
    for path in ["src/lib.rs", "README.md", "Cargo.toml"] {
        let call = ToolCall::new(Principal::new("ana"), "filesystem", "read_text_file")
            .arguments(serde_json::json!({"path": path}));
        let _: Result<String, _> = gate.admit(&call).run(|| Ok::<_, String>(String::new()));
    }
    drop(gate);
    let tail = || {
        let mut c = example("audit_tail");
        c.env("MCPGUARD_AUDIT_KEY", KEY).arg(&log);
        c
    };
    let out = tail().output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("filesystem/read_text_file"), "{stdout}");
    assert!(stdout.contains("README.md"), "{stdout}");
    assert!(stdout.contains("chain intact: 6 lines"), "{stdout}");
    // Edit the third line: the chain breaks there.
    let original = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = original.lines().map(ToOwned::to_owned).collect();
    lines[2] = lines[2].replace("README.md", "README.txt");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = tail().output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("breaks at line 3"), "{stderr}");
    // Without the key nothing can be judged.
    let out = example("audit_tail")
        .env_remove("MCPGUARD_AUDIT_KEY")
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// Two servers on one audit log would fork its chain: the second is refused at
/// start, naming the file; a server without its audit key does not start either.
#[test]
fn gated_server_refuses_a_second_writer_and_a_missing_key() {
    use std::process::Stdio;
    const KEY: &str = "4aeec0d7fc3c1da2ae299c63db176f0f86182dab811789cbce0441f1c0a2619f";
    let dir = std::env::temp_dir().join(format!("mcpguard-lock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("shared.audit.jsonl");
    let start = |key: Option<&str>| {
        let mut c = example("gated_server");
        c.args(["--root"])
            .arg(dir.join("root"))
            .arg("--audit")
            .arg(&log)
            .env_remove("MCPGUARD_AUDIT_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(key) = key {
            c.env("MCPGUARD_AUDIT_KEY", key);
        }
        c.spawn().unwrap()
    };
    let mut first = start(Some(KEY));
    // The first holds the lock once it has opened the log.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !log.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first server stopped"
    );
    let second = start(Some(KEY)).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains("shared.audit.jsonl") && stderr.contains("another writer"),
        "{stderr}"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    let keyless = start(None).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&keyless.stderr);
    assert!(!keyless.status.success());
    assert!(stderr.contains("MCPGUARD_AUDIT_KEY"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
