//! The redactor: one pass of keyword search over the text, patterns only around
//! keywords, findings merged, replacements written once.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock, RwLock};

use hmac::{Hmac, Mac};
use regex_automata::{Anchored, Input};
use serde_json::Value;
use sha2::Sha256;

use crate::catalogue;
use crate::check::{self, Check};
use crate::decode;
use crate::error::BuildError;
use crate::keywords::{Hit, Keywords};
use crate::known::{Encoding, Known, is_base64_byte};
use crate::rule::{Anchor, Compiled, Engine, Rule};

/// The rule id of findings for registered known secrets.
pub const KNOWN_SECRET_RULE: &str = "known-secret";
/// The rule id of values redacted by [`Redactor::redact_json`] for their key alone.
pub const SENSITIVE_KEY_RULE: &str = "sensitive-key";

/// How far an assigned key may run on after its keyword (the patterns allow 24).
const KEY_TAIL: usize = 32;

/// The end of the identifier that continues at `from` (at most `KEY_TAIL` bytes on).
fn at_ident_end(hay: &[u8], from: usize, ident: impl Fn(u8) -> bool) -> usize {
    let mut at = from;
    while at - from <= KEY_TAIL && hay.get(at).copied().is_some_and(&ident) {
        at += 1;
    }
    at
}

/// How every replacement starts.
const MARKER: &[u8] = b"[REDACTED:";

/// Whether `hay` holds a marker (the searcher is built once per process).
fn has_marker(hay: &[u8]) -> bool {
    static FINDER: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(MARKER));
    FINDER.find(hay).is_some()
}

/// Whether byte `at` of `hay` lies inside a `[REDACTED:...]` marker (markers are
/// short: only the 96 bytes before `at` are looked at).
fn inside_marker(hay: &[u8], at: usize) -> bool {
    let Some(before) = hay.get(at.saturating_sub(96)..at) else {
        return false;
    };
    static FINDER: LazyLock<memchr::memmem::FinderRev<'static>> =
        LazyLock::new(|| memchr::memmem::FinderRev::new(MARKER));
    FINDER
        .rfind(before)
        .is_some_and(|open| before.get(open..).is_some_and(|tail| !tail.contains(&b']')))
}

/// Where an armoured block starts.
pub(crate) const BEGIN: &str = "-----BEGIN";
/// Where its closing line starts.
pub(crate) const END: &str = "-----END";

/// How far a match that runs into the end of its window may grow, in bytes.
const MAX_EXTENSION: usize = 64 << 10;
/// A match that ends this close to its window's end may have been cut there: the
/// longest token a pattern can be part-way through (an escape like `\\\n`, a
/// header line's start) is shorter.
const CUT_SLACK: usize = 16;

/// Finds and removes secrets from text and JSON.
///
/// Built once (see [`Redactor::builder`]) and shared: it is `Send + Sync`, and
/// `Clone` is a reference-count increment. Every method takes `&self` and never
/// panics on any input.
///
/// ```
/// use mcpguard_redact::Redactor;
/// let r = Redactor::builder().known_secret("DB_PASSWORD", "correct-horse-battery")?.build()?;
/// let line = "connecting with token ghp_R4nd0mF4k3T0k3nV4lu3F0rT3st1ngXy12Ab and correct-horse-battery";
/// assert_eq!(
///     r.redact(line),
///     "connecting with token [REDACTED:github-pat] and [REDACTED:known-secret]"
/// );
/// // Clean text comes back borrowed, untouched.
/// assert!(matches!(r.redact("GET /healthz 200"), std::borrow::Cow::Borrowed(_)));
/// # Ok::<(), mcpguard_redact::BuildError>(())
/// ```
#[derive(Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

struct Inner {
    rules: Arc<RuleSet>,
    /// The known secrets and their automaton; grows when secrets are registered
    /// after the redactor was built (resolved credentials).
    known: RwLock<KnownSet>,
    correlation_key: Option<Vec<u8>>,
}

/// Registered values (zeroized when dropped) and the automaton built from them.
#[derive(Default)]
struct KnownSet {
    values: Vec<(String, zeroize::Zeroizing<String>)>,
    automaton: Option<Arc<Known>>,
}

/// Compiled rules and the keyword automaton that triggers them.
#[derive(Debug)]
struct RuleSet {
    rules: Vec<Compiled>,
    keywords: Option<Keywords>,
    /// For each keyword (by automaton pattern id), the rules it triggers.
    triggers: Vec<Vec<usize>>,
    /// Rules without keywords: searched over all text.
    unkeyed: Vec<usize>,
    /// How far before a marker a keyword may stand and still reach it: the
    /// longest window after a keyword, and what a match may overrun it by.
    reach_after: usize,
    /// How far after a marker a keyword may stand and still reach it: the longest
    /// window before a keyword, and the bytes checks read before a match.
    reach_before: usize,
}

/// The built-in catalogue, compiled once per process.
static BUILTIN: LazyLock<Result<Arc<RuleSet>, BuildError>> = LazyLock::new(|| {
    let rules: Vec<Rule> = catalogue::rules().collect();
    RuleSet::build(&rules, rules.len()).map(Arc::new)
});

impl RuleSet {
    /// Compiles `rules`; the patterns of those before `lazy_until` are compiled on
    /// first use (the built-in catalogue), the others now.
    fn build(rules: &[Rule], lazy_until: usize) -> Result<Self, BuildError> {
        let mut seen = HashSet::new();
        let mut compiled = Vec::with_capacity(rules.len());
        let mut keyword_ids: Vec<String> = Vec::new();
        let mut triggers: Vec<Vec<usize>> = Vec::new();
        let mut unkeyed = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            if !seen.insert(rule.id.clone()) {
                return Err(BuildError::duplicate(&rule.id));
            }
            compiled.push(rule.compile(index >= lazy_until)?);
            if rule.keywords.is_empty() {
                unkeyed.push(index);
            }
            for keyword in &rule.keywords {
                let keyword = keyword.to_ascii_lowercase();
                match keyword_ids.iter().position(|k| *k == keyword) {
                    Some(i) => {
                        if let Some(t) = triggers.get_mut(i) {
                            t.push(index);
                        }
                    }
                    None => {
                        keyword_ids.push(keyword);
                        triggers.push(vec![index]);
                    }
                }
            }
        }
        let keywords = if keyword_ids.is_empty() {
            None
        } else {
            Some(
                Keywords::build(&keyword_ids)
                    .map_err(|e| BuildError::pattern("keywords", &e.to_string()))?,
            )
        };
        let longest = |f: fn(&Rule) -> usize| rules.iter().map(f).max().unwrap_or(0);
        let keyword_len = keyword_ids.iter().map(String::len).max().unwrap_or(0);
        Ok(Self {
            reach_after: longest(|r| r.after) + keyword_len + OVERRUN,
            reach_before: longest(|r| r.before) + OVERRUN,
            rules: compiled,
            keywords,
            triggers,
            unkeyed,
        })
    }
}

