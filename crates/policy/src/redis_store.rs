//! Session and approval state on Redis, shared by every replica of a server.
//!
//! - Keys are namespaced per deployment (`<namespace>:session:<digest>`,
//!   `<namespace>:grant:<id>`) and every key expires.
//! - A session's key is a digest of the verified principal *and* the session
//!   handle: a session id used by another principal names another session.
//! - Taint is monotone: `merge` only ever sets flags (`HSET ... 1`), in one
//!   `MULTI`/`EXEC` with the expiry; nothing clears a flag before the key expires,
//!   and a session in use keeps pushing its expiry out.
//! - A transport session handle is bound to the principal that first presented
//!   it with `SET NX` (`<namespace>:owner:<digest>`), kept as long as session
//!   state is; a later `GET` tells every replica who owns it.
//! - A four-eyes review is `<namespace>:review:<id>` (JSON, expiring with the
//!   review) with an index `<namespace>:review-for:<digest>` taken with `SET NX`,
//!   so one call has one review; it is taken once with `GETDEL`.
//! - A grant is spent with `GETDEL`: one atomic command, so of any number of
//!   replicas racing on one grant, exactly one gets it.
//! - Fail closed: every command has a time limit; an unreachable, slow or
//!   erroring Redis is a [`StoreError`], which the gate turns into a Deny. Nothing
//!   is cached locally.
//!
//! The traits are synchronous, so these stores use Redis's blocking client over a
//! small pool of connections; in an async server each call blocks its worker for
//! one round trip at most (bounded by the command timeout).

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{Client, Connection, RedisError};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::state::{ApprovalGrant, ApprovalStore, Review, SessionKey, SessionState, SessionStore};

/// The environment variable [`RedisConfig::from_env`] reads by default.
pub const REDIS_URL_VAR: &str = "MCPGUARD_REDIS_URL";

/// Where and how to reach Redis.
///
/// The URL takes the forms of the `redis` crate: `redis://host:6379/0`,
/// `redis://user:password@host:6379` (ACL user) or `redis://:password@host`
/// (`requirepass`), `rediss://...` with the `redis-tls` feature, and
/// `redis+unix:///path/to/socket`. It is kept only inside the client and never
/// shown: `Debug` and every error leave it out, because it may hold a password.
#[derive(Clone)]
pub struct RedisConfig {
    client: Client,
    namespace: String,
    timeout: Duration,
    session_ttl: Duration,
    pool: usize,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("session_ttl", &self.session_ttl)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// A Redis error in words that hold no secret: its kind and category, never the
/// server's text (which may quote a command's arguments).
fn describe(what: &str, e: &RedisError) -> StoreError {
    let why = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connection_refusal() {
        "connection refused".to_owned()
    } else if e.is_connection_dropped() || e.is_io_error() {
        "connection lost".to_owned()
    } else {
        format!("{:?} ({})", e.kind(), e.category())
    };
    StoreError::new(format!("redis: {what}: {why}"))
}

impl RedisConfig {
    /// Settings for the Redis at `url`, with keys under `namespace` (one per
    /// deployment: replicas of one server share it, other servers must not).
    /// Defaults: 250 ms per command, sessions kept 24 hours after their last use,
    /// four pooled connections.
    ///
    /// # Errors
    ///
    /// The URL is not one the client understands (the error does not repeat it),
    /// or the namespace is empty or holds whitespace or `:`.
    pub fn new(url: &str, namespace: impl Into<String>) -> Result<Self, StoreError> {
        let namespace = namespace.into();
        if namespace.is_empty() || namespace.contains(|c: char| c == ':' || c.is_whitespace()) {
            return Err(StoreError::new(
                "a Redis namespace is a non-empty name without `:` or spaces, such as `payments-mcp`",
            ));
        }
        let client = Client::open(url).map_err(|e| {
            StoreError::new(format!(
                "the Redis URL is not valid ({:?}); expected redis://[user:password@]host[:port][/db], \
                 rediss://... or redis+unix:///path",
                e.kind()
            ))
        })?;
        Ok(Self {
            client,
            namespace,
            timeout: Duration::from_millis(250),
            session_ttl: Duration::from_secs(24 * 3600),
            pool: 4,
        })
    }

    /// Settings from the URL in the environment variable `var` (for example
    /// [`REDIS_URL_VAR`]).
    ///
    /// # Errors
    ///
    /// The variable is unset or not Unicode, or as [`RedisConfig::new`].
    pub fn from_env(var: &str, namespace: impl Into<String>) -> Result<Self, StoreError> {
        let url = std::env::var(var).map_err(|_| {
            StoreError::new(format!(
                "set {var} to the Redis URL (redis://[user:password@]host[:port][/db])"
            ))
        })?;
        Self::new(&url, namespace)
    }

