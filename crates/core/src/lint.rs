//! Tool-definition lint: what a `tools/list` definition carries that a reviewer
//! should see before a model does.
//!
//! A definition is text the model reads as instructions. Tool poisoning hides
//! instructions in it (in the description, a parameter's description, a default
//! value) where the person approving the tool does not look, or hides them from the
//! person outright: tag characters that spell ASCII invisibly, zero-width and
//! bidirectional characters, terminal escapes that conceal text in a console.
//! [`Linter`] walks every string of a definition (values and keys) and reports each
//! problem with a stable [`LintId`], the field (a path such as
//! `inputSchema.properties.path.description`), the byte span, and a sentence a
//! reviewer can act on.
//!
//! **Heuristics can be evaded.** Hidden characters are found exactly; instruction
//! phrasing is found by patterns that a determined author can paraphrase around.
//! The lint complements pinning ([`crate::Fingerprint`]: a changed definition is a
//! changed tool) and human review; it does not replace them.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fingerprint::canonical_json;
use crate::json::MAX_JSON_DEPTH;
use crate::sanitize::{Hidden, hidden};

/// What a lint finding is about. The ids are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LintId {
    /// Unicode tag characters (U+E0000 to U+E007F): invisible, and able to spell
    /// any ASCII text that a model reads and a person does not see.
    HiddenTagCharacters,
    /// Zero-width, joiner, filler and other invisible characters.
    InvisibleCharacters,
    /// Bidirectional controls that reorder what a person sees.
    BidiControl,
    /// A tool name with non-ASCII letters: a homoglyph of another name, or a mix
    /// of scripts.
    DeceptiveName,
    /// Terminal escape sequences: text hidden, recoloured or overwritten in a
    /// console.
    TerminalEscape,
    /// Other control characters (backspace, carriage tricks, NUL, C1).
    ControlCharacter,
    /// Text that addresses the model with instructions: to ignore its
    /// instructions, to keep something from the user, to read or send data.
    ModelInstruction,
    /// Prompt-style markup that frames instructions: `<IMPORTANT>`, `<system>`,
    /// `[INST]`, or an HTML comment.
    InstructionMarkup,
    /// A path to credentials or agent configuration (`~/.ssh`, `mcp.json`, `.env`).
    SensitivePath,
    /// A name of another server's tool, or another server: instructions that
    /// shadow or redirect a tool this server does not own.
    CrossToolReference,
    /// A secret, or a URL with credentials in it.
    Credential,
    /// A definition far larger than its peers, a text field over the size limit
    /// ([`Linter::max_text`]), or blank padding that pushes text out of view:
    /// room for hidden instructions.
    OversizedDefinition,
}

impl LintId {
    /// Every id, in report order.
    pub const ALL: [Self; 12] = [
        Self::HiddenTagCharacters,
        Self::InvisibleCharacters,
        Self::BidiControl,
        Self::DeceptiveName,
        Self::TerminalEscape,
        Self::ControlCharacter,
        Self::ModelInstruction,
        Self::InstructionMarkup,
        Self::SensitivePath,
        Self::CrossToolReference,
        Self::Credential,
        Self::OversizedDefinition,
    ];

