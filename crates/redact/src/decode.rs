//! Encoded text, decoded for a second look: base64 (standard and URL-safe, also
//! wrapped over lines), hex, percent-encoding (with `+` for a space), JSON string
//! escapes (`\u005f`, `\/`, a JSON document escaped inside a JSON string), and
//! runs of token characters split by a line wrap.
//!
//! Each decoded text is a [`Layer`] that remembers, for every byte it holds, the
//! bytes of the text it came from that carry it, so a secret found in the layer
//! is redacted where it travels. Only decodings that read as text are kept
//! (binary from a hash or an id is dropped at its first bytes), and the redactor
//! decodes layers again to [`MAX_DEPTH`]: the work is bounded by the text's length
//! times that depth.

use std::ops::Range;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// How many decodings deep a secret is looked for (base64 of a URL-encoded value,
/// JSON escaped twice).
pub(crate) const MAX_DEPTH: usize = 2;
/// The shortest run of base64 or hex characters decoded (18 bytes of base64, 12
/// of hex: any catalogued token is longer encoded), and the length at least one
/// line of a wrapped run must reach.
pub(crate) const MIN_RUN: usize = 24;
/// How long a run is when the keyword walk notes it (see
/// [`crate::keywords::Keywords::find_all`]).
pub(crate) const RUN_SEEN: usize = MIN_RUN;
/// The longest run or line decoded; longer ones are decoded in their first part.
const MAX_SPAN: usize = 64 << 10;
/// The shortest line a wrap may have cut: terminals and editors wrap at 64 to 120
/// columns, so a token that ends a shorter line ends there (`token=...` and then
/// `bye` on the next line are two lines, not one token).
const MIN_WRAP_WIDTH: usize = 60;
/// At most this much indentation before a wrapped run's next line.
const MAX_INDENT: usize = 16;

/// A decoded text and where each of its bytes came from.
#[derive(Debug)]
pub(crate) struct Layer {
    pub(crate) text: String,
    /// For each byte of `text`, the bytes of the source that carry it.
    origin: Vec<Range<usize>>,
}

impl Layer {
    /// The bytes of the source that carry `span` of the layer.
    pub(crate) fn map(&self, span: &Range<usize>) -> Option<Range<usize>> {
        let first = self.origin.get(span.start)?;
        let last = self.origin.get(span.end.checked_sub(1)?)?;
        Some(first.start..last.end.max(first.start))
    }
}

/// Whether a decoded byte is printable ASCII or a blank: encoded secrets are, and
/// random bytes (a hash, an id) seldom are for long.
fn is_plain(b: u8) -> bool {
    b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether decoded bytes read as text: UTF-8 without control characters other
/// than tab and line breaks.
fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| {
        s.chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
    })
}

/// The decoded layers of `hay` within `ranges` (all of it when `None`), each
/// handed to `out` as it is made, so that no more than one per level of decoding
/// is in memory. A `nested` text is itself decoded from an escaped one: any
/// escape in it is decoded (JSON escaped twice).
pub(crate) fn layers(
    hay: &[u8],
    ranges: Option<&[Range<usize>]>,
    nested: bool,
    out: &mut dyn FnMut(Layer),
) {
    let all = 0..hay.len();
    for range in ranges.unwrap_or(std::slice::from_ref(&all)) {
        let (from, to) = (range.start.min(hay.len()), range.end.min(hay.len()));
        runs(hay, from, to, out);
        if let Some(part) = hay.get(from..to) {
            percent(hay, part, from, out);
            escapes(hay, part, from, nested, out);
            wraps(hay, part, from, out);
        }
    }
}

/// The decoded layers of all of `hay`, its long base64 runs already found: each
/// of `seen` ends [`RUN_SEEN`] base64 characters in a row (in order; a run may
/// be in it more than once).
pub(crate) fn layers_seen(hay: &[u8], seen: &[usize], out: &mut dyn FnMut(Layer)) {
    let mut done = 0;
    for &at in seen {
        let Some(inside) = at.checked_sub(1).filter(|&i| i >= done) else {
            continue;
        };
        // The run started `RUN_SEEN` characters before, unless a lane of the walk
        // began inside it.
        let start = at - RUN_SEEN.min(at);
        let (start, end) = if start > done && b64_at(hay, start - 1) {
            segment(hay, inside, done)
        } else {
            (start.max(done), segment(hay, inside, inside).1)
        };
        done = run(hay, start, end, out);
    }
    percent(hay, hay, 0, out);
    escapes(hay, hay, 0, false, out);
    wraps(hay, hay, 0, out);
}

