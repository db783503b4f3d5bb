//! Detectors: what a secret looks like, where to look for it, and how to confirm it.

use std::borrow::Cow;
use std::sync::Arc;

use regex_automata::meta;
use regex_automata::util::syntax;

use crate::check::Check;
use crate::error::BuildError;

/// One detector in the catalogue, or one the embedder adds.
///
/// A rule is found through its **keywords**: literal strings, matched without
/// regard to ASCII case, of which at least one occurs in or just before every
/// secret it finds. Text that contains none of any rule's keywords is not searched
/// further, which is what makes clean text cheap. Around each keyword occurrence
/// the rule's **pattern** is searched in a window (`before` bytes before the
/// keyword, `after` bytes after it). Where the match may start is the rule's
/// [`Anchor`]: at the keyword, at the start of the identifier the keyword is part
/// of when it is assigned to, or anywhere in the window.
///
/// The part of the match that is redacted is the first participating capture
/// group whose name starts with `secret` (`secret`, `secret2`, ...), or the whole
/// match when there is none. A group named `key` is what [`Check::SecretKey`] reads.
///
/// ```
/// use mcpguard_redact::{Anchor, Redactor, Rule};
/// let rule = Rule::new("acme-key", r"acme_[a-z0-9]{16}")
///     .keywords(["acme_"])
///     .anchor(Anchor::Keyword)
///     .provider("Acme");
/// let r = Redactor::builder().rule(rule).build()?;
/// assert_eq!(r.redact("k=acme_0123456789abcdef"), "k=[REDACTED:acme-key]");
/// # Ok::<(), mcpguard_redact::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) id: Cow<'static, str>,
    pub(crate) provider: Cow<'static, str>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) keywords: Vec<Cow<'static, str>>,
    pub(crate) pattern: Cow<'static, str>,
    pub(crate) anchor: Anchor,
    pub(crate) before: usize,
    pub(crate) after: usize,
    pub(crate) min_entropy: Option<f32>,
    pub(crate) checks: Vec<Check>,
    pub(crate) positives: &'static [&'static str],
    pub(crate) negatives: &'static [&'static str],
}

impl Rule {
    /// A rule with an id (`[a-z0-9-]`, shown in `[REDACTED:<id>]`) and a pattern in
    /// the `regex` crate's syntax. Without keywords it is searched over all text.
    ///
    /// Patterns match bytes, with ASCII classes: `\w`, `\d`, `\s`, `\b` and
    /// `(?i)` know ASCII only, and `.` or `[^"]` match any byte (a UTF-8 character
    /// is one to four of them). Secrets are ASCII, and automata without Unicode
    /// tables compile several times faster. Write `(?u:\w)` where a Unicode class
    /// is meant.
    pub fn new(id: impl Into<Cow<'static, str>>, pattern: impl Into<Cow<'static, str>>) -> Self {
        Self {
            id: id.into(),
            provider: Cow::Borrowed("custom"),
            description: Cow::Borrowed(""),
            keywords: Vec::new(),
            pattern: pattern.into(),
            anchor: Anchor::None,
            before: 64,
            after: 512,
            min_entropy: None,
            checks: Vec::new(),
            positives: &[],
            negatives: &[],
        }
    }

    /// Sets the provider shown in the catalogue.
    #[must_use]
    pub fn provider(mut self, provider: impl Into<Cow<'static, str>>) -> Self {
        self.provider = provider.into();
        self
    }

    /// Sets the description shown in the catalogue.
    #[must_use]
    pub fn description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the keywords that trigger the rule (ASCII case does not matter).
    #[must_use]
    pub fn keywords<I, S>(mut self, keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.keywords = keywords.into_iter().map(Into::into).collect();
        self
    }

    /// Where matches start (default: anywhere in the window).
    #[must_use]
    pub fn anchor(mut self, anchor: Anchor) -> Self {
        self.anchor = anchor;
        self
    }

    /// Where matches start.
    pub fn anchor_kind(&self) -> Anchor {
        self.anchor
    }

    /// Sets the search window around a keyword: bytes before and after it.
    #[must_use]
    pub fn window(mut self, before: usize, after: usize) -> Self {
        self.before = before;
        self.after = after;
        self
    }

    /// Drops candidates whose Shannon entropy (bits per byte) is below `bits`.
    #[must_use]
    pub fn min_entropy(mut self, bits: f32) -> Self {
        self.min_entropy = Some(bits);
        self
    }

    /// Adds a validation.
    #[must_use]
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// The stable id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Who issues such secrets.
    pub fn provider_name(&self) -> &str {
        &self.provider
    }

    /// What the rule finds.
    pub fn description_text(&self) -> &str {
        &self.description
    }

    /// The literal keywords.
    pub fn keyword_list(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(|k| k.as_ref())
    }

    /// The pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The entropy floor, if any.
    pub fn entropy_floor(&self) -> Option<f32> {
        self.min_entropy
    }

