//! Helpers shared by the policy crate's tests.

use std::sync::{Arc, Mutex};

/// A writer whose bytes a test can read while an audit sink holds it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shared(pub(crate) Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    #[allow(clippy::unwrap_used, reason = "a poisoned test buffer stops the test")]
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A new, empty directory under the system's temporary directory.
#[allow(
    dead_code,
    clippy::unwrap_used,
    reason = "not every test file uses it; a test without a temp dir stops"
)]
pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "mcpguard-{name}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
