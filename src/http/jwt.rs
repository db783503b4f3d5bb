//! JWT access tokens checked against the issuer's JSON Web Key Set.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcpguard_policy::Principal;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::token::{
    BearerToken, TokenError, TokenErrorKind, TokenVerifier, VerifiedToken, VerifyFuture,
};

/// The longest token accepted, in bytes: real access tokens are a few KiB; a
/// larger one is refused before it is decoded.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The largest key set read, in bytes.
const MAX_JWKS_LEN: u64 = 1 << 20;

/// The algorithms accepted by default: every asymmetric one. HMAC algorithms
/// are never accepted (see [`JwtConfig::algorithms`]).
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The algorithms an RSA key verifies.
const RSA_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Why a [`JwtVerifier`] could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtConfigError {
    /// An HMAC algorithm was allowed: a resource server that held the shared
    /// secret could mint tokens itself, and an HMAC check against a public key
    /// is the classic key-confusion forgery.
    #[error(
        "{0:?} is an HMAC algorithm: a resource server accepts only asymmetric signatures \
         (RS*, PS*, ES256, ES384, EdDSA)"
    )]
    Hmac(Algorithm),
    /// No algorithm was allowed.
    #[error("the algorithm allowlist is empty: name at least one, such as RS256 or ES256")]
    NoAlgorithm,
    /// The issuer or the audience is empty.
    #[error("the {0} must not be empty")]
    Empty(&'static str),
    /// The key set's location is not usable.
    #[error("the JWKS location `{location}` is not usable: {why}")]
    Location {
        /// Where it was to be read from.
        location: String,
        /// Why not.
        why: String,
    },
    /// The key set could not be read, or held no usable key.
    #[error("the JWKS could not be loaded: {0}")]
    Keys(String),
}

/// Where the issuer's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksSource {
    /// A file holding a JWKS document (read again when a token names a key it
    /// does not hold).
    File(PathBuf),
    /// The issuer's `jwks_uri`: `https://`, or `http://` on a loopback address
    /// (a sidecar, a test). Configuration, never a tool argument: the egress
    /// guard does not apply to it.
    Url(url::Url),
}

impl JwksSource {
    /// A URL when `location` starts with `http://` or `https://`, else a file.
    ///
    /// # Errors
    ///
    /// A URL that does not parse, is neither `https` nor loopback `http`, or
    /// carries credentials.
    pub fn parse(location: &str) -> Result<Self, JwtConfigError> {
        let lower = location.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Ok(Self::File(PathBuf::from(location)));
        }
        let bad = |why: &str| JwtConfigError::Location {
            location: location.to_owned(),
            why: why.to_owned(),
        };
        let url = url::Url::parse(location).map_err(|e| bad(&e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("a key set URL carries no credentials"));
        }
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        match url.scheme() {
            "https" => Ok(Self::Url(url)),
            "http" if loopback => Ok(Self::Url(url)),
            _ => Err(bad(
                "keys are fetched over https (plain http only from a loopback address)",
            )),
        }
    }
}

impl fmt::Display for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Url(url) => write!(f, "{url}"),
        }
    }
}

/// How JWT access tokens are checked.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    issuer: String,
    audience: String,
    jwks: JwksSource,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    subject_claim: String,
    groups_claims: Vec<String>,
    scope_claims: Vec<String>,
    refresh_interval: Duration,
    max_age: Duration,
    remember: Duration,
    untyped: bool,
}

