//! The OAuth 2.1 resource server (`mcpguard::http`) in front of a service that
//! shows what reached it: genuine tokens become principals and lose their
//! header; every hostile token is a `401` and an audit event without the token;
//! a missing scope is a `403`; a session id is its creator's alone.
#![cfg(feature = "http")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

#[path = "support/bins.rs"]
mod bins;
#[path = "support/tokens.rs"]
mod tokens;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::{Algorithm, Header};
use mcpguard::Inventory;
use mcpguard::http::{
    BearerToken, JwksSource, JwtConfig, JwtVerifier, RemoteAddr, ResourceServer, TokenErrorKind,
    TokenVerifier as _, VerifiedToken,
};
use mcpguard::policy::{AuditEvent, Gate, MemorySink, Principal};
use serde_json::{Value, json};
use tokens::{Issuer, alg_none, now};
use tower_layer::Layer as _;
use tower_service::Service;

const ISSUER: &str = "https://id.example.test";
const RESOURCE: &str = "https://mcp.example.test/mcp";

/// What the protected service saw: the principal, its groups, the token it was
/// given (it must be none). `/open` answers with a fresh session id.
#[derive(Clone, Default)]
struct Echo;

impl Service<Request<String>> for Echo {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let principal = request.extensions().get::<Principal>().cloned();
        let token = request.extensions().get::<VerifiedToken>().cloned();
        let seen = json!({
            "principal": principal.as_ref().map(Principal::id),
            "groups": principal.as_ref().map(Principal::groups),
            "scopes": token.as_ref().map(|t| t.scopes.clone()),
            "authorization": request.headers().get(http::header::AUTHORIZATION).is_some(),
        });
        let open = request.uri().path() == "/open";
        Box::pin(async move {
            let mut response = Response::new(seen.to_string());
            if open {
                let id = format!("s-{}", now());
                response
                    .headers_mut()
                    .insert("mcp-session-id", id.parse().unwrap());
            }
            Ok(response)
        })
    }
}

struct Setup {
    issuer: Issuer,
    gate: Arc<Gate>,
    sink: Arc<MemorySink>,
    jwks_path: std::path::PathBuf,
    service: mcpguard::http::Authenticated<Echo>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    TempDir(bins::scratch_dir("mcpguard-http"))
}

fn gate(sink: Arc<MemorySink>) -> Arc<Gate> {
    let inventory = Inventory::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/inventories/team.toml"
    ))
    .unwrap();
    Arc::new(
        Gate::builder()
            .inventory(inventory)
            .audit_sink(sink)
            .build()
            .unwrap(),
    )
}

