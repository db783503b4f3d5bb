//! The keyed audit chain: JSON lines, each carrying an HMAC-SHA-256 over its
//! content, its position and the MAC of the line before it.
//!
//! # What a keyed chain proves
//!
//! Without the key nobody can write a line that verifies: an edited, inserted,
//! removed or reordered line breaks the chain at that line, and re-computing the
//! MACs after deleting lines is not possible without the key (a plain hash chain
//! could be re-hashed by anyone). Each line names the key's id, so a log written
//! with another key is told apart from a tampered one.
//!
//! It does **not** prove:
//! - that the tail is all there: cutting lines off the end leaves a shorter chain
//!   that verifies. Publish the head (line count and last MAC, sealed with the key
//!   so that nobody without it can write one) to a second place the log's writer
//!   cannot rewrite ([`HeadFile`] on another volume, [`TracingHead`] to a log
//!   shipper) and verify against it ([`verify_chain_with_head`]); a writer that
//!   continues a log checks it against the head first
//!   ([`JsonLinesSink::open_after`]), so a log cut while the writer was down is
//!   refused, not continued;
//! - anything against whoever holds the key: the process that writes the log can
//!   write any chain it likes. Keep the key out of the reach of those whose actions
//!   are audited (an environment variable of the server, not a file in the
//!   workspace), and rotate it by starting a new log;
//! - that events are true: the chain shows what the gate recorded, not what a
//!   handler really did.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, Read as _, Seek as _, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::audit::{AuditError, AuditEvent, AuditSink};

/// The environment variable the audit key is read from by default.
pub const AUDIT_KEY_VAR: &str = "MCPGUARD_AUDIT_KEY";
/// The `prev` of a chain's first line.
pub const CHAIN_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The fewest bytes an audit key has.
pub const MIN_AUDIT_KEY_LEN: usize = 32;

const SEQ: &str = "mcpguard.chain.seq";
const PREV: &str = "mcpguard.chain.prev";
const KEY_ID: &str = "mcpguard.chain.key_id";
const MAC: &str = "mcpguard.chain.mac";
/// The field of the unkeyed chain of earlier versions.
const LEGACY_HASH: &str = "mcpguard.chain.hash";

type HmacSha256 = Hmac<Sha256>;

/// The secret an audit chain is keyed with: at least 32 bytes, given as hex or
/// base64. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct AuditKey {
    key: Zeroizing<Vec<u8>>,
    id: String,
}

/// Why an audit key cannot be used. Never shows the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuditKeyError {
    message: String,
}

impl AuditKey {
    /// A key of raw bytes.
    ///
    /// # Errors
    ///
    /// Fewer than [`MIN_AUDIT_KEY_LEN`] bytes, or bytes that are plainly not
    /// random (one value repeated, a short pattern, a count): a key anyone can
    /// guess lets anyone rewrite the chain.
    pub fn new(bytes: &[u8]) -> Result<Self, AuditKeyError> {
        if bytes.len() < MIN_AUDIT_KEY_LEN {
            return Err(AuditKeyError {
                message: format!(
                    "the audit key has {} bytes; it needs at least {MIN_AUDIT_KEY_LEN} bytes of \
                     secret randomness (generate one with `openssl rand -hex 32`)",
                    bytes.len()
                ),
            });
        }
        if !looks_random(bytes) {
            return Err(AuditKeyError {
                message: "the audit key is plainly not random (a value repeated, a short \
                          pattern or a count): generate one with `openssl rand -hex 32`"
                    .to_owned(),
            });
        }
        let mut h = Sha256::new();
        h.update(b"mcpguard audit key id\0");
        h.update(bytes);
        let id = hex(h.finalize().get(..8).unwrap_or_default());
        Ok(Self {
            key: Zeroizing::new(bytes.to_vec()),
            id,
        })
    }