    /// The stable id, as in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HiddenTagCharacters => "hidden-tag-characters",
            Self::InvisibleCharacters => "invisible-characters",
            Self::BidiControl => "bidi-control",
            Self::DeceptiveName => "deceptive-name",
            Self::TerminalEscape => "terminal-escape",
            Self::ControlCharacter => "control-character",
            Self::ModelInstruction => "model-instruction",
            Self::InstructionMarkup => "instruction-markup",
            Self::SensitivePath => "sensitive-path",
            Self::CrossToolReference => "cross-tool-reference",
            Self::Credential => "credential",
            Self::OversizedDefinition => "oversized-definition",
        }
    }

    /// What the finding means and what to do, in a sentence.
    pub const fn explanation(self) -> &'static str {
        match self {
            Self::HiddenTagCharacters => {
                "Unicode tag characters are invisible to people but spell text a model reads; a legitimate definition has none: reject the server or ask its author why they are there."
            }
            Self::InvisibleCharacters => {
                "Invisible characters can hide or split words so that a reviewer and a model read different text; remove them or reject the definition."
            }
            Self::BidiControl => {
                "Bidirectional controls reorder how text is displayed, so what a reviewer sees is not what the model reads; reject the definition unless the text is right-to-left by design."
            }
            Self::DeceptiveName => {
                "The tool name uses non-ASCII letters that can imitate another tool's name (a homoglyph); tool names should be plain ASCII: rename or reject it."
            }
            Self::TerminalEscape => {
                "Terminal escape sequences can hide, recolour or overwrite text in a console where people review tools; a definition has no reason to carry them: reject it."
            }
            Self::ControlCharacter => {
                "Control characters can overwrite or hide text when displayed; remove them or reject the definition."
            }
            Self::ModelInstruction => {
                "This text gives the model instructions beyond what the tool does (to ignore its instructions, keep something from the user, or read or send data); read the full definition before approving the server."
            }
            Self::InstructionMarkup => {
                "Prompt-style markup frames hidden instructions for the model; read what it encloses and reject the definition if it is not plain documentation."
            }
            Self::SensitivePath => {
                "The definition names a file that holds credentials or agent configuration; a tool's documentation has no reason to, so check what it asks the model to do with it."
            }
            Self::CrossToolReference => {
                "The definition names another server's tool or another server, which can redirect or shadow how the model uses that tool; check why, and reject the definition if it instructs about tools it does not own."
            }
            Self::Credential => {
                "The definition contains what looks like a secret or a URL with credentials; the secret is exposed to every client that lists the tool: rotate it and remove it."
            }
            Self::OversizedDefinition => {
                "The definition is far larger than the server's other tools or than any description needs, or pads text out of view with blanks, which leaves room for instructions a reviewer skims past; read it in full."
            }
        }
    }
}

impl fmt::Display for LintId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in one field of one tool definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LintFinding {
    /// What kind of problem.
    pub id: LintId,
    /// The tool's name as listed (`?` when it has none).
    pub tool: String,
    /// Where: `name`, `description`, `inputSchema.properties.path.description`,
    /// `inputSchema.properties.<key> (key)` for a key, or empty for the whole
    /// definition.
    pub field: String,
    /// The byte range in that field's text (the whole text for whole-field
    /// findings).
    pub span: Range<usize>,
    /// The offending text, with hidden characters shown as `\u{...}` and long
    /// text cut (secrets are not shown: only their length).
    pub excerpt: String,
    /// What it means and what to do.
    pub explanation: String,
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} at {}..{}: {} — {}",
            self.tool,
            self.field,
            self.id,
            self.span.start,
            self.span.end,
            self.excerpt,
            self.explanation
        )
    }
}

/// Finds secrets in text (byte spans), for example a `Redactor`'s `find`.
pub type SecretFinder<'a> = &'a (dyn Fn(&str) -> Vec<Range<usize>> + Sync);

/// The longest text field ([`Linter::max_text`]) a definition may have before it is
/// reported as oversized on its own, in bytes: 10 KiB.
pub const DEFAULT_MAX_TEXT: usize = 10 * 1024;

/// A run of blanks this long, or of this many line breaks, before more text is
/// padding that pushes the text after it out of view.
const PADDING_BLANKS: usize = 200;
const PADDING_LINES: usize = 10;

/// Lints tool definitions (see the module docs).
pub struct Linter<'a> {
    others: Vec<String>,
    secrets: Option<SecretFinder<'a>>,
    max_text: usize,
}

impl Default for Linter<'_> {
    fn default() -> Self {
        Self {
            others: Vec::new(),
            secrets: None,
            max_text: DEFAULT_MAX_TEXT,
        }
    }
}

impl fmt::Debug for Linter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Linter")
            .field("others", &self.others)
            .field("secrets", &self.secrets.is_some())
            .field("max_text", &self.max_text)
            .finish()
    }
}

