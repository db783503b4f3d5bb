//! Text a model should not be shown as is: terminal escape sequences, control
//! characters, and invisible or direction-changing Unicode.
//!
//! [`sanitize`] removes them and counts what it removed ([`Sanitized`]); everything
//! else is kept byte for byte. A zero-width joiner or non-joiner between two visible
//! non-ASCII characters (emoji sequences, Indic and Persian text) and one variation
//! selector after a visible non-ASCII character are kept, because there they are
//! part of the text. Every other format character (Unicode category `Cf`: among
//! them the interlinear annotation marks U+FFF9–U+FFFB and the shorthand format
//! controls U+1BCA0–U+1BCA3) and the braille blank U+2800 count as invisible. The
//! same character classes drive the tool-definition lint.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What [`sanitize`] removed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sanitized {
    /// Terminal escape sequences (CSI, OSC, DCS, ... and lone escapes).
    pub escapes: usize,
    /// Other control characters (C0 but tab, line feed and carriage return; DEL; C1).
    pub controls: usize,
    /// Invisible characters: zero-width spaces and joiners, word joiners, invisible
    /// operators, soft hyphens, fillers, stray variation selectors, byte-order marks.
    pub invisible: usize,
    /// Bidirectional controls (embeddings, overrides, isolates, marks).
    pub bidi: usize,
    /// Unicode tag characters (U+E0000 to U+E007F), which can spell hidden ASCII.
    pub tags: usize,
}

impl Sanitized {
    /// Nothing was removed.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// How many things were removed.
    pub fn total(&self) -> usize {
        self.escapes + self.controls + self.invisible + self.bidi + self.tags
    }

    /// Adds another report to this one.
    pub fn add(&mut self, other: Self) {
        self.escapes += other.escapes;
        self.controls += other.controls;
        self.invisible += other.invisible;
        self.bidi += other.bidi;
        self.tags += other.tags;
    }
}

impl fmt::Display for Sanitized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} escape sequences, {} control characters, {} invisible characters, {} bidi controls, {} tag characters",
            self.escapes, self.controls, self.invisible, self.bidi, self.tags
        )
    }
}

/// The kind of a character that may hide something from a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hidden {
    Control,
    Invisible,
    Bidi,
    Tag,
    /// A joiner (ZWJ, ZWNJ): invisible unless it joins two visible characters.
    Joiner,
    /// A variation selector: invisible unless it follows a visible character.
    Selector,
}

/// Whether `c` may hide something, and how.
pub(crate) fn hidden(c: char) -> Option<Hidden> {
    Some(match c {
        '\t' | '\n' | '\r' => return None,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => Hidden::Control,
        '\u{e0000}'..='\u{e007f}' => Hidden::Tag,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}' => {
            Hidden::Bidi
        }
        '\u{200c}' | '\u{200d}' => Hidden::Joiner,
        '\u{fe00}'..='\u{fe0f}' | '\u{e0100}'..='\u{e01ef}' => Hidden::Selector,
        '\u{200b}'
        | '\u{2060}'..='\u{2064}'
        | '\u{feff}'
        | '\u{180e}'
        | '\u{ad}'
        | '\u{34f}'
        | '\u{115f}'
        | '\u{1160}'
        | '\u{3164}'
        | '\u{ffa0}'
        | '\u{17b4}'
        | '\u{17b5}'
        | '\u{206a}'..='\u{206f}'
        | '\u{1d173}'..='\u{1d17a}'
        // Blank, though not a format character: it pads text out of view.
        | '\u{2800}' => Hidden::Invisible,
        c if c.is_ascii() => return None,
        c if unicode_general_category::get_general_category(c)
            == unicode_general_category::GeneralCategory::Format =>
        {
            Hidden::Invisible
        }
        _ => return None,
    })
}

/// A visible character other than ASCII: what a joiner may join and a selector
/// may follow.
fn visible_non_ascii(c: Option<char>) -> bool {
    c.is_some_and(|c| !c.is_ascii() && hidden(c).is_none())
}

/// `text` without terminal escapes, control characters and hidden Unicode (see the
/// module docs), borrowed when there was nothing to remove; and what was removed.
///
/// ```
/// use mcpguard_core::sanitize;
/// let (clean, removed) = sanitize("\u{1b}[8mhidden\u{1b}[0m ok\u{200b}!");
/// assert_eq!(clean, "hidden ok!");
/// assert_eq!((removed.escapes, removed.invisible), (2, 1));
/// ```
pub fn sanitize(text: &str) -> (Cow<'_, str>, Sanitized) {
    if !text.chars().any(|c| hidden(c).is_some()) {
        return (Cow::Borrowed(text), Sanitized::default());
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut report = Sanitized::default();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let Some(kind) = hidden(c) else {
            out.push(c);
            i += 1;
            continue;
        };
        match kind {
            Hidden::Control if c == '\u{1b}' || c == '\u{9b}' || c == '\u{9d}' || c == '\u{90}' => {
                i = skip_escape(&chars, i);
                report.escapes += 1;
            }
            Hidden::Control => {
                report.controls += 1;
                i += 1;
            }
            Hidden::Tag => {
                report.tags += 1;
                i += 1;
            }
            Hidden::Bidi => {
                report.bidi += 1;
                i += 1;
            }
            Hidden::Invisible => {
                report.invisible += 1;
                i += 1;
            }
            // Decided on what was kept before (so a second pass decides the same)
            // and on the next character (visible characters are always kept).
            Hidden::Joiner => {
                let mut kept = out.chars().rev();
                let (last, before_last) = (kept.next(), kept.next());
                // Also after an emoji's kept presentation selector: ❤️‍🔥.
                let after_visible = visible_non_ascii(last)
                    || (last == Some('\u{fe0f}') && visible_non_ascii(before_last));
                if after_visible && visible_non_ascii(chars.get(i + 1).copied()) {
                    out.push(c);
                } else {
                    report.invisible += 1;
                }
                i += 1;
            }
            Hidden::Selector => {
                if visible_non_ascii(out.chars().next_back()) {
                    out.push(c);
                } else {
                    report.invisible += 1;
                }
                i += 1;
            }
        }
    }
    (Cow::Owned(out), report)
}

