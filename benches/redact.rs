//! Criterion benchmarks of the redaction hot path: group `redact`, with
//! `structured_log` (1 MiB of an MCP server's structured log, a secret about every
//! 50 KB: the workload the figures report), `jsonrpc_results` (1 MiB of JSON-RPC
//! tool results through `redact_json`), `clean_log` (1 MiB of varied log text
//! without a secret), `dense_log` (the same with one secret per KiB) and
//! `json_args` (tool-call arguments through `redact_json`), each with
//! `Throughput::Bytes`; group `shape`: 1 MiB each of JSON lines, plain text,
//! `key=value`-dense lines, base64 blobs, 64 KiB lines and base64 nested twice
//! (`benches/support/shapes.rs`), no secret in any; and group `writer`: the
//! `RedactingWriter` on clean text (`clean/{64k,1m}`) and on an unterminated
//! private-key block of the same size (`unterminated_block/{64k,1m}`), written in
//! 4 KiB pieces.
#![expect(clippy::expect_used, reason = "a benchmark may stop on broken setup")]
#![expect(clippy::print_stdout, reason = "a benchmark reports its setup")]
#![allow(
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "fixed ASCII test data, sliced within its length"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::io::Write as _;

use mcpguard::redact::{RedactingWriter, Redactor};

#[path = "support/shapes.rs"]
mod shapes;
#[path = "support/structured_log.rs"]
mod structured_log;

// The structured log's deterministic generator: every run measures the same text.
use structured_log::Lcg;