/// Builds a [`Redactor`].
#[derive(Debug, Default)]
pub struct RedactorBuilder {
    builtin: bool,
    extra: Vec<Rule>,
    known: Vec<(String, String)>,
    correlation_key: Option<Vec<u8>>,
}

impl RedactorBuilder {
    /// Whether to use the built-in catalogue (default: yes).
    #[must_use]
    pub fn builtin_rules(mut self, yes: bool) -> Self {
        self.builtin = yes;
        self
    }

    /// Adds a rule of the embedder's.
    #[must_use]
    pub fn rule(mut self, rule: Rule) -> Self {
        self.extra.push(rule);
        self
    }

    /// Registers a value the embedder holds (for example the value of an
    /// environment variable). Every occurrence is redacted, also base64- and
    /// URL-encoded and JSON-escaped. `name` appears in errors, never the value.
    ///
    /// # Errors
    ///
    /// [`BuildError`] of kind `KnownSecretTooShort` when the value is shorter than
    /// [`crate::MIN_KNOWN_SECRET_LEN`] bytes.
    pub fn known_secret(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, BuildError> {
        let (name, value) = (name.into(), value.into());
        if value.len() < crate::MIN_KNOWN_SECRET_LEN {
            return Err(BuildError::known_too_short(
                &name,
                crate::MIN_KNOWN_SECRET_LEN,
            ));
        }
        self.known.push((name, value));
        Ok(self)
    }

    /// Registers the values of these environment variables as known secrets;
    /// variables that are unset or empty are skipped.
    ///
    /// # Errors
    ///
    /// As [`RedactorBuilder::known_secret`], for a set value that is too short.
    pub fn known_secrets_from_env<I, S>(mut self, names: I) -> Result<Self, BuildError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for name in names {
            let name = name.as_ref();
            if let Ok(value) = std::env::var(name)
                && !value.is_empty()
            {
                self = self.known_secret(name, value)?;
            }
        }
        Ok(self)
    }

    /// Replaces secrets with `[REDACTED:<rule-id>:<hash>]`, where the hash is the
    /// first 8 hex digits of HMAC-SHA-256 of the secret under `key`: the same
    /// secret gives the same marker across log lines, and the marker does not
    /// reveal the secret to anyone without the key.
    ///
    /// # Errors
    ///
    /// [`BuildError`] of kind `CorrelationKey` when `key` is shorter than 16 bytes.
    pub fn correlation_key(mut self, key: &[u8]) -> Result<Self, BuildError> {
        if key.len() < 16 {
            return Err(BuildError::correlation_key());
        }
        self.correlation_key = Some(key.to_vec());
        Ok(self)
    }

    /// Builds the redactor. The built-in catalogue is compiled once per process and
    /// shared by every redactor that uses it unchanged.
    ///
    /// # Errors
    ///
    /// [`BuildError`] when a rule does not compile, two rules share an id, or a
    /// known secret cannot be indexed.
    pub fn build(self) -> Result<Redactor, BuildError> {
        let rules = match (self.builtin, self.extra.is_empty()) {
            (true, true) => BUILTIN.clone()?,
            (true, false) => {
                let mut all: Vec<Rule> = catalogue::rules().collect();
                let builtin = all.len();
                all.extend(self.extra);
                Arc::new(RuleSet::build(&all, builtin)?)
            }
            (false, _) => Arc::new(RuleSet::build(&self.extra, 0)?),
        };
        Ok(Redactor {
            inner: Arc::new(Inner {
                rules,
                known: RwLock::new(KnownSet {
                    automaton: Known::build(&self.known)?.map(Arc::new),
                    values: self
                        .known
                        .into_iter()
                        .map(|(n, v)| (n, zeroize::Zeroizing::new(v)))
                        .collect(),
                }),
                correlation_key: self.correlation_key,
            }),
        })
    }
}

/// A secret found in text: which rule, and where. Neither `Debug` nor `Display`
/// shows the secret itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Finding {
    rule: Arc<str>,
    span: Range<usize>,
    checksum: Option<bool>,
    order: usize,
}

impl Finding {
    /// The id of the rule that found it (`known-secret` for registered values).
    pub fn rule_id(&self) -> &str {
        &self.rule
    }

    /// The byte range of the secret in the text searched.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The finding seen through the window `start..end` of the text: its span
    /// clipped to the window and made relative to it.
    pub(crate) fn window(&self, start: usize, end: usize) -> Self {
        let from = self.span.start.clamp(start, end) - start;
        let to = self.span.end.clamp(start, end) - start;
        Self {
            span: from..to,
            ..self.clone()
        }
    }

    /// The same finding, reaching to `end`.
    pub(crate) fn with_end(&self, end: usize) -> Self {
        Self {
            span: self.span.start..end.max(self.span.start),
            ..self.clone()
        }
    }

    /// For formats with a checksum (GitHub and npm tokens), whether it is valid;
    /// `None` for formats without one.
    pub fn checksum(&self) -> Option<bool> {
        self.checksum
    }
}

impl fmt::Debug for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finding")
            .field("rule", &&*self.rule)
            .field("span", &self.span)
            .field("checksum", &self.checksum)
            .finish()
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at bytes {}..{}",
            self.rule, self.span.start, self.span.end
        )
    }
}

