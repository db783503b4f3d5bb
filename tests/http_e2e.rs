//! Two `gated_server --http` processes sharing Redis — two replicas of one
//! deployment behind a load balancer — driven by the official MCP Python SDK
//! (`tests/e2e/http_client.py`) with tokens this test mints; then a legacy
//! session stolen by another principal, and the audit chains both replicas left.
//!
//! Needs `redis-server` and Python 3 with `tests/e2e/requirements.txt`
//! (`scripts/install-test-deps` installs both); without them this test fails and
//! says so.
#![cfg(all(feature = "http", feature = "redis"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

#[path = "support/bins.rs"]
mod bins;
#[path = "../crates/policy/tests/support/redis_server.rs"]
#[allow(
    dead_code,
    reason = "the store tests' helper; this test needs only part of it"
)]
mod redis_server;
#[path = "support/tokens.rs"]
mod tokens;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bins::{cli_binary, example_binary, output_within, python, require_python_sdk, scratch_dir};
use mcpguard::policy::{AuditKey, ChainHead, verify_chain_with_head};
use redis_server::RedisServer;
use serde_json::{Value, json};
use tokens::Issuer;

const AUDIT_KEY: &str = "1f2e3d4c5b6a79888796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const APPROVAL_KEY: &str = "the-approval-key-of-this-test-deployment-0123456789abcdef";
const ISSUER: &str = "https://id.example.test";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed when dropped.
struct Replica {
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str, work: &Path, port: u16, audience: &str, jwks: &Path, redis: &str) -> Replica {
    let mut child = Command::new(example_binary("gated_server"))
        .env("MCPGUARD_AUDIT_KEY", AUDIT_KEY)
        .env("MCPGUARD_APPROVAL_KEY", APPROVAL_KEY)
        .args(["--root", &work.join("workspace").display().to_string()])
        .args([
            "--audit",
            &work
                .join(format!("{name}.audit.jsonl"))
                .display()
                .to_string(),
        ])
        .args([
            "--audit-head",
            &work
                .join(format!("{name}.audit.jsonl.head"))
                .display()
                .to_string(),
        ])
        .args(["--tier", "team"])
        .args(["--http", &format!("127.0.0.1:{port}")])
        .args(["--issuer", ISSUER, "--audience", audience])
        .args(["--jwks", &jwks.display().to_string()])
        .args(["--store", redis])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[server] {line}");
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening on") => break,
            Ok(_) => {}
            Err(_) => panic!("{name} did not start listening within 60 s"),
        }
    }
    Replica { child }
}

/// A raw JSON-RPC POST; the status, the session id it returned, the body.
fn post(
    url: &str,
    token: &str,
    session: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut request = agent
        .post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("MCP-Protocol-Version", "2025-06-18");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let mut response = request.send(body.to_string().as_bytes()).unwrap();
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, id, text)
}