impl JwtConfig {
    /// Tokens from `issuer` (its `iss`, exactly), minted for `audience` (this
    /// server's canonical URI, RFC 8707: a token for another resource is
    /// refused), signed by a key of `jwks`.
    ///
    /// Defaults: the asymmetric algorithms ([`DEFAULT_ALGORITHMS`]); 30 s of
    /// leeway on `exp` and `nbf`; the principal from `sub`, groups from `groups`
    /// then `roles`, scopes from `scope` (space-separated) then `scp`; the keys
    /// read again on an unknown `kid` at most once a minute, and after an hour.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, jwks: JwksSource) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            leeway: Duration::from_secs(30),
            subject_claim: "sub".to_owned(),
            groups_claims: vec!["groups".to_owned(), "roles".to_owned()],
            scope_claims: vec!["scope".to_owned(), "scp".to_owned()],
            refresh_interval: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            remember: Duration::from_secs(60),
            untyped: false,
        }
    }

    /// Also accept tokens whose header has no `typ`, or the generic `JWT`
    /// (default no). RFC 9068 has a resource server refuse a JWT that does not
    /// say it is an access token (`typ: at+jwt`), so that another JWT of the
    /// same issuer — an ID token, a logout token — is not taken for one. Turn this
    /// on only for an issuer that does not set `typ`; the audience check still
    /// refuses an ID token minted for a client rather than this resource. A
    /// token that names another type is refused either way.
    #[must_use]
    pub fn accept_untyped(mut self, yes: bool) -> Self {
        self.untyped = yes;
        self
    }

    /// How long a token found genuine is remembered (default a minute; zero:
    /// never), so that a client's next requests with the same token skip the
    /// signature check. Remembered by a SHA-256 digest of the token, never the
    /// token; never past its `exp` (with the leeway); at most 10,000 tokens. A
    /// key withdrawn from the set stops verifying tokens when the set is read
    /// again ([`JwtConfig::max_age`], or a token naming an unknown key), and a
    /// token remembered before then stays accepted for this long at most.
    #[must_use]
    pub fn remember_verified(mut self, duration: Duration) -> Self {
        self.remember = duration;
        self
    }

    /// The algorithms a token may be signed with (never an HMAC one: building
    /// the verifier refuses them).
    #[must_use]
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// The clock skew forgiven on `exp` and `nbf` (default 30 s, at most 5 min).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(Duration::from_secs(300));
        self
    }

    /// The claim naming the principal (default `sub`).
    #[must_use]
    pub fn subject_claim(mut self, claim: impl Into<String>) -> Self {
        self.subject_claim = claim.into();
        self
    }

    /// The claims holding the principal's groups, the first present one read
    /// (default `groups`, then `roles`).
    #[must_use]
    pub fn groups_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// The claims holding the scopes, the first present one read (default
    /// `scope`, then `scp`).
    #[must_use]
    pub fn scope_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scope_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// The least time between two reads of the key set prompted by unknown key
    /// ids (default one minute): a flood of tokens naming made-up keys costs one
    /// read per interval.
    #[must_use]
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// How long the keys are used before they are read again (default an hour).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }
}

/// Whether a header's `typ` says the token is an access token: `at+jwt` (or
/// its media type `application/at+jwt`), case-insensitively; when `untyped`
/// tokens are accepted, also none or `JWT`.
fn typ_accepted(typ: Option<&str>, untyped: bool) -> bool {
    let Some(typ) = typ else {
        return untyped;
    };
    let typ = typ.trim();
    let bare = typ
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .and_then(|_| typ.get(12..))
        .unwrap_or(typ);
    bare.eq_ignore_ascii_case("at+jwt") || (untyped && bare.eq_ignore_ascii_case("jwt"))
}