/// Joins the lines of `part` (at `offset` in `hay`) that a wrap split inside a
/// token: a line of at least [`MIN_WRAP_WIDTH`] bytes that ends with a token
/// character, and a next line that goes on with the token (after a little
/// indentation) to where a value ends. The layer is the two lines without the
/// break.
fn wraps(hay: &[u8], part: &[u8], offset: usize, out: &mut dyn FnMut(Layer)) {
    for n in memchr::memchr_iter(b'\n', part) {
        let at = offset + n;
        let brk = if at > 0 && hay.get(at - 1) == Some(&b'\r') {
            at - 1
        } else {
            at
        };
        if brk == 0 || !is_token(hay, brk - 1) {
            continue;
        }
        let start = line_start(hay, brk);
        if brk - start < MIN_WRAP_WIDTH {
            continue;
        }
        let Some(next) = continuation(hay, brk) else {
            continue;
        };
        let (_, e) = token(hay, next, next);
        // A name and a `:` start the next field (`X-Auth-Token: ...`), not the
        // rest of a token: names have no digits.
        let name = hay.get(next..e).is_some_and(|t| {
            t.iter()
                .all(|b| b.is_ascii_alphabetic() || matches!(b, b'-' | b'_' | b'.'))
        });
        if value_ends(hay, e) && !(name && hay.get(e) == Some(&b':')) {
            joined(hay, start, brk, next, line_end(hay, next), out);
        }
    }
}

/// A run of base64 characters over several lines: its characters and where each
/// stands in the source.
struct Run {
    chars: Vec<u8>,
    at: Vec<usize>,
}

/// Whether byte `i` of `hay` is a base64 character (either alphabet).
fn b64_at(hay: &[u8], i: usize) -> bool {
    hay.get(i).copied().is_some_and(is_b64)
}

/// Whether `b` is a base64 character of either alphabet (padding aside).
pub(crate) fn is_b64(b: u8) -> bool {
    B64.get(usize::from(b)).copied().unwrap_or(false)
}

/// Base64 characters of either alphabet, by byte: one load per byte where the
/// character tests would branch (scanning runs is the decoder's hot loop).
static B64: [bool; 256] = {
    let mut table = [false; 256];
    let mut b: u8 = 0;
    loop {
        let yes = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
        #[expect(clippy::indexing_slicing, reason = "a u8 indexes 256 entries")]
        {
            table[b as usize] = yes;
        }
        if b == u8::MAX {
            break table;
        }
        b += 1;
    }
};

/// The length of the line break at `i`, if any: `\n`, `\r\n`, or the escapes
/// `\n` and `\r\n` inside a JSON string.
fn line_break(hay: &[u8], i: usize) -> Option<usize> {
    let rest = hay.get(i..)?;
    [&b"\r\n"[..], b"\n", b"\\r\\n", b"\\n"]
        .iter()
        .find(|b| rest.starts_with(b))
        .map(|b| b.len())
}

/// Where the segment of base64 characters that holds `i` starts (not before
/// `floor`) and ends.
fn segment(hay: &[u8], i: usize, floor: usize) -> (usize, usize) {
    let not_b64 = |b: &u8| !is_b64(*b);
    let start = hay
        .get(floor..i)
        .and_then(|before| before.iter().rposition(not_b64))
        .map_or(floor.min(i), |p| floor + p + 1);
    let end = hay
        .get(i..)
        .and_then(|after| after.iter().position(not_b64))
        .map_or(hay.len(), |p| i + p);
    (start, end)
}

/// Where the line that continues a run ending at `i` goes on: after the line
/// break at `i` and a little indentation, at a token character.
fn continuation(hay: &[u8], i: usize) -> Option<usize> {
    let next = i + line_break(hay, i)?;
    let indent = hay
        .get(next..)
        .unwrap_or_default()
        .iter()
        .take(MAX_INDENT + 1)
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    (indent <= MAX_INDENT && is_token(hay, next + indent)).then_some(next + indent)
}

/// Whether byte `i` can be part of a token: base64 characters, `.` and `~`.
fn is_token(hay: &[u8], i: usize) -> bool {
    b64_at(hay, i) || matches!(hay.get(i), Some(b'.' | b'~'))
}

