//! Arbitrary `Authorization` headers and bearer tokens against the OAuth
//! resource server layer (`mcpguard::http`) with a real JWT verifier: never a
//! panic; every request is either refused (400, 401, 403 or 503, with a
//! challenge on 401) or reaches the service without its `Authorization` header;
//! no audit event holds the token.
#![no_main]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use mcpguard::http::{Authenticated, JwksSource, JwtConfig, JwtVerifier, ResourceServer};
use mcpguard::policy::{AuditError, AuditEvent, AuditSink, Gate};
use mcpguard_core::Inventory;
use tower_layer::Layer as _;
use tower_service::Service;

/// The public key of RFC 7515's ES256 example: tokens the fuzzer forges name
/// its `kid`, so they reach the signature check.
const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

/// Answers 200, saying whether a token reached it.
#[derive(Clone)]
struct Probe;

impl Service<Request<String>> for Probe {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let leaked = request.headers().contains_key(http::header::AUTHORIZATION);
        Box::pin(async move {
            Ok(Response::new(
                if leaked { "leaked" } else { "clean" }.to_owned(),
            ))
        })
    }
}

/// Keeps the events of the current input only.
#[derive(Debug, Default)]
struct Sink(std::sync::Mutex<Vec<AuditEvent>>);

impl AuditSink for Sink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.0
            .lock()
            .map_err(|_| AuditError::new("poisoned"))?
            .push(event.clone());
        Ok(())
    }
}

impl Sink {
    fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.0.lock().expect("the sink"))
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    sink: Arc<Sink>,
    service: Authenticated<Probe>,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let path = std::env::temp_dir().join(format!("mcpguard-fuzz-jwks-{}.json", std::process::id()));
    std::fs::write(&path, JWKS).expect("the key set is written");
    let config = JwtConfig::new(
        "https://id.example.test",
        "https://mcp.example.test/mcp",
        JwksSource::File(path),
    )
    .refresh_interval(std::time::Duration::from_secs(3600));
    let verifier = runtime
        .block_on(JwtVerifier::load(config))
        .expect("the verifier loads");
    let sink = Arc::new(Sink::default());
    let inventory = Inventory::from_toml_str(
        include_str!("../../examples/inventories/team.toml"),
        "team.toml",
    )
    .expect("the example inventory loads");
    let gate = Arc::new(
        Gate::builder()
            .inventory(inventory)
            .audit_sink(Arc::clone(&sink) as Arc<dyn AuditSink>)
            .build()
            .expect("the gate builds"),
    );
    let layer = ResourceServer::builder(gate, "https://mcp.example.test/mcp")
        .authorization_server("https://id.example.test")
        .verifier(Arc::new(verifier))
        .require_scope("mcp:tools")
        .build()
        .expect("the resource server builds");
    Harness {
        runtime,
        sink,
        service: layer.layer(Probe),
    }
});

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let header: Vec<u8> = match mode % 3 {
        // The header as given.
        0 => rest.to_vec(),
        // A bearer token as given.
        1 => [b"Bearer ".as_slice(), rest].concat(),
        // A JWT whose header names the key, with the input as its claims
        // (split off a signature at the first `|`).
        _ => {
            let (claims, signature) = match rest.iter().position(|b| *b == b'|') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            let head = br#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#;
            format!("Bearer {}.{}.{}", b64(head), b64(claims), b64(signature)).into_bytes()
        }
    };
    let Ok(value) = HeaderValue::from_bytes(&header) else {
        return;
    };
    let mut request = Request::builder()
        .method("POST")
        .uri("/mcp")
        .body(String::new())
        .expect("a request");
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, value);
    let harness = &*HARNESS;
    drop(harness.sink.take());
    let mut service = harness.service.clone();
    let response = harness
        .runtime
        .block_on(service.call(request))
        .expect("the layer never fails");
    let status = response.status();
    match status {
        StatusCode::UNAUTHORIZED => assert!(
            response
                .headers()
                .contains_key(http::header::WWW_AUTHENTICATE),
            "a 401 without a challenge"
        ),
        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::SERVICE_UNAVAILABLE => {}
        // No forged token is genuine: nothing may pass.
        other => panic!("a forged or malformed token got {other}"),
    }
    // The first refusal of each reason (a minute, per address) is audited;
    // the same reason again is counted into a later line, not written now.
    let events = harness.sink.take();
    assert!(
        events.len() <= 1,
        "more than one audit event for one refusal"
    );
    // The token's longest part, when it is distinctive, is in no audit text.
    let text = String::from_utf8_lossy(&header);
    let token = text.split_once(' ').map_or(&*text, |(_, t)| t);
    if let Some(part) = token
        .split('.')
        .map(str::trim)
        .max_by_key(|p| p.len())
        .filter(|p| p.len() >= 16)
    {
        for event in &events {
            let event = serde_json::to_string(event).expect("an event serializes");
            assert!(!event.contains(part), "the audit holds the token");
        }
    }
});
