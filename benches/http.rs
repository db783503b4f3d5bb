//! Criterion benchmark of the HTTP front: group `http`.
//!
//! - `call`: a small `tools/call` (a read-only `echo` tool) round trip over
//!   loopback HTTP to an rmcp streamable HTTP server with `Guarded` in front of
//!   the tool, through the OAuth resource server layer (`mcpguard::http`) with
//!   its defaults: the bearer JWT (ES256, cached JWKS) verified once and then
//!   remembered by digest, the session's owner looked up, the header stripped,
//!   then the gate.
//! - `call_signature_checked`: the same with nothing remembered: every request's
//!   signature and claims checked (`remember_verified(ZERO)`).
//! - `call_without_layer`: the same server and call with the principal fixed and
//!   no layer: what the layer adds is the ratio of the two.
//!
//! Both use an MCP session (the initialize handshake, once), so each iteration
//! is one POST with its SSE answer, read to the end.
#![cfg(feature = "http")]
#![expect(clippy::expect_used, reason = "a benchmark may stop on broken setup")]

#[path = "support/echo.rs"]
mod echo;
#[path = "../tests/support/tokens.rs"]
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use echo::Echo;
use hyper_util::rt::TokioIo;
use mcpguard::Inventory;
use mcpguard::http::{JwksSource, JwtConfig, JwtVerifier, ResourceServer};
use mcpguard::policy::{AuditError, AuditEvent, AuditSink, Gate, PolicySource, Principal};
use mcpguard::rmcp::Guarded;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokens::Issuer;
use tower_layer::Layer as _;

const INVENTORY: &str = r#"
version = 1
[[servers]]
id = "bench"
owner = "perf"
transport = "streamable_http"
credential = "none"
data_classes = ["public"]
provenance = { kind = "first_party" }

[[servers.tools]]
name = "echo"
data_classes = ["public"]
actions = ["read"]
reach = "none"
"#;

/// Audit events are made (redacted, serialised by nobody) and dropped: the
/// sink's own cost is not this bench's subject.
#[derive(Debug)]
struct Discard;

impl AuditSink for Discard {
    fn record(&self, _: &AuditEvent) -> Result<(), AuditError> {
        Ok(())
    }
}

fn gate() -> Arc<Gate> {
    Arc::new(
        Gate::builder()
            .inventory(Inventory::from_toml_str(INVENTORY, "bench.toml").expect("inventory"))
            .policies(PolicySource::baseline())
            .tier(mcpguard::Tier::Team)
            .audit_sink(Arc::new(Discard))
            .build()
            .expect("gate"),
    )
}

/// Serves `service` on a loopback port until the runtime ends; the address.
fn serve<S, B>(runtime: &tokio::runtime::Runtime, service: S) -> std::net::SocketAddr
where
    S: tower_service::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            // Small JSON-RPC messages: no Nagle delay waiting on a delayed ACK.
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            tokio::spawn(async move {
                let handle = hyper::service::service_fn(move |request| {
                    let mut service = service.clone();
                    async move { tower_service::Service::call(&mut service, request).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), handle)
                    .await;
            });
        }
    });
    addr
}

/// The MCP server: `Guarded` in front of `Echo`, a handler per session. The
/// default allowed hosts (loopback names, any port) fit a loopback listener.
fn mcp(
    gate: &Arc<Gate>,
    principal: Option<Principal>,
) -> StreamableHttpService<Guarded<Echo>, LocalSessionManager> {
    let gate = Arc::clone(gate);
    StreamableHttpService::new(
        move || {
            let guarded = Guarded::new(Echo::new(), Arc::clone(&gate), "bench")
                .map_err(std::io::Error::other)?;
            Ok(match &principal {
                Some(p) => guarded.principal(p.clone()),
                None => guarded,
            })
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    )
}

/// A client with an MCP session open: one `tools/call` per `call`.
struct Client {
    agent: ureq::Agent,
    url: String,
    token: Option<String>,
    session: String,
    id: u64,
}

impl Client {
    fn post(
        &self,
        body: &serde_json::Value,
        session: Option<&str>,
    ) -> ureq::http::Response<ureq::Body> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .header("MCP-Protocol-Version", "2025-06-18");
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request
            .send(body.to_string().as_bytes())
            .expect("the server answers")
    }

    fn open(url: String, token: Option<String>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut client = Self {
            agent,
            url,
            token,
            session: String::new(),
            id: 1,
        };
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}});
        let mut response = client.post(&initialize, None);
        client.session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("a session")
            .to_owned();
        let _ = response.body_mut().read_to_string();
        let session = client.session.clone();
        let _ = client.post(
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            Some(&session),
        );
        client
    }

    fn call(&mut self) -> String {
        self.id += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hello"}}});
        let session = self.session.clone();
        let mut response = self.post(&body, Some(&session));
        assert_eq!(response.status(), 200);
        response.body_mut().read_to_string().expect("the answer")
    }
}

fn bench_http(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let gate = gate();

    // Without the layer: the principal is fixed, as over stdio.
    let plain_addr = serve(&runtime, mcp(&gate, Some(Principal::new("ana"))));

    // With the layer: a JWT checked against a JWKS file, read once and cached.
    let issuer = Issuer::new("https://id.example.test", "bench-key");
    let dir = std::env::temp_dir().join(format!("mcpguard-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, Issuer::jwks(&[&issuer])).expect("the JWKS");
    let audience = "http://127.0.0.1/mcp";
    let layered = |remember: Duration| {
        let config = JwtConfig::new(
            "https://id.example.test",
            audience,
            JwksSource::File(jwks.clone()),
        )
        .remember_verified(remember);
        let verifier = runtime
            .block_on(JwtVerifier::load(config))
            .expect("the verifier");
        let auth = ResourceServer::builder(Arc::clone(&gate), audience)
            .authorization_server("https://id.example.test")
            .verifier(Arc::new(verifier))
            .build()
            .expect("the resource server");
        let addr = serve(&runtime, auth.layer(mcp(&gate, None)));
        Client::open(
            format!("http://{addr}/mcp"),
            Some(issuer.token("ana", audience)),
        )
    };
    let mut remembered = layered(Duration::from_secs(60));
    let mut checked = layered(Duration::ZERO);
    let mut plain = Client::open(format!("http://{plain_addr}/mcp"), None);
    assert!(
        plain.call().contains("hello"),
        "the plain server answers the call"
    );
    for client in [&mut remembered, &mut checked] {
        let answer = client.call();
        assert!(
            answer.contains("hello"),
            "the layered server answers the call: {answer}"
        );
    }

    let mut group = c.benchmark_group("http");
    group.bench_function("call", |b| b.iter(|| remembered.call()));
    group.bench_function("call_signature_checked", |b| b.iter(|| checked.call()));
    group.bench_function("call_without_layer", |b| b.iter(|| plain.call()));
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

// The macros define undocumented items.
#[allow(missing_docs, reason = "generated by criterion_group")]
mod harness {
    use super::*;
    criterion_group! {
        name = benches;
        config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4));
        targets = bench_http
    }
}
criterion_main!(harness::benches);
