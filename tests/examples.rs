//! Runs the examples as a user would, from the binaries `cargo test` builds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of an example binary built beside this test.
fn example(name: &str) -> Command {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built; run through `cargo test`",
        path.display()
    );
    let mut cmd = Command::new(path);
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
