//! Programs the end-to-end tests run: the examples and the `mcpguard` command
//! built beside the test by `cargo test --workspace`, and Python.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test helper: each test uses part of it, and fails loudly"
)]

use std::path::PathBuf;
use std::process::{Child, Output};
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