/// One usable key of the set.
struct Key {
    id: Option<String>,
    /// The algorithms this key may verify: its family's, narrowed by its `alg`
    /// and its curve.
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

/// The keys, and when they were read.
struct KeySet {
    keys: Vec<Key>,
    read_at: Instant,
}

/// The verifier that ships: JWT access tokens (RFC 9068) checked against the
/// issuer's keys. Refuses `alg: none`, HMAC algorithms, a key the set does not
/// hold (a token's own `jwk`, `jku` or `x5u` is never trusted), a key of another
/// family or curve than the algorithm's, another issuer, another audience, and
/// a token past `exp` or before `nbf` (beyond the leeway). A token without
/// `exp`, `iss`, `aud` or the subject claim is refused too.
pub struct JwtVerifier {
    config: JwtConfig,
    validation: Validation,
    keys: RwLock<Arc<KeySet>>,
    /// When the key set was last read (or tried), to space out re-reads.
    last_read: Mutex<Instant>,
    /// One re-read at a time.
    reading: tokio::sync::Mutex<()>,
    /// Tokens found genuine: by digest, with when they were checked.
    verified: Mutex<HashMap<[u8; 32], (VerifiedToken, Instant)>>,
}

/// The most tokens remembered as verified.
const REMEMBERED: usize = 10_000;

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys.read().map_or(0, |k| k.keys.len());
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.config.issuer)
            .field("audience", &self.config.audience)
            .field("jwks", &self.config.jwks)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier with the keys read now (a URL is fetched: call this from a
    /// tokio runtime), so that a wrong location fails at start-up.
    ///
    /// # Errors
    ///
    /// An HMAC or no algorithm, an empty issuer or audience, or a key set that
    /// cannot be read or holds no usable key.
    pub async fn load(config: JwtConfig) -> Result<Self, JwtConfigError> {
        if config.algorithms.is_empty() {
            return Err(JwtConfigError::NoAlgorithm);
        }
        if let Some(hmac) = config.algorithms.iter().find(|a| is_hmac(**a)) {
            return Err(JwtConfigError::Hmac(*hmac));
        }
        if config.issuer.is_empty() {
            return Err(JwtConfigError::Empty("issuer"));
        }
        if config.audience.is_empty() {
            return Err(JwtConfigError::Empty("audience"));
        }
        let keys = read_keys(config.jwks.clone())
            .await
            .map_err(JwtConfigError::Keys)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.leeway = config.leeway.as_secs();
        Ok(Self {
            config,
            validation,
            keys: RwLock::new(Arc::new(keys)),
            last_read: Mutex::new(Instant::now()),
            reading: tokio::sync::Mutex::new(()),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    fn current(&self) -> Arc<KeySet> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&keys)
    }

    /// Reads the key set again if the last read is older than `spacing`;
    /// keeps the keys it has when the read fails.
    async fn reread(&self, spacing: Duration) {
        let _one = self.reading.lock().await;
        {
            let mut last = self
                .last_read
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.elapsed() < spacing {
                return;
            }
            *last = Instant::now();
        }
        match read_keys(self.config.jwks.clone()).await {
            Ok(keys) => {
                *self
                    .keys
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
            }
            Err(why) => tracing::warn!(
                target: "mcpguard::http",
                jwks = %self.config.jwks,
                %why,
                "the JWKS could not be read again; the keys read before stay in use"
            ),
        }
    }

    /// A remembered verification of this token, if it is still current.
    fn remembered(&self, digest: &[u8; 32]) -> Option<VerifiedToken> {
        let now = unix_now();
        let mut verified = self.verified.lock().ok()?;
        let (token, at) = verified.get(digest)?;
        let current = at.elapsed() < self.config.remember
            && token
                .expires_at
                .is_some_and(|exp| now < exp.saturating_add(self.config.leeway.as_secs()));
        if current {
            return Some(token.clone());
        }
        verified.remove(digest);
        None
    }

    fn remember(&self, digest: [u8; 32], token: &VerifiedToken) {
        if self.config.remember.is_zero() {
            return;
        }
        let Ok(mut verified) = self.verified.lock() else {
            return;
        };
        if verified.len() >= REMEMBERED {
            let remember = self.config.remember;
            verified.retain(|_, (_, at)| at.elapsed() < remember);
            if verified.len() >= REMEMBERED {
                verified.clear();
            }
        }
        verified.insert(digest, (token.clone(), Instant::now()));
    }

    async fn check(&self, token: &BearerToken) -> Result<VerifiedToken, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
        if let Some(known) = self.remembered(&digest) {
            return Ok(known);
        }
        let verified = self.check_signed(token).await?;
        self.remember(digest, &verified);
        Ok(verified)
    }

    async fn check_signed(&self, token: &BearerToken) -> Result<VerifiedToken, TokenError> {
        let text = token.expose();
        if text.len() > MAX_TOKEN_LEN {
            return Err(TokenError::new(
                TokenErrorKind::Malformed,
                format!("the token is longer than {MAX_TOKEN_LEN} bytes"),
            ));
        }
        let header = jsonwebtoken::decode_header(text).map_err(|_| {
            TokenError::new(
                TokenErrorKind::Malformed,
                "the token is not a signed JWT with an accepted algorithm \
                 (three base64url parts; `alg: none` is never accepted)",
            )
        })?;
        let alg = header.alg;
        if is_hmac(alg) || !self.config.algorithms.contains(&alg) {
            return Err(TokenError::new(
                TokenErrorKind::Algorithm,
                format!("the token is signed with {alg:?}, which this server does not accept"),
            ));
        }
        if !typ_accepted(header.typ.as_deref(), self.config.untyped) {
            return Err(TokenError::new(
                TokenErrorKind::Type,
                "the token is not an access token: its header's `typ` is not `at+jwt` (RFC \
                 9068), as an ID token's is not; an issuer that sets no `typ` needs \
                 `JwtConfig::accept_untyped` (`--accept-untyped-jwt`)",
            ));
        }
        let kid = header.kid.as_deref();
        if self.current().read_at.elapsed() >= self.config.max_age {
            self.reread(self.config.refresh_interval).await;
        }
        let mut keys = self.current();
        if !holds(&keys, kid, alg) {
            self.reread(self.config.refresh_interval).await;
            keys = self.current();
        }
        let candidates: Vec<&Key> = keys
            .keys
            .iter()
            .filter(|k| kid.is_none_or(|kid| k.id.as_deref() == Some(kid)))
            .collect();
        if candidates.is_empty() {
            return Err(TokenError::new(
                TokenErrorKind::UnknownKey,
                "the token names a key the issuer's key set does not hold",
            ));
        }
        let usable: Vec<&Key> = candidates
            .into_iter()
            .filter(|k| k.algorithms.contains(&alg))
            .collect();
        if usable.is_empty() {
            return Err(TokenError::new(
                TokenErrorKind::Algorithm,
                format!("the token's key is not one for {alg:?}"),
            ));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let mut last = None;
        for key in usable {
            match jsonwebtoken::decode::<Map<String, Value>>(text, &key.key, &validation) {
                Ok(data) => return self.verified(&data.claims),
                Err(e) => {
                    let error = refusal(e.kind());
                    // Only a bad signature is worth trying the next key for.
                    if error.kind() != TokenErrorKind::Signature {
                        return Err(error);
                    }
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            TokenError::new(
                TokenErrorKind::Signature,
                "the token's signature does not verify",
            )
        }))
    }

    /// The verified caller named by genuine claims.
    fn verified(&self, claims: &Map<String, Value>) -> Result<VerifiedToken, TokenError> {
        let subject = claims
            .get(&self.config.subject_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                TokenError::new(
                    TokenErrorKind::Claims,
                    format!(
                        "the token has no `{}` claim naming its bearer",
                        self.config.subject_claim
                    ),
                )
            })?;
        let mut principal = Principal::new(subject);
        let mut seen = HashSet::new();
        for group in first_words(claims, &self.config.groups_claims) {
            if seen.insert(group.clone()) {
                principal = principal.in_group(group);
            }
        }
        let mut token = VerifiedToken::new(principal, self.config.issuer.clone())
            .with_scopes(first_words(claims, &self.config.scope_claims));
        token.client_id = ["client_id", "azp"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str))
            .map(ToOwned::to_owned);
        token.expires_at = claims.get("exp").and_then(Value::as_u64);
        Ok(token)
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> VerifyFuture<'a> {
        Box::pin(self.check(token))
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Whether the set holds a key the token could be checked with.
fn holds(keys: &KeySet, kid: Option<&str>, alg: Algorithm) -> bool {
    keys.keys
        .iter()
        .any(|k| kid.is_none_or(|kid| k.id.as_deref() == Some(kid)) && k.algorithms.contains(&alg))
}

/// The words of the first of `names` the claims hold: a space-separated string
/// (OAuth's `scope`) or an array of strings (`scp`, `groups`, `roles`).
fn first_words(claims: &Map<String, Value>, names: &[String]) -> Vec<String> {
    let Some(value) = names.iter().find_map(|n| claims.get(n)) else {
        return Vec::new();
    };
    match value {
        Value::String(s) => s.split_whitespace().map(ToOwned::to_owned).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(ToOwned::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A refusal in this crate's words (never the library's text, which may quote
/// a claim).
fn refusal(kind: &ErrorKind) -> TokenError {
    let (kind, message) = match kind {
        ErrorKind::InvalidSignature => (
            TokenErrorKind::Signature,
            "the token's signature does not verify with the issuer's key".to_owned(),
        ),
        ErrorKind::ExpiredSignature => {
            (TokenErrorKind::Expired, "the token has expired".to_owned())
        }
        ErrorKind::ImmatureSignature => (
            TokenErrorKind::NotYetValid,
            "the token is not valid yet (`nbf` is in the future)".to_owned(),
        ),
        ErrorKind::InvalidIssuer => (
            TokenErrorKind::Issuer,
            "the token was issued by another issuer".to_owned(),
        ),
        ErrorKind::InvalidAudience => (
            TokenErrorKind::Audience,
            "the token was minted for another resource (its `aud` is not this server)".to_owned(),
        ),
        ErrorKind::MissingRequiredClaim(claim) => (
            TokenErrorKind::Claims,
            format!("the token has no `{}` claim", claim_name(claim)),
        ),
        ErrorKind::InvalidClaimFormat(claim) => (
            TokenErrorKind::Claims,
            format!(
                "the token's `{}` claim has the wrong type",
                claim_name(claim)
            ),
        ),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => (
            TokenErrorKind::Algorithm,
            "the token's algorithm is not one its key is for".to_owned(),
        ),
        _ => (
            TokenErrorKind::Malformed,
            "the token could not be decoded (its parts are not valid base64url JSON)".to_owned(),
        ),
    };
    TokenError::new(kind, message)
}

/// A registered claim's name as the library reports it, or `a required` when it
/// is something else (the library only reports its own names).
fn claim_name(claim: &str) -> &str {
    match claim {
        "exp" | "nbf" | "iss" | "aud" | "sub" => claim,
        _ => "required",
    }
}

/// Reads and parses the key set.
async fn read_keys(source: JwksSource) -> Result<KeySet, String> {
    let text = match source {
        JwksSource::File(path) => tokio::task::spawn_blocking(move || {
            let file =
                std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(file, MAX_JWKS_LEN + 1),
                &mut text,
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok::<_, String>(text)
        })
        .await
        .map_err(|e| format!("the read did not finish: {e}"))??,
        JwksSource::Url(url) => tokio::task::spawn_blocking(move || fetch(&url))
            .await
            .map_err(|e| format!("the fetch did not finish: {e}"))??,
    };
    if text.len() as u64 > MAX_JWKS_LEN {
        return Err(format!("the key set is larger than {MAX_JWKS_LEN} bytes"));
    }
    parse_keys(&text)
}

/// A JWKS over HTTP(S): no redirects (a redirect could lead the fetch anywhere),
/// 5 s at most, 1 MiB at most.
fn fetch(url: &url::Url) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut response = agent
        .get(url.as_str())
        .header("Accept", "application/json")
        .call()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}"));
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_LEN)
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))
}

