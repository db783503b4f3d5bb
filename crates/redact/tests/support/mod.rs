//! Test-vector marks: a secret is written between `⟦` and `⟧`.

use std::ops::Range;

/// Removes every `⟦ ⟧` mark from `text`; returns the text and the spans of the
/// secrets the marks enclosed, in the text without marks.
#[allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a broken test vector stops the test"
)]
pub(crate) fn unmark(text: &str) -> (String, Vec<Range<usize>>) {
    let mut clean = String::with_capacity(text.len());
    let mut spans = Vec::new();
    let mut open = None;
    for c in text.chars() {
        match c {
            '⟦' => open = Some(clean.len()),
            '⟧' => {
                let start = open.take().expect("every ⟧ closes a ⟦");
                spans.push(start..clean.len());
            }
            _ => clean.push(c),
        }
    }
    assert!(open.is_none(), "an unclosed ⟦ in {text:?}");
    (clean, spans)
}