/// Shown for a hidden character.
fn escaped(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if hidden(c).is_some() || c == '\\' {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// A short, safe rendering of `text[span]`.
fn excerpt(text: &str, span: &Range<usize>) -> String {
    let part = text.get(span.clone()).unwrap_or_default();
    let shown: String = part.chars().take(80).collect();
    let mut e = escaped(&shown);
    if shown.len() < part.len() {
        e.push('…');
    }
    e
}

/// A pattern of this module (they are constants, compiled once; one that failed
/// to compile would match nothing, and the tests would fail).
fn pattern(p: &str) -> Option<Regex> {
    Regex::new(p).ok()
}

/// Instructions aimed at the model. Matched case-insensitively on the text with
/// whitespace runs allowed between words.
static INSTRUCTIONS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)\b(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+)?(previous|prior|above|earlier|preceding|other|system|original)\s+(instructions?|rules|directions|guidelines|prompts?|messages)\b",
        r"(?i)\b(do\s+not|don'?t|never|must\s+not|should\s+not)\s+(tell|inform|mention|reveal|show|notify|alert|disclose|let)\b[^.\n]{0,80}\b(the\s+)?user",
        r"(?i)\bwithout\s+(telling|informing|notifying|alerting|asking|showing)\s+(the\s+)?user",
        r"(?i)\b(hide|conceal)\s+(this|it|that|these)\s+from\s+(the\s+)?user",
        r"(?i)\b(the\s+)?user\s+(must|should)\s+(not|never)\s+(know|see|notice|find\s+out|be\s+told)",
        r"(?i)\b(before|prior\s+to)\s+(using|calling|invoking)\s+(this|any)\s+tool,?\s+((you\s+)?(must|should|always|first|need\s+to)\s+)?(read|call|send|pass|include|provide|fetch|open)\b",
        r"(?i)\b(you|the\s+assistant|the\s+model|the\s+ai|the\s+agent)\s+(must|should|shall|need\s+to|have\s+to|are\s+required\s+to)\s+(always\s+|first\s+|also\s+|secretly\s+|silently\s+)?(read|send|forward|upload|exfiltrate|attach|pass|leak|copy|email)\b",
        r"(?i)\b(this\s+is\s+)?(your\s+)?(new|updated|real)\s+(instructions|system\s+prompt)\b",
        r"(?i)\bsystem\s+prompt\b",
        r"(?i)\b(secretly|silently|covertly)\s+(read|send|forward|upload|copy|include|call|add)\b",
        r"(?i)\b(send|forward|redirect|bcc|cc|copy|route)\b[^.\n]{0,80}\bto\s+[\w.+-]+@[\w-]+\.[\w.-]+",
        r"(?i)\bwhen\s+(this\s+tool\s+is\s+(available|present|loaded)|the\s+\w+\s+tool\s+is\s+(called|used|invoked))",
        r"(?i)\bwhen\b[^.\n]{0,60}\b(is|are)\s+(invoked|called)\b",
        r"(?i)\b(pass|attach|include|put|send)\s+(its|the|their|this|that)\s+contents?\s+(of\s+\S+\s+)?(as|in|into)\b",
        // Concealment: keeping something from the user or out of what they read.
        r"(?i)\b(leave|keep)\s+(this|it|that|these)\s+out\s+of\s+(any|the|your|all)\b",
        r"(?i)\b(omit|exclude|strip|remove)\s+(this|it|that|these)(\s+(part|section|note|step))?\s+from\s+(any|the|your|all)\s+(summary|summaries|response|responses|answer|reply|output|report)",
        r"(?i)\b(do\s+not|don'?t|never)\s+(mention|reveal|disclose|discuss|repeat|summari[sz]e|acknowledge)\s+(this|that|these|the\s+following|it)\b",
        r"(?i)\bkeep\s+(this|it|that)\s+(a\s+)?(secret|hidden|confidential|private|between\s+us)\b",
        // Requests for what the tool's job does not need: the conversation, keys.
        r"(?i)\b(include|pass|send|attach|append|add|copy|put|provide|forward)\b[^.\n]{0,40}\b(entire|full|whole|complete|previous|prior|earlier)\s+(conversation|chat|dialog(ue)?|message\s+history|messages|context\s+window)\b",
        r"(?i)\b(include|pass|send|attach|append|add|copy|put|forward)\b[^.\n]{0,40}\b(your|the\s+user'?s|all|any\s+available|every)\s+(api\s+keys?|access\s+tokens?|tokens|passwords?|credentials|secrets|private\s+keys?|ssh\s+keys?|environment\s+variables|env\s+vars)\b",
    ]
    .iter()
    .filter_map(|p| pattern(p))
    .collect()
});

