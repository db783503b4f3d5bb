//! Lists the built-in detector catalogue: id, provider, keywords, checks and what each
//! rule finds. `cargo run --example rules` for a table, `-- --verbose` for patterns and
//! test vectors too.
#![expect(
    clippy::print_stdout,
    reason = "a command-line example prints its listing"
)]

use mcpguard::redact::catalogue;

fn main() {
    let verbose = std::env::args().any(|a| a == "--verbose" || a == "-v");
    let rules: Vec<_> = catalogue().collect();
    println!("{} detectors\n", rules.len());
    for rule in &rules {
        let keywords: Vec<&str> = rule.keyword_list().collect();
        let checks: Vec<&str> = rule.checks().iter().map(|c| c.name()).collect();
        println!(
            "{:<34} {:<18} {}",
            rule.id(),
            rule.provider_name(),
            rule.description_text()
        );
        println!(
            "{:<34} keywords: {}{}{}",
            "",
            keywords.join(" "),
            if checks.is_empty() {
                String::new()
            } else {
                format!("; checks: {}", checks.join(", "))
            },
            rule.entropy_floor()
                .map_or(String::new(), |e| format!("; entropy >= {e}")),
        );
        if verbose {
            println!("{:<34} pattern: {}", "", rule.pattern());
            for p in rule.positives() {
                println!("{:<34} finds:   {p:?}", "");
            }
            for n in rule.negatives() {
                println!("{:<34} ignores: {n:?}", "");
            }
        }
    }
}