    /// The time limit of connecting and of each command; past it the call is
    /// denied (default 250 ms).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a session's state outlives its last use (default 24 hours): the
    /// end of a session, after which its taint is forgotten.
    #[must_use]
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How many connections each store keeps open (default 4).
    #[must_use]
    pub fn pool(mut self, connections: usize) -> Self {
        self.pool = connections.max(1);
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

/// A few blocking connections, opened on demand; one that fails is dropped.
struct Pool {
    config: RedisConfig,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    fn new(config: RedisConfig) -> Self {
        Self {
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn run<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match pooled {
            Some(conn) => conn,
            None => {
                let timeout = self.config.timeout;
                let conn = self
                    .config
                    .client
                    .get_connection_with_timeout(timeout)
                    .map_err(|e| describe("connecting", &e))?;
                conn.set_read_timeout(Some(timeout))
                    .and_then(|()| conn.set_write_timeout(Some(timeout)))
                    .map_err(|e| describe("connecting", &e))?;
                conn
            }
        };
        let result = f(&mut conn).map_err(|e| describe(what, &e))?;
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.config.pool
        {
            idle.push(conn);
        }
        Ok(result)
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.config.namespace)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", |c| redis::cmd("PING").query::<String>(c))
            .map(drop)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Session state on Redis (see the module docs).
#[derive(Debug)]
pub struct RedisSessionStore {
    pool: Pool,
}

impl RedisSessionStore {
    /// A store on the Redis of `config`. Connects on first use.
    pub fn new(config: RedisConfig) -> Self {
        Self {
            pool: Pool::new(config),
        }
    }

    /// Asks Redis for a `PONG`, to fail at start-up rather than on the first call.
    ///
    /// # Errors
    ///
    /// Redis is unreachable, refuses the credentials, or does not answer in time.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.pool.ping()
    }

    /// The key of a session: a digest of principal and handle, so neither can
    /// forge the other's key with a separator.
    fn key(&self, key: &SessionKey) -> String {
        let mut h = Sha256::new();
        h.update((key.principal.len() as u64).to_le_bytes());
        h.update(key.principal.as_bytes());
        h.update(key.session.as_bytes());
        let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.pool.key("session", &digest)
    }

    /// The key of a transport session handle's owner.
    fn owner_key(&self, handle: &str) -> String {
        let digest: String = Sha256::digest(handle.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.pool.key("owner", &digest)
    }

    fn ttl_secs(&self) -> i64 {
        i64::try_from(self.pool.config.session_ttl.as_secs()).unwrap_or(i64::MAX)
    }
}

impl SessionStore for RedisSessionStore {
    fn load(&self, key: &SessionKey) -> Result<SessionState, StoreError> {
        let k = self.key(key);
        let ttl = self.ttl_secs();
        let (flags,): ((Option<String>, Option<String>),) =
            self.pool.run("reading a session", |c| {
                // A session in use keeps its state: reading pushes the expiry out
                // (EXPIRE on a missing key does nothing).
                redis::pipe()
                    .cmd("HMGET")
                    .arg(&k)
                    .arg("tainted")
                    .arg("private_data")
                    .cmd("EXPIRE")
                    .arg(&k)
                    .arg(ttl)
                    .ignore()
                    .query(c)
            })?;
        let set = |v: &Option<String>| v.as_deref() == Some("1");
        Ok(SessionState::with(set(&flags.0), set(&flags.1)))
    }

    fn merge(&self, key: &SessionKey, flags: SessionState) -> Result<(), StoreError> {
        if !flags.tainted && !flags.private_data {
            return Ok(());
        }
        let k = self.key(key);
        let ttl = self.ttl_secs();
        self.pool.run("recording a session", |c| {
            let mut pipe = redis::pipe();
            pipe.atomic().cmd("HSET").arg(&k);
            if flags.tainted {
                pipe.arg("tainted").arg("1");
            }
            if flags.private_data {
                pipe.arg("private_data").arg("1");
            }
            pipe.ignore()
                .cmd("EXPIRE")
                .arg(&k)
                .arg(ttl)
                .ignore()
                .query::<()>(c)
        })
    }

    fn claim(&self, handle: &str, principal: &str) -> Result<bool, StoreError> {
        let k = self.owner_key(handle);
        let ttl = self.ttl_secs();
        let (set, owner): (Option<String>, Option<String>) =
            self.pool.run("binding a session", |c| {
                // Claim if free; either way read back who holds it and push the
                // expiry out, in one round trip.
                redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(&k)
                    .arg(principal)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl)
                    .cmd("GET")
                    .arg(&k)
                    .cmd("EXPIRE")
                    .arg(&k)
                    .arg(ttl)
                    .ignore()
                    .query(c)
            })?;
        drop(set);
        Ok(owner.as_deref() == Some(principal))
    }

    fn owner(&self, handle: &str) -> Result<Option<String>, StoreError> {
        let k = self.owner_key(handle);
        let ttl = self.ttl_secs();
        let (owner,): (Option<String>,) = self.pool.run("reading a session's owner", |c| {
            redis::pipe()
                .cmd("GET")
                .arg(&k)
                .cmd("EXPIRE")
                .arg(&k)
                .arg(ttl)
                .ignore()
                .query(c)
        })?;
        Ok(owner)
    }
}

/// Issued approvals on Redis (see the module docs).
#[derive(Debug)]
pub struct RedisApprovalStore {
    pool: Pool,
}

impl RedisApprovalStore {
    /// A store on the Redis of `config`. Connects on first use.
    pub fn new(config: RedisConfig) -> Self {
        Self {
            pool: Pool::new(config),
        }
    }

    /// Asks Redis for a `PONG`, to fail at start-up rather than on the first call.
    ///
    /// # Errors
    ///
    /// Redis is unreachable, refuses the credentials, or does not answer in time.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.pool.ping()
    }
}

impl ApprovalStore for RedisApprovalStore {
    fn insert(&self, grant: &ApprovalGrant) -> Result<(), StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // The key lives as long as the grant (a second at least: an expired grant
        // is refused by the gate anyway).
        let ttl = grant.expires_at().saturating_sub(now).max(1);
        let value = serde_json::to_string(grant)
            .map_err(|_| StoreError::new("an approval could not be encoded"))?;
        let key = self.pool.key("grant", grant.id());
        let stored: Option<String> = self.pool.run("recording an approval", |c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .arg("NX")
                .arg("EX")
                .arg(ttl)
                .query(c)
        })?;
        match stored {
            Some(_) => Ok(()),
            None => Err(StoreError::new(
                "an approval with this id is already recorded; it was not replaced",
            )),
        }
    }

