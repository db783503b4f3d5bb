//! A client no one here wrote: the official MCP Python SDK drives the
//! `gated_server` example over stdio (`tests/e2e/gated_server_client.py`), then the
//! audit chains it left are verified here.
//!
//! Needs Python 3 with the packages of `tests/e2e/requirements.txt`
//! (`pip install -r tests/e2e/requirements.txt`); without them this test fails and
//! says so.
#![cfg(feature = "rmcp")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bins::{example_binary, output_within, python, require_python_sdk, scratch_dir};
use mcpguard::policy::{AuditKey, ChainHead, verify_chain_with_head};

#[path = "support/bins.rs"]
mod bins;

/// The audit key the servers of this test sign with (hex, 32 bytes).
const AUDIT_KEY: &str = "640f53318d8facfd9a133af4c2f7e2f5cdb9c731d249be16084a4ddbbbe95959";

#[test]
fn the_python_sdk_drives_the_gated_server() {
    require_python_sdk();
    let work = scratch_dir("mcpguard-e2e");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/gated_server_client.py");
    let child = Command::new(python())
        .env("MCPGUARD_AUDIT_KEY", AUDIT_KEY)
        .arg(&script)
        .arg(example_binary("gated_server"))
        .arg(&work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_within(child, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("checks passed"), "{stdout}");

    // Each server process appended to its own keyed audit chain and published its
    // head beside it; both verify with the key.
    let key = AuditKey::parse(AUDIT_KEY).unwrap();
    for name in ["team", "production", "plain", "modern-plain"] {
        let path = work.join(format!("{name}.audit.jsonl"));
        let text = std::fs::read(&path).unwrap();
        let head = ChainHead::parse(
            &std::fs::read_to_string(work.join(format!("{name}.audit.jsonl.head"))).unwrap(),
        )
        .unwrap();
        let summary = verify_chain_with_head(text.as_slice(), &key, &head)
            .unwrap_or_else(|e| panic!("{}: the chain does not verify: {e}", path.display()));
        assert!(summary.lines > 0, "{}: empty", path.display());
        assert_eq!(summary.head, head, "{}", path.display());
    }
    std::fs::remove_dir_all(&work).unwrap();
}
