//! The question a person answers to approve one call.
//!
//! It must show what would run, so that what is approved is what runs: the tool,
//! the server, the caller and the call's target (the inventory's `target`
//! argument) and destination come first and whole; the other arguments follow in
//! a stable order (sorted by name), each long value elided in the middle; then why
//! the call needs approval and the digest the approval is bound to. Every piece
//! has passed the redactor, and every value is quoted with its control and hidden
//! characters written out (`\n`, `\u{202e}`), so a value cannot fake a line of the
//! question or hide part of a path.

use std::fmt::Write as _;

use mcpguard_core::{ToolProfile, canonical_json, sanitize};
use mcpguard_redact::Redactor;
use serde_json::Value;

use crate::call::{RedactedCall, ToolCall};
use crate::decision::Decision;
use crate::egress::Destination;

/// The most characters of one other argument's value shown; longer ones keep their
/// start and end.
const VALUE_SHOWN: usize = 240;
/// The most other arguments listed by name.
const ARGUMENTS_SHOWN: usize = 24;

/// The question to put to the person who may approve `call`, from the call as
/// redacted at admission ([`RedactedCall`]): tool, server, caller, target and
/// destination first and whole, the other arguments in name order with long
/// values elided in the middle, the reasons, and the call's digest.
pub(crate) fn ask(
    redacted: &RedactedCall,
    profile: Option<&ToolProfile>,
    call: &ToolCall,
    decision: &Decision,
    redactor: &Redactor,
) -> String {
    let mut out = format!(
        "Approve {} on server {} for {}?\n",
        quoted(redacted.tool()),
        quoted(redacted.server()),
        quoted(redacted.actor())
    );
    let mut decisive: Vec<&str> = Vec::new();
    if let Some(profile) = profile {
        if let Some(rule) = profile.target.as_deref() {
            let target = redacted
                .target()
                .map_or_else(|| "(not given)".to_owned(), quoted);
            let _ = writeln!(out, "Target ({}): {target}", quoted(rule));
            decisive.push(rule);
        }
        if let Some(line) = destination_line(profile, call.arguments_value(), redactor) {
            out.push_str(&line);
            if let Some(spec) = &profile.destination {
                decisive.push(&spec.argument);
            }
        }
    }
    let others: Vec<(&String, &Value)> = match redacted.arguments() {
        Value::Object(map) => {
            let mut items: Vec<_> = map
                .iter()
                .filter(|(k, _)| !decisive.contains(&k.as_str()))
                .collect();
            items.sort_by(|a, b| a.0.cmp(b.0));
            items
        }
        _ => Vec::new(),
    };
    if others.is_empty() {
        out.push_str("Other arguments: none\n");
    } else {
        out.push_str("Other arguments:\n");
        for (key, value) in others.iter().take(ARGUMENTS_SHOWN) {
            let text = match value {
                Value::String(s) => quoted(s),
                other => visible(&canonical_json(other)),
            };
            let _ = writeln!(out, "  {}: {}", quoted(key), elided(&text));
        }
        if others.len() > ARGUMENTS_SHOWN {
            let _ = writeln!(
                out,
                "  … and {} more arguments (all bound to the digest below)",
                others.len() - ARGUMENTS_SHOWN
            );
        }
    }
    let reasons: Vec<String> = decision
        .reasons()
        .map(|r| redactor.redact(r).into_owned())
        .collect();
    let _ = write!(
        out,
        "Why it needs approval: {}\nThe approval holds for exactly this call: digest {}",
        reasons.join("; "),
        call.digest().to_hex()
    );
    out
}

/// `Destination (url): "…" (public host docs.rs)`, for a tool with a destination.
fn destination_line(
    profile: &ToolProfile,
    arguments: &Value,
    redactor: &Redactor,
) -> Option<String> {
    let spec = profile.destination.as_ref()?;
    let shown = spec
        .value_in(arguments)
        .map_or_else(|| "(not given)".to_owned(), |v| quoted(&redactor.redact(v)));
    let judged = match Destination::of_call(spec, arguments) {
        Ok(d) => format!(
            " ({} host {})",
            d.class(),
            quoted(&redactor.redact(d.host()))
        ),
        Err(_) => " (not a destination the gate can parse)".to_owned(),
    };
    Some(format!(
        "Destination ({}): {shown}{judged}\n",
        quoted(&spec.argument)
    ))
}

/// A caller-chosen text as a quoted literal (JSON string syntax) with every
/// control and hidden character written out — line breaks, terminal escapes,
/// bidi controls, zero-width and tag characters — so that printing it on a
/// terminal shows exactly what it holds and cannot move the cursor, forge a
/// line or hide a word. What the gate's approval questions and `mcpguard
/// approvals` show of a call.
///
/// ```
/// assert_eq!(mcpguard_policy::quoted("a\nb"), r#""a\nb""#);
/// assert_eq!(mcpguard_policy::quoted("x\u{1b}[2K"), r#""x\u001b[2K""#);
/// ```
pub fn quoted(s: &str) -> String {
    visible(&serde_json::to_string(s).unwrap_or_default())
}

/// A JSON value as one line of JSON with every control and hidden character
/// written out, as [`quoted`] writes a string.
pub fn quoted_json(value: &serde_json::Value) -> String {
    visible(&serde_json::to_string(value).unwrap_or_default())
}

/// JSON text with the characters [`sanitize`] would strip (bidi controls, zero
/// width and tag characters, ...) written as `\u{…}`, so they show.
fn visible(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut buf = [0u8; 4];
    for c in json.chars() {
        if !c.is_ascii() && !sanitize(c.encode_utf8(&mut buf)).1.is_empty() {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// At most [`VALUE_SHOWN`] characters: a longer text keeps its start and end,
/// and says how much is not shown.
fn elided(text: &str) -> String {
    let count = text.chars().count();
    if count <= VALUE_SHOWN {
        return text.to_owned();
    }
    let head: String = text.chars().take(VALUE_SHOWN * 2 / 3).collect();
    let tail: String = text.chars().skip(count - VALUE_SHOWN / 3).collect();
    format!(
        "{head} … ({} characters not shown) … {tail}",
        count - VALUE_SHOWN
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_with_hidden_characters_written_out() {
        assert_eq!(quoted("a\nb"), r#""a\nb""#);
        assert_eq!(quoted("evil\u{202e}txt.exe"), r#""evil\u{202e}txt.exe""#);
        assert_eq!(quoted("x\u{200b}y"), r#""x\u{200b}y""#);
        assert_eq!(quoted("café"), r#""café""#);
    }

    #[test]
    fn long_values_keep_start_and_end() {
        let long = format!("START{}END", "x".repeat(1000));
        let shown = elided(&long);
        assert!(
            shown.starts_with("START") && shown.ends_with("END"),
            "{shown}"
        );
        assert!(shown.contains("characters not shown"), "{shown}");
        assert!(shown.chars().count() < 320);
        assert_eq!(elided("short"), "short");
    }
}