impl Redactor {
    /// A builder with the built-in catalogue and nothing else.
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder {
            builtin: true,
            ..RedactorBuilder::default()
        }
    }

    /// A redactor with the built-in catalogue only.
    ///
    /// # Errors
    ///
    /// Only if a built-in rule fails to compile, which the crate's tests rule out.
    pub fn new() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    /// Registers a value to redact from now on, in this redactor and every clone of
    /// it (they share their state), as [`RedactorBuilder::known_secret`] does at
    /// build time: plain, base64, URL-encoded and JSON-escaped. For values that
    /// become known while a server runs, such as resolved credentials. Registering
    /// the same value twice is harmless.
    ///
    /// # Errors
    ///
    /// [`BuildError`] of kind `KnownSecretTooShort` for a value under
    /// [`crate::MIN_KNOWN_SECRET_LEN`] bytes (named, never shown).
    pub fn register_known_secret(&self, name: &str, value: &str) -> Result<(), BuildError> {
        if value.len() < crate::MIN_KNOWN_SECRET_LEN {
            return Err(BuildError::known_too_short(
                name,
                crate::MIN_KNOWN_SECRET_LEN,
            ));
        }
        let mut known = self
            .inner
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.values.iter().any(|(_, v)| v.as_str() == value) {
            return Ok(());
        }
        known
            .values
            .push((name.to_owned(), zeroize::Zeroizing::new(value.to_owned())));
        let pairs: Vec<(String, String)> = known
            .values
            .iter()
            .map(|(n, v)| (n.clone(), v.to_string()))
            .collect();
        let built = Known::build(&pairs);
        // The plain copies made for building are wiped too.
        for (_, mut v) in pairs {
            zeroize::Zeroize::zeroize(&mut v);
        }
        known.automaton = built?.map(Arc::new);
        Ok(())
    }

    /// Every secret in `text`, in order, overlapping findings merged into one.
    ///
    /// The findings are closed under redaction: the text they redact to holds no
    /// further finding. (A first look can miss one: a greedy pattern that ran into
    /// a neighbouring secret and failed its checks matches cleanly once that
    /// neighbour is a marker. Such findings are searched for in the redacted text
    /// and mapped back, a few rounds at most.)
    pub fn find(&self, text: &str) -> Vec<Finding> {
        self.find_closed(text).0
    }

    /// `text` with every secret replaced by `[REDACTED:<rule-id>]` (or the
    /// correlated form). Borrowed and untouched when nothing is found.
    /// Idempotent: redacting the output again changes nothing.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.find_closed(text) {
            (_, None) => Cow::Borrowed(text),
            (_, Some(redacted)) => Cow::Owned(redacted),
        }
    }

    /// One scan of `text`, findings merged. A block the search cut short (it is
    /// longer than a match may grow, or its `-----END` line is not one the
    /// pattern knows) reaches as far as its text goes on. With `near`, only
    /// keywords that start in those ranges are followed (see [`Self::find_closed`]).
    /// Also returns whether any match grew past the window its keyword opened.
    fn find_once(
        &self,
        text: &str,
        near: Option<&Near>,
        known: Option<&Known>,
        keep: Option<&mut Vec<Hit>>,
    ) -> (Vec<Finding>, bool) {
        let mut out = Vec::new();
        // The first round's keyword walk also notes the long base64 runs.
        let mut seen = near.is_none().then(Vec::new);
        let (mut grew, noted) =
            self.scan(text.as_bytes(), near, known, seen.as_mut(), keep, &mut out);
        if !noted {
            seen = None;
        }
        let mut found: Vec<Finding> = out
            .into_iter()
            .map(|f| {
                let end = f.span.end;
                let f = extend_block(text, f, true);
                grew |= f.span.end != end;
                f
            })
            .collect();
        // Encoded text is decoded and searched again; after the first round, only
        // on the lines markers stand on and their neighbours (a decoded line, run
        // or pair of wrapped lines is one unit).
        let lines = near.map(|near| whole_lines(text.as_bytes(), &near.marks));
        self.find_decoded(
            text.as_bytes(),
            lines.as_deref(),
            seen.as_deref(),
            1,
            known,
            &mut found,
        );
        (merge(found), grew)
    }

    /// Searches the decoded layers of `hay` (within `ranges`), and theirs to
    /// [`decode::MAX_DEPTH`], appending what is found as spans of `hay`: the
    /// bytes that carry it.
    fn find_decoded(
        &self,
        hay: &[u8],
        ranges: Option<&[Range<usize>]>,
        seen: Option<&[usize]>,
        depth: usize,
        known: Option<&Known>,
        out: &mut Vec<Finding>,
    ) {
        // Each layer is searched as it is made and then dropped: memory holds one
        // at a time, however much of the text is encoded.
        let mut each = |layer: decode::Layer| {
            let mut found = Vec::new();
            let _ = self.scan(layer.text.as_bytes(), None, known, None, None, &mut found);
            let mut found: Vec<Finding> = found
                .into_iter()
                .map(|f| extend_block(&layer.text, f, true))
                .collect();
            if depth < decode::MAX_DEPTH {
                self.find_decoded(
                    layer.text.as_bytes(),
                    None,
                    None,
                    depth + 1,
                    known,
                    &mut found,
                );
            }
            out.extend(found.into_iter().filter_map(|f| {
                let span = layer.map(&f.span)?;
                Some(Finding { span, ..f })
            }));
        };
        match seen {
            Some(seen) => decode::layers_seen(hay, seen, &mut each),
            None => decode::layers(hay, ranges, depth > 1, &mut each),
        }
    }

    /// The findings of `text` closed under redaction, and the text they redact to
    /// (`None` when there are none).
    ///
    /// Each round after the first searches the text as the round before redacted
    /// it. Only what lies near a marker can be found anew: a keyword whose reach
    /// (its rule's window, the bytes a check looks at) holds no marker sees the
    /// bytes it saw in the round before, so it finds what it found then. Later
    /// rounds therefore follow only keywords near markers (the first round's,
    /// moved, and any that overlap a marker), unless a match in the round before
    /// grew past its window (it may have grown into what is a marker now): then
    /// the whole text is searched again.
    fn find_closed(&self, text: &str) -> (Vec<Finding>, Option<String>) {
        /// Rounds after the first; each must redact bytes no round before did, so
        /// the loop ends anyway, and this bounds the time on hostile text.
        const MAX_ROUNDS: usize = 4;
        // The registered secrets, read once for the whole search.
        let known = self
            .inner
            .known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .automaton
            .clone();
        let known = known.as_deref();
        let mut first_hits = Vec::new();
        let (mut found, mut grew) = self.find_once(text, None, known, Some(&mut first_hits));
        if found.is_empty() {
            return (found, None);
        }
        let mut markers = Vec::with_capacity(found.len());
        let mut redacted = self.apply_traced(text, &found, &mut markers);
        for _ in 0..MAX_ROUNDS {
            let near = (!grew).then(|| self.near_markers(&markers, &first_hits, redacted.len()));
            let (more, more_grew) = self.find_once(&redacted, near.as_ref(), known, None);
            grew = more_grew;
            if more.is_empty() {
                break;
            }
            let before: Vec<Range<usize>> = found.iter().map(|f| f.span.clone()).collect();
            found.extend(more.into_iter().map(|mut f| {
                f.span = map_back(&f.span, &markers);
                f
            }));
            found = merge(found);
            if found.iter().map(|f| &f.span).eq(before.iter()) {
                // Only markers matched (a registered value that spells part of
                // one): nothing more can be redacted.
                break;
            }
            markers.clear();
            redacted = self.apply_traced(text, &found, &mut markers);
        }
        (found, Some(redacted))
    }

    /// Where in redacted text (`len` bytes) a keyword may reach a marker: the
    /// markers, and around them the ranges (merged) from a rule's longest window
    /// after a keyword before each marker to its longest window before one after
    /// it, with room for the bytes checks read beyond a window.
    fn near_markers(&self, markers: &[Marker], first: &[Hit], len: usize) -> Near {
        let set = &self.inner.rules;
        let marks: Vec<Range<usize>> = markers.iter().map(|m| m.out.clone()).collect();
        // A keyword that lies outside every marker stood in the original text,
        // where the first round found it: moved to where it stands now, and kept
        // when a marker is within reach.
        let mut hits = Vec::new();
        for h in first {
            let before = markers.partition_point(|m| m.text.start < h.end);
            let moved = match before.checked_sub(1).and_then(|i| markers.get(i)) {
                None => h.start..h.end,
                Some(m) if m.text.end > h.start => continue,
                Some(m) => h.start - m.text.end + m.out.end..h.end - m.text.end + m.out.end,
            };
            let lo = moved.start.saturating_sub(set.reach_before);
            let hi = moved.end.saturating_add(set.reach_after);
            if overlaps(&marks, lo..hi) {
                hits.push(Hit {
                    pattern: h.pattern,
                    start: moved.start,
                    end: moved.end,
                });
            }
        }
        // Keywords that overlap a marker are new: looked for around each one.
        let reach = set.keywords.as_ref().map_or(0, Keywords::max_len);
        let mut ranges: Vec<Range<usize>> = Vec::with_capacity(markers.len());
        for m in &marks {
            let from = m.start.saturating_sub(reach);
            let to = m.end.saturating_add(reach).min(len);
            match ranges.last_mut() {
                Some(last) if from <= last.end => last.end = last.end.max(to),
                _ => ranges.push(from..to),
            }
        }
        Near {
            ranges,
            marks,
            hits,
        }
    }

    /// Writes `text` with `findings` replaced. Spans are widened to character
    /// boundaries, so the output is always valid UTF-8.
    #[cfg(test)]
    pub(crate) fn apply(&self, text: &str, findings: &[Finding]) -> String {
        let mut out = String::new();
        self.apply_into(text, findings, &mut out);
        out
    }

    /// [`Self::apply`] into `out`, which is cleared first (a caller that redacts
    /// chunk after chunk keeps one buffer).
    pub(crate) fn apply_into(&self, text: &str, findings: &[Finding], out: &mut String) {
        out.clear();
        self.write_traced(text, findings, &mut Vec::new(), out);
    }

    /// [`Self::apply`], recording where each marker went.
    fn apply_traced(&self, text: &str, findings: &[Finding], markers: &mut Vec<Marker>) -> String {
        let mut out = String::new();
        self.write_traced(text, findings, markers, &mut out);
        out
    }

    fn write_traced(
        &self,
        text: &str,
        findings: &[Finding],
        markers: &mut Vec<Marker>,
        out: &mut String,
    ) {
        out.reserve(text.len() + findings.len() * 24);
        let mut at = 0;
        for f in findings {
            let start = floor_boundary(text, f.span.start.max(at));
            let end = ceil_boundary(text, f.span.end);
            if start < at || end <= start {
                continue;
            }
            out.push_str(text.get(at..start).unwrap_or_default());
            let out_start = out.len();
            self.marker(&f.rule, text.get(start..end).unwrap_or_default(), out);
            markers.push(Marker {
                out: out_start..out.len(),
                text: start..end,
            });
            at = end;
        }
        out.push_str(text.get(at..).unwrap_or_default());
    }

    fn marker(&self, rule: &str, secret: &str, out: &mut String) {
        out.push_str("[REDACTED:");
        out.push_str(rule);
        if let Some(key) = &self.inner.correlation_key
            && let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key)
        {
            mac.update(secret.as_bytes());
            let tag = mac.finalize().into_bytes();
            out.push(':');
            for b in tag.iter().take(4) {
                out.push_str(&format!("{b:02x}"));
            }
        }
        out.push(']');
    }

    /// Redacts a JSON value in place: every string is redacted, and every value
    /// under a sensitive key (`password`, `token`, `secret`, `authorization`,
    /// `api_key`, `clientSecret`, ..., any case) is replaced whole, whatever it
    /// holds, except `null`, booleans and empty strings. Keys are redacted too: a
    /// key that holds a secret is renamed to its redacted form. Returns how many
    /// values and keys changed.
    ///
    /// ```
    /// use mcpguard_redact::Redactor;
    /// let r = Redactor::new()?;
    /// let mut v = serde_json::json!({"user": "ana", "password": "tr0ub4dor", "note": "ok"});
    /// assert_eq!(r.redact_json(&mut v), 1);
    /// assert_eq!(v["password"], "[REDACTED:sensitive-key]");
    /// # Ok::<(), mcpguard_redact::BuildError>(())
    /// ```
    pub fn redact_json(&self, value: &mut Value) -> usize {
        self.redact_json_with(value, |_| {})
    }

    /// [`Redactor::redact_json`] with `visit` run on every string value (not on
    /// keys) just before it is scanned, in the same walk: a caller that also
    /// rewrites the strings (strips hidden characters, say) does both in one pass.
    /// A value under a sensitive key is replaced whole and not visited.
    ///
    /// ```
    /// use mcpguard_redact::Redactor;
    /// let r = Redactor::new()?;
    /// let mut v = serde_json::json!({"note": "Hello"});
    /// r.redact_json_with(&mut v, |s| s.make_ascii_uppercase());
    /// assert_eq!(v["note"], "HELLO");
    /// # Ok::<(), mcpguard_redact::BuildError>(())
    /// ```
    pub fn redact_json_with(&self, value: &mut Value, mut visit: impl FnMut(&mut String)) -> usize {
        // An explicit stack, not recursion: any nesting depth is safe.
        let mut changed = 0;
        let mut stack: Vec<&mut Value> = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => {
                    visit(s);
                    if let Cow::Owned(new) = self.redact(s) {
                        *s = new;
                        changed += 1;
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    changed += self.redact_keys(map);
                    for (k, v) in map.iter_mut() {
                        if is_sensitive_key(k) {
                            changed += self.redact_whole(v);
                        } else {
                            stack.push(v);
                        }
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        changed
    }

    /// Redacts the keys of an object: a key that holds a secret is renamed to its
    /// redacted form (`#2`, `#3`, ... keep keys distinct). The value of a
    /// sensitive key is redacted whole before its key is renamed.
    fn redact_keys(&self, map: &mut serde_json::Map<String, Value>) -> usize {
        let renames: Vec<(String, String)> = map
            .keys()
            .filter_map(|k| match self.redact(k) {
                Cow::Owned(new) => Some((k.clone(), new)),
                Cow::Borrowed(_) => None,
            })
            .collect();
        let mut changed = 0;
        for (old, new) in renames {
            let Some(mut value) = map.remove(&old) else {
                continue;
            };
            if is_sensitive_key(&old) {
                changed += self.redact_whole(&mut value);
            }
            let mut key = new.clone();
            let mut n = 2;
            while map.contains_key(&key) {
                key = format!("{new}#{n}");
                n += 1;
            }
            map.insert(key, value);
            changed += 1;
        }
        changed
    }

    fn redact_whole(&self, value: &mut Value) -> usize {
        let text = match &*value {
            Value::Null | Value::Bool(_) => return 0,
            Value::String(s) if s.is_empty() => return 0,
            Value::String(s) if s.starts_with("[REDACTED:") && s.ends_with(']') => return 0,
            Value::String(s) => s.clone(),
            other => compact_json(other),
        };
        let mut marker = String::new();
        self.marker(SENSITIVE_KEY_RULE, &text, &mut marker);
        dismantle(std::mem::replace(value, Value::String(marker)));
        1
    }

    /// Runs every detector over `hay`, appending raw (unmerged) findings; with
    /// `near`, only keywords that start in those ranges (sorted, disjoint) are
    /// followed. Returns whether a match grew past its keyword's window.
    fn scan(
        &self,
        hay: &[u8],
        near: Option<&Near>,
        known: Option<&Known>,
        mut seen: Option<&mut Vec<usize>>,
        keep: Option<&mut Vec<Hit>>,
        out: &mut Vec<Finding>,
    ) -> (bool, bool) {
        let set = &self.inner.rules;
        let mut pass = Pass {
            hay,
            searched: Vec::new(),
            // Text redacted before holds markers whose rule ids contain keywords
            // (`[REDACTED:anthropic-api-key]=...` reads like `api-key=...`):
            // keyword occurrences inside a marker trigger nothing.
            has_markers: has_marker(hay),
            grew: false,
            key_memo: None,
            marks: near.map(|n| n.marks.as_slice()),
        };
        // Whether the keyword walk noted the long base64 runs (it does not when
        // there are no keywords, or with the fallback automaton).
        let mut noted = false;
        if let Some(keywords) = &set.keywords {
            let all = 0..hay.len();
            let whole = std::slice::from_ref(&all);
            // A keyword that starts in a range may end past it.
            let overhang = keywords.max_len();
            let mut hits = Vec::new();
            let mut part_hits = Vec::new();
            let mut failed = false;
            for range in near.map_or(whole, |n| n.ranges.as_slice()) {
                let to = range.end.saturating_add(overhang).min(hay.len());
                let Some(part) = hay.get(range.start..to) else {
                    continue;
                };
                // The whole text (the first round) is walked straight into `hits`.
                let into = if near.is_some() {
                    part_hits.clear();
                    &mut part_hits
                } else {
                    &mut hits
                };
                match keywords.find_all(part, into, seen.as_deref_mut()) {
                    Ok(yes) => noted = yes,
                    Err(()) => {
                        failed = true;
                        break;
                    }
                }
                // Near markers, only keywords that overlap one: the others are
                // the first round's, moved.
                if let Some(near) = near {
                    hits.extend(part_hits.iter().filter_map(|hit| {
                        let moved = Hit {
                            start: hit.start + range.start,
                            end: hit.end + range.start,
                            ..*hit
                        };
                        (moved.start < range.end && overlaps(&near.marks, moved.start..moved.end))
                            .then_some(moved)
                    }));
                }
            }
            if failed {
                for (index, rule) in set.rules.iter().enumerate() {
                    search_everywhere(rule, index, hay, out);
                }
                noted = false;
            } else {
                if let Some(near) = near {
                    hits.extend_from_slice(&near.hits);
                    hits.sort_by_key(|h| h.end);
                    hits.dedup();
                }
                for hit in &hits {
                    pass.keyword(set, hit.pattern, hit.start..hit.end, out);
                }
                if let Some(keep) = keep {
                    *keep = hits;
                }
            }
        }
        for &index in &set.unkeyed {
            if let Some(rule) = set.rules.get(index) {
                search_everywhere(rule, index, hay, out);
            }
        }
        if let Some(known) = known {
            for m in known.automaton.find_iter(hay) {
                let mut span = m.range();
                if known.encodings.get(m.pattern().as_usize()) == Some(&Encoding::Base64) {
                    while span.start > 0
                        && hay.get(span.start - 1).copied().is_some_and(is_base64_byte)
                    {
                        span.start -= 1;
                    }
                    while hay.get(span.end).copied().is_some_and(is_base64_byte) {
                        span.end += 1;
                    }
                }
                out.push(Finding {
                    rule: Arc::from(KNOWN_SECRET_RULE),
                    span,
                    checksum: None,
                    order: usize::MAX,
                });
            }
        }
        (pass.grew, noted && seen.is_some())
    }
}

/// What a round after the first searches: the first round's keywords, moved to
/// where they stand in the redacted text (`hits`), and the keywords that overlap
/// one of `marks` (sorted, disjoint), looked for in `ranges` around them; each for
/// the rules whose reach from there holds a marker.
struct Near {
    ranges: Vec<Range<usize>>,
    marks: Vec<Range<usize>>,
    hits: Vec<Hit>,
}

/// Whether `span` overlaps one of `marks` (sorted, disjoint).
fn overlaps(marks: &[Range<usize>], span: Range<usize>) -> bool {
    let first = marks.partition_point(|m| m.end <= span.start);
    marks.get(first).is_some_and(|m| m.start < span.end)
}

/// What a search and its checks read beyond a rule's window: the marker test's
/// look-back, an identifier's tail, a cut escape.
const OVERRUN: usize = 128;

/// The state of one scan of a text.
struct Pass<'h> {
    hay: &'h [u8],
    /// The rules searched so far, each with the window it was searched in last.
    searched: Vec<(usize, Range<usize>)>,
    has_markers: bool,
    grew: bool,
    /// The last identifier asked about by a secret-key check, and the answer.
    key_memo: Option<(Range<usize>, bool)>,
    /// In a round after the first, the markers: a rule is searched only from a
    /// keyword within its reach of one.
    marks: Option<&'h [Range<usize>]>,
}

impl Pass<'_> {
    /// Follows one keyword occurrence: searches each rule it triggers around it.
    fn keyword(&mut self, set: &RuleSet, pattern: usize, at: Range<usize>, out: &mut Vec<Finding>) {
        let hay = self.hay;
        let Some(rules) = set.triggers.get(pattern) else {
            return;
        };
        if self.has_markers && inside_marker(hay, at.start) {
            return;
        }
        for &index in rules {
            let Some(rule) = set.rules.get(index) else {
                continue;
            };
            if let Some(marks) = self.marks {
                let lo = at.start.saturating_sub(rule.before + OVERRUN);
                let hi = at.end.saturating_add(rule.after + OVERRUN);
                if !overlaps(marks, lo..hi) {
                    continue;
                }
            }
            let Some(window) = window(rule, hay, at.start, at.end, &mut self.key_memo) else {
                continue;
            };
            // A text meets few of the rules: they are looked up in a short list.
            match self.searched.iter_mut().find(|(i, _)| *i == index) {
                Some((_, done)) => {
                    // Anchored: this start was tried already. Unanchored: this
                    // region was searched already.
                    let seen = if rule.anchor == Anchor::None {
                        done.start <= window.start && window.end <= done.end
                    } else {
                        done.start == window.start
                    };
                    if seen {
                        continue;
                    }
                    *done = window.clone();
                }
                None => self.searched.push((index, window.clone())),
            }
            // A context rule's keyword must not reach its candidate across a
            // marker: redaction shortens text, and a keyword that was out of reach
            // before must stay so.
            let keyword = (self.has_markers && rule.anchor == Anchor::None).then_some(&at);
            self.grew |= search(rule, index, hay, window, keyword, out);
        }
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.inner.rules.rules.len())
            .field(
                "known_secrets",
                &self
                    .inner
                    .known
                    .read()
                    .map(|k| k.values.len())
                    .unwrap_or_default(),
            )
            .field("correlated", &self.inner.correlation_key.is_some())
            .finish()
    }
}