/// The token around `start..end` (a base64 segment): widened over `.` and `~`.
fn token(hay: &[u8], start: usize, end: usize) -> (usize, usize) {
    let floor = start.saturating_sub(MAX_SPAN);
    let mut s = start;
    while s > floor && is_token(hay, s - 1) {
        s -= 1;
    }
    let mut e = end;
    while e - end < MAX_SPAN && is_token(hay, e) {
        e += 1;
    }
    (s, e)
}

/// Where the line that holds `i` starts (at most 4 KiB back).
fn line_start(hay: &[u8], i: usize) -> usize {
    let floor = i.saturating_sub(4 << 10);
    hay.get(floor..i)
        .and_then(|b| memchr::memrchr(b'\n', b))
        .map_or(floor, |n| floor + n + 1)
}

/// Where the line that holds `i` ends (at most 4 KiB on).
fn line_end(hay: &[u8], i: usize) -> usize {
    let ceiling = i.saturating_add(4 << 10).min(hay.len());
    hay.get(i..ceiling)
        .and_then(|b| memchr::memchr(b'\n', b))
        .map_or(ceiling, |n| i + n)
}

/// The layer of `hay[a..b]` followed by `hay[c..d]`: two lines without the break
/// between them.
fn joined(hay: &[u8], a: usize, b: usize, c: usize, d: usize, out: &mut dyn FnMut(Layer)) {
    let (Some(first), Some(second)) = (hay.get(a..b), hay.get(c..d)) else {
        return;
    };
    let bytes = [first, second].concat();
    let origin = (a..b).chain(c..d).map(|p| p..p + 1).collect();
    push(out, bytes, origin);
}

/// Whether a wrapped run's last line may end at `i`, after any base64 padding:
/// at a blank, a line break, the end, or punctuation that closes a value. Not at
/// a `=` after a name (`LOG_LEVEL=debug` on the next line is the next setting),
/// nor at a time's `:`.
fn value_ends(hay: &[u8], i: usize) -> bool {
    let padding = hay
        .get(i..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b'=')
        .count();
    let i = i + padding;
    hay.get(i).is_none_or(|&b| {
        b.is_ascii_whitespace()
            || matches!(
                b,
                b'"' | b'\'' | b'`' | b',' | b';' | b'\\' | b')' | b']' | b'}' | b'&' | b'@'
            )
            // `token: ` or a URL's `:/`, not a time's `14:01`.
            || b == b':' && hay.get(i + 1).is_none_or(|&n| n.is_ascii_whitespace() || n == b'/')
    }) && (padding == 0 || !is_token(hay, i))
}

/// Finds the base64 and hex runs that start in `hay[from..to]` and decodes them.
///
/// A run is a segment of at least [`MIN_RUN`] base64 characters, found by probing
/// every `MIN_RUN`th byte (a shorter segment cannot hold two probes), joined with
/// the segment before it when that ends the line above, and with the lines after
/// it while each continues the run to its line's end (MIME, PEM, the `base64`
/// tool, a token wrapped by a terminal).
fn runs(hay: &[u8], from: usize, to: usize, out: &mut dyn FnMut(Layer)) {
    let mut i = from;
    while i < to {
        let probe = i + MIN_RUN - 1;
        if probe >= hay.len() {
            break;
        }
        if !b64_at(hay, probe) {
            i = probe + 1;
            continue;
        }
        let (start, end) = segment(
            hay,
            probe,
            i.saturating_sub(MAX_SPAN)
                .max(if i == from { 0 } else { i }),
        );
        if end - start < MIN_RUN {
            i = end + 1;
            continue;
        }
        i = run(hay, start, end, out);
    }
}

