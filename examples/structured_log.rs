//! Writes a deterministic, realistic MCP server log to standard output, for measuring
//! the `redact` example on the workload it is meant for (`scripts/redact-throughput`):
//! `cargo run --release --example structured_log -- 20000000 > server.log`.
//!
//! The argument is the size in bytes (default 20 MB); a fake secret appears about
//! every 50 KB. The generator is the one behind the `redact/structured_log` bench.
//! Exit status: 0 on success, 2 on a bad argument or an I/O error.

use std::io::{self, Write};
use std::process::ExitCode;

#[path = "../benches/support/structured_log.rs"]
#[allow(dead_code, reason = "the bench uses more of the generator than this")]
mod structured_log;

fn main() -> ExitCode {
    let bytes = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        None => 20_000_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("structured_log: usage: structured_log [BYTES] > file");
            return ExitCode::from(2);
        }
    };
    let (text, secrets) = structured_log::log(20_261_130, bytes, 50_000);
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {
            eprintln!(
                "structured_log: {} bytes, {secrets} secret lines",
                text.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("structured_log: i/o error: {e}");
            ExitCode::from(2)
        }
    }
}