/// The bytes around a keyword occurrence where `rule` is searched; for anchored
/// rules the window starts where the match must start. `None` when the anchor
/// cannot be satisfied (an XML rule whose identifier has no `<` before it).
/// `memo` holds the last key asked about and whether it names a secret.
fn window(
    rule: &Compiled,
    hay: &[u8],
    start: usize,
    end: usize,
    memo: &mut Option<(Range<usize>, bool)>,
) -> Option<Range<usize>> {
    let ident = |b: u8, colon: bool| {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') || (colon && b == b':')
    };
    let back = |colon: bool| {
        let limit = start.saturating_sub(rule.before);
        let mut from = start;
        while from > limit && hay.get(from - 1).copied().is_some_and(|b| ident(b, colon)) {
            from -= 1;
        }
        // `\nAPI_KEY=` inside a JSON string: the `n` belongs to the escape.
        if from > 0
            && hay.get(from - 1) == Some(&b'\\')
            && matches!(hay.get(from), Some(b'n' | b'r' | b't'))
        {
            from += 1;
        }
        from
    };
    let from = match rule.anchor {
        Anchor::None => start.saturating_sub(rule.before),
        Anchor::Keyword => start,
        Anchor::Assignment => {
            // Cheap test before any automaton runs: is the identifier assigned to?
            // Keys are short: an identifier running on past `KEY_TAIL` bytes after
            // the keyword is not one (and scanning it all would be quadratic on
            // `keykeykey...`).
            let mut at = end;
            while hay.get(at).copied().is_some_and(|b| ident(b, false)) {
                at += 1;
                if at - end > KEY_TAIL {
                    return None;
                }
            }
            while hay
                .get(at)
                .is_some_and(|b| matches!(b, b'"' | b'\'' | b'\\' | b']' | b' ' | b'\t'))
            {
                at += 1;
            }
            if !matches!(hay.get(at), Some(b'=' | b':')) {
                return None;
            }
            let from = back(false);
            // The key check needs no automaton either: the key is this identifier.
            if rule.checks.contains(&Check::SecretKey) {
                let key_end = at_ident_end(hay, end, |b| ident(b, false));
                // The rules a keyword triggers ask about the same key.
                let secret = match *memo {
                    Some((ref k, yes)) if *k == (from..key_end) => yes,
                    _ => {
                        let yes = hay
                            .get(from..key_end)
                            .and_then(|k| std::str::from_utf8(k).ok())
                            .is_some_and(check::is_secret_key);
                        *memo = Some((from..key_end, yes));
                        yes
                    }
                };
                if !secret {
                    return None;
                }
            }
            from
        }
        Anchor::XmlTag => {
            let from = back(true);
            if from == 0 || hay.get(from - 1) != Some(&b'<') {
                return None;
            }
            from - 1
        }
    };
    Some(from..end.saturating_add(rule.after).min(hay.len()))
}

