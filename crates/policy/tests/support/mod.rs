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
