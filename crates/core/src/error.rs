//! Errors of the core crate. Messages follow one rule above all: they name where the
//! problem is and what to write instead, and never echo a value that might be a secret.

use std::fmt;

/// An inventory that could not be read, parsed or accepted.
///
/// It holds every problem found in one pass ([`InventoryError::problems`]): a file
/// that cannot be read, is not TOML or JSON, or has the wrong `version` has just
/// that one; otherwise each unknown, missing or mistyped field, each inline
/// credential and each inconsistency is reported, across all servers and tools.
///
/// Each problem names the file, the line and column where the format has them,
/// the path inside the document (for example `servers[1].tools[0].name`), the
/// server by its id, and what to write instead. Values that might be secrets are
/// never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    origin: String,
    /// Never empty.
    problems: Vec<Problem>,
}

/// One problem of an inventory: what, where, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// What went wrong.
    pub kind: InventoryErrorKind,
    /// Line and column in the file, when the format and the parser know them.
    pub position: Option<Position>,
    /// The path inside the document, such as `servers[1].owner`.
    pub path: Option<String>,
    /// The id of the server the problem is in, when it has a valid one.
    pub server: Option<String>,
    /// The problem and what to write instead, without the location.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(kind: InventoryErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            position: None,
            path: None,
            server: None,
            message: message.into(),
        }
    }

    fn write_location(&self, f: &mut fmt::Formatter<'_>, origin: &str) -> fmt::Result {
        f.write_str(origin)?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if let Some(path) = &self.path {
            write!(f, ": at `{path}`")?;
        }
        if let Some(server) = &self.server {
            let sep = if self.path.is_some() { " in" } else { ":" };
            write!(f, "{sep} server `{server}`")?;
        }
        Ok(())
    }
}

/// What went wrong with an inventory, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InventoryErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not valid TOML or JSON.
    Syntax,
    /// The `version` field is missing or names a version this build does not read.
    Version,
    /// A field is unknown, missing or of the wrong type or value.
    Schema,
    /// The document is well-formed but inconsistent: duplicate names, a tool that
    /// claims data its server does not declare, and the like.
    Invalid,
}

/// A 1-based line and column in an inventory file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`, clamped to the text (an offset
    /// inside a character counts as that character).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = text.get(..offset).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
        Self { line, column }
    }
}