    /// A key written as hex (64 or more digits) or base64 (standard or URL-safe,
    /// padded or not), surrounding white space ignored.
    ///
    /// # Errors
    ///
    /// Neither hex nor base64, or too short. The message never repeats the text.
    pub fn parse(text: &str) -> Result<Self, AuditKeyError> {
        let text = text.trim();
        let hex_digits = !text.is_empty()
            && text.len().is_multiple_of(2)
            && text.bytes().all(|b| b.is_ascii_hexdigit());
        let bytes = if hex_digits {
            decode_hex(text)
        } else {
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::STANDARD_NO_PAD,
                base64::engine::general_purpose::URL_SAFE,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines.iter().find_map(|e| e.decode(text).ok())
        };
        let bytes = Zeroizing::new(bytes.ok_or_else(|| AuditKeyError {
            message: "the audit key is neither hex nor base64".to_owned(),
        })?);
        Self::new(&bytes)
    }

    /// The key in the environment variable `var` (hex or base64).
    ///
    /// # Errors
    ///
    /// The variable is not set, not Unicode, or not a usable key (named, never
    /// shown).
    pub fn from_env(var: &str) -> Result<Self, AuditKeyError> {
        let text = Zeroizing::new(std::env::var(var).map_err(|_| AuditKeyError {
            message: format!(
                "the audit key variable `{var}` is not set: set it to 32 random bytes as hex \
                 (`openssl rand -hex 32`)"
            ),
        })?);
        Self::parse(&text).map_err(|e| AuditKeyError {
            message: format!("`{var}`: {e}"),
        })
    }

    /// The key's id: 16 hex digits derived from the key, shown in every line it
    /// signs. It tells keys apart and reveals nothing of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The seal of a head: its MAC under this key, over what it states.
    fn seal(&self, head: &ChainHead) -> String {
        self.mac(
            format!(
                "mcpguard audit head\0{}\0{}\0{}",
                head.key_id, head.lines, head.mac
            )
            .as_bytes(),
        )
    }

    /// `head` with its seal made under this key.
    fn sealed(&self, mut head: ChainHead) -> ChainHead {
        head.seal = self.seal(&head);
        head
    }

    fn mac(&self, bytes: &[u8]) -> String {
        // An HMAC takes a key of any length.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(bytes);
        hex(&mac.finalize().into_bytes())
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// Whether key bytes could have come from a random source: 32 random bytes have
/// about 30 distinct values, no constant step between them, and no block that
/// repeats. Fewer than 12 distinct values (one byte repeated, a short pattern),
/// a count up or down, or a block written twice is a key someone typed, not one
/// that was generated; the chance that random bytes fail this is far below
/// 2^-90.
fn looks_random(bytes: &[u8]) -> bool {
    let mut seen = [false; 256];
    for &b in bytes {
        if let Some(slot) = seen.get_mut(usize::from(b)) {
            *slot = true;
        }
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    let step = |pair: &[u8]| match pair {
        [a, b] => b.wrapping_sub(*a),
        _ => 0,
    };
    let first = bytes.get(..2).map_or(0, step);
    let counting = bytes.windows(2).all(|pair| step(pair) == first);
    // A block written out twice or more (`0f1e2d…0f1e2d…`).
    let repeated = (1..=bytes.len() / 2).any(|period| {
        bytes
            .iter()
            .zip(bytes.iter().skip(period))
            .all(|(a, b)| a == b)
    });
    distinct >= 12 && !counting && !repeated
}

fn hex(bytes: &[u8]) -> String {
    let digit = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('0');
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
    out
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// Where a chain stands: how many lines, the last line's MAC, and the key's id,
/// sealed with an HMAC under the key so that only a holder of the key can write
/// one. Kept apart from the log, it shows truncation ([`verify_chain_with_head`]).
///
/// Written as one line of JSON: `{"key_id":"…","lines":12,"mac":"…","seal":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ChainHead {
    /// Lines in the chain.
    pub lines: u64,
    /// The MAC of the last line ([`CHAIN_GENESIS`] for an empty chain).
    pub mac: String,
    /// The id of the key the chain is written with.
    pub key_id: String,
    /// The HMAC, under the chain's key, of the three fields above (empty in
    /// the unsealed heads of earlier versions, which do not verify).
    #[serde(default)]
    pub seal: String,
}

impl ChainHead {
    /// The head of an empty chain written with `key`.
    pub fn genesis(key: &AuditKey) -> Self {
        key.sealed(Self {
            lines: 0,
            mac: CHAIN_GENESIS.to_owned(),
            key_id: key.id().to_owned(),
            seal: String::new(),
        })
    }

    /// Whether the head was sealed with `key`: written by a holder of the key,
    /// and unchanged since.
    pub fn is_sealed_by(&self, key: &AuditKey) -> bool {
        !self.seal.is_empty() && key.seal(self) == self.seal
    }

    /// Reads a head as [`ChainHead`]'s `Display` writes it.
    ///
    /// # Errors
    ///
    /// Not a head.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        serde_json::from_str(text.trim())
            .map_err(|e| AuditError::new(format!("not an audit chain head: {e}")))
    }
}

impl fmt::Display for ChainHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mcpguard_core::canonical_json(
            &serde_json::to_value(self).unwrap_or_default(),
        ))
    }
}