    /// The validations applied after a match.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// Texts the rule must find (built-in rules carry them; they are obviously fake).
    pub fn positives(&self) -> &[&'static str] {
        self.positives
    }

    /// Texts the rule must leave alone.
    pub fn negatives(&self) -> &[&'static str] {
        self.negatives
    }

    /// Checks the rule and prepares it for searching. With `eager`, the pattern is
    /// compiled now, so that an error in it is reported here; otherwise it is
    /// compiled the first time one of its keywords occurs (the built-in catalogue,
    /// whose patterns the crate's tests compile: a process that redacts a little
    /// text does not pay for a hundred automata it never runs).
    pub(crate) fn compile(&self, eager: bool) -> Result<Compiled, BuildError> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(BuildError::rule_id(&self.id));
        }
        if self.keywords.iter().any(|k| k.is_empty()) {
            return Err(BuildError::pattern(&self.id, "a keyword is empty"));
        }
        let engine = std::sync::OnceLock::new();
        if eager {
            let _ = engine.set(Some(Engine::build(self)?));
        }
        Ok(Compiled {
            id: Arc::from(self.id.as_ref()),
            source: self.clone(),
            engine,
            anchor: self.anchor,
            before: self.before,
            after: self.after.max(1),
            min_entropy: self.min_entropy,
            checks: self.checks.clone(),
        })
    }
}

/// A rule's compiled pattern and what its groups mean.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) regex: meta::Regex,
    pub(crate) needs_captures: bool,
    pub(crate) secret_groups: Vec<usize>,
    pub(crate) key_group: Option<usize>,
}

impl Engine {
    /// Compiles `rule`'s pattern, bytewise with ASCII classes (see [`Rule::new`]).
    /// Size limits make a pathological pattern fail here instead of exhausting
    /// memory.
    fn build(rule: &Rule) -> Result<Self, BuildError> {
        let regex = meta::Regex::builder()
            .configure(
                meta::Config::new()
                    .nfa_size_limit(Some(8 << 20))
                    .onepass_size_limit(Some(1 << 20))
                    .dfa_size_limit(Some(1 << 20))
                    .hybrid_cache_capacity(2 << 20),
            )
            .syntax(
                syntax::Config::new()
                    .nest_limit(64)
                    .unicode(false)
                    .utf8(false),
            )
            .build(&rule.pattern)
            .map_err(|e| BuildError::pattern(&rule.id, &e.to_string()))?;
        let info = regex.group_info();
        let mut secret_groups: Vec<usize> = info
            .pattern_names(regex_automata::PatternID::ZERO)
            .enumerate()
            .filter_map(|(i, name)| name.filter(|n| n.starts_with("secret")).map(|_| i))
            .collect();
        secret_groups.sort_unstable();
        let key_group = info.to_index(regex_automata::PatternID::ZERO, "key");
        if rule.checks.contains(&Check::SecretKey) && key_group.is_none() {
            return Err(BuildError::pattern(
                &rule.id,
                "the secret-key check needs a group named `key`",
            ));
        }
        Ok(Self {
            needs_captures: !secret_groups.is_empty() || key_group.is_some(),
            regex,
            secret_groups,
            key_group,
        })
    }
}

/// A rule ready to search.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) id: Arc<str>,
    /// The rule, for compiling its pattern on first use.
    source: Rule,
    engine: std::sync::OnceLock<Option<Engine>>,
    pub(crate) anchor: Anchor,
    pub(crate) before: usize,
    pub(crate) after: usize,
    pub(crate) min_entropy: Option<f32>,
    pub(crate) checks: Vec<Check>,
}

impl Compiled {
    /// The compiled pattern, compiled now if it was not yet. `None` only for a
    /// lazily compiled rule whose pattern does not compile, which the tests of the
    /// built-in catalogue rule out (every rule of an embedder's is compiled when
    /// the redactor is built, and its error reported then).
    pub(crate) fn engine(&self) -> Option<&Engine> {
        self.engine
            .get_or_init(|| Engine::build(&self.source).ok())
            .as_ref()
    }
}

/// Where a rule's match starts, relative to the keyword that triggered it.
///
/// Anchored searches try one start and stop: they cost a few bytes of automaton
/// walk per keyword, where an unanchored search scans its whole window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Anchor {
    /// Anywhere in the window around the keyword.
    None,
    /// At the keyword itself: prefixed tokens (`ghp_...`).
    Keyword,
    /// At the start of the identifier (`[A-Za-z0-9_.-]`, at most `before` bytes back)
    /// that contains the keyword, when that identifier is assigned to: followed,
    /// after optional quotes, `]`, backslashes and blanks, by `=` or `:`.
    /// `MY_DB_PASSWORD=...` is tried from `M`; `the password is` is not tried.
    Assignment,
    /// At the `<` before such an identifier (`:` allowed too): XML elements.
    XmlTag,
}
