//! Public-API tests of mcpguard-redact: builder errors, known secrets, correlation,
//! JSON, the streaming writer, and the properties the issue names.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test helpers fail loudly"
)]

use std::borrow::Cow;
use std::io::Write;

use base64::Engine as _;
use mcpguard_redact::{
    Anchor, BuildErrorKind, Check, RedactingWriter, Redactor, Rule, Secret, catalogue,
};
use proptest::prelude::*;

/// Fake secrets of several kinds, each in a context that names it.
const SECRETS: &[&str] = &[
    "GITHUB_TOKEN=ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U",
    "key: AKIAQ7RTX2M9KD4PLZ8W",
    "postgres://app:Zp9Lx2Wq7Rt5@db:5432/app",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmEifQ.Qm9vZ2llV29vZ2llQm9vZ2ll",
    "\"api_key\": \"Tq8Zr3Wm6Lp1Xv9Kc4Nb7Hd2\"",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----",
    "SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-Zq8Wm3Lp6Xv1Kc9Nb4Hd7Tr2",
    "password: S3cure-Qz8Wm!Lp",
];

/// Words that contain no keyword of any rule.
const WORDS: &[&str] = &[
    "the",
    "server",
    "listed",
    "files",
    "in",
    "workspace",
    "request",
    "done",
    "ok",
    "200",
    "GET",
    "/healthz",
    "took",
    "ms",
    "user",
    "ana",
    "opened",
    "issue",
    "#42",
    "merged",
    "branch",
    "main",
    "é",
    "日本",
    "–",
    "build",
    "green",
];

fn clean_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(WORDS),
            prop::sample::select(&[" ", "\n", ", ", ". "][..]),
        ),
        0..60,
    )
    .prop_map(|parts| parts.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
}

fn text_with_secrets() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => clean_text(),
            1 => prop::sample::select(SECRETS).prop_map(|s| format!("\n{s}\n")),
        ],
        1..8,
    )
    .prop_map(|parts| parts.concat())
}

fn redactor() -> Redactor {
    Redactor::new().unwrap()
}

fn stream(r: &Redactor, pieces: &[&[u8]], chunk: usize, hold: usize) -> String {
    let mut w = RedactingWriter::with_limits(Vec::new(), r.clone(), chunk, hold);
    for p in pieces {
        w.write_all(p).unwrap();
    }
    String::from_utf8(w.finish().unwrap()).unwrap()
}

proptest! {
    #[test]
    fn redaction_is_idempotent_and_leaves_no_finding(text in text_with_secrets()) {
        let correlated = Redactor::builder().correlation_key(b"0123456789abcdef").unwrap().build().unwrap();
        for r in [redactor(), correlated] {
            let once = r.redact(&text).into_owned();
            prop_assert_eq!(r.redact(&once), once.as_str());
            prop_assert!(r.find(&once).is_empty());
        }
    }

    #[test]
    fn clean_text_comes_back_borrowed(text in clean_text()) {
        let r = redactor();
        prop_assert!(matches!(r.redact(&text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn known_secrets_never_survive(
        secret in "[A-Za-z0-9!#%&*+/=?@^_~-]{8,40}",
        before in "\\PC{0,40}",
        after in "\\PC{0,40}",
    ) {
        let r = Redactor::builder().known_secret("S", secret.clone()).unwrap().build().unwrap();
        let text = format!("{before}{secret}{after}");
        let out = r.redact(&text);
        prop_assert!(!out.contains(secret.as_str()), "{}", out);
        // Also base64-encoded with its surroundings, as in an HTTP Basic header.
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        let line = format!("data {encoded} end");
        let out = r.redact(&line);
        prop_assert!(!out.contains(encoded.as_str()), "{}", out);
    }

    #[test]
    fn any_input_gives_utf8_and_never_panics(text in "\\PC{0,300}", secret in prop::sample::select(SECRETS)) {
        let r = redactor();
        let mixed = format!("{text}\n{secret}\n{text}");
        let out = r.redact(&mixed);
        prop_assert!(std::str::from_utf8(out.as_bytes()).is_ok());
        prop_assert!(!r.find(&mixed).is_empty());
    }

    #[test]
    fn streaming_equals_whole_for_every_split(text in text_with_secrets(), cut in 0usize..10_000) {
        let r = redactor();
        let whole = r.redact(&text).into_owned();
        let bytes = text.as_bytes();
        let at = cut % (bytes.len() + 1);
        // Split anywhere, even inside a character.
        let (a, b) = bytes.split_at(at);
        prop_assert_eq!(&stream(&r, &[a, b], 64 << 10, 16 << 10), &whole);
        // Small chunks force many rounds of cutting and holding back.
        prop_assert_eq!(&stream(&r, &[a, b], 64, 512), &whole);
        let singles: Vec<&[u8]> = bytes.chunks(7).collect();
        prop_assert_eq!(&stream(&r, &singles, 64, 512), &whole);
    }
}

#[test]
fn streaming_a_large_log_in_odd_pieces() {
    let r = redactor();
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!("2026-11-25 line {i} GET /items/{i} 200\n"));
        if i % 97 == 0 {
            text.push_str(SECRETS[i % SECRETS.len()]);
            text.push('\n');
        }
    }
    assert!(text.len() > 128 << 10);
    let pieces: Vec<&[u8]> = text.as_bytes().chunks(4093).collect();
    assert_eq!(stream(&r, &pieces, 64 << 10, 16 << 10), r.redact(&text));
}

#[test]
fn redactor_and_secret_are_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Redactor>();
    assert_send_sync::<Secret<String>>();
    assert_send_sync::<RedactingWriter<Vec<u8>>>();
}

#[test]
fn short_known_secrets_are_refused_without_echo() {
    let err = Redactor::builder()
        .known_secret("PIN", "1234567")
        .unwrap_err();
    assert_eq!(err.kind(), BuildErrorKind::KnownSecretTooShort);
    assert!(err.to_string().contains("`PIN`"));
    assert!(!err.to_string().contains("1234567"));
}

#[test]
fn known_secrets_in_encodings() {
    let secret = "p@ss w/rd:Zq8!Lm";
    let r = Redactor::builder()
        .known_secret("DB", secret)
        .unwrap()
        .build()
        .unwrap();
    for text in [
        format!("plain {secret} end"),
        "url p%40ss%20w%2Frd%3AZq8%21Lm end".to_owned(),
        "lower p%40ss%20w%2frd%3aZq8%21Lm end".to_owned(),
        format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{secret}"))
        ),
        format!(
            "json {}",
            serde_json::to_string(&format!("x\"{secret}")).unwrap()
        ),
    ] {
        let out = r.redact(&text);
        assert!(out.contains("[REDACTED:"), "{text} -> {out}");
        assert!(!out.contains("Zq8"), "{text} -> {out}");
    }
}

