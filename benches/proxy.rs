//! Criterion benchmark of `mcpguard proxy`: group `proxy`.
//!
//! The upstream is a minimal Rust MCP server (one read-only `echo` tool,
//! `benches/support/echo.rs`) run as a child over stdio: this bench binary
//! itself, started with `--mcpguard-bench-upstream`.
//!
//! - `call`: a small `tools/call` from an rmcp client through the proxy
//!   (`mcpguard::proxy`: `Guarded<Proxied>` in this process, the agent's side on
//!   an in-memory pipe) to the upstream child: identify, the live pin (the tool
//!   is pinned; checked against the fingerprint taken when the list arrived), the
//!   gate's decision with its `started` and `ok` events to a keyed audit chain
//!   on disk (as `mcpguard proxy --audit` writes it), the upstream's round trip,
//!   redaction and labels of the result.
//! - `call_direct`: the same call, from the same client, made directly to the
//!   same upstream over its stdio.
//!
//! - `hop`: the same call to `Echo` served in this process on an in-memory
//!   pipe, with nothing in between: what one more MCP hop costs by itself
//!   (rmcp's framing, parsing and task hand-offs).
//! - `gated_hop`: that hop with `Guarded` and the same gate and audit chain in
//!   front of `Echo`: what the gate adds to a hop.
//!
//! The ratio `call` / `call_direct` is what the proxy costs a call; `hop` and
//! `gated_hop` say where it goes.
#![cfg(feature = "proxy")]
#![expect(clippy::expect_used, reason = "a benchmark may stop on broken setup")]

#[path = "support/echo.rs"]
mod echo;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use mcpguard::policy::{AuditKey, Gate, JsonLinesSink, PolicySource, Principal};
use mcpguard::proxy::{Upstream, UpstreamConfig};
use mcpguard::redact::Redactor;
use mcpguard::{Inventory, Tier};
use rmcp::ServerHandler as _;
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::async_rw::AsyncRwTransport;
use serde_json::json;

/// The flag that makes this binary the upstream.
const UPSTREAM_FLAG: &str = "--mcpguard-bench-upstream";

const INVENTORY: &str = r#"
version = 1
[[servers]]
id = "echo"
owner = "perf"
transport = "stdio"
credential = "none"
data_classes = ["public"]
provenance = { kind = "first_party" }

[[servers.tools]]
name = "echo"
data_classes = ["public"]
actions = ["read"]
reach = "none"
"#;

/// The bench's inventory, its `echo` tool pinned to `Echo`'s definition (as a
/// deployment pins it): each call checks the pin against the live definition.
fn inventory() -> Inventory {
    let tool = echo::Echo::new().get_tool("echo").expect("the echo tool");
    let pin = mcpguard::Fingerprint::of_tool(&serde_json::to_value(tool).expect("a definition"))
        .expect("a fingerprint");
    Inventory::from_toml_str(
        &format!("{INVENTORY}fingerprint = \"{pin}\"\n"),
        "bench.toml",
    )
    .expect("inventory")
}

type Client = RunningService<RoleClient, ClientConfig>;

fn upstream_command() -> Vec<String> {
    let exe = std::env::current_exe().expect("this binary's path");
    vec![exe.display().to_string(), UPSTREAM_FLAG.to_owned()]
}