/// Somewhere a chain's head is published after every line, to show truncation.
pub trait HeadPublisher: Send + Sync + fmt::Debug {
    /// Publishes the head.
    ///
    /// # Errors
    ///
    /// It could not be published.
    fn publish(&self, head: &ChainHead) -> Result<(), AuditError>;
}

/// Publishes the head to a file, replaced whole each time (written beside it,
/// then renamed), so a reader never sees half a head.
#[derive(Debug, Clone)]
pub struct HeadFile {
    path: PathBuf,
}

impl HeadFile {
    /// Publishes to `path`; put it where the log's writer cannot rewrite history
    /// (another volume, a file shipped elsewhere).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl HeadFile {
    /// The head published in the file, or `None` when there is no file yet.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or does not hold a head.
    pub fn read(&self) -> Result<Option<ChainHead>, AuditError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => ChainHead::parse(&text).map(Some).map_err(|e| {
                AuditError::new(format!("the audit head `{}`: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AuditError::io(
                format!("cannot read the audit head `{}`: {e}", self.path.display()),
                e,
            )),
        }
    }
}

impl HeadPublisher for HeadFile {
    fn publish(&self, head: &ChainHead) -> Result<(), AuditError> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, format!("{head}\n"))
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| {
                AuditError::new(format!(
                    "cannot publish the audit head to `{}`: {e}",
                    self.path.display()
                ))
            })
    }
}

/// Publishes the head as a `tracing` event (target `mcpguard::audit::head`, level
/// INFO), for a log shipper to keep.
#[derive(Debug, Default, Clone, Copy)]
#[non_exhaustive]
pub struct TracingHead;

impl HeadPublisher for TracingHead {
    fn publish(&self, head: &ChainHead) -> Result<(), AuditError> {
        tracing::info!(
            target: "mcpguard::audit::head",
            lines = head.lines,
            mac = %head.mac,
            key_id = %head.key_id,
            seal = %head.seal,
            "audit chain head"
        );
        Ok(())
    }
}

/// Keyed JSON lines: each event with its position, the
/// previous line's MAC, the key id and its own MAC.
///
/// A line's MAC is HMAC-SHA-256, under the [`AuditKey`], of the canonical JSON of
/// the event with `mcpguard.chain.seq`, `mcpguard.chain.prev` and
/// `mcpguard.chain.key_id`.
///
/// What it proves: without the key nobody can forge, edit, remove, reorder or
/// re-chain a line unseen. What it does not: that nothing was cut off the end
/// (publish the head, [`JsonLinesSink::publish_head`], and check it with
/// [`verify_chain_with_head`]), nor anything against whoever holds the key — keep
/// it away from those whose actions are audited.
pub struct JsonLinesSink<W: Write + Send> {
    state: Mutex<(W, ChainHead)>,
    key: AuditKey,
    publishers: Vec<Arc<dyn HeadPublisher>>,
}