/// Searches `rule` in `window` of `hay`, appending confirmed findings. Returns
/// whether the window had to grow (a match ran into its end).
fn search(
    rule: &Compiled,
    index: usize,
    hay: &[u8],
    window: Range<usize>,
    keyword: Option<&Range<usize>>,
    out: &mut Vec<Finding>,
) -> bool {
    let Some(engine) = rule.engine() else {
        return false;
    };
    let mut at = window.start;
    let mut end = window.end;
    let mut grown = 0;
    while at < end {
        let anchored = rule.anchor != Anchor::None;
        let input = Input::new(hay).span(at..end).anchored(if anchored {
            Anchored::Yes
        } else {
            Anchored::No
        });
        let Some(m) = engine.regex.search(&input) else {
            return grown > 0;
        };
        // A match that runs into the window's end, or stops just short of it, may
        // be cut short (the window can end inside an escape such as `\n`, which
        // the match then stops before): search again with a window twice as wide
        // before trusting it.
        if m.end().saturating_add(CUT_SLACK) >= end && end < hay.len() && grown < MAX_EXTENSION {
            let more = rule.after.max(256).max(grown).min(MAX_EXTENSION - grown);
            grown += more;
            end = end.saturating_add(more).min(hay.len());
            continue;
        }
        let across_marker = keyword.is_some_and(|k| {
            let (a, b) = if k.start < m.start() {
                (k.end.min(m.start()), m.start())
            } else {
                (m.end(), k.start.max(m.end()))
            };
            hay.get(a..b).is_some_and(has_marker)
        });
        let confirmed = if across_marker {
            None
        } else {
            confirm(rule, engine, index, hay, m.range())
        };
        if anchored {
            out.extend(confirmed);
            return grown > 0;
        }
        // After a confirmed match, go on after it; after a rejected one, go on just
        // after its start, so a candidate that swallowed the next one (`--with-token
        // --token X`) does not hide it.
        at = match confirmed {
            Some(f) => {
                out.push(f);
                m.end().max(m.start() + 1)
            }
            None => m.start() + 1,
        };
    }
    grown > 0
}

