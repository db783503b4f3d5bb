//! Hostile input: fuzz crashes replayed, oversized and pathological text, NUL
//! bytes, invalid UTF-8 in streams, nesting far beyond any real document. Each
//! gets a correct result in bounded time and memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::io::Write;
use std::time::{Duration, Instant};

use mcpguard_redact::{RedactingWriter, Redactor};

fn redactor() -> Redactor {
    Redactor::new().unwrap()
}

/// Every input a fuzzer ever crashed on (`tests/fuzz/`), replayed.
#[test]
fn fuzz_crashes_stay_fixed() {
    let r = redactor();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&data);
        let once = r.redact(&text).into_owned();
        assert!(r.find(&once).is_empty(), "{once:?}");
        assert_eq!(r.redact(&once), once);
        // The writer agrees, split where the fuzz target splits.
        let bytes = text.as_bytes();
        let at = data
            .first()
            .map_or(0, |b| usize::from(*b) * bytes.len() / 256);
        let (a, b) = bytes.split_at(at.min(bytes.len()));
        let mut w = mcpguard_redact::RedactingWriter::with_limits(Vec::new(), r.clone(), 64, 4096);
        std::io::Write::write_all(&mut w, a).unwrap();
        std::io::Write::write_all(&mut w, b).unwrap();
        assert_eq!(String::from_utf8(w.finish().unwrap()).unwrap(), once);
        replayed += 1;
    }
    assert!(replayed >= 1);
}

/// Runs `f` and fails if it takes longer than `limit` (debug builds included).
fn within<T>(limit: Duration, what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(
        took < limit,
        "{what} took {took:?}, over {limit:?}: not linear"
    );
    out
}

#[test]
fn pathological_repetitions_stay_linear() {
    let r = redactor();
    // Each keyword repeated with nothing that completes a secret: every
    // occurrence triggers its rules, none matches. Quadratic work would take
    // minutes; linear work takes well under the limit.
    for unit in [
        "-----BEGIN PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
        "password=",
        "api_key: x ",
        "://",
        "postgres://u:",
        "Bearer ",
        "ghp_",
        "eyJ.",
        "key",
        "AKIA",
        "sig=",
        "\\\"token\\\":",
        "--token ",
        // Encoded text: one endless base64 run that decodes to text with a
        // keyword, hex, percent escapes, JSON escapes, and wrapped lines.
        "cGFzc3dvcmQ9",
        "70617373776f72643d",
        "%70%61%73%73=",
        "\\u0070ass\\/",
        "                                                            ghp_abcdefghijklmnopqrstuvwx\n",
    ] {
        let text = unit.repeat((256 << 10) / unit.len());
        within(Duration::from_secs(20), unit, || r.find(&text));
    }
}

#[test]
fn many_findings_in_one_text_stay_linear() {
    // A secret every 256 bytes of 1 MiB: the closure's later rounds follow the
    // keywords near each of 4096 markers, each only once.
    let r = redactor();
    let unit = format!(
        "{:<200}token=ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U\n",
        "log line"
    );
    let text = unit.repeat((1 << 20) / unit.len());
    let out = within(Duration::from_secs(20), "4096 findings", || r.redact(&text));
    assert_eq!(
        out.matches("[REDACTED:github-pat]").count(),
        (1 << 20) / unit.len()
    );
}

#[test]
fn a_100_mib_line_streams_in_bounded_memory() {
    let r = redactor();
    let piece = "GET /items/0123456789 200 ok in 12 ms from 10.0.0.7 ";
    let mut w = RedactingWriter::new(Vec::with_capacity(100 << 20), r);
    let chunk = piece.repeat((1 << 20) / piece.len());
    let mut written = 0usize;
    within(Duration::from_secs(120), "100 MiB line", || {
        while written < 100 << 20 {
            w.write_all(chunk.as_bytes()).unwrap();
            written += chunk.len();
        }
        w.write_all(b" token=ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U")
            .unwrap();
    });
    let out = w.finish().unwrap();
    assert_eq!(out.len(), written + " token=[REDACTED:github-pat]".len());
    assert!(out.ends_with(b"token=[REDACTED:github-pat]"));
}

#[test]
fn nul_bytes_do_not_hide_secrets() {
    let r = redactor();
    let text = "\0\0password=S3cure-Qz8Wm!Lp\0ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U\0";
    let out = r.redact(text);
    assert!(!out.contains("S3cure") && !out.contains("Q3r7"), "{out:?}");
    assert!(out.starts_with("\0\0password=[REDACTED:"));
}

#[test]
fn invalid_utf8_in_a_stream_is_replaced_not_fatal() {
    let r = redactor();
    let mut w = RedactingWriter::with_limits(Vec::new(), r, 64, 1024);
    w.write_all(b"\xff\xfe bad bytes \xc3 then token=ghp_Q3r7TfK9mZp2")
        .unwrap();
    w.write_all(b"Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U \xf0\x9f\x92")
        .unwrap();
    w.write_all(b"\x96 end").unwrap();
    let out = String::from_utf8(w.finish().unwrap()).expect("valid UTF-8 out");
    assert!(out.contains('\u{fffd}'));
    assert!(out.contains("token=[REDACTED:github-pat]"), "{out:?}");
    assert!(
        out.ends_with("💖 end"),
        "a character split across writes survives: {out:?}"
    );
}

#[test]
fn json_nested_10000_deep_is_redacted_without_overflow() {
    let r = redactor();
    let mut value = serde_json::json!({"password": "hunter2-and-more"});
    for level in 0..10_000 {
        value = if level % 2 == 0 {
            serde_json::Value::Array(vec![value])
        } else {
            let mut map = serde_json::Map::new();
            map.insert("k".to_owned(), value);
            serde_json::Value::Object(map)
        };
    }
    assert_eq!(r.redact_json(&mut value), 1);
    // Tear the value down level by level: dropping it whole recurses.
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}