/// Decodes the run `hay[start..end]` (at least [`MIN_RUN`] base64 characters),
/// with the lines that continue it and a token a line wrap split; returns where
/// the next run may start.
fn run(hay: &[u8], start: usize, end: usize, out: &mut dyn FnMut(Layer)) -> usize {
    let chars = hay
        .get(start..end.min(start + MAX_SPAN))
        .unwrap_or_default();
    decode_run(chars, &|k| start + k, out);
    // Most runs are alone on their line: neither a line break nor more of a
    // token beside them.
    let lone_after = !matches!(
        hay.get(end),
        Some(b'\n' | b'\r' | b'\\' | b'.' | b'~' | b'=')
    );
    let lone_before = start == 0
        || !matches!(
            hay.get(start - 1),
            Some(b'\n' | b' ' | b'\t' | b'n' | b'.' | b'~')
        );
    if lone_after && lone_before {
        return end + 1;
    }
    let mut last = end;
    // The lines below, while each goes on with the run to its end (MIME,
    // PEM, the `base64` tool): the run over all of them.
    let mut segments: Vec<Range<usize>> = Vec::with_capacity(4);
    segments.push(start..end);
    while segments.len() < MAX_SPAN / 64 && hay.get(last) != Some(&b'=') {
        let Some(next) = continuation(hay, last) else {
            break;
        };
        let (s, e) = segment(hay, next, next);
        let after = e + hay
            .get(e..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&b| b == b'=')
            .count();
        if !value_ends(hay, after) {
            break;
        }
        segments.push(s..e);
        last = e;
        if line_break(hay, after).is_none() {
            break;
        }
    }
    if segments.len() > 1 {
        let mut run = Run {
            chars: Vec::new(),
            at: Vec::new(),
        };
        for seg in &segments {
            for at in seg.clone().take(MAX_SPAN.saturating_sub(run.chars.len())) {
                if let Some(&b) = hay.get(at) {
                    run.chars.push(b);
                    run.at.push(at);
                }
            }
        }
        let at = &run.at;
        decode_run(&run.chars, &|k| at.get(k).copied().unwrap_or(0), out);
    }
    last.max(end) + 1
}

/// The layers of one run (`chars`, character `k` at `place(k)` in the source):
/// its base64 or hex decoding, when that reads as text.
fn decode_run(chars: &[u8], place: &dyn Fn(usize) -> usize, out: &mut dyn FnMut(Layer)) {
    // Hex: two characters per byte. Most hex is a hash or an id, whose first
    // bytes are not text: that is seen before anything is decoded.
    let hex_byte = |pair: &[u8]| -> Option<u8> {
        let digit = |c: &u8| char::from(*c).to_digit(16);
        let (hi, lo) = (digit(pair.first()?)?, digit(pair.get(1)?)?);
        u8::try_from(hi * 16 + lo).ok()
    };
    // A plain byte's first hex digit is 0 (a tab or line break) or 2 to 7.
    let plain_lead = |c: &u8| matches!(c, b'0' | b'2'..=b'7');
    if chars.len().is_multiple_of(2)
        && chars.iter().step_by(2).take(3).all(plain_lead)
        && chars
            .chunks_exact(2)
            .take(3)
            .all(|pair| hex_byte(pair).is_some_and(is_plain))
        && chars.iter().all(u8::is_ascii_hexdigit)
    {
        let bytes: Option<Vec<u8>> = chars
            .chunks_exact(2)
            .map(|pair| hex_byte(pair).filter(|&b| is_plain(b)))
            .collect();
        if let Some(bytes) = bytes {
            let origin = (0..bytes.len())
                .map(|i| place(2 * i)..place(2 * i + 1) + 1)
                .collect();
            push(out, bytes, origin);
        }
    }
    // Base64: one alphabet or the other, not both. The first six bytes decide
    // for most runs that are not text, before the rest is looked at.
    let promising = head_is_plain(chars);
    let url = promising && chars.iter().any(|&b| b == b'-' || b == b'_');
    let std = promising && chars.iter().any(|&b| b == b'+' || b == b'/');
    if promising && !(url && std) {
        let engine = if url {
            URL_SAFE_NO_PAD
        } else {
            STANDARD_NO_PAD
        };
        // A run of 4k + 1 characters holds no whole byte in its last one.
        let usable = if chars.len() % 4 == 1 {
            chars.len() - 1
        } else {
            chars.len()
        };
        if let Ok(bytes) = engine.decode(chars.get(..usable).unwrap_or_default())
            && is_text(&bytes)
        {
            // Byte i holds bits 8i..8i+8: characters 8i/6 to (8i+7)/6.
            let origin = (0..bytes.len())
                .map(|i| place(8 * i / 6)..place((8 * i + 7) / 6) + 1)
                .collect();
            push(out, bytes, origin);
        }
    }
}

