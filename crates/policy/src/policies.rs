//! Where policies come from, and how they are parsed, named and validated.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};

use crate::args::Untyped;
use crate::error::{BuildError, BuildErrorKind, diagnostic_offset, line_col};
use crate::index::PolicyIndex;

/// The baseline policy pack, as shipped (`policies/baseline.cedar`).
pub const BASELINE_POLICIES: &str = include_str!("../policies/baseline.cedar");

/// The annotation that turns a forbid into an approval gate: `human` (the
/// person at the client may approve), or `four-eyes` (a reviewer other than the
/// caller must, out of band).
const APPROVAL: &str = "approval";
/// The `@approval` value of a gate only a second person may lift.
const FOUR_EYES: &str = "four-eyes";

/// The policies a gate enforces: the baseline pack (unless left out) and any number
/// of the embedder's, from strings, files or a directory of `*.cedar` files.
///
/// Every policy may carry `@id("...")`, which names it in decisions (ids must be
/// unique across all sources), and `@reason("...")`, the sentence shown to the
/// person whose call it decides. Without `@id` a policy is named
/// `<origin>#<index>`.
#[derive(Debug, Clone)]
pub struct PolicySource {
    baseline: bool,
    texts: Vec<(String, String)>,
}

impl Default for PolicySource {
    fn default() -> Self {
        Self::baseline()
    }
}

impl PolicySource {
    /// The baseline pack alone.
    pub fn baseline() -> Self {
        Self {
            baseline: true,
            texts: Vec::new(),
        }
    }

    /// No policies at all: every call is denied until some are added.
    pub fn empty() -> Self {
        Self {
            baseline: false,
            texts: Vec::new(),
        }
    }

    /// Leaves the baseline pack out (to replace it).
    #[must_use]
    pub fn without_baseline(mut self) -> Self {
        self.baseline = false;
        self
    }

    /// Adds policies from a string; `origin` names it in errors.
    #[must_use]
    pub fn with_str(mut self, origin: impl Into<String>, text: impl Into<String>) -> Self {
        self.texts.push((origin.into(), text.into()));
        self
    }

    /// Adds the policies of one file.
    ///
    /// # Errors
    ///
    /// [`BuildErrorKind::Io`] when the file cannot be read.
    pub fn with_file(self, path: impl AsRef<Path>) -> Result<Self, BuildError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            BuildError::with_source(
                BuildErrorKind::Io,
                format!("{}: cannot read: {e}", path.display()),
                e,
            )
        })?;
        Ok(self.with_str(path.display().to_string(), text))
    }

    /// Adds every `*.cedar` file of a directory, in name order.
    ///
    /// # Errors
    ///
    /// [`BuildErrorKind::Io`] when the directory or a file cannot be read.
    pub fn with_dir(mut self, dir: impl AsRef<Path>) -> Result<Self, BuildError> {
        let dir = dir.as_ref();
        let io = |e: std::io::Error| {
            BuildError::with_source(
                BuildErrorKind::Io,
                format!("{}: cannot read: {e}", dir.display()),
                e,
            )
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?
            .into_iter()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        files.sort();
        for f in files {
            self = self.with_file(f)?;
        }
        Ok(self)
    }

    /// Parses, names and validates every policy against `schema`.
    /// Parses and validates the policies against `schema`. `untyped` lists the
    /// tools' arguments that have no Cedar type: a policy that fails validation
    /// naming one is told why.
    pub(crate) fn compile(
        &self,
        schema: &Schema,
        untyped: &[(String, Untyped)],
    ) -> Result<CompiledPolicies, BuildError> {
        let mut set = PolicySet::new();
        let mut meta = HashMap::new();
        let mut order = Vec::new();
        let mut origins: HashMap<String, (String, usize)> = HashMap::new();
        let texts = self
            .baseline
            .then(|| ("baseline.cedar".to_owned(), BASELINE_POLICIES.to_owned()))
            .into_iter()
            .chain(self.texts.iter().cloned());
        let mut sources: HashMap<String, String> = HashMap::new();
        for (origin, text) in texts {
            let offsets = policy_offsets(&text);
            let parsed = PolicySet::from_str(&text).map_err(|e| {
                let at = diagnostic_offset(&e).map(|o| line_col(&text, o));
                BuildError::new(BuildErrorKind::Parse, located(&origin, at, &e.to_string()))
            })?;
            for (index, policy) in parsed.policies().enumerate() {
                let id = policy
                    .annotation("id")
                    .map_or_else(|| format!("{origin}#{index}"), ToOwned::to_owned);
                let offset = offsets.get(index).copied().unwrap_or(0);
                if let Some((first, _)) = origins.get(&id) {
                    return Err(BuildError::new(
                        BuildErrorKind::DuplicatePolicyId,
                        format!(
                            "{}: policy id `{id}` is already used in {first}; give each policy its own @id",
                            located_origin(&origin, &text, offset)
                        ),
                    ));
                }
                let renamed = policy.new_id(PolicyId::new(&id));
                let reason = policy
                    .annotation("reason")
                    .map_or_else(|| format!("policy `{id}`"), ToOwned::to_owned);
                let gate = policy
                    .annotation(APPROVAL)
                    .filter(|_| policy.effect() == Effect::Forbid);
                let approval = gate.is_some_and(|v| v == "human" || v == FOUR_EYES);
                let four_eyes = gate == Some(FOUR_EYES);
                meta.insert(
                    id.clone(),
                    PolicyMeta {
                        reason: Arc::from(reason.as_str()),
                        approval,
                        four_eyes,
                        forbid: policy.effect() == Effect::Forbid,
                    },
                );
                origins.insert(id.clone(), (origin.clone(), offset));
                order.push(id.clone());
                set.add(renamed).map_err(|e| {
                    BuildError::new(BuildErrorKind::DuplicatePolicyId, format!("{origin}: {e}"))
                })?;
            }
            if parsed.templates().next().is_some() {
                return Err(BuildError::new(
                    BuildErrorKind::Parse,
                    format!("{origin}: policy templates are not supported; write static policies"),
                ));
            }
            sources.insert(origin.clone(), text);
        }
        let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        if let Some(err) = result.validation_errors().next() {
            let id = err.policy_id().to_string();
            let (origin, _) = origins.get(&id).cloned().unwrap_or_default();
            let text = sources.get(&origin).map_or("", String::as_str);
            // Validation spans point into the policy's own source text.
            let at = diagnostic_offset(err).map(|o| line_col(text, o));
            let policy_text = set
                .policy(&PolicyId::new(&id))
                .map(ToString::to_string)
                .unwrap_or_default();
            let why = untyped_hint(&policy_text, untyped);
            return Err(BuildError::new(
                BuildErrorKind::Validation,
                format!(
                    "{}: policy `{id}` does not validate against the mcpguard schema: {err}{why}",
                    located(&origin, at, "").trim_end_matches(": ")
                ),
            ));
        }
        for id in &order {
            let Some(policy) = set.policy(&PolicyId::new(id)) else {
                continue;
            };
            let why = untyped_hint(&policy.to_string(), untyped);
            if !why.is_empty() {
                let (origin, offset) = origins.get(id).cloned().unwrap_or_default();
                let text = sources.get(&origin).map_or("", String::as_str);
                return Err(BuildError::new(
                    BuildErrorKind::Validation,
                    format!(
                        "{}: policy `{id}` does not validate against the mcpguard schema: it names an argument policies cannot see{why}",
                        located_origin(&origin, text, offset)
                    ),
                ));
            }
        }
        let index = PolicyIndex::build(&set);
        Ok(CompiledPolicies {
            set,
            meta,
            order,
            index,
        })
    }
}

