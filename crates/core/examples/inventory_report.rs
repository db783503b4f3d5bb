//! Evaluates an inventory's launch gate for a tier and prints the report.
//!
//! `cargo run -p mcpguard-core --example inventory_report -- FILE --tier personal|team|production [--json]`
//!
//! It lives in `mcpguard-core` so that the first command a newcomer runs builds
//! that crate alone, not the facade and its dev-dependencies.
//!
//! Exit status: 0 when every control passes, 1 when any fails, 2 when the inventory
//! or the arguments cannot be used.
#![expect(
    clippy::print_stdout,
    reason = "a command-line example prints its report"
)]

use std::process::ExitCode;

use mcpguard_core::{Inventory, LaunchGate, Tier};

const USAGE: &str = "usage: inventory_report FILE --tier personal|team|production [--json]";

fn main() -> ExitCode {
    let mut file = None;
    let mut tier = None;
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tier" => match args.next().map(|t| t.parse::<Tier>()) {
                Some(Ok(t)) => tier = Some(t),
                Some(Err(e)) => return usage(&e.to_string()),
                None => return usage("`--tier` needs a value"),
            },
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other if other.starts_with('-') => return usage(&format!("unknown option `{other}`")),
            other if file.is_none() => file = Some(other.to_owned()),
            _ => return usage("one inventory file at a time"),
        }
    }
    let (Some(file), Some(tier)) = (file, tier) else {
        return usage("an inventory file and `--tier` are required");
    };
    let inventory = match Inventory::load(&file) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = LaunchGate::evaluate(&inventory, tier);
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: cannot write the report: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{report}");
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n{USAGE}");
    ExitCode::from(2)
}
