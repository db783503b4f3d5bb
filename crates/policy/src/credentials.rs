//! Credentials a server holds for the systems its tools reach: resolved only in the
//! tiers the inventory allows, returned as [`Secret`], and redacted everywhere from
//! the moment they are resolved.

use std::fmt;
use std::path::{Path, PathBuf};

use mcpguard_core::{CredentialSource, Tier};
use mcpguard_redact::{Redactor, Secret};

use crate::model::CredentialSources;

/// Why a credential could not be resolved. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialError {
    kind: CredentialErrorKind,
    message: String,
}

/// What went wrong resolving a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialErrorKind {
    /// The server is not in the inventory.
    UnknownServer,
    /// The server has no credential (`credential = "none"`).
    NoCredential,
    /// The server has credentials, but none by this name.
    UnknownCredential,
    /// The inventory does not allow this credential in the gate's tier.
    NotAllowedInTier,
    /// The environment variable is not set, or the file does not exist.
    Missing,
    /// The value could not be read.
    Unreadable,
    /// The value is empty, or too short to be redacted safely.
    Unusable,
    /// This resolver cannot resolve this kind of source.
    Unsupported,
}

impl CredentialError {
    /// An error with a kind and a message (which must not hold the value).
    pub fn new(kind: CredentialErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> CredentialErrorKind {
        self.kind
    }
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CredentialError {}

/// The credentials of an inventory's servers, resolved only in the tiers it
/// allows: the service a [`crate::Gate`] holds ([`crate::Gate::credentials`]).
///
/// A resolved value is registered with the gate's redactor at once, so that
/// from then on it (and its base64, URL-encoded and JSON-escaped forms) is
/// redacted from audit events, logs and tool results.
pub struct Credentials {
    sources: CredentialSources,
    tier: Tier,
    redactor: Redactor,
}

impl Credentials {
    pub(crate) fn new(sources: CredentialSources, tier: Tier, redactor: Redactor) -> Self {
        Self {
            sources,
            tier,
            redactor,
        }
    }

    /// The credentials of `inventory`'s servers in `tier`, registering what
    /// they resolve to with `redactor` (and so with every clone of it): for a
    /// process that must resolve a credential before its gate exists, such as
    /// `mcpguard proxy`, which starts its upstream with them and then builds
    /// the gate with the same redactor.
    pub fn of(inventory: &mcpguard_core::Inventory, tier: Tier, redactor: Redactor) -> Self {
        let sources = inventory
            .servers()
            .iter()
            .map(|s| (s.id.to_string(), s.credentials.clone()))
            .collect();
        Self::new(sources, tier, redactor)
    }

    /// Resolves credential `name` of `server` (`default` for a server written
    /// with the single `credential = ...` form), if the inventory allows it in
    /// the gate's tier, and registers the value with the gate's redactor.
    ///
    /// # Errors
    ///
    /// [`CredentialError`]: an unknown server, no credential, no credential by
    /// that name (naming the ones there are), a tier the inventory does not allow
    /// (naming the credential and the tiers), what the resolver reports, or a
    /// value too short to redact. Never the value.
    pub fn resolve(
        &self,
        server: &str,
        name: &str,
        resolver: &dyn CredentialResolver,
    ) -> Result<Secret<String>, CredentialError> {
        let Some(credentials) = self.sources.get(server) else {
            return Err(CredentialError::new(
                CredentialErrorKind::UnknownServer,
                format!("server `{server}` is not in the inventory"),
            ));
        };
        if credentials.is_empty() {
            return Err(CredentialError::new(
                CredentialErrorKind::NoCredential,
                format!("server `{server}` has no credential"),
            ));
        }
        let Some(credential) = credentials.iter().find(|c| c.name.as_str() == name) else {
            let names: Vec<&str> = credentials.iter().map(|c| c.name.as_str()).collect();
            // The name is the caller's, not the inventory's: shown only when it
            // has the form of one.
            let shown = mcpguard_core::CredentialName::try_from(name)
                .map_or_else(|_| "by that name".to_owned(), |n| format!("`{n}`"));
            return Err(CredentialError::new(
                CredentialErrorKind::UnknownCredential,
                format!(
                    "server `{server}` has no credential {shown}; it has: {}",
                    names.join(", ")
                ),
            ));
        };
        let (name, source) = (&credential.name, &credential.source);
        if !credential.allowed_in(self.tier) {
            let allowed: Vec<String> = credential
                .tiers
                .iter()
                .flatten()
                .map(ToString::to_string)
                .collect();
            return Err(CredentialError::new(
                CredentialErrorKind::NotAllowedInTier,
                format!(
                    "credential `{name}` of server `{server}` ({source}) may not be resolved in the `{}` tier; the inventory allows it in: {}",
                    self.tier,
                    allowed.join(", ")
                ),
            ));
        }
        let secret = resolver.resolve(source)?;
        if secret.expose().is_empty() {
            return Err(CredentialError::new(
                CredentialErrorKind::Unusable,
                format!("credential `{name}` of server `{server}` ({source}) is empty"),
            ));
        }
        self.redactor
            .register_known_secret(&format!("{server}/{name}"), secret.expose())
            .map_err(|_| {
                CredentialError::new(
                    CredentialErrorKind::Unusable,
                    format!(
                        "credential `{name}` of server `{server}` ({source}) is shorter than {} bytes, too short to redact safely",
                        mcpguard_redact::MIN_KNOWN_SECRET_LEN
                    ),
                )
            })?;
        Ok(secret)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("servers", &self.sources.len())
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

/// Turns a credential source into its value. Built in: [`EnvResolver`] and
/// [`FileResolver`]; implement it to plug in a vault client.
pub trait CredentialResolver: Send + Sync + fmt::Debug {
    /// The value of `source`.
    ///
    /// # Errors
    ///
    /// [`CredentialError`]: missing, unreadable, or a source this resolver does not
    /// handle. The message names the source, never the value.
    fn resolve(&self, source: &CredentialSource) -> Result<Secret<String>, CredentialError>;
}

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Resolves `env` sources from the process environment (or from a lookup
/// function, for a snapshot of it).
pub struct EnvResolver {
    lookup: Option<Lookup>,
}

impl EnvResolver {
    /// Reads the process environment.
    pub fn new() -> Self {
        Self { lookup: None }
    }

    /// Reads through `lookup` instead of the process environment.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Some(Box::new(lookup)),
        }
    }
}

impl Default for EnvResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EnvResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvResolver")
            .field("custom_lookup", &self.lookup.is_some())
            .finish()
    }
}

impl CredentialResolver for EnvResolver {
    fn resolve(&self, source: &CredentialSource) -> Result<Secret<String>, CredentialError> {
        let CredentialSource::Env(name) = source else {
            return Err(CredentialError::new(
                CredentialErrorKind::Unsupported,
                format!("the environment resolver cannot resolve {source}"),
            ));
        };
        let value = match &self.lookup {
            Some(f) => f(name),
            None => std::env::var(name).ok(),
        };
        value.map(Secret::new).ok_or_else(|| {
            CredentialError::new(
                CredentialErrorKind::Missing,
                format!("environment variable `{name}` is not set (or not valid UTF-8)"),
            )
        })
    }
}

/// Resolves credentials from mounted files: `file` sources by their path, and
/// `vault` references through mounts (`vault://kv/` → `/vault/secrets/`, as a
/// Vault agent or a Kubernetes secret volume renders them: the rest of the reference
/// is the file's path under the mount, `#field` becoming `/field`). One trailing
/// newline is removed.
#[derive(Debug, Default, Clone)]
pub struct FileResolver {
    mounts: Vec<(String, PathBuf)>,
}

impl FileResolver {
    /// A resolver for `file` sources only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps vault references starting with `prefix` to files under `dir`.
    #[must_use]
    pub fn mount(mut self, prefix: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        self.mounts.push((prefix.into(), dir.into()));
        self
    }

