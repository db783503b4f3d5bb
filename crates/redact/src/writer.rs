//! A `Write` adapter that redacts a stream, catching secrets split across writes.

use std::io::{self, Write};

use crate::redactor::{BEGIN, END, Finding, Redactor, block_rest};

/// Text held back by default so that a secret split across writes is still seen
/// whole: longer than any built-in secret (a 4096-bit RSA key block is about 3.3 KiB).
pub const DEFAULT_HOLD_BACK: usize = 16 << 10;
/// How much text is gathered before a part of it is redacted and written on. Each
/// chunk is searched with the hold-back after it and the context before it, so a
/// large chunk keeps that overlap a small part of the work (about 10 %).
pub const DEFAULT_CHUNK: usize = 256 << 10;
/// Original text kept after it was written, so that a secret whose name was in the
/// previous part (`password=` then the value) is still recognised.
const CONTEXT: usize = 8 << 10;

/// Redacts everything written through it before passing it on.
///
/// Text is gathered into chunks; each chunk is searched together with the text
/// around it, and only the part that no possible secret straddles is written on.
/// A secret split across two `write` calls, or across chunks, is therefore redacted
/// exactly as if the whole stream had been passed to [`Redactor::redact`] at once,
/// as long as it is no longer than the hold-back (16 KiB by default). Memory stays
/// bounded, however long the stream: a few times chunk + hold-back (256 and 16 KiB
/// by default), in buffers kept from one chunk to the next.
///
/// [`Write::flush`] writes on every complete line that no secret straddles and
/// keeps the rest (an unfinished line, or an unfinished private-key block) until
/// more text or [`RedactingWriter::finish`] arrives.
///
/// A private-key block longer than the hold-back (or never closed) cannot be held
/// whole: its label is written when the chunk is full, and everything that
/// continues the block (its base64 lines, escaped newlines, the `-----END` line)
/// is dropped as it arrives, until the block ends. Nothing of it is written in
/// clear, and the work stays linear in the length of the stream whatever the
/// sizes of the writes. Call `finish` at the end: it
/// writes the remainder and returns the inner writer. Dropping the writer without
/// `finish` writes the remainder too, but cannot report an error.
///
/// Invalid UTF-8 in the stream is replaced with U+FFFD.
///
/// ```
/// use std::io::Write;
/// use mcpguard_redact::{Redactor, RedactingWriter};
/// let mut w = RedactingWriter::new(Vec::new(), Redactor::new()?);
/// w.write_all(b"token: ghp_R4nd0mF4k3T0k3n")?;
/// w.write_all(b"V4lu3F0rT3st1ngXy12Ab\n")?;
/// let out = w.finish()?;
/// assert_eq!(String::from_utf8(out).unwrap(), "token: [REDACTED:github-pat]\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RedactingWriter<W: Write> {
    inner: Option<W>,
    redactor: Redactor,
    pending: Vec<u8>,
    context: String,
    /// Buffers kept from chunk to chunk: the text searched (context and
    /// pending), and the redacted text written on.
    joined: String,
    out: String,
    chunk: usize,
    hold: usize,
    /// A private-key block was written as its label, and what continues it is
    /// still arriving: dropped until the block ends.
    open_block: bool,
    /// `pending`'s length when a flush last found an open block it had to keep:
    /// the next flush looks again only when an `-----END` may have arrived.
    stalled: Option<usize>,
    /// The length `pending` must reach before the next chunk is cut, when a
    /// finding straddled the last cut (0: the chunk size and hold-back decide).
    wait: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Keep the hold-back, cut at a line end before it if there is one.
    Chunk,
    /// Cut at the last line end that is safe.
    Lines,
    /// Write everything.
    All,
}

