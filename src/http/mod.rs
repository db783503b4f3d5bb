//! An OAuth 2.1 resource server in front of an MCP server over streamable HTTP,
//! as the MCP authorization specification (2026-07-28) asks of one.
//!
//! [`ResourceServer`] is a tower [`Layer`]: put it in front of rmcp's
//! `StreamableHttpService` (or any HTTP service) and every request needs
//! `Authorization: Bearer <token>`:
//!
//! - **No token** (or another scheme): `401` with `WWW-Authenticate: Bearer
//!   resource_metadata="<url>"`, so the client can discover the authorization
//!   server. **An invalid token** — malformed, `alg: none`, an HMAC algorithm,
//!   an unknown key, a bad signature, expired, not yet valid, another issuer,
//!   another audience — `401` with `error="invalid_token"` (RFC 6750).
//!   **A token lacking a required scope**: `403` with
//!   `error="insufficient_scope"` and the scopes needed. A header that is not
//!   one bearer token is `400` `invalid_request`. Keys that cannot be read are
//!   `503`: the request is refused, never let through.
//! - **Protected Resource Metadata** (RFC 9728) is served at
//!   `/.well-known/oauth-protected-resource` with the endpoint's path inserted
//!   (`/.well-known/oauth-protected-resource/mcp` for `https://host/mcp`), and at
//!   the bare well-known path, naming the resource, its authorization servers
//!   and scopes. No token is needed for it.
//! - **A verified token** becomes a [`Principal`](mcpguard_policy::Principal) (id and groups from claims
//!   you name) in the request's extensions, where `mcpguard::rmcp::Guarded` looks
//!   for it, with the [`VerifiedToken`] (scopes, issuer, client) beside it. The
//!   `Authorization` header is removed before the request goes on: no tool,
//!   handler or upstream ever sees the token (no token passthrough).
//! - **Sessions**: a `mcp-session-id` (MCP before 2026-07-28) is bound to the
//!   principal whose request opened it (when the response carrying it goes
//!   out), in the gate's session store (shared by replicas); the same id
//!   presented by another principal, or an id no response opened, is refused
//!   with `404`, as an unknown session is. A made-up id records nothing.
//! - **Every refusal is audited** through the gate ([`Gate::refuse_request`]):
//!   who (the token's subject when it was genuine), why, from where
//!   ([`RemoteAddr`]), never the token.
//!
//! The token check is a [`TokenVerifier`]; [`JwtVerifier`] ships (JWT access
//! tokens against the issuer's JWKS, from a file or a URL, cached).
//!
//! ```no_run
//! # #[cfg(feature = "rmcp")] mod doc {
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use mcpguard::http::{JwksSource, JwtConfig, JwtVerifier, ResourceServer};
//! use mcpguard::policy::{Gate, PolicySource};
//! use mcpguard::rmcp::Guarded;
//! use mcpguard::rmcp::sdk::transport::streamable_http_server::{
//!     StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
//! };
//! # #[derive(Clone)] struct MyServer;
//! # impl rmcp::ServerHandler for MyServer {}
//! let inventory = mcpguard::Inventory::load("mcp-inventory.toml")?;
//! let gate = Arc::new(Gate::builder().inventory(inventory).policies(PolicySource::baseline()).build()?);
//! let audience = "https://mcp.example.com/mcp";
//! let jwks = JwksSource::parse("https://id.example.com/.well-known/jwks.json")?;
//! let verifier = JwtVerifier::load(JwtConfig::new("https://id.example.com", audience, jwks)).await?;
//! let auth = ResourceServer::builder(Arc::clone(&gate), audience)
//!     .authorization_server("https://id.example.com")
//!     .verifier(Arc::new(verifier))
//!     .build()?;
//! // A handler per session or per request: each sees the same sessions and
//! // approvals, because both live in the gate's stores, keyed by the principal.
//! let mcp = StreamableHttpService::new(
//!     move || Guarded::new(MyServer, Arc::clone(&gate), "workspace").map_err(std::io::Error::other),
//!     Arc::new(LocalSessionManager::default()),
//!     StreamableHttpServerConfig::default(),
//! );
//! let service = tower_layer::Layer::layer(&auth, mcp);
//! # drop(service); Ok(()) }
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use mcpguard_policy::Gate;
use serde_json::{Map, Value, json};
use tower_layer::Layer;
use tower_service::Service;

