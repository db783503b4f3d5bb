//! Known secrets: values the embedder holds, found in plain text and in the
//! encodings they travel in (base64 at any alignment, URL encoding, JSON escaping).

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use crate::error::BuildError;

/// The shortest value [`crate::RedactorBuilder::known_secret`] accepts, in bytes.
pub const MIN_KNOWN_SECRET_LEN: usize = 8;

/// How an occurrence was encoded; base64 matches widen to the whole base64 run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Encoding {
    Plain,
    Base64,
}

/// The automaton over every form of every known secret.
#[derive(Debug)]
pub(crate) struct Known {
    pub(crate) automaton: AhoCorasick,
    pub(crate) encodings: Vec<Encoding>,
}

impl Known {
    pub(crate) fn build(secrets: &[(String, String)]) -> Result<Option<Self>, BuildError> {
        let mut forms: Vec<(Vec<u8>, Encoding)> = Vec::new();
        for (name, value) in secrets {
            if value.len() < MIN_KNOWN_SECRET_LEN {
                return Err(BuildError::known_too_short(name, MIN_KNOWN_SECRET_LEN));
            }
            let bytes = value.as_bytes();
            forms.push((bytes.to_vec(), Encoding::Plain));
            // URL encodings: RFC 3986 (either hex case), forms (`+` for a space),
            // and JavaScript's `encodeURIComponent`, which keeps `!*'()`.
            let encodings = [
                percent_encode(value, false, KEEP_NONE, false),
                percent_encode(value, true, KEEP_NONE, false),
                percent_encode(value, false, KEEP_NONE, true),
                percent_encode(value, false, KEEP_URI_COMPONENT, false),
                percent_encode(value, true, KEEP_URI_COMPONENT, false),
                // Hex, both cases.
                bytes.iter().map(|b| format!("{b:02x}")).collect(),
                bytes.iter().map(|b| format!("{b:02X}")).collect(),
            ];
            for encoded in encodings {
                if encoded != *value {
                    forms.push((encoded.into_bytes(), Encoding::Plain));
                }
            }
            // JSON escaping, with `/` escaped or not, and escaped twice (JSON in a
            // JSON string).
            let escaped = json_inner(value);
            let slashed = escaped.replace('/', "\\/");
            let twice = json_inner(&escaped);
            for form in [escaped, slashed, twice] {
                if form != *value {
                    forms.push((form.into_bytes(), Encoding::Plain));
                }
            }
            for core in base64_cores(bytes) {
                forms.push((core.into_bytes(), Encoding::Base64));
            }
        }
        forms.sort();
        forms.dedup_by(|a, b| a.0 == b.0);
        if forms.is_empty() {
            return Ok(None);
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(forms.iter().map(|(f, _)| f))
            .map_err(|e| BuildError::pattern("known-secret", &e.to_string()))?;
        Ok(Some(Self {
            automaton,
            encodings: forms.into_iter().map(|(_, e)| e).collect(),
        }))
    }
}

/// The parts of the base64 encoding of `secret` that appear whatever bytes surround
/// it: for each of the three alignments, the characters that encode secret bytes
/// only. Short cores (under 8 characters) would match by chance and are skipped.
fn base64_cores(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for lead in 0..3usize {
        let mut bytes = vec![0u8; lead];
        bytes.extend_from_slice(secret);
        let whole = bytes.len() / 3 * 3;
        let Some(aligned) = bytes.get(..whole) else {
            continue;
        };
        // Characters that mix the zero lead with secret bits: 0, 2 or 3 of them.
        let skip = [0usize, 2, 3].get(lead).copied().unwrap_or(0);
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            let encoded = engine.encode(aligned);
            if let Some(core) = encoded.get(skip..)
                && core.len() >= 8
            {
                out.push(core.to_owned());
            }
        }
    }
    out
}

/// Characters kept as they are besides RFC 3986's unreserved set.
const KEEP_NONE: &[u8] = b"";
/// What `encodeURIComponent` keeps besides the unreserved set.
const KEEP_URI_COMPONENT: &[u8] = b"!*'()";

/// Percent-encodes every byte outside RFC 3986's unreserved set and `keep`; with
/// `form`, a space is `+` (`application/x-www-form-urlencoded`).
fn percent_encode(value: &str, lower: bool, keep: &[u8], form: bool) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b)
        {
            out.push(char::from(b));
        } else if form && b == b' ' {
            out.push('+');
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `value` as it stands inside a JSON string.
fn json_inner(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_owned()
}

/// Whether `b` can be part of a base64 (standard or URL-safe) run.
pub(crate) fn is_base64_byte(b: u8) -> bool {
    crate::decode::is_b64(b) || b == b'='
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn cores_appear_in_any_embedding() {
        let secret = b"s3cr3t-Value-42!";
        let cores = base64_cores(secret);
        for prefix in ["", "a", "ab", "abc", "user:"] {
            for suffix in ["", "x", "xy", "@host"] {
                let mut whole = prefix.as_bytes().to_vec();
                whole.extend_from_slice(secret);
                whole.extend_from_slice(suffix.as_bytes());
                let encoded = STANDARD.encode(&whole);
                assert!(
                    cores.iter().any(|c| encoded.contains(c.as_str())),
                    "{prefix:?} {suffix:?} {encoded}"
                );
            }
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = Known::build(&[("PIN".into(), "1234567".into())]).unwrap_err();
        assert!(!err.to_string().contains("1234567"));
        assert!(Known::build(&[]).unwrap().is_none());
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(
            percent_encode("a b/c~", false, KEEP_NONE, false),
            "a%20b%2Fc~"
        );
        assert_eq!(
            percent_encode("a b/c~", true, KEEP_NONE, false),
            "a%20b%2fc~"
        );
        assert_eq!(
            percent_encode("a b!(c)", false, KEEP_NONE, true),
            "a+b%21%28c%29"
        );
        assert_eq!(
            percent_encode("a b!(c)", false, KEEP_URI_COMPONENT, false),
            "a%20b!(c)"
        );
    }
}