impl<W: Write> RedactingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, redactor: Redactor) -> Self {
        Self::with_limits(inner, redactor, DEFAULT_CHUNK, DEFAULT_HOLD_BACK)
    }

    /// Wraps `inner` with a chunk size and a hold-back: the longest secret that is
    /// guaranteed to be caught when split across writes (at least 64 bytes each).
    pub fn with_limits(inner: W, redactor: Redactor, chunk: usize, hold: usize) -> Self {
        Self {
            inner: Some(inner),
            redactor,
            pending: Vec::new(),
            context: String::new(),
            joined: String::new(),
            out: String::new(),
            chunk: chunk.max(64),
            hold: hold.max(64),
            open_block: false,
            stalled: None,
            wait: 0,
        }
    }

    /// Writes what is held back, flushes, and returns the inner writer.
    ///
    /// # Errors
    ///
    /// The inner writer's error.
    pub fn finish(mut self) -> io::Result<W> {
        self.process(Cut::All)?;
        let mut inner = self.take_inner()?;
        inner.flush()?;
        Ok(inner)
    }

    /// How much is gathered before a chunk is cut.
    fn limit(&self) -> usize {
        (self.chunk + self.hold).max(self.wait)
    }

    fn take_inner(&mut self) -> io::Result<W> {
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("the redacting writer was already finished"))
    }

    /// Redacts and writes on a part of `pending`, chosen by `cut`.
    fn process(&mut self, cut: Cut) -> io::Result<()> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(io::Error::other(
                "the redacting writer was already finished",
            ));
        };
        // An incomplete character at the end waits for its remaining bytes.
        let incomplete = if cut == Cut::All {
            0
        } else {
            incomplete_suffix(&self.pending)
        };
        let body_len = self.pending.len() - incomplete;
        let tail = self.pending.split_off(body_len);
        let mut joined = std::mem::take(&mut self.joined);
        joined.clear();
        joined.push_str(&self.context);
        let mut start = joined.len();
        match std::str::from_utf8(&self.pending) {
            Ok(text) => joined.push_str(text),
            Err(_) => joined.push_str(&String::from_utf8_lossy(&self.pending)),
        }
        let finishing = cut == Cut::All;
        if self.open_block {
            // The rest of a block whose label is already written: dropped.
            let (consumed, closed) = block_rest(joined.get(start..).unwrap_or_default(), finishing);
            start += consumed;
            self.open_block = !closed;
            if !closed {
                self.keep(&joined, start, &tail);
                self.joined = joined;
                self.stalled = None;
                return Ok(());
            }
        }
        let findings = self.redactor.find(&joined);

        let mut end = match cut {
            Cut::All => joined.len(),
            Cut::Chunk => {
                let limit = floor_boundary(&joined, joined.len().saturating_sub(self.hold));
                line_end_before(&joined, limit, start).unwrap_or(limit)
            }
            Cut::Lines => line_end_before(&joined, joined.len(), start).unwrap_or(start),
        };
        let mut stall = false;
        if cut == Cut::Lines
            && let Some(open) = open_private_key(&joined, start, end)
        {
            end = open;
            stall = true;
        }
        // No finding may straddle the cut: cut before it instead, and gather
        // until the cut can pass its end. A finding longer than the hold-back
        // cannot be held whole: it is written as its label up to the cut, and a
        // block's continuation is dropped as it arrives.
        let mut straddled = None;
        if let Some(f) = findings
            .iter()
            .find(|f| f.span().start < end && f.span().end > end)
        {
            if cut == Cut::Chunk && f.span().len() > self.hold {
                self.open_block = joined
                    .get(f.span().start..)
                    .is_some_and(|t| t.starts_with(BEGIN));
            } else {
                end = floor_boundary(&joined, f.span().start);
                straddled = Some(f.span().end);
            }
        }
        let end = end.max(start);

        let emitted: Vec<Finding> = findings
            .iter()
            .filter(|f| f.span().end > start && f.span().start < end)
            .map(|f| f.window(start, end))
            .collect();
        self.redactor.apply_into(
            joined.get(start..end).unwrap_or_default(),
            &emitted,
            &mut self.out,
        );
        inner.write_all(self.out.as_bytes())?;
        self.keep(&joined, end, &tail);
        self.joined = joined;
        self.stalled = stall.then_some(self.pending.len());
        // The next chunk is cut once the straddled finding is behind the cut, not
        // at every byte written until then.
        self.wait = straddled.map_or(0, |f_end| f_end.saturating_sub(end) + self.hold + 1);
        Ok(())
    }

    /// Keeps the last part of `joined[..at]` as context and `joined[at..]` (then
    /// `tail`) as pending.
    fn keep(&mut self, joined: &str, at: usize, tail: &[u8]) {
        let keep_from = floor_boundary(joined, at.saturating_sub(CONTEXT));
        self.context.clear();
        self.context
            .push_str(joined.get(keep_from..at).unwrap_or_default());
        self.pending.clear();
        self.pending
            .extend_from_slice(joined.get(at..).unwrap_or_default().as_bytes());
        self.pending.extend_from_slice(tail);
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.inner.is_none() {
            return Err(io::Error::other(
                "the redacting writer was already finished",
            ));
        }
        if self.pending.len() >= self.limit() {
            self.process(Cut::Chunk)?;
        }
        let room = self.limit().saturating_sub(self.pending.len()).max(1);
        let take = buf.len().min(room);
        self.pending
            .extend_from_slice(buf.get(..take).unwrap_or_default());
        if self.pending.len() >= self.limit() {
            self.process(Cut::Chunk)?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        // An open block that was kept at the last flush is looked at again only
        // when its `-----END` may have arrived: flushing line by line through a
        // long block stays linear.
        let again = self.stalled.is_none_or(|n| {
            let new = self.pending.get(n.saturating_sub(END.len())..);
            new.is_some_and(|new| memchr::memmem::find(new, END.as_bytes()).is_some())
        });
        if again {
            self.process(Cut::Lines)?;
        }
        match self.inner.as_mut() {
            Some(inner) => inner.flush(),
            None => Err(io::Error::other(
                "the redacting writer was already finished",
            )),
        }
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            // Best effort: an error cannot be reported from drop.
            let _ = self.process(Cut::All);
            if let Some(inner) = self.inner.as_mut() {
                let _ = inner.flush();
            }
        }
    }
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that is not complete.
fn incomplete_suffix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_none() => bytes.len() - e.valid_up_to(),
        Err(_) => {
            // Invalid bytes inside are replaced later; only a trailing partial
            // character (at most 3 bytes) waits.
            let from = bytes.len().saturating_sub(3);
            (from..bytes.len())
                .find(|&i| {
                    bytes.get(i).is_some_and(|b| b & 0xC0 == 0xC0)
                        && std::str::from_utf8(bytes.get(i..).unwrap_or_default())
                            .err()
                            .is_some_and(|e| e.error_len().is_none())
                })
                .map_or(0, |i| bytes.len() - i)
        }
    }
}