/// Markup and labels that frame text as coming from the system or an authority,
/// or that pretend the definition ended.
static MARKUP: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)<\s*/?\s*(important|system|instructions?|secret|hidden|admin|override|prompt|assistant|context)\b[^>]{0,80}>|\[/?(inst|sys|system)\]|<<\s*/?sys\s*>>|<\|im_(start|end)\|>|<!--",
        // Chat-template tokens and fake closing tags of the definition around it.
        r"(?i)<\|(system|user|assistant|endoftext|end|eot_id|start_header_id)\|>|</\s*(tool_description|description|tool|tools|function|functions|function_results|tool_result|result|output|user|user_query|document|documents)\s*>",
        // A speaker label in capitals where a line or sentence starts: `SYSTEM:`.
        r"(?m)(^|[.!?]\s+)[ \t>*_]*(SYSTEM|ASSISTANT|DEVELOPER|ADMIN|ADMINISTRATOR|OPERATOR)\s*(MESSAGE|PROMPT|NOTE|OVERRIDE)?\s*:",
        // A heading that opens instructions: `### Instruction`, `## System`.
        r"(?im)^[ \t]*#{1,6}[ \t]*(system|instructions?|new\s+instructions?|important\s+instructions?|admin|developer\s+note)\b",
    ]
    .iter()
    .filter_map(|p| pattern(p))
    .collect()
});

/// Text that tells the model how to use *another* tool: shadowing it, replacing
/// it, or feeding it data. `id` is the tool, in backticks or quotes, written as an
/// identifier (`send_email`, `fs.read`), or followed by the word "tool".
static OTHER_TOOL_USE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    pattern(
        r#"(?i)\b(?:(?:before|after|when|whenever|while|each\s+time)\s+(?:you\s+)?(?:call|calling|use|using|invoke|invoking|run|running)|instead\s+of(?:\s+(?:calling|using|invoking))?|rather\s+than(?:\s+(?:calling|using|invoking))?|(?:a\s+)?drop-in\s+replacement\s+(?:for|of)|replaces|supersedes|overrides|(?:also\s+)?(?:pass|send|forward|give|copy)\b[^.\n]{0,60}?\b(?:to|into))\s+(?:the\s+)?(?P<id>`[^`\s]{2,64}`|'[A-Za-z][\w.-]{1,63}'|"[A-Za-z][\w.-]{1,63}"|[A-Za-z][A-Za-z0-9]*(?:[._][A-Za-z0-9]+)+|[A-Za-z][\w.-]{1,63}\s+tool\b)"#,
    )
});

static SENSITIVE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    pattern(
        r"(?i)~/\.ssh\b|\bid_(rsa|dsa|ecdsa|ed25519)\b|\.aws/credentials|\.cursor/|\bmcp\.json\b|claude_desktop_config\.json|/etc/(passwd|shadow)\b|(^|[\s/'`(])\.env\b|\.netrc\b|\.git-credentials\b|\.npmrc\b|\.pypirc\b|\.kube/config\b|\.docker/config\.json\b|\.gnupg\b",
    )
});

