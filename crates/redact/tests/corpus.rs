//! The corpora beside this file: realistic contexts whose every marked secret must
//! be gone after redaction, and hard negatives that must come back byte-identical.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::borrow::Cow;

use mcpguard_redact::Redactor;

mod support;

/// The blocks of a corpus file: (name, text); `#` lines before the first block are comments.
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("===== ") {
            out.push((name.trim().to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
        }
    }
    out
}

#[test]
fn positives_lose_every_marked_secret() {
    let r = Redactor::new().unwrap();
    let corpus = blocks(include_str!("corpus/positives.txt"));
    assert!(corpus.len() >= 15);
    let mut failures = Vec::new();
    let mut total = 0;
    for (name, block) in corpus {
        let (text, spans) = support::unmark(&block);
        let out = r.redact(&text);
        for span in spans {
            total += 1;
            let s = text.get(span).unwrap();
            if out.contains(s) {
                failures.push(format!("[{name}] survives: {s}\n{out}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(total >= 40, "{total} secrets");
}

#[test]
fn hard_negatives_are_byte_identical() {
    let r = Redactor::new().unwrap();
    let corpus = blocks(include_str!("corpus/negatives.txt"));
    assert!(corpus.len() >= 12);
    let mut failures = Vec::new();
    for (name, block) in corpus {
        if let Cow::Owned(out) = r.redact(&block) {
            failures.push(format!("[{name}] changed: {:?}\n{out}", r.find(&block)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