    fn take(&self, id: &str) -> Result<Option<ApprovalGrant>, StoreError> {
        let key = self.pool.key("grant", id);
        let value: Option<String> = self.pool.run("spending an approval", |c| {
            redis::cmd("GETDEL").arg(&key).query(c)
        })?;
        value
            .map(|v| {
                serde_json::from_str(&v)
                    .map_err(|_| StoreError::new("a stored approval could not be read back"))
            })
            .transpose()
    }

    fn put_review(&self, review: &Review, replace: bool) -> Result<bool, StoreError> {
        let value = serde_json::to_string(review)
            .map_err(|_| StoreError::new("a review could not be encoded"))?;
        let key = self.pool.key("review", review.id());
        if replace {
            let set: Option<String> = self.pool.run("recording a review", |c| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .arg("XX")
                    .arg("KEEPTTL")
                    .query(c)
            })?;
            return Ok(set.is_some());
        }
        let ttl = review.expires_at().saturating_sub(now()).max(1);
        let index = self.pool.key("review-for", review.digest());
        // The review first, then the call's index to it: a failure between the
        // two leaves at most an unindexed review, which expires, never an index
        // to nothing, which would keep the call from opening one.
        self.pool.run("recording a review", |c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .arg("EX")
                .arg(ttl)
                .query::<()>(c)
        })?;
        let claimed: Option<String> = self.pool.run("recording a review", |c| {
            redis::cmd("SET")
                .arg(&index)
                .arg(review.id())
                .arg("NX")
                .arg("EX")
                .arg(ttl)
                .query(c)
        })?;
        if claimed.is_none() {
            // Another replica indexed its review of this call first.
            self.pool.run("recording a review", |c| {
                redis::cmd("DEL").arg(&key).query::<()>(c)
            })?;
            return Ok(false);
        }
        Ok(true)
    }

    fn review(&self, id: &str) -> Result<Option<Review>, StoreError> {
        let key = self.pool.key("review", id);
        let value: Option<String> = self
            .pool
            .run("reading a review", |c| redis::cmd("GET").arg(&key).query(c))?;
        value.as_deref().map(decode_review).transpose()
    }

    fn review_for(&self, digest: &str) -> Result<Option<Review>, StoreError> {
        let index = self.pool.key("review-for", digest);
        let id: Option<String> = self.pool.run("reading a review", |c| {
            redis::cmd("GET").arg(&index).query(c)
        })?;
        match id {
            Some(id) => self.review(&id),
            None => Ok(None),
        }
    }

    fn reviews(&self) -> Result<Vec<Review>, StoreError> {
        let pattern = self.pool.key("review", "*");
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        // SCAN in pages; a bounded number of pages, so a huge keyspace cannot
        // hold a reviewer's command forever.
        for _ in 0..10_000 {
            let (next, page): (u64, Vec<String>) = self.pool.run("listing reviews", |c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query(c)
            })?;
            keys.extend(page);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut reviews = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(200) {
            let values: Vec<Option<String>> = self.pool.run("listing reviews", |c| {
                redis::cmd("MGET").arg(chunk).query(c)
            })?;
            for value in values.into_iter().flatten() {
                reviews.push(decode_review(&value)?);
            }
        }
        Ok(reviews)
    }

    fn take_review(&self, id: &str) -> Result<Option<Review>, StoreError> {
        let key = self.pool.key("review", id);
        let value: Option<String> = self.pool.run("taking a review", |c| {
            redis::cmd("GETDEL").arg(&key).query(c)
        })?;
        let Some(review) = value.as_deref().map(decode_review).transpose()? else {
            return Ok(None);
        };
        let index = self.pool.key("review-for", review.digest());
        self.pool.run("taking a review", |c| {
            redis::cmd("DEL").arg(&index).query::<()>(c)
        })?;
        Ok(Some(review))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn decode_review(text: &str) -> Result<Review, StoreError> {
    serde_json::from_str(text)
        .map_err(|_| StoreError::new("a stored review could not be read back"))
}
