//! Logs of other shapes than the structured log, for the `shape` group of the
//! redact bench: the redactor's speed depends on the shape of the text (how
//! often detectors' keywords occur, how long lines are, how much of it looks
//! encoded), so each shape is measured on its own. Deterministic (the
//! structured log's `Lcg`), about `size` bytes each, no secret in any.

use base64::Engine as _;

use super::structured_log::Lcg;

/// A shape: a generator of about `size` bytes from a seed.
pub(crate) type Shape = fn(u64, usize) -> String;

const WORDS: &[&str] = &[
    "the",
    "server",
    "request",
    "session",
    "tool",
    "result",
    "cache",
    "index",
    "review",
    "deploy",
    "branch",
    "commit",
    "issue",
    "merge",
    "build",
    "test",
    "agent",
    "model",
    "prompt",
    "policy",
    "approval",
    "workspace",
    "file",
    "directory",
    "query",
    "table",
    "row",
    "column",
    "user",
    "team",
    "schedule",
    "report",
    "summary",
    "latency",
    "retry",
];

fn sentence(rng: &mut Lcg, words: usize) -> String {
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(WORDS));
    }
    out.push('.');
    out
}

fn fill(size: usize, mut line: impl FnMut() -> String) -> String {
    let mut out = String::with_capacity(size + 4096);
    while out.len() < size {
        out.push_str(&line());
        out.push('\n');
    }
    out
}

/// JSON lines, as structured loggers write them (`{"ts":…,"level":…,"msg":…}`).
pub(crate) fn json_lines(seed: u64, size: usize) -> String {
    let mut rng = Lcg(seed);
    fill(size, || {
        format!(
            r#"{{"ts":"2026-12-07T10:{:02}:{:02}.{:03}Z","level":"{}","target":"mcp::{}","msg":"{}","request_id":"{}","duration_ms":{},"tool":"{}","ok":{}}}"#,
            rng.below(60),
            rng.below(60),
            rng.below(1000),
            rng.pick(&["info", "info", "debug", "warn"]),
            rng.pick(&["gateway", "router", "session", "audit"]),
            sentence(&mut rng, 8),
            rng.uuid(),
            rng.below(900),
            rng.pick(&["read_file", "search", "list_issues", "query"]),
            rng.below(2) == 0,
        )
    })
}

/// Plain prose, as in a tool's text result or an application's free-form log.
pub(crate) fn plain_text(seed: u64, size: usize) -> String {
    let mut rng = Lcg(seed);
    fill(size, || {
        let n = 2 + rng.below(4);
        (0..n)
            .map(|_| {
                let words = 6 + usize::try_from(rng.below(12)).unwrap_or(0);
                sentence(&mut rng, words)
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Lines dense with `key=value` pairs whose keys are the words detectors key on
/// (`token_count`, `api_key_id`, `auth_mode`, `password_policy`, …) and whose
/// values are ids and hashes: the shape that makes every detector look.
pub(crate) fn key_values(seed: u64, size: usize) -> String {
    let mut rng = Lcg(seed);
    let keys = [
        "token_count",
        "api_key_id",
        "auth_mode",
        "password_policy",
        "secret_ref",
        "session",
        "trace_id",
        "cache_key",
        "credential_source",
        "bearer_scheme",
    ];
    fill(size, || {
        let mut line = format!(
            "ts=2026-12-07T10:{:02}:{:02}Z",
            rng.below(60),
            rng.below(60)
        );
        for _ in 0..10 {
            let key = keys[usize::try_from(rng.below(keys.len() as u64)).unwrap_or(0)];
            let value = match rng.below(4) {
                0 => rng.below(100_000).to_string(),
                1 => rng.hex(16),
                2 => rng.uuid(),
                _ => rng.pick(&["none", "vault", "env", "oauth"]).to_owned(),
            };
            line.push_str(&format!(" {key}={value}"));
        }
        line
    })
}

/// Lines carrying base64 blobs (attachments, images, protobuf payloads) of
/// 1 to 4 KiB, their content binary-looking.
pub(crate) fn base64_blobs(seed: u64, size: usize) -> String {
    let mut rng = Lcg(seed);
    fill(size, || {
        let n = 768 + usize::try_from(rng.below(2304)).unwrap_or(0);
        let bytes: Vec<u8> = (0..n)
            .map(|_| u8::try_from((rng.next() >> 24) & 0xff).unwrap_or(0))
            .collect();
        format!(
            "attachment id={} type=image/png data={}",
            rng.uuid(),
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    })
}

/// Few, very long lines: minified JSON documents of about 64 KiB each.
pub(crate) fn long_lines(seed: u64, size: usize) -> String {
    let mut rng = Lcg(seed);
    fill(size, || {
        let mut line = String::from("{\"items\":[");
        while line.len() < 64 * 1024 {
            line.push_str(&format!(
                r#"{{"id":"{}","title":"{}","state":"{}","labels":["{}","{}"]}},"#,
                rng.uuid(),
                sentence(&mut rng, 5),
                rng.pick(&["open", "closed"]),
                rng.pick(WORDS),
                rng.pick(WORDS)
            ));
        }
        line.push_str("{}]}");
        line
    })
}

/// Base64 of base64 of text (a payload wrapped twice, as message queues and
/// webhook envelopes do), which the redactor decodes layer by layer.
pub(crate) fn nested_base64(seed: u64, size: usize) -> String {
    let mut rng = Lcg(seed);
    let b64 = base64::engine::general_purpose::STANDARD;
    fill(size, || {
        let inner = format!(
            "{{\"event\":\"push\",\"ref\":\"refs/heads/main\",\"message\":\"{}\",\"token_type\":\"none\"}}",
            sentence(&mut rng, 20)
        );
        let once = b64.encode(inner);
        format!("envelope={}", b64.encode(once))
    })
}
