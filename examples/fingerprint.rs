//! Prints the fingerprint of every tool in a `tools/list` answer, to pin in an inventory.
//!
//! `cargo run --example fingerprint -- tools.json` where the file holds a `tools/list`
//! result (`{"tools": [...]}`), a whole JSON-RPC response (`{"result": {"tools": [...]}}`)
//! or a bare array of tool definitions. Reads standard input when the file is `-`.
#![expect(
    clippy::print_stdout,
    reason = "a command-line example prints its output"
)]

use std::io::Read;
use std::process::ExitCode;

use mcpguard::Fingerprint;
use serde_json::Value;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: fingerprint FILE|-   (a tools/list result as JSON)");
        return ExitCode::from(2);
    };
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map(|_| s)
    } else {
        std::fs::read_to_string(&path)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: cannot read: {e}");
            return ExitCode::from(2);
        }
    };
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{path}: not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let tools = value
        .pointer("/result/tools")
        .or_else(|| value.get("tools"))
        .unwrap_or(&value);
    let Some(tools) = tools.as_array() else {
        eprintln!("{path}: no tool list: expected `tools`, `result.tools` or an array");
        return ExitCode::from(2);
    };
    let mut status = ExitCode::SUCCESS;
    for (i, tool) in tools.iter().enumerate() {
        match Fingerprint::of_tool(tool) {
            Ok(f) => println!(
                "{}\t{f}",
                tool.get("name").and_then(Value::as_str).unwrap_or("?")
            ),
            Err(e) => {
                eprintln!("{path}: tool {i}: {e}");
                status = ExitCode::from(1);
            }
        }
    }
    status
}
