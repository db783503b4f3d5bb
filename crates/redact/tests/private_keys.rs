//! A private key is redacted whole, or not at all: every armoured block (PEM,
//! OpenSSH, PGP), raw or escaped at any JSON depth, wrapped at any width, of any
//! realistic size, is replaced from BEGIN to END.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test helpers fail loudly"
)]

use mcpguard_redact::Redactor;
use proptest::prelude::*;

/// A base64 body of `len` characters, deterministic in `seed`, starting the way a
/// DER private key does.
fn body(len: usize, seed: u64) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(char::from(B64[(x % 64) as usize]));
    }
    out.truncate(len);
    out
}

/// The armoured block: `kind` as in `-----BEGIN {kind}-----`, the body wrapped at
/// `width`, lines ended by `eol`.
fn block(kind: &str, body: &str, width: usize, eol: &str, headers: &[&str]) -> String {
    let mut out = format!("-----BEGIN {kind}-----{eol}");
    for h in headers {
        out.push_str(h);
        out.push_str(eol);
    }
    if !headers.is_empty() {
        out.push_str(eol);
    }
    for line in body.as_bytes().chunks(width) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push_str(eol);
    }
    out.push_str(&format!("-----END {kind}-----{eol}"));
    out
}

/// `text` as a JSON string value nested `depth` times (0: raw).
fn nest(text: &str, depth: usize) -> String {
    let mut out = text.to_owned();
    for _ in 0..depth {
        out = serde_json::json!({ "private_key": out, "client_email": "x@p.iam.example" })
            .to_string();
    }
    out
}

/// Nothing of the block survives: no 12 characters of the body, no END line.
fn assert_whole(redactor: &Redactor, text: &str, body: &str, about: &str) {
    let out = redactor.redact(text);
    assert!(out.contains("[REDACTED:"), "{about}: nothing redacted");
    assert!(
        !out.contains("-----END"),
        "{about}: the END line is left:\n{out}"
    );
    for (i, piece) in body.as_bytes().chunks(12).enumerate() {
        let piece = std::str::from_utf8(piece).unwrap();
        if piece.len() == 12 {
            assert!(
                !out.contains(piece),
                "{about}: part {i} of the body is left in clear:\n{out}"
            );
        }
    }
}

/// Base64 lengths of a PKCS#8 RSA key of 2048 and 4096 bits.
const SIZES: [usize; 2] = [1624, 3168];
const KINDS: [&str; 5] = [
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
];

#[test]
fn keys_of_every_size_kind_width_and_json_depth_are_redacted_whole() {
    let redactor = Redactor::new().unwrap();
    for (s, size) in SIZES.into_iter().enumerate() {
        let body = body(size, 7 + s as u64);
        for kind in KINDS {
            for width in [64, 70, 76] {
                for eol in ["\n", "\r\n"] {
                    let raw = block(kind, &body, width, eol, &[]);
                    for depth in 0..=2 {
                        let text = format!("key file follows\n{}\ntrailer", nest(&raw, depth));
                        let about = format!(
                            "{kind}, {size} chars, width {width}, eol {eol:?}, depth {depth}"
                        );
                        assert_whole(&redactor, &text, &body, &about);
                    }
                }
            }
        }
    }
}

