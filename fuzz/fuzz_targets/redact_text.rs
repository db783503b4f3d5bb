//! Arbitrary bytes as text: redaction never panics, leaves no finding behind, is
//! idempotent, and the streaming writer agrees with it at any split point.
#![no_main]

use std::io::Write;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mcpguard_redact::{RedactingWriter, Redactor};

static REDACTOR: LazyLock<Redactor> =
    LazyLock::new(|| Redactor::new().expect("the built-in catalogue compiles"));

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let r = &*REDACTOR;
    let once = r.redact(&text).into_owned();
    assert!(r.find(&once).is_empty(), "a finding survives redaction");
    assert_eq!(r.redact(&once), once, "redaction is not idempotent");
    // Split the (lossy) text's bytes at a point the input chooses.
    let bytes = text.as_bytes();
    let at = data
        .first()
        .map_or(0, |b| usize::from(*b) * bytes.len() / 256);
    let (a, b) = bytes.split_at(at.min(bytes.len()));
    let mut w = RedactingWriter::with_limits(Vec::new(), r.clone(), 64, 4096);
    w.write_all(a).expect("writing to memory");
    w.write_all(b).expect("writing to memory");
    let streamed = w.finish().expect("finishing to memory");
    assert_eq!(
        String::from_utf8(streamed).expect("the writer writes UTF-8"),
        once
    );
});