static URL_CREDENTIALS: LazyLock<Option<Regex>> =
    LazyLock::new(|| pattern(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/@:]+:[^\s/@]+@[^\s/]"));

/// Keys whose string values are machine syntax, not prose: checked for hidden
/// characters only.
fn is_syntax_key(key: &str) -> bool {
    matches!(
        key,
        "type"
            | "format"
            | "$schema"
            | "$ref"
            | "$id"
            | "pattern"
            | "contentEncoding"
            | "contentMediaType"
    )
}

impl<'a> Linter<'a> {
    /// A linter with no knowledge of other servers and no secret finder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names of other servers and of their tools: a definition that mentions one
    /// is reported ([`LintId::CrossToolReference`]). Names shorter than four
    /// characters are ignored (too common as words).
    #[must_use]
    pub fn other_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.others.extend(
            names
                .into_iter()
                .map(Into::into)
                .filter(|n| n.chars().count() >= 4),
        );
        self.others.sort();
        self.others.dedup();
        self
    }

    /// The longest a text field of a definition (a description, a parameter's
    /// description) may be, in bytes, whitespace included, before it is reported
    /// as [`LintId::OversizedDefinition`] on its own, even when it is the server's
    /// only tool. [`DEFAULT_MAX_TEXT`] unless set.
    #[must_use]
    pub fn max_text(mut self, bytes: usize) -> Self {
        self.max_text = bytes;
        self
    }

    /// How to find secrets ([`LintId::Credential`]); without one, only URLs with
    /// credentials are found.
    #[must_use]
    pub fn secrets(mut self, finder: SecretFinder<'a>) -> Self {
        self.secrets = Some(finder);
        self
    }

    /// The findings of one definition, in field order.
    pub fn lint_tool(&self, tool: &Value) -> Vec<LintFinding> {
        self.lint_tool_among(tool, &[])
    }

    /// [`Linter::lint_tool`], knowing the names of the server's other tools
    /// (`siblings`): a definition may say how to use those.
    fn lint_tool_among(&self, tool: &Value, siblings: &[&str]) -> Vec<LintFinding> {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let mut out = Vec::new();
        if let Some(n) = tool.get("name").and_then(Value::as_str) {
            self.check_name(&name, n, &mut out);
        }
        // (path, value, in schema syntax, depth)
        let mut stack: Vec<(String, &Value, bool, usize)> = vec![(String::new(), tool, false, 0)];
        let mut too_deep = false;
        while let Some((path, value, syntax, depth)) = stack.pop() {
            if depth > MAX_JSON_DEPTH {
                // Not walked further: no parser would have produced it, and a
                // client may fail on it. Reported once.
                if !too_deep {
                    too_deep = true;
                    out.push(finding(
                        LintId::OversizedDefinition,
                        &name,
                        &path,
                        0..0,
                        format!("nested deeper than {MAX_JSON_DEPTH} levels; not checked below"),
                    ));
                }
                continue;
            }
            match value {
                Value::String(s) => {
                    self.check_text(
                        &name,
                        siblings,
                        &path,
                        s,
                        !syntax && path != "name",
                        &mut out,
                    );
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate().rev() {
                        stack.push((format!("{path}[{i}]"), v, syntax, depth + 1));
                    }
                }
                Value::Object(map) => {
                    for (k, v) in map.iter().rev() {
                        let child = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        // Keys are text too (a parameter named in another script,
                        // or with a hidden payload).
                        self.check_hidden(&name, &format!("{child} (key)"), k, &mut out);
                        stack.push((child, v, is_syntax_key(k), depth + 1));
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        out
    }

    /// The findings of a server's `tools/list` (an array of definitions, or an
    /// object with a `tools` array), with definitions far larger than their peers.
    pub fn lint_tools(&self, tools: &Value) -> Vec<LintFinding> {
        let list: &[Value] = match tools {
            Value::Array(items) => items,
            Value::Object(map) => map
                .get("tools")
                .and_then(Value::as_array)
                .map_or(&[], Vec::as_slice),
            _ => &[],
        };
        let siblings: Vec<&str> = list
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .collect();
        let mut out: Vec<LintFinding> = list
            .iter()
            .flat_map(|t| self.lint_tool_among(t, &siblings))
            .collect();
        let sizes: Vec<usize> = list.iter().map(|t| canonical_json(t).len()).collect();
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        for (tool, &size) in list.iter().zip(&sizes) {
            let outlier =
                (sizes.len() >= 3 && size > 2048 && size > 4 * median) || size > 16 * 1024;
            if outlier {
                let name = tool.get("name").and_then(Value::as_str).unwrap_or("?");
                out.push(finding(
                    LintId::OversizedDefinition,
                    name,
                    "",
                    0..size,
                    format!("{size} bytes; the median of this server's tools is {median}"),
                ));
            }
        }
        out
    }

    fn check_name(&self, tool: &str, name: &str, out: &mut Vec<LintFinding>) {
        if name.is_ascii() {
            return;
        }
        let scripts = scripts_of(name);
        let detail = if scripts.len() > 1 {
            format!(
                "`{}` mixes {} letters",
                escaped(name),
                scripts.join(" and ")
            )
        } else {
            format!(
                "`{}` has non-ASCII letters ({})",
                escaped(name),
                scripts.join(", ")
            )
        };
        out.push(finding(
            LintId::DeceptiveName,
            tool,
            "name",
            0..name.len(),
            detail,
        ));
    }

    fn check_hidden(&self, tool: &str, field: &str, text: &str, out: &mut Vec<LintFinding>) {
        let mut runs: Vec<(LintId, Range<usize>)> = Vec::new();
        let mut indices = text.char_indices().peekable();
        while let Some((at, c)) = indices.next() {
            let id = match hidden(c) {
                None => continue,
                Some(Hidden::Tag) => LintId::HiddenTagCharacters,
                Some(Hidden::Bidi) => LintId::BidiControl,
                Some(Hidden::Control) if c == '\u{1b}' || c == '\u{9b}' => LintId::TerminalEscape,
                Some(Hidden::Control) => LintId::ControlCharacter,
                Some(Hidden::Invisible | Hidden::Joiner | Hidden::Selector) => {
                    // A selector right after an emoji or CJK character is part of it.
                    if matches!(hidden(c), Some(Hidden::Selector))
                        && text
                            .get(..at)
                            .and_then(|b| b.chars().next_back())
                            .is_some_and(|p| !p.is_ascii() && hidden(p).is_none())
                    {
                        continue;
                    }
                    LintId::InvisibleCharacters
                }
            };
            let end = at + c.len_utf8();
            // An escape sequence: ESC and what follows up to its final letter.
            let end = if id == LintId::TerminalEscape {
                let mut e = end;
                while let Some(&(i, n)) = indices.peek() {
                    e = i + n.len_utf8();
                    indices.next();
                    if n.is_ascii_alphabetic() || n == '\u{7}' || e - at > 64 {
                        break;
                    }
                }
                e
            } else {
                end
            };
            match runs.last_mut() {
                Some((last, span)) if *last == id && span.end == at => span.end = end,
                _ => runs.push((id, at..end)),
            }
        }
        for (id, span) in runs {
            let mut detail = excerpt(text, &span);
            if id == LintId::HiddenTagCharacters {
                // Tag characters spell ASCII: show what they say.
                let spelled: String = text
                    .get(span.clone())
                    .unwrap_or_default()
                    .chars()
                    .filter_map(|c| char::from_u32(u32::from(c).wrapping_sub(0xE0000)))
                    .filter(|c| c.is_ascii_graphic() || *c == ' ')
                    .take(120)
                    .collect();
                detail = format!("{} tag characters spelling {spelled:?}", span.len() / 4);
            }
            out.push(finding(id, tool, field, span, detail));
        }
    }

    fn check_text(
        &self,
        tool: &str,
        siblings: &[&str],
        field: &str,
        text: &str,
        prose: bool,
        out: &mut Vec<LintFinding>,
    ) {
        let first = out.len();
        self.check_text_unsorted(tool, siblings, field, text, prose, out);
        // In the order a reader meets them.
        if let Some(these) = out.get_mut(first..) {
            these.sort_by_key(|f| (f.span.start, f.id));
        }
    }

    fn check_text_unsorted(
        &self,
        tool: &str,
        siblings: &[&str],
        field: &str,
        text: &str,
        prose: bool,
        out: &mut Vec<LintFinding>,
    ) {
        self.check_hidden(tool, field, text, out);
        if !prose {
            return;
        }
        self.check_size(tool, field, text, out);
        // Phrases are matched on the text as a reader sees it: hidden characters
        // out (they are reported above), positions mapped back.
        let (visible, map) = visible_text(text);
        let back = |r: Range<usize>| -> Range<usize> {
            // No map: the text is read as it is.
            let Some(map) = &map else {
                return r.start.min(text.len())..r.end.min(text.len());
            };
            let start = map.get(r.start).map_or(text.len(), |m| m.start);
            let end = r
                .end
                .checked_sub(1)
                .and_then(|i| map.get(i))
                .map_or(start, |m| m.end);
            start..end.max(start)
        };
        let phrases = INSTRUCTIONS
            .iter()
            .map(|re| (LintId::ModelInstruction, re))
            .chain(MARKUP.iter().map(|re| (LintId::InstructionMarkup, re)))
            .chain(SENSITIVE.iter().map(|re| (LintId::SensitivePath, re)));
        for (id, re) in phrases {
            for m in re.find_iter(&visible) {
                let span = back(m.range());
                let shown = excerpt(text, &span);
                out.push(finding(id, tool, field, span, shown));
            }
        }
        self.check_other_tools(tool, siblings, field, &visible, &back, out);
        let lower = visible.to_ascii_lowercase();
        for other in &self.others {
            let needle = other.to_ascii_lowercase();
            let mut from = 0;
            while let Some(pos) = lower.get(from..).and_then(|t| t.find(&needle)) {
                let start = from + pos;
                let end = start + needle.len();
                let word =
                    |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                let before = lower.get(..start).and_then(|t| t.chars().next_back());
                let after = lower.get(end..).and_then(|t| t.chars().next());
                if !word(before) && !word(after) {
                    let span = back(start..end);
                    out.push(finding(
                        LintId::CrossToolReference,
                        tool,
                        field,
                        span.clone(),
                        format!("names `{other}`"),
                    ));
                }
                from = end;
            }
        }
        let mut secret_spans: Vec<Range<usize>> = URL_CREDENTIALS
            .iter()
            .flat_map(|re| re.find_iter(&visible))
            .map(|m| back(m.range()))
            .collect();
        if let Some(find) = self.secrets {
            secret_spans.extend(find(text));
        }
        secret_spans.sort_by_key(|r| (r.start, r.end));
        secret_spans.dedup_by(|b, a| b.start < a.end);
        for span in secret_spans {
            let len = span.len();
            out.push(finding(
                LintId::Credential,
                tool,
                field,
                span,
                format!("{len} bytes not shown"),
            ));
        }
    }
}

/// Whether a dotted name is a host (`api.example.com`, `docs.rs`) or a file
/// (`config.json`) rather than a tool (`fs.read`, `github.create_issue`).
fn host_or_file(name: &str) -> bool {
    const ENDINGS: [&str; 24] = [
        "com", "org", "net", "io", "dev", "rs", "ai", "co", "app", "gov", "edu", "json", "yaml",
        "yml", "toml", "txt", "md", "csv", "py", "js", "ts", "sh", "log", "html",
    ];
    name.matches('.').count() >= 2
        || name
            .rsplit_once('.')
            .is_some_and(|(_, last)| ENDINGS.contains(&last))
}

/// `text` as the phrase patterns read it, and for each byte of it, the range of
/// `text` it came from (`None` when it is `text` itself): hidden characters out (they are reported on their own),
/// HTML character references decoded (`I&#103;nore`), Unicode spaces and line or
/// paragraph separators as spaces, and a letter that stands for an ASCII one read
/// as that letter: by compatibility (NFKC: fullwidth `ｉ`, the ligature `ﬁ`), or by
/// its confusable skeleton (Unicode TR #39: a Cyrillic `о` in "ignore", an
/// accented `ï`).
fn visible_text(text: &str) -> (Cow<'_, str>, Option<Vec<Range<usize>>>) {
    let plain = text
        .chars()
        .all(|c| c.is_ascii() && c != '&' && hidden(c).is_none());
    if plain {
        return (Cow::Borrowed(text), None);
    }
    let mut out = String::with_capacity(text.len());
    let mut map: Vec<Range<usize>> = Vec::with_capacity(text.len());
    let push = |out: &mut String, map: &mut Vec<Range<usize>>, s: &str, from: &Range<usize>| {
        out.push_str(s);
        map.extend(std::iter::repeat_n(from.clone(), s.len()));
    };
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let (c, from) = match c {
            '&' => match char_reference(text.get(i..).unwrap_or_default()) {
                Some((decoded, len)) => {
                    // The reference's other characters are part of it.
                    while chars.peek().is_some_and(|&(k, _)| k < i + len) {
                        chars.next();
                    }
                    (decoded, i..i + len)
                }
                None => ('&', i..i + 1),
            },
            c => (c, i..i + c.len_utf8()),
        };
        if hidden(c).is_some() {
            continue;
        }
        let mut b = [0u8; 4];
        if c.is_ascii() {
            push(&mut out, &mut map, c.encode_utf8(&mut b), &from);
        } else if c.is_whitespace() {
            push(&mut out, &mut map, " ", &from);
        } else if let Some(reading) = ascii_reading(c) {
            push(&mut out, &mut map, &reading, &from);
        } else {
            push(&mut out, &mut map, c.encode_utf8(&mut b), &from);
        }
    }
    (Cow::Owned(out), Some(map))
}

/// The ASCII letters or digits a non-ASCII character is read as, if any.
fn ascii_reading(c: char) -> Option<String> {
    use unicode_general_category::{GeneralCategory, get_general_category};
    use unicode_normalization::UnicodeNormalization as _;
    let ascii = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    let compatible: String = std::iter::once(c).nfkc().collect();
    if ascii(&compatible) {
        return Some(compatible);
    }
    let mut one = [0u8; 4];
    let skeleton: String =
        unicode_security::confusable_detection::skeleton(c.encode_utf8(&mut one))
            .filter(|&k| get_general_category(k) != GeneralCategory::NonspacingMark)
            .collect();
    ascii(&skeleton).then_some(skeleton)
}

/// The character an HTML character reference at the start of `text` stands for,
/// and the reference's length: `&#103;`, `&#x67;`, `&amp;` and the other named
/// references prose uses.
fn char_reference(text: &str) -> Option<(char, usize)> {
    let body = text.get(1..)?;
    let end = body.get(..body.len().min(12))?.find(';')?;
    let name = body.get(..end)?;
    let c = if let Some(num) = name.strip_prefix('#') {
        let value = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        char::from_u32(value)?
    } else {
        match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => ' ',
            "shy" => '\u{ad}',
            "zwj" => '\u{200d}',
            "zwnj" => '\u{200c}',
            _ => return None,
        }
    };
    Some((c, end + 2))
}

impl Linter<'_> {
    /// Instructions about another tool, found from the text itself: the peer list
    /// is not needed (a tool in it is reported by name, once, below).
    fn check_other_tools(
        &self,
        tool: &str,
        siblings: &[&str],
        field: &str,
        visible: &str,
        back: &dyn Fn(Range<usize>) -> Range<usize>,
        out: &mut Vec<LintFinding>,
    ) {
        const NOT_TOOLS: [&str; 12] = [
            "this", "that", "the", "any", "it", "other", "another", "each", "every", "same",
            "your", "a",
        ];
        let Some(re) = OTHER_TOOL_USE.as_ref() else {
            return;
        };
        for caps in re.captures_iter(visible) {
            let Some(id) = caps.name("id") else { continue };
            let name = id.as_str().trim_matches(|c| matches!(c, '`' | '\'' | '"'));
            // "the upload tool", "the upload  TOOL": the name is the word before.
            let name = match name.rsplit_once(char::is_whitespace) {
                Some((head, last)) if last.eq_ignore_ascii_case("tool") => head.trim_end(),
                _ => name,
            };
            let lower = name.to_ascii_lowercase();
            if name.chars().count() < 3
                || NOT_TOOLS.contains(&lower.as_str())
                || host_or_file(&lower)
                || name.eq_ignore_ascii_case(tool)
                || siblings.iter().any(|s| s.eq_ignore_ascii_case(name))
                || self.others.iter().any(|o| o.eq_ignore_ascii_case(name))
            {
                continue;
            }
            let Some(whole) = caps.get(0) else { continue };
            let span = back(whole.range());
            out.push(finding(
                LintId::CrossToolReference,
                tool,
                field,
                span,
                format!(
                    "tells the model how to use `{}`, a tool this one is not",
                    escaped(name)
                ),
            ));
        }
    }

    /// A text field over the size limit, and blank padding before more text.
    fn check_size(&self, tool: &str, field: &str, text: &str, out: &mut Vec<LintFinding>) {
        if text.len() > self.max_text {
            out.push(finding(
                LintId::OversizedDefinition,
                tool,
                field,
                0..text.len(),
                format!(
                    "{} bytes of text in one field, over the {}-byte limit",
                    text.len(),
                    self.max_text
                ),
            ));
        }
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let Some(start) = bytes
                .get(at..)
                .and_then(|b| b.iter().position(u8::is_ascii_whitespace))
                .map(|i| at + i)
            else {
                break;
            };
            let len = bytes.get(start..).map_or(0, |b| {
                b.iter().take_while(|c| c.is_ascii_whitespace()).count()
            });
            let end = start + len;
            let lines = bytes
                .get(start..end)
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
            if end < bytes.len() && (len >= PADDING_BLANKS || lines >= PADDING_LINES) {
                out.push(finding(
                    LintId::OversizedDefinition,
                    tool,
                    field,
                    start..end,
                    format!(
                        "{len} blank characters ({lines} line breaks) before more text: padding that pushes what follows out of view"
                    ),
                ));
            }
            at = end.max(start + 1);
        }
    }
}