async fn setup(scopes: &[&str], refresh: Duration) -> Setup {
    let dir = temp_dir();
    let issuer = Issuer::new(ISSUER, "k1");
    let jwks_path = dir.0.join("jwks.json");
    std::fs::write(&jwks_path, Issuer::jwks(&[&issuer])).unwrap();
    let config = JwtConfig::new(ISSUER, RESOURCE, JwksSource::File(jwks_path.clone()))
        .refresh_interval(refresh);
    let verifier = JwtVerifier::load(config).await.unwrap();
    let sink = Arc::new(MemorySink::default());
    let gate = gate(Arc::clone(&sink));
    let mut auth = ResourceServer::builder(Arc::clone(&gate), RESOURCE)
        .authorization_server(ISSUER)
        .verifier(Arc::new(verifier))
        .server("lab");
    for scope in scopes {
        auth = auth.require_scope(*scope);
    }
    let service = auth.build().unwrap().layer(Echo);
    Setup {
        issuer,
        gate,
        sink,
        jwks_path,
        service,
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    session: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

async fn send(setup: &mut Setup, path: &str, token: Option<&str>, session: Option<&str>) -> Answer {
    let mut request = Request::builder().method("POST").uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let mut request = request.body(String::new()).unwrap();
    request
        .extensions_mut()
        .insert(RemoteAddr("192.0.2.7:51000".parse().unwrap()));
    let response = setup.service.call(request).await.unwrap();
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let challenge = header("www-authenticate");
    let session = header("mcp-session-id");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        challenge,
        session,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn events(setup: &Setup) -> Vec<AuditEvent> {
    setup.sink.events()
}

#[tokio::test]
async fn a_genuine_token_reaches_the_service_as_a_principal_without_its_header() {
    let mut s = setup(&[], Duration::from_secs(60)).await;
    let token = s.issuer.token_with(
        "ana@example.test",
        RESOURCE,
        &json!({"groups": ["engineers", "oncall"], "scope": "mcp:tools mcp:read"}),
    );
    let answer = send(&mut s, "/mcp", Some(&token), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let seen = answer.json();
    assert_eq!(seen["principal"], "ana@example.test");
    assert_eq!(seen["groups"], json!(["engineers", "oncall"]));
    assert_eq!(seen["scopes"], json!(["mcp:tools", "mcp:read"]));
    assert_eq!(seen["authorization"], false, "the token was passed on");
    assert!(
        events(&s).is_empty(),
        "an admitted request is not a refusal"
    );

    // An audience list holding this resource is this resource's token too.
    let listed = s.issuer.token_with(
        "ana@example.test",
        RESOURCE,
        &json!({"aud": ["https://other.example.test", RESOURCE]}),
    );
    assert_eq!(
        send(&mut s, "/mcp", Some(&listed), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn metadata_names_the_resource_and_its_authorization_server() {
    let mut s = setup(&["mcp:tools"], Duration::from_secs(60)).await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let mut request = Request::get(path).body(String::new()).unwrap();
        request.headers_mut().remove("authorization");
        let response = s.service.call(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let metadata: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(metadata["resource"], RESOURCE);
        assert_eq!(metadata["authorization_servers"], json!([ISSUER]));
        assert_eq!(metadata["scopes_supported"], json!(["mcp:tools"]));
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test]
async fn no_token_gets_the_challenge_that_leads_to_the_metadata() {
    let mut s = setup(&[], Duration::from_secs(60)).await;
    let answer = send(&mut s, "/mcp", None, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            "Bearer resource_metadata=\"https://mcp.example.test/.well-known/oauth-protected-resource/mcp\""
        )
    );
    let events = events(&s);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.method, "http");
    assert_eq!(e.actor, "unverified");
    assert_eq!(e.server, "lab");
    assert_eq!(e.tool, "/mcp");
    assert!(e.reasons[0].contains("HTTP 401"), "{:?}", e.reasons);
    assert!(
        e.reasons[0].contains("from 192.0.2.7:51000"),
        "{:?}",
        e.reasons
    );
}

/// A flood of unauthenticated requests from one address is one audit line a
/// minute, not one a request (each cost a full line, without bound); every
/// request is still refused.
#[tokio::test]
async fn a_flood_of_refusals_does_not_grow_the_audit_without_bound() {
    let mut s = setup(&[], Duration::from_secs(60)).await;
    for _ in 0..500 {
        let answer = send(&mut s, "/mcp", None, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let answer = send(&mut s, "/mcp", Some("not-a-jwt"), None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let events = events(&s);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].reasons[0].contains("no bearer token"),
        "{events:?}"
    );
    assert!(
        events[1].reasons[0].contains("not a signed JWT"),
        "{events:?}"
    );
}

#[tokio::test]
async fn hostile_tokens_are_refused_with_401_and_audited_without_the_token() {
    let mut s = setup(&[], Duration::from_secs(3600)).await;
    let good = s.issuer.claims("ana@example.test", RESOURCE);
    let with = |changes: Value| {
        let mut c = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let stranger = Issuer::new(ISSUER, "k1");
    let unknown = Issuer::new(ISSUER, "k-unknown");
    let mut no_kid = Header::new(Algorithm::ES256);
    no_kid.kid = None;
    no_kid.typ = Some("at+jwt".to_owned());
    // Genuine signatures over JWTs that are not access tokens (RFC 9068 has a
    // resource server refuse them): an ID token's header says `JWT` or nothing.
    let typed = |typ: Option<&str>| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".to_owned());
        header.typ = typ.map(str::to_owned);
        header
    };
    let mut hostile: Vec<(String, String)> = vec![
        ("garbage".into(), "not-a-jwt".into()),
        ("three garbage parts".into(), "aaaa.bbbb.cccc".into()),
        ("alg none".into(), alg_none(&good)),
        (
            "expired".into(),
            s.issuer
                .sign(&with(json!({"exp": now() - 120, "nbf": now() - 600}))),
        ),
        (
            "not yet valid".into(),
            s.issuer.sign(&with(json!({"nbf": now() + 600}))),
        ),
        (
            "wrong issuer".into(),
            s.issuer
                .sign(&with(json!({"iss": "https://evil.example.test"}))),
        ),
        (
            "wrong audience".into(),
            s.issuer
                .sign(&with(json!({"aud": "https://other.example.test/mcp"}))),
        ),
        ("no audience".into(), {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("aud");
            s.issuer.sign(&c)
        }),
        ("no expiry".into(), {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("exp");
            s.issuer.sign(&c)
        }),
        ("no subject".into(), {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("sub");
            s.issuer.sign(&c)
        }),
        ("wrong key, same kid".into(), stranger.sign(&good)),
        (
            "wrong key, no kid".into(),
            stranger.sign_with(&no_kid, &good),
        ),
        ("unknown kid".into(), unknown.sign(&good)),
        (
            "typ JWT (an ID token)".into(),
            s.issuer.sign_with(&typed(Some("JWT")), &good),
        ),
        ("no typ".into(), s.issuer.sign_with(&typed(None), &good)),
        (
            "typ id_token+jwt".into(),
            s.issuer.sign_with(&typed(Some("id_token+jwt")), &good),
        ),
    ];
    for (i, t) in s
        .issuer
        .hs256_with_public_key(&good)
        .into_iter()
        .enumerate()
    {
        hostile.push((format!("HS256 signed with the public key ({i})"), t));
    }
    // A genuine token with its signature cut off, and one with a claim edited.
    let genuine = s.issuer.sign(&good);
    let (unsigned, _) = genuine.rsplit_once('.').unwrap();
    hostile.push(("signature removed".into(), format!("{unsigned}.")));
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        with(json!({"sub": "admin"})).to_string(),
    );
    hostile.push(("claims edited".into(), parts.join(".")));

    for (what, token) in &hostile {
        let answer = send(&mut s, "/mcp", Some(token), None).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.body
        );
        let challenge = answer.challenge.unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer resource_metadata=\"https://mcp.example.test/")
                && challenge.contains("error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        assert!(
            !answer.body.contains(token.as_str()),
            "{what}: the answer quotes the token"
        );
    }
    let events = events(&s);
    // One audit event per distinct refusal from this address: a refusal with
    // the same reason again within the minute is counted, not written again.
    let mut reasons: Vec<&str> = events.iter().map(|e| e.reasons[0].as_str()).collect();
    let audited = reasons.len();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), audited, "a reason audited twice: {events:?}");
    assert!(
        audited >= 12,
        "every kind of refusal is audited: {reasons:#?}"
    );
    let log = serde_json::to_string(&events).unwrap();
    for (what, token) in &hostile {
        // Every token has a part no audit text may hold.
        let longest = token.split('.').max_by_key(|p| p.len()).unwrap();
        if longest.len() >= 8 {
            assert!(!log.contains(longest), "{what}: the audit holds the token");
        }
    }
    for e in &events {
        assert_eq!(e.actor, "unverified", "{e:?}");
        assert!(e.reasons[0].starts_with("HTTP 401"), "{:?}", e.reasons);
    }
    // The reasons say what was wrong, in words a person can act on.
    let reasons: Vec<&str> = events.iter().map(|e| e.reasons[0].as_str()).collect();
    for needle in [
        "expired",
        "not valid yet",
        "another issuer",
        "another resource",
        "does not verify",
        "does not hold",
        "does not accept",
        "not an access token",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(needle)),
            "no reason says `{needle}`: {reasons:#?}"
        );
    }
}