/// Searches `rule` over all of `hay`, from every position (anchors need a keyword).
fn search_everywhere(rule: &Compiled, index: usize, hay: &[u8], out: &mut Vec<Finding>) {
    let Some(engine) = rule.engine() else {
        return;
    };
    let mut at = 0;
    while at < hay.len() {
        let Some(m) = engine.regex.search(&Input::new(hay).span(at..hay.len())) else {
            return;
        };
        let confirmed = confirm(rule, engine, index, hay, m.range());
        at = match confirmed {
            Some(f) => {
                out.push(f);
                m.end().max(m.start() + 1)
            }
            None => m.start() + 1,
        };
    }
}

/// Applies a rule's groups and checks to one match.
fn confirm(
    rule: &Compiled,
    engine: &Engine,
    index: usize,
    hay: &[u8],
    matched: Range<usize>,
) -> Option<Finding> {
    let (secret, key) = if engine.needs_captures {
        let mut caps = engine.regex.create_captures();
        let input = Input::new(hay)
            .span(matched.clone())
            .anchored(Anchored::Yes);
        engine.regex.search_captures(&input, &mut caps);
        let secret = engine
            .secret_groups
            .iter()
            .find_map(|&g| caps.get_group(g))
            .map_or(matched, |s| s.range());
        let key = engine
            .key_group
            .and_then(|g| caps.get_group(g))
            .map(|s| s.range());
        (secret, key)
    } else {
        (matched, None)
    };
    let text = std::str::from_utf8(hay.get(secret.clone())?).ok()?;
    // A marker left by an earlier pass is not a secret, nor is any part of one
    // (`[REDACTED:npm-token:1a2b3c4d]` looks like `npm-token: 1a2b3c4d`): redaction
    // is idempotent.
    if text.is_empty() || text.contains("[REDACTED") || text.contains("REDACTED:") {
        return None;
    }
    // A vendor's documentation example is not a secret.
    if check::is_published_example(text) {
        return None;
    }
    if inside_marker(hay, secret.start) {
        return None;
    }
    // A value that a marker cuts short (`key=abc[REDACTED:...]`) is what is left of
    // a longer value already redacted, not a secret of its own.
    if hay
        .get(secret.end..)
        .is_some_and(|rest| rest.starts_with(MARKER))
    {
        return None;
    }
    if let Some(floor) = rule.min_entropy
        && check::shannon(text.as_bytes()) < floor
    {
        return None;
    }
    let mut checksum = None;
    for c in &rule.checks {
        let ok = match c {
            Check::SecretKey => key
                .clone()
                .and_then(|k| hay.get(k))
                .and_then(|k| std::str::from_utf8(k).ok())
                .is_some_and(check::is_secret_key),
            Check::NotPlaceholder => !check::is_placeholder(text),
            Check::LooksRandom => check::looks_random(text),
            Check::BasicAuth => check::is_basic_auth(text),
            Check::Base64PrivateKey => check::is_base64_private_key(text),
            Check::Base64Text => check::is_base64_text(text),
            Check::Base62Crc32 => {
                checksum = Some(check::base62_crc32_valid(text));
                true
            }
        };
        if !ok {
            return None;
        }
    }
    Some(Finding {
        rule: rule.id.clone(),
        span: secret,
        checksum,
        order: index,
    })
}