fn finding(
    id: LintId,
    tool: &str,
    field: &str,
    span: Range<usize>,
    excerpt: String,
) -> LintFinding {
    LintFinding {
        id,
        tool: tool.to_owned(),
        field: field.to_owned(),
        span,
        excerpt,
        explanation: id.explanation().to_owned(),
    }
}

/// The scripts of the letters of `name`, roughly (enough to name a homoglyph mix).
fn scripts_of(name: &str) -> Vec<&'static str> {
    let mut scripts = Vec::new();
    for c in name.chars().filter(|c| c.is_alphabetic()) {
        let script = match u32::from(c) {
            0x0041..=0x024F | 0x1E00..=0x1EFF | 0xFF21..=0xFF5A => "Latin",
            0x0370..=0x03FF | 0x1F00..=0x1FFF => "Greek",
            0x0400..=0x052F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => "Cyrillic",
            0x0530..=0x058F => "Armenian",
            0x13A0..=0x13FF | 0xAB70..=0xABBF => "Cherokee",
            0x0590..=0x05FF => "Hebrew",
            0x0600..=0x06FF => "Arabic",
            0x4E00..=0x9FFF | 0x3400..=0x4DBF => "Han",
            _ => "other",
        };
        if !scripts.contains(&script) {
            scripts.push(script);
        }
    }
    scripts
}