/// Whether the first eight characters of a base64 run decode to plain bytes
/// (see [`is_plain`]): a quick test, before any decoder is set up, that drops
/// almost every run of an id or a hash.
fn head_is_plain(chars: &[u8]) -> bool {
    // The first byte's top six bits are the first character: printable ASCII
    // (0x20 to 0x7e) starts with `I` to `f`, a tab or line break with `C` or `D`.
    if !chars
        .first()
        .is_some_and(|c| matches!(c, b'I'..=b'Z' | b'a'..=b'f' | b'C' | b'D'))
    {
        return false;
    }
    let sextet = |c: u8| -> Option<u32> {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        Some(u32::from(value))
    };
    chars.chunks_exact(4).take(2).all(|quad| {
        let bits = quad
            .iter()
            .try_fold(0u32, |acc, &c| Some(acc << 6 | sextet(c)?));
        bits.is_some_and(|b| b.to_be_bytes().iter().skip(1).all(|&byte| is_plain(byte)))
    })
}

fn push(out: &mut dyn FnMut(Layer), bytes: Vec<u8>, origin: Vec<Range<usize>>) {
    if let Ok(text) = String::from_utf8(bytes) {
        out(Layer { text, origin });
    }
}

/// Whether `b` may stand in a URL or a form value around a `%XX` escape.
fn is_url_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`')
}

/// Decodes each run of URL characters in `part` (at `offset` in `hay`) that holds
/// a `%XX` escape: `%XX` is a byte, `+` a space.
fn percent(hay: &[u8], part: &[u8], offset: usize, out: &mut dyn FnMut(Layer)) {
    let mut done = 0;
    for p in memchr::memchr_iter(b'%', part) {
        let at = offset + p;
        if at < done
            || !hay
                .get(at + 1..at + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            continue;
        }
        let mut start = at;
        while start > 0
            && at - start < MAX_SPAN
            && hay.get(start - 1).copied().is_some_and(is_url_byte)
        {
            start -= 1;
        }
        let mut end = at;
        while end - at < MAX_SPAN && hay.get(end).copied().is_some_and(is_url_byte) {
            end += 1;
        }
        done = end;
        let mut bytes = Vec::with_capacity(end - start);
        let mut origin = Vec::with_capacity(end - start);
        let mut i = start;
        while i < end {
            let hex = hay
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (hay.get(i), hex) {
                (Some(b'%'), Some(byte)) => {
                    bytes.push(byte);
                    origin.push(i..i + 3);
                    i += 3;
                }
                (Some(&b), _) => {
                    bytes.push(if b == b'+' { b' ' } else { b });
                    origin.push(i..i + 1);
                    i += 1;
                }
                (None, _) => break,
            }
        }
        if is_text(&bytes) {
            push(out, bytes, origin);
        }
    }
}

/// Decodes one level of JSON string escapes on each line of `part` (at `offset`
/// in `hay`) that holds an escape plain JSON text seldom needs: `\u`, `\/`, or an
/// escaped backslash (`\\`, JSON inside a JSON string).
fn escapes(hay: &[u8], part: &[u8], offset: usize, nested: bool, out: &mut dyn FnMut(Layer)) {
    // JSON text is full of `\"` and `\n`: the three escapes that start a
    // decoding are searched for as such, not every backslash looked at.
    static TRIGGERS: LazyLock<[memchr::memmem::Finder<'static>; 3]> = LazyLock::new(|| {
        [b"\\u", b"\\/", b"\\\\"].map(|t: &[u8; 2]| memchr::memmem::Finder::new(t).into_owned())
    });
    let triggers: Vec<usize> = if nested {
        memchr::memchr_iter(b'\\', part)
            .filter(|&p| {
                matches!(
                    part.get(p + 1),
                    Some(b'u' | b'/' | b'\\' | b'"' | b'n' | b'r' | b't')
                )
            })
            .collect()
    } else {
        let mut all: Vec<usize> = TRIGGERS.iter().flat_map(|f| f.find_iter(part)).collect();
        all.sort_unstable();
        all
    };
    let mut done = 0;
    for p in triggers {
        let at = offset + p;
        if at < done {
            continue;
        }
        let line_start = memchr::memrchr(b'\n', hay.get(..at).unwrap_or_default())
            .map_or(0, |n| n + 1)
            .max(at.saturating_sub(MAX_SPAN));
        let line_end = memchr::memchr(b'\n', hay.get(at..).unwrap_or_default())
            .map_or(hay.len(), |n| at + n)
            .min(at + MAX_SPAN);
        done = line_end;
        let mut bytes = Vec::with_capacity(line_end - line_start);
        let mut origin = Vec::with_capacity(line_end - line_start);
        let mut i = line_start;
        while i < line_end {
            let Some(&b) = hay.get(i) else { break };
            if b != b'\\' {
                bytes.push(b);
                origin.push(i..i + 1);
                i += 1;
                continue;
            }
            let simple = match hay.get(i + 1) {
                Some(b'"') => Some(b'"'),
                Some(b'\\') => Some(b'\\'),
                Some(b'/') => Some(b'/'),
                Some(b'n') => Some(b'\n'),
                Some(b't') => Some(b'\t'),
                Some(b'r') => Some(b'\r'),
                Some(b'b') => Some(0x08),
                Some(b'f') => Some(0x0c),
                _ => None,
            };
            if let Some(c) = simple {
                bytes.push(c);
                origin.push(i..i + 2);
                i += 2;
                continue;
            }
            if let Some((c, len)) = unicode_escape(hay, i) {
                let mut buf = [0u8; 4];
                for &e in c.encode_utf8(&mut buf).as_bytes() {
                    bytes.push(e);
                    origin.push(i..i + len);
                }
                i += len;
                continue;
            }
            bytes.push(b);
            origin.push(i..i + 1);
            i += 1;
        }
        if let Ok(text) = String::from_utf8(bytes) {
            out(Layer { text, origin });
        }
    }
}