impl<W: Write + Send> fmt::Debug for JsonLinesSink<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLinesSink")
            .field("key", &self.key)
            .field("publishers", &self.publishers)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// A sink that starts a new chain in `writer`.
    pub fn new(writer: W, key: AuditKey) -> Self {
        let head = ChainHead::genesis(&key);
        Self::continuing(writer, key, head)
    }

    /// A sink that continues a chain whose head is `head` (from [`verify_chain`]
    /// over the existing log).
    pub fn continuing(writer: W, key: AuditKey, head: ChainHead) -> Self {
        Self {
            state: Mutex::new((writer, head)),
            key,
            publishers: Vec::new(),
        }
    }

    /// Also publishes the head after every line (see [`HeadPublisher`]).
    #[must_use]
    pub fn publish_head(mut self, publisher: Arc<dyn HeadPublisher>) -> Self {
        self.publishers.push(publisher);
        self
    }

    /// The chain's head now, sealed.
    pub fn head(&self) -> ChainHead {
        let head = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone();
        self.key.sealed(head)
    }

    /// The inner writer, once no more events will come.
    pub fn into_inner(self) -> W {
        self.state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
}

impl JsonLinesSink<File> {
    /// Opens the log at `path` to append to, creating it: takes an exclusive lock
    /// on the file for as long as the sink lives (a second writer is refused, never
    /// allowed to fork the chain), verifies what is there with `key`, and continues
    /// the chain from its end.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or read, another writer holds it (the message
    /// names the file), or the chain there does not verify with this key.
    pub fn open(path: &Path, key: AuditKey) -> Result<Self, AuditError> {
        let shown = path.display();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| AuditError::io(format!("cannot open the audit log `{shown}`: {e}"), e))?;
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => AuditError::new(format!(
                "the audit log `{shown}` is in use by another writer (it holds the file's lock); \
                 give each process its own log"
            )),
            std::fs::TryLockError::Error(e) => {
                AuditError::io(format!("cannot lock the audit log `{shown}`: {e}"), e)
            }
        })?;
        let mut existing = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut existing))
            .map_err(|e| AuditError::io(format!("cannot read the audit log `{shown}`: {e}"), e))?;
        let summary = verify_chain(existing.as_slice(), &key).map_err(|e| {
            AuditError::new(format!("the audit log `{shown}` cannot be continued: {e}"))
        })?;
        Ok(Self::continuing(file, key, summary.head))
    }
}