#[test]
fn two_replicas_behind_oauth_serve_one_deployment() {
    require_python_sdk();
    let work = scratch_dir("mcpguard-http-e2e");
    let redis = RedisServer::start();
    let issuer = Issuer::new(ISSUER, "test-key");
    let jwks = work.join("jwks.json");
    std::fs::write(&jwks, Issuer::jwks(&[&issuer])).unwrap();

    let (port_a, port_b) = (free_port(), free_port());
    // One deployment, one canonical URI: the load balancer's (here replica A's).
    let audience = format!("http://127.0.0.1:{port_a}/mcp");
    let a = start("a", &work, port_a, &audience, &jwks, &redis.url());
    let b = start("b", &work, port_b, &audience, &jwks, &redis.url());
    let url_a = format!("http://127.0.0.1:{port_a}/mcp");
    let url_b = format!("http://127.0.0.1:{port_b}/mcp");

    let ana = issuer.token_with(
        "ana@example.test",
        &audience,
        &json!({"groups": ["engineers"]}),
    );
    let bo = issuer.token("bo@example.test", &audience);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/http_client.py");
    let child = Command::new(python())
        .env("ANA_TOKEN", &ana)
        .env("BO_TOKEN", &bo)
        .env("ISSUER", ISSUER)
        .env("AUDIENCE", &audience)
        .env("MCPGUARD_CLI", cli_binary())
        .env("REDIS_URL", redis.url())
        .arg(&script)
        .args([&url_a, &url_b])
        .arg(&work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_within(child, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Python client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    eprintln!("{stdout}");

    // An MCP session (before 2026-07-28) is its creator's: another principal
    // presenting its id is refused, on either replica.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let (status, session, body) = post(&url_a, &ana, None, &initialize);
    assert_eq!(status, 200, "{body}");
    let session = session.expect("a legacy initialize opens a session");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    for url in [&url_a, &url_b] {
        let (status, _, body) = post(url, &bo, Some(&session), &list);
        assert_eq!(status, 404, "{url}: another principal's session id: {body}");
    }
    let (status, _, body) = post(
        &url_a,
        &ana,
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert!(status == 202 || status == 200, "{status}: {body}");

    drop((a, b));
    let key = AuditKey::parse(AUDIT_KEY).unwrap();
    let mut tools = Vec::new();
    let mut refusals = Vec::new();
    for name in ["a", "b"] {
        let path = work.join(format!("{name}.audit.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        let head = ChainHead::parse(
            &std::fs::read_to_string(work.join(format!("{name}.audit.jsonl.head"))).unwrap(),
        )
        .unwrap();
        verify_chain_with_head(text.as_bytes(), &key, &head)
            .unwrap_or_else(|e| panic!("{name}: the chain does not verify: {e}"));
        for token in [&ana, &bo] {
            let signature = token.rsplit('.').next().unwrap();
            assert!(
                !text.contains(signature),
                "{name}: a token reached the audit"
            );
        }
        for line in text.lines() {
            let event: Value = serde_json::from_str(line).unwrap();
            if event["mcp.method.name"] == "http" {
                refusals.push(event);
            } else {
                tools.push(event);
            }
        }
    }
    assert!(!tools.is_empty());
    for event in &tools {
        let actor = event["user.id"].as_str().unwrap();
        assert!(
            actor == "ana@example.test" || actor == "bo@example.test",
            "{event}"
        );
        assert!(
            event["mcp.session.id"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "no session: {event}"
        );
    }
    // Both replicas served tool calls, and the approval asked by one was
    // spent by the other: the two people appear as themselves.
    let served: std::collections::BTreeSet<_> =
        tools.iter().map(|e| e["user.id"].to_string()).collect();
    assert_eq!(served.len(), 2);
    assert!(refusals.iter().any(|e| {
        e["user.id"] == "unverified"
            && e["mcpguard.reasons"][0]
                .as_str()
                .unwrap()
                .contains("HTTP 401")
    }));
    assert!(refusals.iter().any(|e| {
        e["user.id"] == "bo@example.test"
            && e["mcpguard.reasons"][0]
                .as_str()
                .unwrap()
                .contains("another principal")
    }));
    for e in &refusals {
        assert!(
            e["mcpguard.reasons"][0]
                .as_str()
                .unwrap()
                .contains("(from 127.0.0.1:"),
            "{e}"
        );
    }
    // Four eyes: the delete that ran names both people, the caller and the
    // reviewer who approved it.
    let deleted: Vec<&Value> = tools
        .iter()
        .filter(|e| e["gen_ai.tool.name"] == "delete_file" && e["mcpguard.outcome"] == "ok")
        .collect();
    assert_eq!(deleted.len(), 1, "the approved delete ran once");
    assert_eq!(deleted[0]["user.id"], "ana@example.test");
    assert_eq!(
        deleted[0]["mcpguard.approval.approver"],
        "lead@example.test"
    );
    for name in ["a", "b"] {
        let lines = std::fs::read_to_string(work.join(format!("{name}.audit.jsonl"))).unwrap();
        assert!(
            lines.contains("\"gen_ai.tool.name\":\"write_file\""),
            "{name} served no write"
        );
    }
    std::fs::remove_dir_all(&work).unwrap();
}
