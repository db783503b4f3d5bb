//! Programs the end-to-end tests run: the examples and the `mcpguard` command
//! built beside the test by `cargo test --workspace`, and Python.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test helper: each test uses part of it, and fails loudly"
)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A binary of the build directory this test binary lives in (`deps/..`).
fn built(relative: &str, name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir
        .join(relative)
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built; run through `cargo test --workspace`",
        path.display()
    );
    path
}

/// An example binary.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    built("examples", name)
}

/// The `mcpguard` command.
pub(crate) fn cli_binary() -> PathBuf {
    built("", "mcpguard")
}

/// The Python to run the SDK clients with (`PYTHON`, else `python3`).
pub(crate) fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Waits for `child` at most `limit` (then kills it, so a hung protocol
/// exchange fails the test instead of hanging CI), and returns what it wrote.
pub(crate) fn output_within(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// Fails the test, saying how to install it, unless Python has the MCP SDK.
pub(crate) fn require_python_sdk() {
    let have_sdk = Command::new(python())
        .args(["-c", "import mcp, mcp_types, httpx2"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have_sdk,
        "this test needs Python 3 with the MCP SDK: pip install -r tests/e2e/requirements.txt"
    );
}

/// A fresh scratch directory, named for this process and moment.
pub(crate) fn scratch_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