impl JsonLinesSink<File> {
    /// [`JsonLinesSink::open`] for a log whose head is published to `head`:
    /// the log there must verify against the published head (sealed with this
    /// key, reached and extended by the log) before it is continued, and the
    /// head is published after every line from then on. A log cut short while
    /// no writer held it, one rewritten, or a head forged without the key is
    /// refused with the reason, never continued (which would write a new head
    /// over the evidence).
    ///
    /// With no head published yet, only an empty (or new) log is started: a
    /// log with lines and no head cannot be told from one whose head was
    /// removed. To adopt such a log as it is, verify it (`mcpguard audit
    /// verify`) and write the head that prints to `head`.
    ///
    /// # Errors
    ///
    /// As [`JsonLinesSink::open`]; the head cannot be read; the log does not
    /// verify against it; the log has lines but no head is published.
    pub fn open_after(path: &Path, key: AuditKey, head: HeadFile) -> Result<Self, AuditError> {
        let published = head.read()?;
        let shown = path.display();
        let heads = head.path.display();
        let sink = Self::open(path, key)?;
        let mut state = sink
            .state
            .lock()
            .map_err(|_| AuditError::new("the sink is poisoned"))?;
        let (file, now) = &mut *state;
        match &published {
            None if now.lines == 0 => {}
            None => {
                return Err(AuditError::new(format!(
                    "the audit log `{shown}` has {} lines but no head is published at `{heads}`: \
                     a log whose head was removed cannot be told from one never published; to \
                     adopt the log as it is, run `mcpguard audit verify {shown}` and write the \
                     head it prints to `{heads}`",
                    now.lines
                )));
            }
            Some(published) => {
                // `open` read and verified the log; the head is checked over
                // the same bytes.
                let mut existing = Vec::new();
                file.seek(SeekFrom::Start(0))
                    .and_then(|_| file.read_to_end(&mut existing))
                    .map_err(|e| {
                        AuditError::io(format!("cannot read the audit log `{shown}`: {e}"), e)
                    })?;
                verify_chain_with_head(existing.as_slice(), &sink.key, published).map_err(|e| {
                    AuditError::new(format!(
                        "the audit log `{shown}` cannot be continued: it does not match its \
                         published head `{heads}` ({e}); keep both as evidence and start a new \
                         log"
                    ))
                })?;
            }
        }
        drop(state);
        Ok(sink.publish_head(Arc::new(head)))
    }
}

impl<W: Write + Send> AuditSink for JsonLinesSink<W> {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let value = serde_json::to_value(event)
            .map_err(|e| AuditError::new(format!("cannot serialize the event: {e}")))?;
        let Value::Object(mut map) = value else {
            return Err(AuditError::new("an event serializes to an object"));
        };
        let mut state = self
            .state
            .lock()
            .map_err(|_| AuditError::new("the sink is poisoned"))?;
        let (writer, head) = &mut *state;
        let seq = head.lines + 1;
        map.insert(SEQ.to_owned(), Value::from(seq));
        map.insert(PREV.to_owned(), Value::String(head.mac.clone()));
        map.insert(KEY_ID.to_owned(), Value::String(self.key.id().to_owned()));
        // The MAC covers the canonical line without it; the line is that text
        // with the MAC's member inserted where its key sorts. The members are
        // written once, in two halves split at the MAC's key.
        let (before, after): (Map<String, Value>, Map<String, Value>) =
            map.into_iter().partition(|(k, _)| k.as_str() < MAC);
        let before = mcpguard_core::canonical_json(&Value::Object(before));
        let after = mcpguard_core::canonical_json(&Value::Object(after));
        let inner = |text: &str| {
            text.strip_prefix('{')
                .and_then(|t| t.strip_suffix('}'))
                .unwrap_or_default()
                .to_owned()
        };
        let (before, after) = (inner(&before), inner(&after));
        let joined = |middle: &str| {
            let mut line = String::with_capacity(before.len() + after.len() + middle.len() + 8);
            line.push('{');
            for part in [before.as_str(), middle, after.as_str()] {
                if part.is_empty() {
                    continue;
                }
                if line.len() > 1 {
                    line.push(',');
                }
                line.push_str(part);
            }
            line.push('}');
            line
        };
        let mac = self.key.mac(joined("").as_bytes());
        let mut line = joined(&format!("\"{MAC}\":\"{mac}\""));
        line.push('\n');
        writer
            .write_all(line.as_bytes())
            .and_then(|()| writer.flush())
            .map_err(|e| AuditError::io(format!("cannot write: {e}"), e))?;
        head.lines = seq;
        head.mac = mac;
        if self.publishers.is_empty() {
            return Ok(());
        }
        let published = self.key.sealed(head.clone());
        drop(state);
        for publisher in &self.publishers {
            publisher.publish(&published)?;
        }
        Ok(())
    }
}

