//! Encoded secrets (issue 20, item 2): every catalogued secret, in the encodings it
//! travels in, is found where its encoded bytes stand; and registered secrets in
//! theirs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test helpers fail loudly"
)]

use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcpguard_redact::{Redactor, catalogue};

mod support;

/// An encoding: the encoded text of `line`, and where the bytes `span` of the
/// line went in it.
type Encode = fn(&str, &Range<usize>) -> (String, Range<usize>);

fn base64(line: &str, span: &Range<usize>) -> (String, Range<usize>) {
    let text = STANDARD.encode(line);
    // Byte i is carried by characters 8i/6 to (8i+7)/6.
    (text, 8 * span.start / 6..(8 * span.end).div_ceil(6))
}

fn base64_wrapped(line: &str, span: &Range<usize>) -> (String, Range<usize>) {
    // As the `base64` tool writes it: 76 characters a line.
    let flat = STANDARD.encode(line);
    let mut text = String::new();
    let mut at = Vec::new();
    for (i, c) in flat.chars().enumerate() {
        if i > 0 && i % 76 == 0 {
            text.push('\n');
        }
        at.push(text.len());
        text.push(c);
    }
    let from = 8 * span.start / 6;
    let to = (8 * span.end).div_ceil(6).min(at.len());
    (text, at[from]..at[to - 1] + 1)
}

fn hex(line: &str, span: &Range<usize>) -> (String, Range<usize>) {
    let text = line.bytes().map(|b| format!("{b:02x}")).collect();
    (text, 2 * span.start..2 * span.end)
}

/// Encodes `line` one character at a time with `f`; spans follow.
fn per_char(line: &str, span: &Range<usize>, f: impl Fn(char) -> String) -> (String, Range<usize>) {
    let encode = |s: &str| s.chars().map(&f).collect::<String>();
    let text = encode(line);
    let start = encode(&line[..span.start]).len();
    let end = encode(&line[..span.end]).len();
    (text, start..end)
}

/// Encodes every character of `line` but letters and digits with `f`.
fn escape_others(
    line: &str,
    span: &Range<usize>,
    f: impl Fn(char) -> String,
) -> (String, Range<usize>) {
    per_char(line, span, |c| {
        if c.is_ascii_alphanumeric() {
            c.to_string()
        } else {
            f(c)
        }
    })
}

fn percent(line: &str, span: &Range<usize>) -> (String, Range<usize>) {
    escape_others(line, span, |c| {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect()
    })
}

fn unicode_escapes(line: &str, span: &Range<usize>) -> (String, Range<usize>) {
    escape_others(line, span, |c| {
        let mut units = [0u16; 2];
        c.encode_utf16(&mut units)
            .iter()
            .map(|u| format!("\\u{u:04x}"))
            .collect()
    })
}

fn json_twice(line: &str, span: &Range<usize>) -> (String, Range<usize>) {
    let once = |c: char| {
        let q = serde_json::to_string(&c.to_string()).unwrap();
        q[1..q.len() - 1].to_owned()
    };
    per_char(line, span, |c| {
        once(c).chars().map(once).collect::<String>()
    })
}

fn wrapped(line: &str, span: &Range<usize>) -> (String, Range<usize>) {
    // An 80-column terminal wraps the line in the middle of the secret.
    let cut = span.start + span.len() / 2;
    let pad = 80usize.saturating_sub(cut);
    let text = format!("{}{}\n{}", " ".repeat(pad), &line[..cut], &line[cut..]);
    (text, pad + span.start..pad + span.end + 1)
}

const ENCODINGS: [(&str, Encode); 7] = [
    ("base64", base64),
    ("base64, wrapped at 76", base64_wrapped),
    ("hex", hex),
    ("percent", percent),
    ("\\u escapes", unicode_escapes),
    ("JSON escaped twice", json_twice),
    ("split by a line wrap", wrapped),
];

/// Whether one finding of `text` covers `carrier` (one character of slack at
/// either end: a base64 character may hold bits of the neighbour).
fn covered(r: &Redactor, text: &str, carrier: &Range<usize>) -> bool {
    r.find(text).iter().any(|f| {
        let s = f.span();
        s.start <= carrier.start + 1 && s.end + 1 >= carrier.end
    })
}

