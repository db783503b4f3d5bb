//! What a bearer token proves once checked, and the trait that checks it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use mcpguard_policy::Principal;

/// A bearer token as it came in the `Authorization` header. Its `Debug` and
/// `Display` never show it; only [`BearerToken::expose`] does, for the verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token's text.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token's text: for checking it, never for a log, an error or an
    /// upstream request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken(<{} bytes, not shown>)", self.0.len())
    }
}

/// What a genuine token says about its bearer: the [`Principal`] the gate
/// decides for (id and groups), the scopes granted, and where it came from. It
/// holds none of the token's text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedToken {
    /// The caller, with the groups the token names.
    pub principal: Principal,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The issuer that vouched for the caller.
    pub issuer: String,
    /// The OAuth client the token was issued to (`client_id` or `azp`), if named.
    pub client_id: Option<String>,
    /// When the token expires, in seconds since the Unix epoch, if it says.
    pub expires_at: Option<u64>,
}

impl VerifiedToken {
    /// A token that vouches for `principal`, issued by `issuer`, with no scopes.
    pub fn new(principal: Principal, issuer: impl Into<String>) -> Self {
        Self {
            principal,
            scopes: Vec::new(),
            issuer: issuer.into(),
            client_id: None,
            expires_at: None,
        }
    }

    /// The same token, granting `scopes`.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenErrorKind {
    /// Not a token of the expected form (not a JWT, bad base64, bad JSON, too long).
    Malformed,
    /// It is not an access token: its `typ` is not `at+jwt` (an ID token of the
    /// same issuer, say).
    Type,
    /// Its algorithm is not one this server accepts (`none`, an HMAC algorithm, or
    /// one the key is not for).
    Algorithm,
    /// It names a key the issuer's key set does not hold.
    UnknownKey,
    /// Its signature does not verify.
    Signature,
    /// It has expired.
    Expired,
    /// It is not valid yet.
    NotYetValid,
    /// Another issuer made it.
    Issuer,
    /// It was minted for another resource.
    Audience,
    /// A claim this server needs is missing or of the wrong type.
    Claims,
    /// The authorization server says it is not active (introspection).
    Inactive,
    /// The keys (or the introspection endpoint) could not be reached: not the
    /// token's fault, and the request is refused all the same.
    Unavailable,
}

impl TokenErrorKind {
    /// Whether the server, not the token, is at fault (answered `503`).
    pub fn is_unavailable(self) -> bool {
        self == Self::Unavailable
    }
}

/// A refused token: the kind, and words a person can act on. Never holds the
/// token or a claim's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    kind: TokenErrorKind,
    message: String,
}

impl TokenError {
    /// A refusal of this kind, said in `message` (which must not quote the token).
    pub fn new(kind: TokenErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Why.
    pub fn kind(&self) -> TokenErrorKind {
        self.kind
    }
}

/// What [`TokenVerifier::verify`] returns.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<VerifiedToken, TokenError>> + Send + 'a>>;

/// Checks a bearer token and says whom it vouches for. The shipped verifier is
/// [`crate::http::JwtVerifier`] (JWT access tokens against the issuer's JWKS);
/// implement this for other schemes, such as RFC 7662 introspection. A verifier
/// must check that the token was minted for this resource (its audience), not
/// only that it is genuine, and must never log or return the token.
pub trait TokenVerifier: Send + Sync + fmt::Debug {
    /// The caller a genuine, current token for this resource vouches for.
    ///
    /// # Errors
    ///
    /// The token is not one to accept ([`TokenErrorKind`] says why), or it could
    /// not be checked ([`TokenErrorKind::Unavailable`]).
    fn verify<'a>(&'a self, token: &'a BearerToken) -> VerifyFuture<'a>;
}