/// A chain that verified: how many lines, and its head (to keep elsewhere, and to
/// continue the chain with [`JsonLinesSink::continuing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainSummary {
    /// Lines read.
    pub lines: u64,
    /// The chain's head.
    pub head: ChainHead,
}

/// What kind of failure a [`ChainError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChainErrorKind {
    /// The log was changed: a line edited, inserted, removed, reordered, cut off
    /// (given a head), or not well-formed.
    Tampered,
    /// The log cannot be judged: unreadable, written with another key, or in the
    /// unkeyed format of earlier versions.
    Unusable,
}

/// Where and why a chain cannot be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain breaks at line {line}: {reason}")]
pub struct ChainError {
    kind: ChainErrorKind,
    line: u64,
    reason: String,
}

impl ChainError {
    /// Tampered or unusable.
    pub fn kind(&self) -> ChainErrorKind {
        self.kind
    }

    /// The 1-based line where it breaks.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// What is wrong there.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Verifies a keyed chain written by [`JsonLinesSink`] and reports the first line where
/// it breaks: not strict JSON (a duplicated key is an error), a MAC that does not
/// match (edited, or forged without the key), a position or link that does not
/// follow (lines removed, inserted or moved), another key id.
///
/// # Errors
///
/// [`ChainError`]: [`ChainErrorKind::Tampered`] with the first bad line, or
/// [`ChainErrorKind::Unusable`].
pub fn verify_chain(reader: impl BufRead, key: &AuditKey) -> Result<ChainSummary, ChainError> {
    let mut head = ChainHead::genesis(key);
    for (i, line) in reader.lines().enumerate() {
        let n = u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1);
        let fail = |kind, reason: &str| ChainError {
            kind,
            line: n,
            reason: reason.to_owned(),
        };
        let tampered = |reason: &str| fail(ChainErrorKind::Tampered, reason);
        let line =
            line.map_err(|e| fail(ChainErrorKind::Unusable, &format!("cannot read: {e}")))?;
        let Strict(value) = serde_json::from_str(&line)
            .map_err(|e| tampered(&format!("the line is not well-formed JSON ({e})")))?;
        let Value::Object(mut map) = value else {
            return Err(tampered("the line is not a JSON object"));
        };
        if map.contains_key(LEGACY_HASH) && !map.contains_key(MAC) {
            return Err(fail(
                ChainErrorKind::Unusable,
                "the log is in the unkeyed format of earlier mcpguard versions, which anyone can \
                 re-hash: it cannot be verified as tamper-evident (start a new, keyed log)",
            ));
        }
        let Some(Value::String(stated)) = map.remove(MAC) else {
            return Err(tampered("the line has no MAC"));
        };
        match map.get(KEY_ID) {
            Some(Value::String(id)) if id == key.id() => {}
            Some(Value::String(id)) if n == 1 => {
                return Err(fail(
                    ChainErrorKind::Unusable,
                    &format!(
                        "the log was written with key `{id}`, not with the given key `{}`",
                        key.id()
                    ),
                ));
            }
            _ => return Err(tampered("the line names another key than the lines before")),
        }
        let value = Value::Object(map);
        if key.mac(mcpguard_core::canonical_json(&value).as_bytes()) != stated {
            return Err(tampered(
                "the line's MAC does not match: it was changed after it was written, or not \
                 written with this key",
            ));
        }
        let follows = value.get(SEQ).and_then(Value::as_u64) == Some(n)
            && value.get(PREV).and_then(Value::as_str) == Some(head.mac.as_str());
        if !follows {
            return Err(tampered(
                "the line does not follow the line before it (lines were removed, inserted or moved)",
            ));
        }
        head.lines = n;
        head.mac = stated;
    }
    Ok(ChainSummary {
        lines: head.lines,
        head: key.sealed(head),
    })
}