#[test]
fn every_catalogued_secret_is_found_in_every_encoding() {
    let r = Redactor::new().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for rule in catalogue() {
        for vector in rule.positives() {
            let (line, spans) = support::unmark(vector);
            let Some(span) = spans.first() else { continue };
            for (name, encode) in ENCODINGS {
                // A line wrap splits only a single-line token, long enough that
                // one part is a run of its own.
                if name == "split by a line wrap" && (line.contains('\n') || span.len() < 48) {
                    continue;
                }
                let (text, carrier) = encode(&line, span);
                checked += 1;
                if !covered(&r, &text, &carrier) {
                    failures.push(format!(
                        "{} ({name}): {:?}",
                        rule.id(),
                        &text[..text.len().min(160)]
                    ));
                }
                // And nothing of it is left to find in what is written.
                let out = r.redact(&text);
                if !r.find(&out).is_empty() {
                    failures.push(format!("{} ({name}): not closed: {out:?}", rule.id()));
                }
            }
        }
    }
    assert!(checked > 500, "{checked}");
    assert!(
        failures.is_empty(),
        "{} of {checked}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn registered_secrets_are_found_in_every_encoding() {
    let value = "correct horse/battery staple!(x)*'42";
    let r = Redactor::builder()
        .known_secret("APP_SECRET", value)
        .unwrap()
        .build()
        .unwrap();
    let form: String = value
        .bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect();
    let component: String = value
        .bytes()
        .map(|b| match b {
            b if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect();
    let slashed = value.replace('/', "\\/");
    let long = format!("{value} {value}");
    let wrapped = {
        let (t, _) = base64_wrapped(&long, &(0..long.len()));
        t
    };
    let lower_hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    let upper_hex: String = value.bytes().map(|b| format!("{b:02X}")).collect();
    for (name, encoded) in [
        ("hex", lower_hex),
        ("HEX", upper_hex),
        ("form", form),
        ("encodeURIComponent", component),
        ("\\/-escaped", slashed),
        ("base64 wrapped", wrapped),
    ] {
        let text = format!("note={encoded} end");
        let out = r.redact(&text);
        assert!(out.contains("[REDACTED:known-secret]"), "{name}: {out}");
        assert!(!out.contains(&encoded[..12]), "{name}: {out}");
        assert!(r.find(&out).is_empty(), "{name}: not closed: {out}");
    }
}

#[test]
fn a_line_after_a_token_is_not_part_of_it() {
    // The next line's setting is not a wrapped token's continuation.
    let r = Redactor::new().unwrap();
    let text = "GITHUB_TOKEN=ghp_R4nd0mF4k3T0k3nV4lu3F0rT3st1ngXy12Ab\nLOG_LEVEL=debug\n";
    assert_eq!(
        r.redact(text),
        "GITHUB_TOKEN=[REDACTED:github-pat]\nLOG_LEVEL=debug\n"
    );
}

#[test]
fn a_header_on_the_next_line_is_not_part_of_a_token() {
    // The first line is long enough to have been wrapped, but the next one
    // starts a header of its own.
    let r = Redactor::new().unwrap();
    let text = "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b\nX-Request-Id: abc\n";
    let out = r.redact(text);
    assert!(out.contains("\nX-Request-Id: abc\n"), "{out}");
    assert!(!out.contains("9944b0"), "{out}");
}

#[test]
fn ordinary_encoded_text_is_left_alone() {
    let r = Redactor::new().unwrap();
    for text in [
        // Base64 of ordinary text, a hash, an id, a URL with escapes, JSON
        // escapes: decoded, nothing in them.
        &STANDARD.encode("The quick brown fox jumps over the lazy dog, twice over.") as &str,
        "sha256=0d8d5cb2bd6ea0a7d7e8e7d7b6a53f1c3c1e6c8a9c1d3f6a1b4e8c6f5a2b9d0e",
        "id=9a5d20ba-b14d-4802-b4a9-5771508512ad trace=30e553afbebeabdaec3b082856a3ff52",
        "GET /search?q=rotate%20the%20api%20key%2C%20then%20deploy&page=2",
        r#"{"text": "caf\u00e9 \/ na\u00efve \\\"quoted\\\""}"#,
        "48656c6c6f2c20776f726c642120546869732069732066696e652e",
    ] {
        assert!(r.find(text).is_empty(), "{text}: {:?}", r.find(text));
    }
}