/// The character of a `\uXXXX` escape at `i` (a surrogate pair as one character)
/// and the escape's length.
fn unicode_escape(hay: &[u8], i: usize) -> Option<(char, usize)> {
    let unit = |at: usize| -> Option<u32> {
        if hay.get(at..at + 2)? != b"\\u" {
            return None;
        }
        let hex = std::str::from_utf8(hay.get(at + 2..at + 6)?).ok()?;
        u32::from_str_radix(hex, 16).ok()
    };
    let high = unit(i)?;
    if (0xD800..0xDC00).contains(&high) {
        let low = unit(i + 6)?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        return char::from_u32(c).map(|c| (c, 12));
    }
    char::from_u32(high).map(|c| (c, 6))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn texts(hay: &str) -> Vec<String> {
        let mut out = Vec::new();
        layers(hay.as_bytes(), None, false, &mut |l| out.push(l));
        out.into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn each_encoding_decodes_and_maps_back() {
        let secret = "token=ghp_abc/def+1";
        let b64 = STANDARD.encode(secret);
        let hay = format!("data: {b64}\n");
        let mut out = Vec::new();
        layers(hay.as_bytes(), None, false, &mut |l| out.push(l));
        let layer = out.iter().find(|l| l.text == secret).unwrap();
        // `ghp_` is bytes 6..10 of the secret: base64 characters 8..14.
        let span = layer.map(&(6..10)).unwrap();
        assert_eq!(span, 6 + 8..6 + 14);

        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(texts(&hex).contains(&secret.to_owned()));
        assert!(texts("q=ghp%5Fabc%2Fdef+x").contains(&"q=ghp_abc/def x".to_owned()));
        assert!(texts(r"ghp\u005fabc\/def").contains(&"ghp_abc/def".to_owned()));
        assert!(texts(r#"{\"k\": \"v\\u005f\"}"#).contains(&r#"{"k": "v\u005f"}"#.to_owned()));
    }

    #[test]
    fn wrapped_runs_are_joined() {
        let hay = "2026-11-30T14:01:08Z DEBUG upstream auth ghp_R4nd0mF4k3T0k3nV4lu3\n  F0rT3st1ngXy12Ab rest";
        let all = texts(hay);
        assert!(
            all.iter()
                .any(|t| t.contains("ghp_R4nd0mF4k3T0k3nV4lu3F0rT3st1ngXy12Ab")),
            "{all:?}"
        );
    }

    #[test]
    fn hashes_and_ids_are_not_text() {
        let hay = "trace_id=30e553afbebeabdaec3b082856a3ff52 sha256=0d8d5cb2bd6ea0a7d7e8e7d7b6a53f1c3c1e6c8a9c1d3f6a1b4e8c6f5a2b9d0e id=9a5d20ba-b14d-4802-b4a9-5771508512ad";
        assert!(texts(hay).is_empty(), "{:?}", texts(hay));
    }
}