#[tokio::test]
async fn a_token_without_a_required_scope_is_forbidden() {
    let mut s = setup(&["mcp:tools"], Duration::from_secs(60)).await;
    let narrow = s
        .issuer
        .token_with("ana@example.test", RESOURCE, &json!({"scope": "mcp:read"}));
    let answer = send(&mut s, "/mcp", Some(&narrow), None).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    let challenge = answer.challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp:tools\""), "{challenge}");
    let e = &events(&s)[0];
    assert_eq!(
        e.actor, "ana@example.test",
        "a genuine token names who was refused"
    );
    assert!(e.reasons[0].contains("HTTP 403"), "{:?}", e.reasons);

    // The challenge to a request without a token names the scope to ask for.
    let bare = send(&mut s, "/mcp", None, None).await;
    assert!(bare.challenge.unwrap().ends_with(", scope=\"mcp:tools\""));
    // `scp` as an array grants it as well.
    let wide = s
        .issuer
        .token_with("ana@example.test", RESOURCE, &json!({"scp": ["mcp:tools"]}));
    assert_eq!(
        send(&mut s, "/mcp", Some(&wide), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_session_id_presented_by_another_principal_is_refused() {
    let mut s = setup(&[], Duration::from_secs(60)).await;
    let ana = s.issuer.token("ana@example.test", RESOURCE);
    let bo = s.issuer.token("bo@example.test", RESOURCE);
    let opened = send(&mut s, "/open", Some(&ana), None).await;
    assert_eq!(opened.status, StatusCode::OK);
    let id = opened.session.unwrap();

    let stolen = send(&mut s, "/mcp", Some(&bo), Some(&id)).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.body);
    let e = events(&s).pop().unwrap();
    assert_eq!(e.actor, "bo@example.test");
    assert_eq!(e.session.as_deref(), Some(id.as_str()));
    assert!(
        e.reasons[0].contains("another principal"),
        "{:?}",
        e.reasons
    );

    let own = send(&mut s, "/mcp", Some(&ana), Some(&id)).await;
    assert_eq!(own.status, StatusCode::OK);
    // A made-up id is nobody's: refused, and nothing recorded for it, so a flood
    // of made-up ids fills no store.
    let made_up = send(&mut s, "/mcp", Some(&bo), Some("made-up-1")).await;
    assert_eq!(made_up.status, StatusCode::NOT_FOUND);
    assert!(events(&s).pop().unwrap().reasons[0].contains("not one this server opened"));
    assert_eq!(s.gate.session_owner("made-up-1").unwrap(), None);
    assert_eq!(
        s.gate.session_owner(&id).unwrap().as_deref(),
        Some("ana@example.test")
    );
    assert_eq!(
        send(&mut s, "/mcp", Some(&ana), Some("made-up-1"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_rotated_key_is_found_by_reading_the_key_set_again() {
    let mut s = setup(&[], Duration::ZERO).await;
    let next = Issuer::new(ISSUER, "k2");
    let token = next.token("ana@example.test", RESOURCE);
    assert_eq!(
        send(&mut s, "/mcp", Some(&token), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    std::fs::write(&s.jwks_path, Issuer::jwks(&[&s.issuer, &next])).unwrap();
    assert_eq!(
        send(&mut s, "/mcp", Some(&token), None).await.status,
        StatusCode::OK
    );
    // A key set that turns unreadable keeps the keys read before.
    std::fs::write(&s.jwks_path, "not json").unwrap();
    let old = s.issuer.token("ana@example.test", RESOURCE);
    assert_eq!(
        send(&mut s, "/mcp", Some(&old), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_key_ids_reread_the_key_set_at_most_once_per_interval() {
    let s = setup(&[], Duration::from_secs(3600)).await;
    let next = Issuer::new(ISSUER, "k2");
    std::fs::write(&s.jwks_path, Issuer::jwks(&[&s.issuer, &next])).unwrap();
    let config = JwtConfig::new(ISSUER, RESOURCE, JwksSource::File(s.jwks_path.clone()));
    // Loaded now with both keys; a third kid does not make it read again.
    let verifier = JwtVerifier::load(config).await.unwrap();
    let token = BearerToken::new(next.token("ana", RESOURCE));
    assert!(verifier.verify(&token).await.is_ok());
    let third = Issuer::new(ISSUER, "k3");
    std::fs::write(&s.jwks_path, Issuer::jwks(&[&third])).unwrap();
    let e = verifier
        .verify(&BearerToken::new(third.token("ana", RESOURCE)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), TokenErrorKind::UnknownKey);
}

#[tokio::test]
async fn a_verified_token_is_remembered_but_never_past_its_expiry() {
    let dir = temp_dir();
    let jwks = dir.0.join("jwks.json");
    let issuer = Issuer::new(ISSUER, "k1");
    let config = |remember: Duration| {
        JwtConfig::new(ISSUER, RESOURCE, JwksSource::File(jwks.clone()))
            .refresh_interval(Duration::ZERO)
            .max_age(Duration::ZERO) // the set is read again for every token
            .leeway(Duration::ZERO)
            .remember_verified(remember)
    };
    for remember in [Duration::from_secs(60), Duration::ZERO] {
        std::fs::write(&jwks, Issuer::jwks(&[&issuer])).unwrap();
        let verifier = JwtVerifier::load(config(remember)).await.unwrap();
        let token = BearerToken::new(issuer.token("ana", RESOURCE));
        assert!(verifier.verify(&token).await.is_ok());
        // The key is withdrawn: only a remembered verification still stands.
        std::fs::write(&jwks, Issuer::jwks(&[&Issuer::new(ISSUER, "k2")])).unwrap();
        let again = verifier.verify(&token).await;
        assert_eq!(
            again.is_ok(),
            !remember.is_zero(),
            "remember {remember:?}: {again:?}"
        );
    }
    std::fs::write(&jwks, Issuer::jwks(&[&issuer])).unwrap();
    let verifier = JwtVerifier::load(config(Duration::from_secs(60)))
        .await
        .unwrap();
    let short = issuer.token_with("ana", RESOURCE, &json!({"exp": now() + 1}));
    let short = BearerToken::new(short);
    assert!(verifier.verify(&short).await.is_ok());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let e = verifier.verify(&short).await.unwrap_err();
    assert_eq!(
        e.kind(),
        TokenErrorKind::Expired,
        "remembered, yet expired: {e}"
    );
}

#[tokio::test]
async fn verifier_set_up_errors_say_what_to_fix() {
    let dir = temp_dir();
    let missing = dir.0.join("missing.json");
    let e = JwtVerifier::load(JwtConfig::new(ISSUER, RESOURCE, JwksSource::File(missing)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("could not be loaded"), "{e}");
    let jwks = dir.0.join("jwks.json");
    std::fs::write(&jwks, Issuer::jwks(&[&Issuer::new(ISSUER, "k")])).unwrap();
    let hs =
        JwtConfig::new(ISSUER, RESOURCE, JwksSource::File(jwks)).algorithms(&[Algorithm::HS256]);
    let e = JwtVerifier::load(hs).await.unwrap_err();
    assert!(e.to_string().contains("HMAC"), "{e}");
    let e = ResourceServer::builder(
        gate(Arc::new(MemorySink::default())),
        "http://mcp.example.test/mcp",
    )
    .authorization_server(ISSUER)
    .build()
    .unwrap_err();
    assert!(e.to_string().contains("canonical resource URI"), "{e}");
}

/// A loopback HTTP server answering each request with `status` and `body`,
/// counting requests.
fn serve_keys(status: &'static str, body: String) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&served);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, served)
}

#[tokio::test]
async fn keys_are_fetched_from_a_loopback_url_and_cached() {
    let issuer = Issuer::new(ISSUER, "k1");
    let (url, served) = serve_keys("200 OK", Issuer::jwks(&[&issuer]));
    let source = JwksSource::parse(&url).unwrap();
    let verifier = JwtVerifier::load(JwtConfig::new(ISSUER, RESOURCE, source))
        .await
        .unwrap();
    for _ in 0..3 {
        let token = BearerToken::new(issuer.token("ana", RESOURCE));
        assert!(verifier.verify(&token).await.is_ok());
    }
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "read once, cached"
    );

    // A redirect is not followed; an error status is an error.
    for status in ["302 Found", "500 Internal Server Error"] {
        let (url, _) = serve_keys(status, Issuer::jwks(&[&issuer]));
        let e = JwtVerifier::load(JwtConfig::new(
            ISSUER,
            RESOURCE,
            JwksSource::parse(&url).unwrap(),
        ))
        .await
        .unwrap_err();
        assert!(
            e.to_string().contains("could not be loaded"),
            "{status}: {e}"
        );
    }
}

#[test]
fn tokens_are_never_shown() {
    let token = BearerToken::new("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbmEifQ.c2ln");
    assert!(!format!("{token:?}").contains("eyJ"));
}