mod flood;
mod jwt;
#[cfg(feature = "rmcp")]
mod serve;
mod token;

#[cfg(feature = "rmcp")]
pub use serve::serve_mcp;

pub use jwt::{
    DEFAULT_ALGORITHMS, JwksSource, JwtConfig, JwtConfigError, JwtVerifier, MAX_TOKEN_LEN,
};
pub use token::{
    BearerToken, TokenError, TokenErrorKind, TokenVerifier, VerifiedToken, VerifyFuture,
};

/// The algorithm names of [`JwtConfig::algorithms`].
pub use jsonwebtoken::Algorithm;

/// The well-known path of RFC 9728 metadata.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The header of an MCP session (before 2026-07-28).
const SESSION_HEADER: &str = "mcp-session-id";

/// Where a request came from, for the audit of refusals: put it in the
/// request's extensions where connections are accepted (the layer cannot see
/// the socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[expect(
    clippy::exhaustive_structs,
    reason = "a plain wrapper: the address is the whole of it"
)]
pub struct RemoteAddr(pub SocketAddr);

/// Why a [`ResourceServer`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceServerError {
    /// The resource identifier is not a canonical URI (RFC 8707).
    #[error(
        "`{resource}` is not a canonical resource URI: {why} (expected https://host[:port][/path], \
         or http:// on a loopback address)"
    )]
    Resource {
        /// What was given.
        resource: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No authorization server was named: clients could not find one.
    #[error("name at least one authorization server (the issuer of the tokens)")]
    NoAuthorizationServer,
    /// No verifier was given.
    #[error("give the resource server a token verifier (for example a JwtVerifier)")]
    NoVerifier,
    /// A scope holds a character RFC 6749 does not allow in one.
    #[error("`{0}` is not a scope (printable ASCII without spaces, `\"` or `\\`)")]
    Scope(String),
}

/// Builds a [`ResourceServer`].
#[derive(Debug)]
pub struct ResourceServerBuilder {
    gate: Arc<Gate>,
    resource: String,
    server: String,
    authorization_servers: Vec<String>,
    scopes: Vec<String>,
    scopes_supported: Vec<String>,
    verifier: Option<Arc<dyn TokenVerifier>>,
    resource_name: Option<String>,
}

impl ResourceServerBuilder {
    /// An authorization server whose tokens this server accepts (its issuer
    /// URL, listed in the metadata's `authorization_servers`).
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// A scope every request's token must grant (`403 insufficient_scope`
    /// otherwise). None by default.
    #[must_use]
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// A scope to list in the metadata's `scopes_supported` besides the
    /// required ones.
    #[must_use]
    pub fn supported_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes_supported.push(scope.into());
        self
    }

    /// How tokens are checked.
    #[must_use]
    pub fn verifier(mut self, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// The inventory's id of the server behind this layer, for its audit events.
    #[must_use]
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.server = server.into();
        self
    }

    /// A human-readable name for the metadata's `resource_name`.
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The resource server.
    ///
    /// # Errors
    ///
    /// [`ResourceServerError`]: a resource that is not a canonical URI, no
    /// authorization server, no verifier, a malformed scope.
    pub fn build(self) -> Result<ResourceServer, ResourceServerError> {
        let (metadata_path, metadata_url) = metadata_location(&self.resource)?;
        if self.authorization_servers.is_empty() {
            return Err(ResourceServerError::NoAuthorizationServer);
        }
        let verifier = self.verifier.ok_or(ResourceServerError::NoVerifier)?;
        if let Some(bad) = self
            .scopes
            .iter()
            .chain(&self.scopes_supported)
            .find(|s| !is_scope(s))
        {
            return Err(ResourceServerError::Scope(bad.clone()));
        }
        let mut supported = self.scopes.clone();
        for scope in self.scopes_supported {
            if !supported.contains(&scope) {
                supported.push(scope);
            }
        }
        let mut metadata = Map::new();
        metadata.insert("resource".into(), Value::String(self.resource));
        metadata.insert(
            "authorization_servers".into(),
            json!(self.authorization_servers),
        );
        metadata.insert("bearer_methods_supported".into(), json!(["header"]));
        if !supported.is_empty() {
            metadata.insert("scopes_supported".into(), json!(supported));
        }
        if let Some(name) = self.resource_name {
            metadata.insert("resource_name".into(), Value::String(name));
        }
        let metadata = Value::Object(metadata);
        let body = Bytes::from(metadata.to_string());
        let challenge = if self.scopes.is_empty() {
            format!("Bearer resource_metadata=\"{metadata_url}\"")
        } else {
            format!(
                "Bearer resource_metadata=\"{metadata_url}\", scope=\"{}\"",
                self.scopes.join(" ")
            )
        };
        Ok(ResourceServer {
            shared: Arc::new(Shared {
                gate: self.gate,
                server: self.server,
                metadata_path,
                metadata_url,
                metadata,
                body,
                challenge,
                scopes: self.scopes,
                verifier,
                refusals: flood::Refusals::default(),
            }),
        })
    }
}