/// The index after the escape sequence that starts at `i` (ESC, or a C1 CSI, OSC
/// or DCS introducer).
fn skip_escape(chars: &[char], i: usize) -> usize {
    let at = |j: usize| chars.get(j).copied();
    let (kind, mut j) = match at(i) {
        Some('\u{9b}') => ('[', i + 1),
        Some('\u{9d}') => (']', i + 1),
        Some('\u{90}') => ('P', i + 1),
        _ => match at(i + 1) {
            Some(k @ ('[' | ']' | 'P' | 'X' | '^' | '_')) => (k, i + 2),
            // ESC and one more character (ESC 7, ESC c, ESC ( B's first part...).
            Some(k) if ('\u{20}'..='\u{7e}').contains(&k) => return i + 2,
            _ => return i + 1,
        },
    };
    if kind == '[' {
        // Parameters and intermediates, then one final byte.
        while at(j).is_some_and(|c| ('\u{20}'..='\u{3f}').contains(&c)) {
            j += 1;
        }
        if at(j).is_some_and(|c| ('\u{40}'..='\u{7e}').contains(&c)) {
            j += 1;
        }
        return j;
    }
    // A string: up to BEL or ST (ESC \ or U+9C), at most 4096 characters.
    let limit = j + 4096;
    while let Some(c) = at(j) {
        if j >= limit {
            return j;
        }
        match c {
            '\u{7}' | '\u{9c}' => return j + 1,
            '\u{1b}' if at(j + 1) == Some('\\') => return j + 2,
            // Any other escape ends the string without being part of it.
            '\u{1b}' => return j,
            _ => j += 1,
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_character_goes_but_joiners_and_selectors_in_visible_text() {
        // Interlinear annotation marks, shorthand format controls, Arabic and
        // Kaithi number signs, Egyptian hieroglyph format controls (all `Cf`),
        // and the braille blank.
        for c in [
            '\u{fff9}',
            '\u{fffa}',
            '\u{fffb}',
            '\u{1bca0}',
            '\u{1bca1}',
            '\u{1bca2}',
            '\u{1bca3}',
            '\u{600}',
            '\u{6dd}',
            '\u{70f}',
            '\u{110bd}',
            '\u{13430}',
            '\u{2800}',
        ] {
            let text = format!("ig{c}nore");
            let (t, r) = sanitize(&text);
            assert_eq!(
                (t.as_ref(), r.invisible),
                ("ignore", 1),
                "U+{:04X}",
                u32::from(c)
            );
        }
        // Joiners and selectors that belong to visible text stay.
        for kept in ["👩\u{200d}💻", "क्\u{200d}ष", "☺\u{fe0f}", "می\u{200c}خواهم"]
        {
            let (t, r) = sanitize(kept);
            assert_eq!((t.as_ref(), r.total()), (kept, 0), "{kept:?}");
        }
        // Ordinary letters, marks and symbols are not format characters.
        for text in ["naïve café", "日本語", "∑ x²", "ẞ"] {
            assert!(matches!(sanitize(text).0, Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn escapes_and_strings() {
        let (t, r) = sanitize("a\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{7}b");
        assert_eq!(t, "alinkb");
        assert_eq!(r.escapes, 2);
        let (t, _) = sanitize("x\u{1b}[?25l\u{1b}[2Ky\u{1b}");
        assert_eq!(t, "xy");
        let (t, r) = sanitize("over\u{8}\u{8}\u{8}\u{8}write\u{7}");
        assert_eq!((t.as_ref(), r.controls), ("overwrite", 5));
    }

    #[test]
    fn joiners_stay_inside_text() {
        // Family emoji, a heart on fire, Persian with ZWNJ: untouched.
        for s in [
            "👨\u{200d}👩\u{200d}👧",
            "❤\u{fe0f}\u{200d}🔥",
            "می\u{200c}خواهم",
        ] {
            assert!(matches!(sanitize(s).0, Cow::Owned(_) | Cow::Borrowed(_)));
            assert_eq!(sanitize(s).0, s, "{s:?}");
        }
        // Between ASCII letters, or in a run, they hide things.
        assert_eq!(sanitize("pa\u{200d}ss").0, "pass");
        assert_eq!(sanitize("😀\u{fe0f}\u{fe0f}\u{e0101}").0, "😀\u{fe0f}");
    }
}