/// Sorts findings and merges overlapping ones; a merged finding keeps the rule of
/// its longest part (the earlier rule in the catalogue on a tie).
fn merge(mut findings: Vec<Finding>) -> Vec<Finding> {
    if findings.len() < 2 {
        return findings;
    }
    findings.sort_by(|a, b| {
        a.span
            .start
            .cmp(&b.span.start)
            .then(b.span.end.cmp(&a.span.end))
            .then(a.order.cmp(&b.order))
    });
    let mut out: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match out.last_mut() {
            Some(last) if f.span.start < last.span.end => {
                if f.span.end > last.span.end {
                    last.span.end = f.span.end;
                }
            }
            _ => out.push(f),
        }
    }
    out
}

/// Whether a JSON key marks its whole value as secret.
pub(crate) fn is_sensitive_key(key: &str) -> bool {
    const EXACT: [&str; 6] = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
    ];
    EXACT.iter().any(|k| key.eq_ignore_ascii_case(k)) || check::is_secret_key(key)
}

/// `ranges` of `hay` widened to the lines they touch and one line either side (at
/// most 64 KiB either way), merged.
fn whole_lines(hay: &[u8], ranges: &[Range<usize>]) -> Vec<Range<usize>> {
    const MAX_LINE: usize = 64 << 10;
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        // Two line breaks back and on: the line itself and its neighbours.
        let floor = r.start.saturating_sub(MAX_LINE);
        let start = hay.get(floor..r.start).map_or(floor, |b| {
            memchr::memrchr_iter(b'\n', b)
                .nth(1)
                .map_or(floor, |n| floor + n + 1)
        });
        let ceiling = r.end.saturating_add(MAX_LINE).min(hay.len());
        let end = hay.get(r.end..ceiling).map_or(ceiling, |b| {
            memchr::memchr_iter(b'\n', b)
                .nth(1)
                .map_or(ceiling, |n| r.end + n)
        });
        match out.last_mut() {
            Some(last) if start <= last.end => last.end = last.end.max(end),
            _ => out.push(start..end),
        }
    }
    out
}

/// Where a marker stands in redacted text, and what it replaced in the original.
struct Marker {
    out: Range<usize>,
    text: Range<usize>,
}