/// An OAuth 2.1 resource server as a tower [`Layer`] (see the module docs).
/// Cheap to clone.
#[derive(Clone)]
pub struct ResourceServer {
    shared: Arc<Shared>,
}

struct Shared {
    gate: Arc<Gate>,
    server: String,
    metadata_path: String,
    metadata_url: String,
    metadata: Value,
    body: Bytes,
    /// `WWW-Authenticate` without an error: `Bearer resource_metadata="…"[, scope="…"]`.
    challenge: String,
    scopes: Vec<String>,
    verifier: Arc<dyn TokenVerifier>,
    /// Which refusals are audited one by one (see [`flood`]).
    refusals: flood::Refusals,
}

impl fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceServer")
            .field("resource", &self.shared.metadata.get("resource"))
            .field("metadata_url", &self.shared.metadata_url)
            .field("scopes", &self.shared.scopes)
            .field("verifier", &self.shared.verifier)
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// A resource server for `resource` — this MCP endpoint's canonical URI,
    /// the audience its tokens must be minted for — auditing through `gate` and
    /// binding sessions in its session store.
    pub fn builder(gate: Arc<Gate>, resource: impl Into<String>) -> ResourceServerBuilder {
        ResourceServerBuilder {
            gate,
            resource: resource.into(),
            server: String::new(),
            authorization_servers: Vec::new(),
            scopes: Vec::new(),
            scopes_supported: Vec::new(),
            verifier: None,
            resource_name: None,
        }
    }

    /// The Protected Resource Metadata document served.
    pub fn metadata(&self) -> &Value {
        &self.shared.metadata
    }

    /// The URL the metadata is served at (named in every challenge).
    pub fn metadata_url(&self) -> &str {
        &self.shared.metadata_url
    }
}

impl<S> Layer<S> for ResourceServer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A service behind a [`ResourceServer`]: requests reach it only with a
/// verified principal.
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for Authenticated<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("metadata_url", &self.shared.metadata_url)
            .finish_non_exhaustive()
    }
}

/// The body of a response: the inner service's, or one this layer wrote.
pub type AuthBody<B> = Either<Full<Bytes>, B>;

/// The boxed future of [`Authenticated`].
pub type AuthFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<AuthBody<B>>, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Authenticated<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = AuthFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was made ready is the one that serves (tower's rule).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(shared.serve(inner, request))
    }
}

