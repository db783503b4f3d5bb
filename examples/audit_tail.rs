//! Reads a keyed audit log (JSON lines from `JsonLinesSink`), verifies its chain
//! with the key in `MCPGUARD_AUDIT_KEY` and prints the events as a table.
//!
//! `MCPGUARD_AUDIT_KEY=… cargo run --example audit_tail -- audit.jsonl`
//!
//! Exit status: 0 when the chain is intact, 1 when it breaks (the table stops at the
//! last good line and the break is named), 2 when the file or the key cannot be
//! used.
#![expect(
    clippy::print_stdout,
    reason = "a command-line example prints its table"
)]

use std::io::{BufRead, BufReader, Cursor};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use mcpguard::policy::{AUDIT_KEY_VAR, AuditEvent, AuditKey, ChainErrorKind, verify_chain};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: audit_tail FILE");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: cannot read: {e}");
            return ExitCode::from(2);
        }
    };
    let key = match AuditKey::from_env(AUDIT_KEY_VAR) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let verdict = verify_chain(Cursor::new(text.as_bytes()), &key);
    let good_lines = match &verdict {
        Ok(summary) => summary.lines,
        Err(e) => e.line().saturating_sub(1),
    };
    let good_lines = usize::try_from(good_lines).unwrap_or(usize::MAX);
    println!(
        "{:<20}  {:<10}  {:<32}  {:<24}  {:<16}  {:<14}  {:>9}  POLICIES",
        "TIME (UTC)", "ACTOR", "SERVER/TOOL", "TARGET", "DECISION", "OUTCOME", "µs"
    );
    for line in BufReader::new(Cursor::new(text.as_bytes()))
        .lines()
        .take(good_lines)
        .map_while(Result::ok)
    {
        match serde_json::from_str::<AuditEvent>(&line) {
            Ok(e) => {
                let time = UNIX_EPOCH + Duration::from_nanos(e.time_unix_nano);
                println!(
                    "{:<20}  {:<10}  {:<32}  {:<24}  {:<16}  {:<14}  {:>9}  {}",
                    humantime::format_rfc3339_seconds(time).to_string(),
                    clip(&e.actor, 10),
                    clip(&format!("{}/{}", e.server, e.tool), 32),
                    clip(e.target.as_deref().unwrap_or("-"), 24),
                    e.decision.to_string(),
                    e.outcome.to_string(),
                    e.duration_us
                        .map_or_else(|| "-".to_owned(), |d| d.to_string()),
                    e.policies.join(",")
                );
            }
            Err(err) => println!("(a line the chain covers but this build cannot read: {err})"),
        }
    }
    match verdict {
        Ok(summary) => {
            println!(
                "\nchain intact: {} lines, head {}",
                summary.lines, summary.head
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\n{path}: {e}");
            ExitCode::from(if e.kind() == ChainErrorKind::Tampered {
                1
            } else {
                2
            })
        }
    }
}

/// At most `n` characters, with `…` when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