/// One line of an MCP server's or web service's log, free of secrets but full of
/// the words detectors key on (token, key, auth, password, URLs).
fn log_line(rng: &mut Lcg) -> String {
    let ts = format!(
        "2026-11-25T{:02}:{:02}:{:02}.{:03}Z",
        rng.next() % 24,
        rng.next() % 60,
        rng.next() % 60,
        rng.next() % 1000
    );
    let level = rng.pick(&["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]);
    let service = rng.pick(&[
        "mcp-gateway",
        "fs-server",
        "github-mcp",
        "pg-proxy",
        "fetch",
    ]);
    let id = format!(
        "{}-{}-4{}-a{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(3),
        rng.hex(3),
        rng.hex(12)
    );
    let body = match rng.next() % 12 {
        0 => format!(
            "GET https://api.example.com/v1/repos/acme/widgets/issues?page={}&per_page=50 200 {}ms",
            rng.next() % 40,
            rng.next() % 900
        ),
        1 => format!(
            r#"tools/call {{"name":"read_file","arguments":{{"path":"/workspace/src/lib.rs","offset":{}}}}} request_id={id}"#,
            rng.next() % 4096
        ),
        2 => format!("token refreshed for session {id}, expires_in=3600 token_type=Bearer"),
        3 => format!(
            "cache key users:{}:profile miss; fetching from primary",
            rng.next() % 100_000
        ),
        4 => format!("commit {} merged into main by ci-bot", rng.hex(40)),
        5 => format!(
            "sha256:{} verified for layer {}",
            rng.hex(64),
            rng.next() % 20
        ),
        6 => "password reset email queued; auth provider=oidc, max_tokens=4096".to_owned(),
        7 => format!(
            "SELECT id, name FROM accounts WHERE org_id = {} AND deleted_at IS NULL LIMIT 100",
            rng.next() % 1000
        ),
        8 => format!(
            "  at mcp_server::handlers::call_tool (src/handlers.rs:{}:17) tracing span key={}",
            rng.next() % 500,
            rng.hex(8)
        ),
        9 => format!(
            r#"result {{"content":[{{"type":"text","text":"Found {} matches in 12 files"}}],"isError":false}}"#,
            rng.next() % 300
        ),
        10 => format!(
            "connecting to postgres://db.internal:5432/app (pool size {}) integrity=sha512-{}",
            rng.next() % 32,
            rng.hex(20)
        ),
        _ => format!(
            "rate limit for api key id {} at {} of 5000 requests; see https://docs.example.com/limits#keys",
            rng.next() % 900,
            rng.next() % 5000
        ),
    };
    format!("{ts} {level} {service} {body}\n")
}

/// Secrets in the contexts they appear in, fake and varied.
fn secret_line(rng: &mut Lcg, n: usize) -> String {
    let hex = rng.hex(40);
    match n % 8 {
        0 => format!("env GITHUB_TOKEN=ghp_{}Ab12\n", &hex[..32]),
        1 => format!("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.{hex}\n"),
        2 => format!("DATABASE_URL=postgres://app:Pw{}@db:5432/app\n", &hex[..14]),
        3 => format!(r#"{{"api_key": "{}Zq9"}}"#, &hex[..28]) + "\n",
        4 => format!("aws_secret_access_key = {}Ab+/\n", &hex[..36]),
        5 => format!(
            "SLACK_BOT_TOKEN=xoxb-1234567890-1234567890123-{}\n",
            &hex[..24]
        ),
        6 => format!("STRIPE_KEY=sk_live_{}XyZ\n", &hex[..30]),
        _ => format!("password: S3cr3t-{}!\n", &hex[..10]),
    }
}

fn corpus(dense: bool) -> String {
    let mut rng = Lcg(42);
    let mut out = String::with_capacity(1 << 20);
    let mut next_secret = 1024;
    let mut n = 0;
    while out.len() < 1 << 20 {
        out.push_str(&log_line(&mut rng));
        if dense && out.len() >= next_secret {
            out.push_str(&secret_line(&mut rng, n));
            n += 1;
            next_secret += 1024;
        }
    }
    out
}

fn json_args() -> serde_json::Value {
    serde_json::json!({
        "method": "tools/call",
        "params": {
            "name": "http_request",
            "arguments": {
                "url": "https://api.example.com/v1/search?q=mcp+security&page=2",
                "method": "POST",
                "headers": {"Content-Type": "application/json", "Authorization": "Bearer opaque-token-value-0123456789abcdef"},
                "body": "{\"query\": \"select all open issues assigned to me\", \"limit\": 50}",
                "timeout_ms": 30000,
                "tags": ["search", "issues", "triage"],
                "notes": "The cache key for this request is issues:open:me; retry on 429 with backoff."
            }
        }
    })
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::new().expect("the built-in catalogue compiles");
    let clean = corpus(false);
    let dense = corpus(true);
    let leaks: Vec<String> = redactor
        .find(&clean)
        .iter()
        .take(5)
        .map(|f| {
            clean
                .get(f.span().start.saturating_sub(60)..f.span().end)
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "the clean corpus has findings: {leaks:#?}"
    );
    let found = redactor.find(&dense).len();
    println!("dense_log: {} bytes, {found} findings", dense.len());
    // For profiling outside criterion: write the corpora where asked.
    if let Some(dir) = std::env::var_os("MCPGUARD_BENCH_CORPUS_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("clean_log.txt"), &clean).expect("write the clean corpus");
        std::fs::write(dir.join("dense_log.txt"), &dense).expect("write the dense corpus");
    }
    let args = json_args();
    let args_len = args.to_string().len();

    // The generated server log: every fake secret line is redacted, nothing else.
    let (structured, secret_lines) = structured_log::log(42, 1 << 20, 50_000);
    let redacted = redactor.redact(&structured);
    let markers = redacted.matches("[REDACTED:").count();
    assert_eq!(
        markers, secret_lines,
        "the structured log's secrets, and only they, are redacted"
    );
    let results: Vec<serde_json::Value> = structured_log::jsonrpc_results(42, 1 << 20)
        .iter()
        .map(|m| serde_json::from_str(m).expect("the generator writes JSON"))
        .collect();
    let results_len: usize = results.iter().map(|v| v.to_string().len()).sum();
    let changed: usize = results
        .iter()
        .map(|v| redactor.redact_json(&mut v.clone()))
        .sum();
    println!(
        "structured_log: {} bytes, {markers} findings; jsonrpc_results: {} messages, {results_len} bytes, {changed} values redacted",
        structured.len(),
        results.len()
    );
    assert!(changed > 0, "the results carry secrets");

    let mut group = c.benchmark_group("redact");
    group.throughput(Throughput::Bytes(structured.len() as u64));
    group.bench_function("structured_log", |b| {
        b.iter(|| black_box(redactor.redact(black_box(&structured))))
    });
    group.throughput(Throughput::Bytes(results_len as u64));
    group.bench_function("jsonrpc_results", |b| {
        b.iter_batched_ref(
            || results.clone(),
            |messages| {
                for m in messages.iter_mut() {
                    black_box(redactor.redact_json(black_box(m)));
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Bytes(clean.len() as u64));
    group.bench_function("clean_log", |b| {
        b.iter(|| black_box(redactor.redact(black_box(&clean))))
    });
    group.throughput(Throughput::Bytes(dense.len() as u64));
    group.bench_function("dense_log", |b| {
        b.iter(|| black_box(redactor.redact(black_box(&dense))))
    });
    group.throughput(Throughput::Bytes(args_len as u64));
    group.bench_function("json_args", |b| {
        b.iter(|| {
            let mut v = args.clone();
            black_box(redactor.redact_json(black_box(&mut v)))
        })
    });
    group.finish();

    // Other shapes of log, 1 MiB each, none with a secret: the speed depends on
    // the shape (issue 31, item 17).
    let mut group = c.benchmark_group("shape");
    let shaped: [(&str, shapes::Shape); 6] = [
        ("json_lines", shapes::json_lines),
        ("plain_text", shapes::plain_text),
        ("key_values", shapes::key_values),
        ("base64_blobs", shapes::base64_blobs),
        ("long_lines", shapes::long_lines),
        ("nested_base64", shapes::nested_base64),
    ];
    for (name, make) in shaped {
        let text = make(7, 1 << 20);
        let found = redactor.find(&text);
        assert!(
            found.is_empty(),
            "the {name} shape has findings: {:?}",
            found.first().map(|f| f.rule_id())
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(redactor.redact(black_box(&text))))
        });
    }
    group.finish();

    // The streaming writer: clean text against a `-----BEGIN` block that never
    // ends, the same size, the same pieces.
    let mut group = c.benchmark_group("writer");
    for (name, size) in [("64k", 64usize << 10), ("1m", 1 << 20)] {
        let mut clean_text = String::with_capacity(size);
        while clean_text.len() < size {
            clean_text.push_str(&clean);
        }
        clean_text.truncate(size);
        let mut block = String::from("-----BEGIN RSA PRIVATE KEY-----\n");
        let mut rng = Lcg(7);
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        while block.len() < size {
            for _ in 0..64 {
                let i = usize::try_from(rng.next()).unwrap_or(0) % B64.len();
                block.push(char::from(B64[i]));
            }
            block.push('\n');
        }
        block.truncate(size);
        let through = |text: &str| {
            let mut w = RedactingWriter::new(Vec::with_capacity(text.len()), redactor.clone());
            for piece in text.as_bytes().chunks(4096) {
                w.write_all(piece).expect("writes to a Vec");
            }
            w.finish().expect("writes to a Vec")
        };
        let out = String::from_utf8(through(&block)).expect("UTF-8 out");
        assert!(
            out.starts_with("[REDACTED:private-key]") && out.len() < 64,
            "the block is not redacted whole: {}",
            &out[..out.len().min(120)]
        );
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("clean/{name}"), |b| {
            b.iter(|| black_box(through(black_box(&clean_text))))
        });
        group.bench_function(format!("unterminated_block/{name}"), |b| {
            b.iter(|| black_box(through(black_box(&block))))
        });
    }
    group.finish();
}

// The macros define undocumented items.
#[allow(missing_docs, reason = "generated by criterion_group")]
mod harness {
    use super::*;
    criterion_group!(benches, bench);
}
criterion_main!(harness::benches);