fn call(runtime: &tokio::runtime::Runtime, client: &Client) -> String {
    let mut params = CallToolRequestParams::new("echo");
    params.arguments = json!({"text": "hello"}).as_object().cloned();
    let result = runtime
        .block_on(client.call_tool(params))
        .expect("the call");
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// The client talking to the upstream child directly.
fn direct(runtime: &tokio::runtime::Runtime) -> (Client, tokio::process::Child) {
    runtime.block_on(async {
        let exe = std::env::current_exe().expect("this binary's path");
        let mut child = tokio::process::Command::new(exe)
            .arg(UPSTREAM_FLAG)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the upstream");
        let transport = AsyncRwTransport::<RoleClient, _, _>::new(
            child.stdout.take().expect("stdout"),
            child.stdin.take().expect("stdin"),
        );
        let client = ClientConfig::default()
            .serve(transport)
            .await
            .expect("the direct session");
        (client, child)
    })
}

/// The gate of the bench: the inventory, the baseline, team tier, a keyed
/// audit chain at `audit` (as `mcpguard proxy --audit` writes it).
fn gate(
    inventory: Inventory,
    definitions: serde_json::Value,
    redactor: Redactor,
    audit: &std::path::Path,
) -> Gate {
    let key = AuditKey::parse("7632f554e38178ebe4aac8ee506989d27832ae2c33c7428100f3947ec8385671")
        .expect("key");
    let sink = JsonLinesSink::open(audit, key).expect("audit sink");
    Gate::builder()
        .inventory(inventory)
        .policies(PolicySource::baseline())
        .tier(Tier::Team)
        .tool_definitions("echo", definitions)
        .redactor(redactor)
        .audit_sink(Arc::new(sink))
        .build()
        .expect("gate")
}

/// A client on `runtime` of `server`, served on `server_runtime` over an
/// in-memory pipe.
fn in_process<S: rmcp::ServerHandler>(
    runtime: &tokio::runtime::Runtime,
    server_runtime: &tokio::runtime::Runtime,
    server: S,
) -> Client {
    let (agent, end) = tokio::io::duplex(256 * 1024);
    server_runtime.spawn(async move {
        if let Ok(running) = server.serve(end).await {
            let _ = running.waiting().await;
        }
    });
    runtime.block_on(async {
        ClientConfig::default()
            .serve(agent)
            .await
            .expect("the in-process session")
    })
}

/// The client (on `runtime`) talking to the upstream through the proxy, which
/// runs on `proxy_runtime`, as it would in a process of its own.
fn proxied(
    runtime: &tokio::runtime::Runtime,
    proxy_runtime: &tokio::runtime::Runtime,
    audit: &std::path::Path,
) -> Client {
    let guarded = proxy_runtime.block_on(async {
        let inventory = inventory();
        let redactor = Redactor::new().expect("redactor");
        let config = UpstreamConfig::from_inventory(&inventory, "echo")
            .expect("config")
            .command(upstream_command());
        let upstream = Upstream::start(config, &inventory, Tier::Team, &redactor)
            .await
            .expect("the upstream through the proxy");
        let definitions = upstream.definitions();
        let gate = gate(inventory, definitions, redactor, audit);
        let principal = Principal::new("ana");
        upstream
            .guard(Arc::new(gate), Some(principal.clone()))
            .expect("guard")
            .principal(principal)
    });
    in_process(runtime, proxy_runtime, guarded)
}

fn bench_proxy(c: &mut Criterion) {
    // The client on one thread; the proxy on a pool of its own, as in a
    // process of its own (`mcpguard proxy` runs two workers).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let proxy_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("proxy runtime");
    let dir = std::env::temp_dir().join(format!("mcpguard-bench-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (direct, _child) = direct(&runtime);
    let proxied = proxied(&runtime, &proxy_runtime, &dir.join("audit.jsonl"));
    let hop = in_process(&runtime, &proxy_runtime, echo::Echo::new());
    let gated_hop = {
        let inventory = inventory();
        let definitions = json!([echo::Echo::new().get_tool("echo").expect("the echo tool")]);
        let redactor = Redactor::new().expect("redactor");
        let gate = gate(
            inventory,
            definitions,
            redactor,
            &dir.join("hop.audit.jsonl"),
        );
        let guarded = mcpguard::rmcp::Guarded::new(echo::Echo::new(), Arc::new(gate), "echo")
            .expect("guarded")
            .principal(Principal::new("ana"));
        in_process(&runtime, &proxy_runtime, guarded)
    };
    for (client, what) in [
        (&direct, "direct"),
        (&proxied, "proxied"),
        (&hop, "hop"),
        (&gated_hop, "gated hop"),
    ] {
        assert_eq!(call(&runtime, client), "hello", "the {what} call answers");
    }

    let mut group = c.benchmark_group("proxy");
    group.bench_function("call", |b| b.iter(|| call(&runtime, &proxied)));
    group.bench_function("call_direct", |b| b.iter(|| call(&runtime, &direct)));
    group.bench_function("hop", |b| b.iter(|| call(&runtime, &hop)));
    group.bench_function("gated_hop", |b| b.iter(|| call(&runtime, &gated_hop)));
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The upstream: `Echo` over stdio until its input ends.
fn serve_upstream() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if let Ok(running) = echo::Echo::new().serve(rmcp::transport::stdio()).await {
            let _ = running.waiting().await;
        }
    });
}

// The macros define undocumented items.
#[allow(missing_docs, reason = "generated by criterion_group")]
mod harness {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
        targets = bench_proxy
    }
}

fn main() {
    if std::env::args().any(|a| a == UPSTREAM_FLAG) {
        serve_upstream();
        return;
    }
    harness::benches();
    Criterion::default().configure_from_args().final_summary();
}
