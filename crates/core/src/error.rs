//! Errors of the core crate. Messages follow one rule above all: they name where the
//! problem is and what to write instead, and never echo a value that might be a secret.

use std::fmt;

/// An inventory that could not be read, parsed or accepted.
///
/// The message names the file, the line and column (for syntax and type errors) or
/// the path inside the document (for example `servers[1].tools[0].name`), and what
/// to write instead. Values that might be secrets are never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    kind: InventoryErrorKind,
    origin: String,
    position: Option<Position>,
    path: Option<String>,
    message: String,
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
    pub(crate) fn new(kind: InventoryErrorKind, origin: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            origin: origin.to_owned(),
            position: None,
            path: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(mut self, position: Option<Position>) -> Self {
        self.position = position;
        self
    }

    pub(crate) fn in_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = (!path.is_empty() && path != ".").then_some(path);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> InventoryErrorKind {
        self.kind
    }

    /// The file name, or the origin the caller gave for an in-memory document.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Line and column, when the parser knows them.
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    /// The path inside the document, such as `servers[1].owner`, when known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The problem and what to write instead, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if let Some(path) = &self.path {
            write!(f, ": at `{path}`")?;
        }
        write!(f, ": {}", self.message)
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
fn is_name_shaped(s: &str) -> bool {
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