/// A span of redacted text as a span of the original: text between markers is
/// copied verbatim, and a span that touches a marker covers all it replaced.
fn map_back(span: &Range<usize>, markers: &[Marker]) -> Range<usize> {
    let (mut out_at, mut text_at) = (0, 0);
    let mut start = None;
    for m in markers {
        if start.is_none() {
            if span.start < m.out.start {
                start = Some(span.start - out_at + text_at);
            } else if span.start < m.out.end {
                start = Some(m.text.start);
            }
        }
        if span.end <= m.out.start {
            return start.unwrap_or(m.text.start)..span.end - out_at + text_at;
        }
        if span.end <= m.out.end {
            return start.unwrap_or(m.text.start)..m.text.end;
        }
        (out_at, text_at) = (m.out.end, m.text.end);
    }
    let linear = |p: usize| p - out_at + text_at;
    start.unwrap_or_else(|| linear(span.start))..linear(span.end)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// A finding of an armoured block that has no `-----END` in it, reaching on over
/// the text that continues the block (see [`block_rest`]).
pub(crate) fn extend_block(text: &str, f: Finding, finishing: bool) -> Finding {
    let span = f.span();
    let found = text.get(span.clone()).unwrap_or_default();
    if !found.starts_with(BEGIN) || found.contains(END) {
        return f;
    }
    let (more, _) = block_rest(text.get(span.end..).unwrap_or_default(), finishing);
    f.with_end(span.end + more)
}

/// How much of `text` continues an armoured block (base64, blanks, escaped
/// newlines, the `-----END ...-----` line), and whether the block ends within it.
/// A marker or escape cut off at the end of `text` waits for more, unless
/// `finishing`.
pub(crate) fn block_rest(text: &str, finishing: bool) -> (usize, bool) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => i += 1,
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'\\' => {
                let run = bytes
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|&&c| c == b'\\')
                    .count();
                match bytes.get(i + run) {
                    Some(b'n' | b'r' | b't' | b'/') => i += run + 1,
                    Some(_) => return (i, true),
                    None if finishing => return (bytes.len(), true),
                    None => return (i, false),
                }
            }
            b'-' => {
                let rest = text.get(i..).unwrap_or_default();
                if let Some(line) = rest.strip_prefix(END) {
                    // `-----END <kind>-----`: the kind is a few words.
                    let close = line.get(..line.len().min(64)).and_then(|l| l.find("-----"));
                    return match close {
                        Some(c) => (i + END.len() + c + "-----".len(), true),
                        None if finishing || line.len() >= 64 => (i, true),
                        None => (i, false),
                    };
                }
                if END.starts_with(rest) && !finishing {
                    return (i, false);
                }
                return (i, true);
            }
            _ => return (i, true),
        }
    }
    (i, finishing)
}

/// `value` as compact JSON, as `serde_json` writes it, walked with an explicit
/// stack: a value built in code may be nested deeper than the call stack
/// allows (parsed JSON stops at 128 levels).
fn compact_json(value: &Value) -> String {
    /// What is left to write, last first.
    enum Step<'a> {
        Value(&'a Value),
        Member(&'a str, &'a Value),
        Text(&'static str),
    }
    let string = |out: &mut String, s: &str| {
        // Writing a string as JSON cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    };
    let mut out = String::new();
    let mut stack = vec![Step::Value(value)];
    while let Some(step) = stack.pop() {
        let value = match step {
            Step::Text(text) => {
                out.push_str(text);
                continue;
            }
            Step::Member(key, value) => {
                string(&mut out, key);
                out.push(':');
                value
            }
            Step::Value(value) => value,
        };
        match value {
            Value::Object(map) => {
                out.push('{');
                stack.push(Step::Text("}"));
                for (i, (k, v)) in map.iter().enumerate().rev() {
                    stack.push(Step::Member(k, v));
                    if i > 0 {
                        stack.push(Step::Text(","));
                    }
                }
            }
            Value::Array(items) => {
                out.push('[');
                stack.push(Step::Text("]"));
                for (i, v) in items.iter().enumerate().rev() {
                    stack.push(Step::Value(v));
                    if i > 0 {
                        stack.push(Step::Text(","));
                    }
                }
            }
            Value::String(s) => string(&mut out, s),
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    out
}

/// Drops a value level by level: `serde_json::Value`'s own drop recurses, and
/// a value nested deep enough would overflow the stack.
fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_longest_and_unions() {
        let f = |rule: &str, span: Range<usize>, order| Finding {
            rule: Arc::from(rule),
            span,
            checksum: None,
            order,
        };
        let merged = merge(vec![
            f("b", 5..10, 2),
            f("a", 0..6, 1),
            f("c", 20..30, 3),
            f("d", 20..30, 0),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].rule_id(), merged[0].span()), ("a", 0..10));
        assert_eq!((merged[1].rule_id(), merged[1].span()), ("d", 20..30));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let r = Redactor::new().unwrap();
        let text = "token=ghp_R4nd0mF4k3T0k3nV4lu3F0rT3st1ngXy12Ab";
        let found = r.find(text);
        assert_eq!(found.len(), 1);
        let shown = format!("{:?} {}", found[0], found[0]);
        assert!(!shown.contains("R4nd0m"), "{shown}");
        assert!(shown.contains("github-pat"));
    }

    #[test]
    fn map_back_follows_markers() {
        // Original "ab SECRET cd OTHER ef" redacted to "ab [M1] cd [M2] ef".
        let markers = [
            Marker {
                out: 3..7,
                text: 3..9,
            },
            Marker {
                out: 11..15,
                text: 13..18,
            },
        ];
        assert_eq!(map_back(&(0..2), &markers), 0..2);
        assert_eq!(map_back(&(8..10), &markers), 10..12);
        assert_eq!(map_back(&(16..18), &markers), 19..21);
        // Touching a marker takes in all it replaced.
        assert_eq!(map_back(&(1..5), &markers), 1..9);
        assert_eq!(map_back(&(5..9), &markers), 3..11);
        assert_eq!(map_back(&(9..17), &markers), 11..20);
        assert_eq!(map_back(&(0..21), &markers), 0..24);
        assert_eq!(map_back(&(0..2), &[]), 0..2);
    }

    #[test]
    fn a_greedy_candidate_rejected_next_to_a_secret_is_found_in_the_closure() {
        let r = Redactor::new().unwrap();
        // The URI password pattern runs on to the last `@` and takes in the
        // placeholder word, so its first candidate is rejected; once the account
        // key beside it is a marker, the real password is plain to see.
        let text = "REDIS_URL=redis://:kMp43HiHLAWQsZbsylQx@cache,change_me,\
                    AccountKey=o-vIJUjzwuv4VGOfYcHiHL!WQsZbsylQx@db";
        let first = r.apply(text, &r.find_once(text, None, None, None).0);
        assert!(first.contains("kMp43HiHLAWQsZbsylQx"), "one scan misses it");
        let once = r.redact(text).into_owned();
        assert!(!once.contains("kMp43HiHLAWQsZbsylQx"), "{once}");
        assert!(!once.contains("o-vIJUjzwuv4VGOfYcHiHL"), "{once}");
        assert!(r.find(&once).is_empty(), "{once}");
        assert_eq!(r.redact(&once), once);
        assert_eq!(r.apply(text, &r.find(text)), once);
    }

    #[test]
    fn every_built_in_pattern_compiles() {
        // The catalogue compiles its patterns on first use; compiled now, all of
        // them must build.
        let rules: Vec<Rule> = catalogue::rules().collect();
        let set = RuleSet::build(&rules, 0).unwrap();
        assert_eq!(set.rules.len(), rules.len());
        assert!(set.rules.iter().all(|r| r.engine().is_some()));
    }

    #[test]
    fn boundaries() {
        let t = "aé";
        assert_eq!(floor_boundary(t, 2), 1);
        assert_eq!(ceil_boundary(t, 2), 3);
    }
}