#[test]
fn known_secrets_from_env() {
    // PATH is set wherever tests run, and long; an unset name is skipped.
    let value = std::env::var("PATH").unwrap();
    assert!(value.len() >= 8);
    let r = Redactor::builder()
        .known_secrets_from_env(["PATH", "MCPGUARD_TEST_UNSET_VARIABLE"])
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        r.redact(&format!("x {value} y")),
        "x [REDACTED:known-secret] y"
    );
}

#[test]
fn correlation_key_gives_stable_unrecoverable_markers() {
    assert_eq!(
        Redactor::builder()
            .correlation_key(b"short")
            .unwrap_err()
            .kind(),
        BuildErrorKind::CorrelationKey
    );
    let r = Redactor::builder()
        .correlation_key(b"0123456789abcdef-key")
        .unwrap()
        .build()
        .unwrap();
    let a = r.redact("token ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U and again ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U");
    let b = r.redact("other ghp_Z3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U");
    let markers: Vec<&str> = a
        .split_whitespace()
        .filter(|w| w.starts_with("[REDACTED"))
        .collect();
    assert_eq!(markers.len(), 2);
    assert_eq!(markers[0], markers[1]);
    assert!(
        markers[0].starts_with("[REDACTED:github-pat:")
            && markers[0].len() == "[REDACTED:github-pat:".len() + 9
    );
    assert!(!b.contains(markers[0]));
    // Idempotent with the hashed form too.
    assert_eq!(r.redact(&a), a);
}

#[test]
fn redact_json_values_and_sensitive_keys() {
    let r = redactor();
    let mut v = serde_json::json!({
        "user": "ana",
        "Password": "whatever it is",
        "headers": {"Authorization": "Basic abc", "Accept": "*/*"},
        "nested": [{"apiKey": {"id": 1, "value": "x"}}, {"note": "token ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U here"}],
        "token": null,
        "secret_enabled": true,
        "max_tokens": 100,
        "client_secret": ""
    });
    assert_eq!(r.redact_json(&mut v), 4);
    assert_eq!(v["Password"], "[REDACTED:sensitive-key]");
    assert_eq!(v["headers"]["Authorization"], "[REDACTED:sensitive-key]");
    assert_eq!(v["headers"]["Accept"], "*/*");
    assert_eq!(v["nested"][0]["apiKey"], "[REDACTED:sensitive-key]");
    assert_eq!(v["nested"][1]["note"], "token [REDACTED:github-pat] here");
    assert_eq!(v["token"], serde_json::Value::Null);
    assert_eq!(v["max_tokens"], 100);
    assert_eq!(v["user"], "ana");
    // A second pass changes nothing.
    assert_eq!(r.redact_json(&mut v), 0);
}