/// How a request was refused, before the inner service saw it.
enum Refusal {
    /// No bearer token: the bare challenge.
    NoToken,
    /// A header that is not one bearer token.
    BadRequest(&'static str),
    /// The token was refused.
    Token(TokenError),
    /// A genuine token without a required scope.
    Scope(Vec<String>),
    /// A session id bound to another principal.
    ForeignSession,
    /// A session id no response of this deployment opened.
    UnknownSession,
    /// The session store could not answer.
    Store(String),
}

impl Shared {
    async fn serve<S, ReqBody, ResBody>(
        self: Arc<Self>,
        mut inner: S,
        mut request: Request<ReqBody>,
    ) -> Result<Response<AuthBody<ResBody>>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        let path = request.uri().path();
        if path == self.metadata_path || path == METADATA_PATH {
            return Ok(self.metadata_response(request.method()));
        }
        let session = match session_id(request.headers()) {
            Ok(session) => session,
            Err(refusal) => {
                let remote = request.extensions().get::<RemoteAddr>().copied();
                let endpoint = request.uri().path().to_owned();
                return Ok(self.refuse(&refusal, None, None, &endpoint, remote));
            }
        };
        let verified = match self.admit(request.headers(), session.as_deref()).await {
            Ok(verified) => verified,
            Err((refusal, actor)) => {
                let remote = request.extensions().get::<RemoteAddr>().copied();
                let endpoint = request.uri().path().to_owned();
                return Ok(self.refuse(
                    &refusal,
                    actor.as_deref(),
                    session.as_deref(),
                    &endpoint,
                    remote,
                ));
            }
        };
        // No token passthrough: what follows sees the principal, not the token.
        request.headers_mut().remove(AUTHORIZATION);
        let principal = verified.principal.clone();
        request.extensions_mut().insert(principal.clone());
        request.extensions_mut().insert(verified);
        let remote = request.extensions().get::<RemoteAddr>().copied();
        let endpoint = request.uri().path().to_owned();
        let response = inner.call(request).await?;
        // A session this response opens belongs to this principal from now on.
        let opened = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| session.as_deref() != Some(*id))
            .map(ToOwned::to_owned);
        if let Some(id) = opened {
            let refusal = match self.gate.claim_session(&id, &principal) {
                Ok(true) => None,
                Ok(false) => Some(Refusal::ForeignSession),
                Err(e) => Some(Refusal::Store(e.to_string())),
            };
            if let Some(refusal) = refusal {
                return Ok(self.refuse(
                    &refusal,
                    Some(principal.id()),
                    Some(&id),
                    &endpoint,
                    remote,
                ));
            }
        }
        Ok(response.map(Either::Right))
    }

    /// The verified token of a request, or why not (with the subject when the
    /// token was genuine).
    async fn admit(
        &self,
        headers: &HeaderMap,
        session: Option<&str>,
    ) -> Result<VerifiedToken, (Refusal, Option<String>)> {
        let token = bearer(headers).map_err(|r| (r, None))?;
        let verified = self
            .verifier
            .verify(&token)
            .await
            .map_err(|e| (Refusal::Token(e), None))?;
        drop(token);
        let subject = Some(verified.principal.id().to_owned());
        let missing: Vec<String> = self
            .scopes
            .iter()
            .filter(|s| !verified.has_scope(s))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err((Refusal::Scope(missing), subject));
        }
        // A session id is accepted only from the principal it was opened for
        // (bound when the response that opened it went out): another principal's,
        // or one this deployment never opened, is refused as unknown. Nothing is
        // recorded for an id a request makes up.
        if let Some(id) = session {
            match self.gate.session_owner(id) {
                Ok(Some(owner)) if owner == verified.principal.id() => {}
                Ok(Some(_)) => return Err((Refusal::ForeignSession, subject)),
                Ok(None) => return Err((Refusal::UnknownSession, subject)),
                Err(e) => return Err((Refusal::Store(e.to_string()), subject)),
            }
        }
        Ok(verified)
    }

    fn metadata_response<B>(&self, method: &Method) -> Response<AuthBody<B>> {
        if method != Method::GET && method != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            response
                .headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let mut response = Response::new(Either::Left(Full::new(self.body.clone())));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        response
    }

    /// The answer to a refused request, audited.
    fn refuse<B>(
        &self,
        refusal: &Refusal,
        actor: Option<&str>,
        session: Option<&str>,
        endpoint: &str,
        remote: Option<RemoteAddr>,
    ) -> Response<AuthBody<B>> {
        let (status, error, description): (StatusCode, Option<&str>, String) = match refusal {
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                None,
                "no bearer token in the Authorization header".to_owned(),
            ),
            Refusal::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                Some("invalid_request"),
                (*why).to_owned(),
            ),
            Refusal::Token(e) if e.kind().is_unavailable() => {
                (StatusCode::SERVICE_UNAVAILABLE, None, e.to_string())
            }
            Refusal::Token(e) => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                e.to_string(),
            ),
            Refusal::Scope(missing) => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                format!("the token does not grant the scope {}", missing.join(" ")),
            ),
            Refusal::ForeignSession => (
                StatusCode::NOT_FOUND,
                None,
                "the session id belongs to another principal".to_owned(),
            ),
            Refusal::UnknownSession => (
                StatusCode::NOT_FOUND,
                None,
                "the session id is not one this server opened (or it expired)".to_owned(),
            ),
            Refusal::Store(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                format!("the session could not be checked: {e}"),
            ),
        };
        let from = remote.map_or_else(String::new, |RemoteAddr(a)| format!(" (from {a})"));
        // The refusal is the response; the decision is in the audit trail:
        // the first of its kind from this address in a minute in full, the
        // rest counted into the next one audited.
        let address = remote.map(|RemoteAddr(a)| a.ip());
        let reason = format!("HTTP {}: {description}", status.as_u16());
        if let flood::Audit::Record { held } = self.refusals.admit(address, &reason) {
            let more = if held == 0 {
                String::new()
            } else {
                format!(
                    "; and {held} more refusals like it from this address since the last one \
                     audited, counted, not audited one by one"
                )
            };
            let _decision = self.gate.refuse_request(
                &self.server,
                actor,
                session,
                endpoint,
                format!("{reason}{from}{more}"),
            );
        }
        let mut response = plain(status, &description);
        let challenge = match (status, error) {
            (
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST,
                Some(error),
            ) => {
                let scope = match refusal {
                    Refusal::Scope(_) => format!(", scope=\"{}\"", self.scopes.join(" ")),
                    _ => String::new(),
                };
                let base = self
                    .challenge
                    .split_once(", scope=")
                    .map_or(self.challenge.as_str(), |(base, _)| base);
                Some(format!(
                    "{base}{scope}, error=\"{error}\", error_description=\"{}\"",
                    quotable(&description)
                ))
            }
            (StatusCode::UNAUTHORIZED, None) => Some(self.challenge.clone()),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A short plain-text response.
fn plain<B>(status: StatusCode, text: &str) -> Response<AuthBody<B>> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(format!("{text}\n")))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Text fit for a quoted-string of a challenge: printable ASCII without `"` or
/// `\` (RFC 6750 allows no more in `error_description`).
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '\'',
        })
        .collect()
}