/// The position after the last `\n` in `text[from..to]`, if any.
fn line_end_before(text: &str, to: usize, from: usize) -> Option<usize> {
    text.get(from..to)?.rfind('\n').map(|i| from + i + 1)
}

/// Where a private-key block that opens in `text[from..to]` and does not close
/// there begins: it must not be written out half.
fn open_private_key(text: &str, from: usize, to: usize) -> Option<usize> {
    let region = text.get(from..)?;
    let begin = region.rfind("-----BEGIN")? + from;
    if begin >= to {
        return None;
    }
    let closed = text.get(begin..).is_some_and(|t| t.contains("-----END"));
    (!closed).then(|| {
        text.get(..begin)
            .and_then(|t| t.rfind('\n'))
            .map_or(from, |i| (i + 1).max(from))
    })
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_characters_wait() {
        assert_eq!(incomplete_suffix(b"abc"), 0);
        assert_eq!(incomplete_suffix("é".as_bytes().get(..1).unwrap()), 1);
        let mut v = b"ab\xffcd".to_vec();
        v.extend_from_slice(&"€".as_bytes()[..2]);
        assert_eq!(incomplete_suffix(&v), 2);
    }

    #[test]
    fn flush_keeps_unfinished_lines() {
        let mut w = RedactingWriter::new(Vec::new(), Redactor::new().unwrap());
        w.write_all(b"first line\nsecond ").unwrap();
        w.flush().unwrap();
        assert_eq!(w.inner.as_ref().unwrap(), b"first line\n");
        w.write_all(b"line\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n")
            .unwrap();
        w.flush().unwrap();
        assert_eq!(w.inner.as_ref().unwrap(), b"first line\nsecond line\n");
        w.write_all(b"-----END PRIVATE KEY-----\ndone\n").unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "first line\nsecond line\n[REDACTED:private-key]\ndone\n"
        );
    }

    #[test]
    fn finished_writer_refuses_more() {
        let mut w = RedactingWriter::new(Vec::new(), Redactor::new().unwrap());
        w.process(Cut::All).unwrap();
        let _ = w.take_inner().unwrap();
        assert!(w.write(b"x").is_err());
        assert!(w.flush().is_err());
    }
}