impl InventoryError {
    /// An error with a single problem.
    pub(crate) fn new(kind: InventoryErrorKind, origin: &str, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            problems: vec![Problem::new(kind, message)],
        }
    }

    /// An error with these problems, or `None` when there are none.
    pub(crate) fn from_problems(origin: &str, problems: Vec<Problem>) -> Option<Self> {
        (!problems.is_empty()).then(|| Self {
            origin: origin.to_owned(),
            problems,
        })
    }

    pub(crate) fn at(mut self, position: Option<Position>) -> Self {
        if let Some(first) = self.problems.first_mut() {
            first.position = position;
        }
        self
    }

    pub(crate) fn in_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        if let Some(first) = self.problems.first_mut() {
            first.path = (!path.is_empty() && path != ".").then_some(path);
        }
        self
    }

    fn first(&self) -> Option<&Problem> {
        self.problems.first()
    }

    /// Every problem found, in document order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// What went wrong (of the first problem).
    pub fn kind(&self) -> InventoryErrorKind {
        self.first().map_or(InventoryErrorKind::Invalid, |p| p.kind)
    }

    /// The file name, or the origin the caller gave for an in-memory document.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Line and column of the first problem, when the parser knows them.
    pub fn position(&self) -> Option<Position> {
        self.first().and_then(|p| p.position)
    }

    /// The path inside the document of the first problem, such as
    /// `servers[1].owner`, when known.
    pub fn path(&self) -> Option<&str> {
        self.first().and_then(|p| p.path.as_deref())
    }

    /// The first problem and what to write instead, without the location.
    pub fn message(&self) -> &str {
        self.first().map_or("", |p| p.message.as_str())
    }
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => {
                one.write_location(f, &self.origin)?;
                write!(f, ": {}", one.message)
            }
            many => {
                write!(f, "{}: {} problems", self.origin, many.len())?;
                for p in many {
                    f.write_str("\n  ")?;
                    p.write_location(f, &self.origin)?;
                    write!(f, ": {}", p.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for InventoryError {}

/// A name (server id, tool name, owner) that does not have the required form.
///
/// The offending text is not echoed: a value pasted in the wrong field may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {rule}")]
pub struct NameError {
    what: &'static str,
    rule: &'static str,
}

impl NameError {
    pub(crate) const fn new(what: &'static str, rule: &'static str) -> Self {
        Self { what, rule }
    }

    /// Which kind of name was rejected, e.g. `tool name`.
    pub fn what(&self) -> &str {
        self.what
    }
}

/// Rewrites a parser's message so that it cannot carry a value from the document.
///
/// serde quotes offending values (`invalid type: string "…"`, ``unknown variant `…` ``);
/// a value in the wrong place may be a credential, so quoted strings are dropped and
/// names after `variant`, `field` and `key` are kept only when they are short and
/// name-shaped (field names, variant typos such as `confidental`). Everything else,
/// including the messages this crate writes itself, passes unchanged.
pub(crate) fn scrub_message(message: &str) -> String {
    const HIDDEN: &str = "(value not shown)";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    loop {
        let string_at = rest.find("string \"");
        let name_at = ["variant `", "field `", "key `"]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p.len())))
            .min();
        match (string_at, name_at) {
            (Some(i), n) if n.is_none_or(|(j, _)| i < j) => {
                let (head, tail) = rest.split_at(i);
                out.push_str(head);
                out.push_str("a string");
                // The value is written with Rust's `{:?}`: skip to the unescaped quote.
                let body = tail.get("string \"".len()..).unwrap_or_default();
                let mut escaped = false;
                let end = body.char_indices().find(|&(_, c)| {
                    let close = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    close
                });
                match end {
                    Some((e, _)) => rest = body.get(e + 1..).unwrap_or_default(),
                    None => break,
                }
            }
            (_, Some((j, len))) => {
                let (head, tail) = rest.split_at(j + len);
                out.push_str(head);
                let Some(end) = tail.find('`') else {
                    out.push_str(HIDDEN);
                    break;
                };
                let name = tail.get(..end).unwrap_or_default();
                out.push_str(if is_name_shaped(name) { name } else { HIDDEN });
                out.push('`');
                rest = tail.get(end + 1..).unwrap_or_default();
                if !is_name_shaped(name) {
                    // `(value not shown)` reads better without the backticks.
                    let _ = out.pop();
                    let cut = out.len() - HIDDEN.len() - 1;
                    out.replace_range(cut..=cut, "");
                }
            }
            _ => {
                out.push_str(rest);
                break;
            }
        }
    }
    out.replace('\n', " ")
}

/// Short identifiers, as field and variant names are; anything long, or with digits
/// among the letters, could be a token.
pub(crate) fn is_name_shaped(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '-' | '.'))
        && s.chars().filter(char::is_ascii_uppercase).count() <= 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_chars() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        assert_eq!(
            Position::of_offset(text, 6),
            Position { line: 2, column: 1 }
        );
        assert_eq!(
            Position::of_offset(text, 9),
            Position { line: 2, column: 3 }
        );
        assert_eq!(Position::of_offset(text, 999).line, 3);
        // Not a char boundary: inside `é`.
        assert_eq!(
            Position::of_offset(text, 8),
            Position { line: 2, column: 2 }
        );
    }

    #[test]
    fn scrub_keeps_names_and_drops_values() {
        let m =
            scrub_message("unknown field `tokn`, expected one of `id`, `owner`, `data_classes`");
        assert_eq!(
            m,
            "unknown field `tokn`, expected one of `id`, `owner`, `data_classes`"
        );
        let m = scrub_message(
            r#"invalid type: string "ghp_0123456789abcdefABCDEF", expected a sequence"#,
        );
        assert_eq!(m, "invalid type: a string, expected a sequence");
        let m = scrub_message("unknown variant `AKIA0123456789ABCDEF`, expected `public`");
        assert_eq!(m, "unknown variant (value not shown), expected `public`");
        let m = scrub_message("unknown field `abc");
        assert_eq!(m, "unknown field `(value not shown)");
        let m =
            scrub_message(r#"invalid value: string "a\"b, c", expected x; write `env = "VAR"`"#);
        assert_eq!(
            m,
            r#"invalid value: a string, expected x; write `env = "VAR"`"#
        );
        let m = scrub_message(r#"write `credential = { env = "X" }` or `"none"`"#);
        assert_eq!(m, r#"write `credential = { env = "X" }` or `"none"`"#);
        assert_eq!(
            scrub_message("unknown variant `readOnlyHint`"),
            "unknown variant `readOnlyHint`"
        );
    }
}