    fn read(path: &Path, what: &str) -> Result<Secret<String>, CredentialError> {
        let bytes = std::fs::read(path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                CredentialErrorKind::Missing
            } else {
                CredentialErrorKind::Unreadable
            };
            CredentialError::new(
                kind,
                format!("{what}: cannot read `{}`: {e}", path.display()),
            )
        })?;
        let mut text = String::from_utf8(bytes).map_err(|_| {
            CredentialError::new(
                CredentialErrorKind::Unreadable,
                format!("{what}: `{}` is not UTF-8 text", path.display()),
            )
        })?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Ok(Secret::new(text))
    }
}

impl CredentialResolver for FileResolver {
    fn resolve(&self, source: &CredentialSource) -> Result<Secret<String>, CredentialError> {
        match source {
            CredentialSource::File(path) => Self::read(Path::new(path), &source.to_string()),
            CredentialSource::Vault(reference) => {
                let (prefix, dir) = self
                    .mounts
                    .iter()
                    .find(|(p, _)| reference.starts_with(p.as_str()))
                    .ok_or_else(|| {
                        CredentialError::new(
                            CredentialErrorKind::Unsupported,
                            format!("no mount for {source}; add one with `FileResolver::mount`"),
                        )
                    })?;
                let rest = reference
                    .get(prefix.len()..)
                    .unwrap_or_default()
                    .replace('#', "/");
                // A reference must not climb out of its mount.
                if rest.split('/').any(|part| part == "..") {
                    return Err(CredentialError::new(
                        CredentialErrorKind::Unsupported,
                        format!("{source} leaves its mount"),
                    ));
                }
                Self::read(&dir.join(rest.trim_start_matches('/')), &source.to_string())
            }
            other => Err(CredentialError::new(
                CredentialErrorKind::Unsupported,
                format!("the file resolver cannot resolve {other}"),
            )),
        }
    }
}
