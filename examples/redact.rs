//! Streams standard input to standard output with every secret redacted, for use in
//! pipelines: `cargo run --release --example redact < app.log > clean.log`.
//!
//! Memory stays bounded however long the input (a private-key block split across
//! reads is still caught). Options: `--known ENV_VAR` (repeatable) registers the value
//! of an environment variable as a known secret; `--correlate ENV_VAR` takes a
//! correlation key (16 bytes or more) from an environment variable, so the same secret
//! gets the same `[REDACTED:rule:hash]` marker on every line.
//!
//! Exit status: 0 on success, 2 on bad arguments or an I/O error.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use mcpguard::redact::{RedactingWriter, Redactor};

const USAGE: &str = "usage: redact [--known ENV_VAR]... [--correlate ENV_VAR] < input > output";

fn main() -> ExitCode {
    let mut builder = Redactor::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let result = match (arg.as_str(), args.next()) {
            ("--known", Some(name)) => match std::env::var(&name) {
                Ok(value) if !value.is_empty() => builder.known_secret(name, value),
                _ => return fail(&format!("environment variable `{name}` is not set")),
            },
            ("--correlate", Some(name)) => match std::env::var(&name) {
                Ok(key) => builder.correlation_key(key.as_bytes()),
                Err(_) => return fail(&format!("environment variable `{name}` is not set")),
            },
            _ => return fail(USAGE),
        };
        builder = match result {
            Ok(b) => b,
            Err(e) => return fail(&e.to_string()),
        };
    }
    let redactor = match builder.build() {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    match run(redactor) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe downstream (`| head`) is a normal end.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("i/o error: {e}")),
    }
}

fn run(redactor: Redactor) -> io::Result<()> {
    let stdout = io::stdout().lock();
    let mut writer = RedactingWriter::new(BufWriter::with_capacity(64 << 10, stdout), redactor);
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(buf.get(..n).unwrap_or_default())?;
    }
    writer.finish()?.flush()
}

fn fail(message: &str) -> ExitCode {
    eprintln!("redact: {message}");
    ExitCode::from(2)
}