/// Whether `scope` is a scope token of RFC 6749 §3.3.
fn is_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The request's one `mcp-session-id`, if it has one: two, or one that is not
/// visible ASCII, is a bad request (which one would the server behind use?).
fn session_id(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let mut values = headers.get_all(SESSION_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::BadRequest(
            "the request has more than one mcp-session-id header",
        ));
    }
    match value.to_str() {
        Ok(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(id.to_owned()))
        }
        _ => Err(Refusal::BadRequest(
            "the mcp-session-id header is not a session id (visible ASCII)",
        )),
    }
}

/// The one bearer token of a request. Tokens in a query string are not looked
/// for (OAuth 2.1 forbids them).
fn bearer(headers: &HeaderMap) -> Result<BearerToken, Refusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::NoToken);
    };
    if values.next().is_some() {
        return Err(Refusal::BadRequest(
            "the request has more than one Authorization header",
        ));
    }
    let Ok(value) = value.to_str() else {
        return Err(Refusal::BadRequest("the Authorization header is not ASCII"));
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Err(if value.trim().eq_ignore_ascii_case("bearer") {
            Refusal::BadRequest("the Authorization header names no token")
        } else {
            Refusal::NoToken
        });
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...) is no bearer token: the bare challenge.
        return Err(Refusal::NoToken);
    }
    let token = token.trim_start();
    // token68 (RFC 6750 §2.1): one run of these characters, `=` only at the end.
    let body = token.trim_end_matches('=');
    let token68 = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !token68 {
        return Err(Refusal::BadRequest(
            "the Authorization header is not `Bearer` and one token",
        ));
    }
    Ok(BearerToken::new(token))
}