/// A secret used as an object key (a tool result keyed by token, an argument
/// named after one) is redacted like a value; distinct keys stay distinct.
#[test]
fn redact_json_redacts_keys_too() {
    let r = redactor();
    let a = "ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U";
    let b = "ghp_Z9r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7Q";
    let mut v = serde_json::json!({
        "ok": 1,
        a: {"owner": "ana"},
        "plain": {a: 1, b: 2},
        "deep": [{ b: "x", format!("token={a}"): true }],
    });
    assert!(r.redact_json(&mut v) >= 3);
    let text = v.to_string();
    assert!(!text.contains(a) && !text.contains(b), "{text}");
    assert!(
        v.as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("[REDACTED:github-pat")),
        "{text}"
    );
    assert_eq!(v["deep"][0].as_object().unwrap().len(), 2, "{text}");
    assert_eq!(v["ok"], 1);
    // Two secret keys that redact alike stay two keys.
    assert_eq!(v["plain"].as_object().unwrap().len(), 2, "{text}");
    // Idempotent.
    let before = v.clone();
    assert_eq!(r.redact_json(&mut v), 0);
    assert_eq!(v, before);
}

#[test]
fn custom_rules_and_their_errors() {
    let rule = Rule::new("acme-key", r"acme_[a-z0-9]{16}")
        .keywords(["acme_"])
        .anchor(Anchor::Keyword)
        .check(Check::NotPlaceholder);
    let r = Redactor::builder().rule(rule).build().unwrap();
    assert_eq!(
        r.redact("k=acme_0123456789abcdef!"),
        "k=[REDACTED:acme-key]!"
    );
    // The built-in catalogue is still there.
    assert!(
        r.redact("ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U")
            .contains("github-pat")
    );

    let bad = Redactor::builder()
        .rule(Rule::new("bad", "(unclosed"))
        .build()
        .unwrap_err();
    assert_eq!(bad.kind(), BuildErrorKind::Pattern);
    assert!(bad.to_string().contains("rule `bad`"));
    let huge = Redactor::builder()
        .rule(Rule::new("huge", r"(?u)\w{5000}\w{5000}"))
        .build()
        .unwrap_err();
    assert_eq!(huge.kind(), BuildErrorKind::Pattern);
    let dup = Redactor::builder()
        .rule(Rule::new("github-pat", "x"))
        .build()
        .unwrap_err();
    assert_eq!(dup.kind(), BuildErrorKind::DuplicateRule);
    let id = Redactor::builder()
        .rule(Rule::new("Bad Id", "x"))
        .build()
        .unwrap_err();
    assert_eq!(id.kind(), BuildErrorKind::RuleId);
    // A rule without keywords searches everything.
    let r = Redactor::builder()
        .builtin_rules(false)
        .rule(Rule::new("employee-id", r"\bEMP-[0-9]{6}\b"))
        .build()
        .unwrap();
    assert_eq!(r.redact("by EMP-123456."), "by [REDACTED:employee-id].");
}

#[test]
fn findings_show_rule_and_span_only() {
    let r = redactor();
    let text = "x ghp_Q3r7TfK9mZp2Lx8WcVb5Nn1Hs6Jd4Ga0Ye7U";
    let f = &r.find(text)[0];
    assert_eq!(f.rule_id(), "github-pat");
    assert_eq!(f.span(), 2..text.len());
    assert!(f.checksum().is_some());
    let shown = format!("{f:?}{f}");
    assert!(!shown.contains("Q3r7"), "{shown}");
}

#[test]
fn catalogue_is_listed_in_order() {
    let ids: Vec<String> = catalogue().map(|r| r.id().to_owned()).collect();
    assert_eq!(ids.first().map(String::as_str), Some("github-pat"));
    assert!(ids.iter().any(|i| i == "secret-assignment"));
}

/// Vendors' documentation examples are left as they are, in the places docs put
/// them; a value one character away from one is a secret as before.
#[test]
fn published_documentation_examples_are_not_secrets() {
    let r = redactor();
    let cases = [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "export AWS_ACCESS_KEY_ID=AKIAI44QH8DHBEXAMPLE",
        "export AWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "curl https://api.stripe.com/v1/charges -u sk_test_4eC39HqLyjWDarjtT1zdp7dc:",
        r#"{"publishableKey": "pk_test_TYooMQauvdEDq54NiTphI7jx", "secretKey": "sk_test_BQokikJOvBiI2HlWgH4olfQ2"}"#,
        "GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ];
    for text in cases {
        assert!(
            matches!(r.redact(text), Cow::Borrowed(t) if t == text),
            "a documentation example was redacted: {text}"
        );
        // Change one character of the value: a real secret again.
        let last = text.trim_end_matches([':', '"', '}', ' ']).len() - 1;
        let mut changed = text.to_owned();
        let c = changed.as_bytes()[last];
        let swap = if c.is_ascii_digit() {
            b'7' ^ (c & 1)
        } else if c == b'Y' {
            b'Q'
        } else {
            b'Y'
        };
        changed.replace_range(last..=last, std::str::from_utf8(&[swap]).unwrap());
        assert_ne!(changed, text);
        assert!(
            r.redact(&changed).contains("[REDACTED:"),
            "one character away from an example, not redacted: {changed}"
        );
    }
}