#[test]
fn pgp_blocks_of_several_kib_with_headers_are_redacted_whole() {
    let redactor = Redactor::new().unwrap();
    for size in [2_000, 5_000, 9_000] {
        let body = body(size, size as u64);
        let raw = block(
            "PGP PRIVATE KEY BLOCK",
            &body,
            64,
            "\n",
            &["Version: GnuPG v2", "Comment: release signing key"],
        );
        for depth in 0..=2 {
            assert_whole(
                &redactor,
                &nest(&raw, depth),
                &body,
                &format!("PGP {size}, depth {depth}"),
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Wherever the key sits in a longer text and whatever the width, it goes whole.
    #[test]
    fn a_key_anywhere_at_any_width_goes_whole(
        before in 0usize..2_000,
        width in 16usize..200,
        depth in 0usize..3,
        seed in any::<u64>(),
    ) {
        let redactor = Redactor::new().unwrap();
        let body = body(1_624, seed);
        let raw = block("PRIVATE KEY", &body, width, "\n", &[]);
        let text = format!("{}{}", "log line with words and ids 42\n".repeat(before / 32), nest(&raw, depth));
        assert_whole(&redactor, &text, &body, &format!("before {before}, width {width}, depth {depth}"));
    }
}

// ---- the streaming writer: a block longer than the hold-back ----

use mcpguard_redact::RedactingWriter;
use std::io::Write as _;

/// Writes `text` through a redacting writer in pieces of `piece` bytes, flushing
/// after each when `flush`.
fn stream(text: &str, piece: usize, flush: bool, chunk: usize, hold: usize) -> String {
    let r = Redactor::new().unwrap();
    let mut w = RedactingWriter::with_limits(Vec::new(), r, chunk, hold);
    for part in text.as_bytes().chunks(piece) {
        w.write_all(part).unwrap();
        if flush {
            w.flush().unwrap();
        }
    }
    String::from_utf8(w.finish().unwrap()).unwrap()
}

fn assert_no_body(out: &str, body: &str, about: &str) {
    for (i, piece) in body.as_bytes().chunks(12).enumerate() {
        let piece = std::str::from_utf8(piece).unwrap();
        if piece.len() == 12 {
            assert!(
                !out.contains(piece),
                "{about}: part {i} of the body is in clear"
            );
        }
    }
}

#[test]
fn an_unterminated_block_longer_than_the_hold_back_is_never_written_in_clear() {
    let body = body(100_000, 11);
    let mut text = String::from("before\n-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap());
        text.push('\n');
    }
    for (piece, flush) in [(1, false), (4096, false), (65, true)] {
        let out = stream(&text, piece, flush, 64 << 10, 16 << 10);
        let about = format!("writes of {piece}, flush {flush}");
        assert!(
            out.starts_with("before\n[REDACTED:private-key]"),
            "{about}: {}",
            &out[..out.len().min(200)]
        );
        assert_no_body(&out, &body, &about);
    }
}

#[test]
fn a_long_block_is_redacted_to_its_end_and_what_follows_is_kept() {
    let body = body(40_000, 12);
    for (eol, depth) in [("\n", 0), ("\r\n", 0), ("\n", 1)] {
        let raw = block("RSA PRIVATE KEY", &body, 64, eol, &[]);
        let text = format!("start\n{}\nafter the key: id=42\n", nest(&raw, depth));
        for piece in [1, 7, 1000] {
            let out = stream(&text, piece, false, 4096, 1024);
            let about = format!("eol {eol:?}, depth {depth}, writes of {piece}");
            assert_no_body(&out, &body, &about);
            assert!(!out.contains("-----END"), "{about}: {out}");
            assert!(out.starts_with("start\n"), "{about}");
            assert!(
                out.ends_with("after the key: id=42\n"),
                "{about}: {}",
                &out[out.len().saturating_sub(200)..]
            );
            assert_eq!(out.matches("[REDACTED:").count(), 1, "{about}: {out}");
        }
    }
}

#[test]
fn flushing_line_by_line_through_a_long_block_writes_the_label_once_it_closes() {
    let body = body(30_000, 13);
    let raw = block("PRIVATE KEY", &body, 64, "\n", &[]);
    let r = Redactor::new().unwrap();
    let mut w = RedactingWriter::new(Vec::new(), r);
    w.write_all(b"log line\n").unwrap();
    for line in raw.lines() {
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\n").unwrap();
        w.flush().unwrap();
    }
    w.write_all(b"next\n").unwrap();
    w.flush().unwrap();
    let out = String::from_utf8(w.finish().unwrap()).unwrap();
    assert_no_body(&out, &body, "flushed per line");
    assert_eq!(out, "log line\n[REDACTED:private-key]\nnext\n");
}