/// The usable keys of a JWKS document. A symmetric (`oct`) key, an encryption
/// key, a key of an unknown type or curve is skipped; a set left empty is an
/// error.
fn parse_keys(text: &str) -> Result<KeySet, String> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| format!("the key set is not JSON: {e}"))?;
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the key set has no `keys` array")?;
    let mut keys = Vec::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        if let Some(key) = usable_key(&jwk) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "none of its {} keys is an asymmetric signing key this server can use \
             (RSA, EC P-256/P-384 or Ed25519)",
            entries.len()
        ));
    }
    Ok(KeySet {
        keys,
        read_at: Instant::now(),
    })
}

fn usable_key(jwk: &Jwk) -> Option<Key> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let family: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGORITHMS,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        // Symmetric keys are never usable: see `JwtConfigError::Hmac`.
        _ => return None,
    };
    let algorithms: Vec<Algorithm> = match jwk.common.key_algorithm {
        None => family.to_vec(),
        Some(named) => family
            .iter()
            .copied()
            .filter(|a| key_algorithm(*a) == Some(named))
            .collect(),
    };
    if algorithms.is_empty() {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        id: jwk.common.key_id.clone(),
        algorithms,
        key,
    })
}

fn key_algorithm(alg: Algorithm) -> Option<KeyAlgorithm> {
    Some(match alg {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::RS384 => KeyAlgorithm::RS384,
        Algorithm::RS512 => KeyAlgorithm::RS512,
        Algorithm::PS256 => KeyAlgorithm::PS256,
        Algorithm::PS384 => KeyAlgorithm::PS384,
        Algorithm::PS512 => KeyAlgorithm::PS512,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        Algorithm::ES384 => KeyAlgorithm::ES384,
        Algorithm::EdDSA => KeyAlgorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn only_access_tokens_unless_untyped_ones_are_accepted() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+jwt",
        ] {
            assert!(typ_accepted(Some(typ), false), "{typ}");
            assert!(typ_accepted(Some(typ), true), "{typ}");
        }
        // An ID token (`JWT`, or none) only when untyped tokens are accepted.
        for typ in [None, Some("JWT"), Some("jwt"), Some("application/jwt")] {
            assert!(!typ_accepted(typ, false), "{typ:?}");
            assert!(typ_accepted(typ, true), "{typ:?}");
        }
        // Another type never.
        for typ in [
            "id_token+jwt",
            "logout+jwt",
            "at+jwt2",
            "application/",
            "",
            "secevent+jwt",
        ] {
            assert!(!typ_accepted(Some(typ), false), "{typ}");
            assert!(!typ_accepted(Some(typ), true), "{typ}");
        }
    }

    #[test]
    fn symmetric_and_encryption_keys_are_never_used() {
        let set = r#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0","kid":"h"},
            {"kty":"EC","crv":"P-256","use":"enc","kid":"e",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let e = parse_keys(set).err().unwrap();
        assert!(e.contains("none of its 2 keys"), "{e}");
    }

    #[test]
    fn a_key_narrowed_by_its_alg_and_curve() {
        let set = r#"{"keys":[
            {"kty":"EC","crv":"P-256","alg":"ES256","kid":"a",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"EC","crv":"P-256","alg":"ES384","kid":"b",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"not":"a key"}]}"#;
        let keys = parse_keys(set).unwrap();
        assert_eq!(keys.keys.len(), 1);
        assert_eq!(keys.keys[0].algorithms, vec![Algorithm::ES256]);
        assert!(holds(&keys, Some("a"), Algorithm::ES256));
        assert!(!holds(&keys, Some("a"), Algorithm::RS256));
        assert!(!holds(&keys, Some("b"), Algorithm::ES256));
    }

    #[test]
    fn key_set_locations() {
        assert!(matches!(
            JwksSource::parse("keys/jwks.json").unwrap(),
            JwksSource::File(_)
        ));
        assert!(JwksSource::parse("https://id.example.com/.well-known/jwks.json").is_ok());
        assert!(JwksSource::parse("http://127.0.0.1:8080/jwks").is_ok());
        assert!(JwksSource::parse("http://[::1]/jwks").is_ok());
        for bad in [
            "http://id.example.com/jwks",
            "http://10.0.0.1/jwks",
            "https://user:pw@id.example.com/jwks",
            "https://",
        ] {
            assert!(JwksSource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_and_groups_read_as_words() {
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"scope":"mcp:read  mcp:write","scp":["x"],"roles":["ops",""],"n":3}"#,
        )
        .unwrap();
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            first_words(&claims, &names(&["scope", "scp"])),
            ["mcp:read", "mcp:write"]
        );
        assert_eq!(first_words(&claims, &names(&["groups", "roles"])), ["ops"]);
        assert!(first_words(&claims, &names(&["n"])).is_empty());
        assert!(first_words(&claims, &names(&["absent"])).is_empty());
    }
}