/// The byte offsets where the policies of `text` start, found by their effect
/// keyword at the start of a line or after annotations. One pass over the text.
fn policy_offsets(text: &str) -> Vec<usize> {
    let mut hits: Vec<usize> = text
        .match_indices("permit")
        .chain(text.match_indices("forbid"))
        .map(|(i, _)| i)
        .collect();
    hits.sort_unstable();
    hits.into_iter()
        .filter(|&abs| {
            let line_start = text
                .get(..abs)
                .and_then(|t| t.rfind('\n'))
                .map_or(0, |i| i + 1);
            let prefix = text.get(line_start..abs).unwrap_or_default().trim();
            prefix.is_empty() || prefix.ends_with(')')
        })
        .collect()
}

fn located(origin: &str, at: Option<(usize, usize)>, message: &str) -> String {
    match at {
        Some((line, col)) => format!("{origin}:{line}:{col}: {message}"),
        None => format!("{origin}: {message}"),
    }
}

fn located_origin(origin: &str, text: &str, offset: usize) -> String {
    let (line, col) = line_col(text, offset);
    format!("{origin}:{line}:{col}")
}

/// What the gate knows about each policy without asking Cedar on the hot path.
#[derive(Debug, Clone)]
pub(crate) struct PolicyMeta {
    pub(crate) reason: Arc<str>,
    pub(crate) approval: bool,
    /// An approval gate only a reviewer other than the caller may lift.
    pub(crate) four_eyes: bool,
    pub(crate) forbid: bool,
}

/// A validated policy set with its precomputed reasons and its index.
#[derive(Debug)]
pub(crate) struct CompiledPolicies {
    pub(crate) set: PolicySet,
    pub(crate) meta: HashMap<String, PolicyMeta>,
    /// Policy ids in the order of their sources.
    pub(crate) order: Vec<String>,
    pub(crate) index: PolicyIndex,
}

/// Why a policy that names untypable arguments cannot see them: `""` when it
/// names none. Cedar's validator types `context.args has x` as `false` for a name
/// `Args` does not declare and skips what follows, so such a policy would
/// validate and never fire: it is refused instead.
fn untyped_hint(policy: &str, untyped: &[(String, Untyped)]) -> String {
    let policy = policy.split_whitespace().collect::<Vec<_>>().join(" ");
    let named: Vec<String> = untyped
        .iter()
        .filter(|(_, u)| {
            let dotted = u.path.replace("[]", "");
            let (parent, last) = match dotted.rsplit_once('.') {
                Some((parent, last)) => (format!("args.{parent}"), last.to_owned()),
                None => ("args".to_owned(), dotted.clone()),
            };
            policy.contains(&format!("args.{dotted}"))
                || policy.contains(&format!("{parent} has {last}"))
                || policy.contains(&format!("{parent} has \"{last}\""))
                || policy.contains(&format!("{parent}[\"{last}\"]"))
        })
        .map(|(tool, u)| {
            format!(
                "argument `{}` of tool `{tool}` cannot be typed for policies: {}",
                u.path, u.why
            )
        })
        .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!("; {}", named.join("; "))
    }
}