/// Where the metadata of `resource` is served: the well-known path with the
/// resource's path appended (RFC 9728 §3.1), as a path and as a URL.
fn metadata_location(resource: &str) -> Result<(String, String), ResourceServerError> {
    let bad = |why| ResourceServerError::Resource {
        resource: resource.to_owned(),
        why,
    };
    let url = url::Url::parse(resource).map_err(|_| bad("it does not parse as a URL"))?;
    if url.fragment().is_some() {
        return Err(bad("it has a fragment"));
    }
    if url.query().is_some() {
        return Err(bad("it has a query"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it carries credentials"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(bad("it has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("it is not https")),
    }
    let path = url.path().trim_end_matches('/');
    let metadata_path = format!("{METADATA_PATH}{path}");
    let mut origin = url.origin().ascii_serialization();
    origin.push_str(&metadata_path);
    Ok((metadata_path, origin))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn metadata_is_served_at_the_path_inserted_well_known_url() {
        let (path, url) = metadata_location("https://mcp.example.com/mcp").unwrap();
        assert_eq!(path, "/.well-known/oauth-protected-resource/mcp");
        assert_eq!(
            url,
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        let (path, url) = metadata_location("https://mcp.example.com").unwrap();
        assert_eq!(path, METADATA_PATH);
        assert_eq!(
            url,
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
        let (_, url) = metadata_location("http://127.0.0.1:8080/a/b/").unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b"
        );
        for bad in [
            "http://mcp.example.com/mcp",
            "https://mcp.example.com/mcp#x",
            "https://mcp.example.com/mcp?x=1",
            "https://u:p@mcp.example.com/mcp",
            "mcp.example.com/mcp",
        ] {
            assert!(metadata_location(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_one_well_formed_bearer_token_is_taken() {
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            bearer(&h)
        };
        assert_eq!(
            with(&["Bearer abc.def-_~+/=="]).ok().unwrap().expose(),
            "abc.def-_~+/=="
        );
        assert_eq!(with(&["bearer   x"]).ok().unwrap().expose(), "x");
        assert!(matches!(with(&[]), Err(Refusal::NoToken)));
        assert!(matches!(with(&["Basic YTpi"]), Err(Refusal::NoToken)));
        assert!(matches!(with(&["Bearer"]), Err(Refusal::BadRequest(_))));
        assert!(matches!(with(&["Bearer a b"]), Err(Refusal::BadRequest(_))));
        assert!(matches!(with(&["Bearer a=b"]), Err(Refusal::BadRequest(_))));
        assert!(matches!(
            with(&["Bearer a", "Bearer b"]),
            Err(Refusal::BadRequest(_))
        ));
    }

    #[test]
    fn a_session_id_is_one_visible_ascii_header() {
        let with = |values: &[&[u8]]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(SESSION_HEADER, HeaderValue::from_bytes(v).unwrap());
            }
            session_id(&h)
        };
        assert_eq!(with(&[]).ok().unwrap(), None);
        assert_eq!(
            with(&[b"abc-123"]).ok().unwrap().as_deref(),
            Some("abc-123")
        );
        assert!(matches!(with(&[b"a", b"b"]), Err(Refusal::BadRequest(_))));
        assert!(matches!(with(&[b"a b"]), Err(Refusal::BadRequest(_))));
        assert!(matches!(with(&[b"caf\xe9"]), Err(Refusal::BadRequest(_))));
        assert!(matches!(with(&[b""]), Err(Refusal::BadRequest(_))));
    }

    #[test]
    fn challenge_text_stays_quotable() {
        assert_eq!(quotable("the \"x\" \\ y\u{e9}"), "the 'x' ' y'");
        assert!(is_scope("mcp:tools.read"));
        assert!(!is_scope("a b"));
        assert!(!is_scope("a\"b"));
        assert!(!is_scope(""));
    }
}