/// [`verify_chain`], and checks the log against a head published elsewhere: the
/// log must reach the head's line, and that line's MAC must be the head's. A log
/// longer than the head verifies (the head is published after each line and may
/// lag by the lines of a crash).
///
/// # Errors
///
/// As [`verify_chain`]; a log cut short of the head, or that does not match it, is
/// tampered; a head of another key is unusable.
pub fn verify_chain_with_head(
    mut reader: impl BufRead,
    key: &AuditKey,
    head: &ChainHead,
) -> Result<ChainSummary, ChainError> {
    if head.key_id != key.id() {
        return Err(ChainError {
            kind: ChainErrorKind::Unusable,
            line: 0,
            reason: format!(
                "the head is of key `{}`, not of the given key `{}`",
                head.key_id,
                key.id()
            ),
        });
    }
    if !head.is_sealed_by(key) {
        return Err(ChainError {
            kind: ChainErrorKind::Tampered,
            line: 0,
            reason: if head.seal.is_empty() {
                "the head has no seal, so anyone could have written it (an earlier version \
                 wrote such heads): verify the log without it, and publish the sealed head \
                 this version prints"
                    .to_owned()
            } else {
                "the head's seal does not verify with the key: it was not written by the log's \
                 writer, or was changed"
                    .to_owned()
            },
        });
    }
    // Verify the lines up to the head's, note its MAC, then the rest.
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(|e| ChainError {
        kind: ChainErrorKind::Unusable,
        line: 0,
        reason: format!("cannot read: {e}"),
    })?;
    let summary = verify_chain(text.as_bytes(), key)?;
    if summary.lines < head.lines {
        return Err(ChainError {
            kind: ChainErrorKind::Tampered,
            line: summary.lines.saturating_add(1),
            reason: format!(
                "the log ends after {} lines, but its published head has {}: lines were cut off",
                summary.lines, head.lines
            ),
        });
    }
    let at_head = if head.lines == 0 {
        Some(CHAIN_GENESIS.to_owned())
    } else {
        usize::try_from(head.lines - 1)
            .ok()
            .and_then(|i| text.lines().nth(i))
            .and_then(|line| serde_json::from_str::<Value>(line).ok())
            .and_then(|v| v.get(MAC).and_then(Value::as_str).map(ToOwned::to_owned))
    };
    if at_head.as_deref() != Some(head.mac.as_str()) {
        return Err(ChainError {
            kind: ChainErrorKind::Tampered,
            line: head.lines,
            reason: "the line does not match the published head: the log was rewritten".to_owned(),
        });
    }
    Ok(summary)
}

/// A JSON value read strictly: a key that appears twice in one object is an
/// error (`serde_json` alone keeps the last, so a line could say two things).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let Strict(v) = access.next_value()?;
            if map.insert(key, v).is_some() {
                return Err(de::Error::custom("a key appears twice in one object"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_json_refuses_duplicate_keys_at_any_depth() {
        let ok: Strict = serde_json::from_str(r#"{"a":[{"b":1,"c":null}],"d":"x"}"#).unwrap();
        assert_eq!(ok.0["a"][0]["b"], 1);
        for bad in [r#"{"a":1,"a":2}"#, r#"{"x":[{"b":1,"b":1}]}"#] {
            assert!(serde_json::from_str::<Strict>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_parse_from_hex_and_base64_and_never_show() {
        let hex_key = "9c41d2e07ab35f6810c2e4f79a3b5d61e8f0c2a4b6d8e1f3a5c7e9b1d3f5a7c9";
        let a = AuditKey::parse(hex_key).unwrap();
        let b = AuditKey::parse(
            &base64::engine::general_purpose::STANDARD.encode(decode_hex(hex_key).unwrap()),
        )
        .unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().len(), 16);
        assert!(!format!("{a:?}").contains("9c41"));
        let e = AuditKey::parse("00112233").unwrap_err().to_string();
        assert!(
            e.contains("at least 32 bytes") && !e.contains("00112233"),
            "{e}"
        );
        assert!(AuditKey::parse("not a key!").is_err());
    }
}
