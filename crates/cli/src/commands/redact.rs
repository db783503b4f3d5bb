//! `mcpguard redact`: standard input (or a file) to standard output, redacted.

use std::io::{self, Read, Write};
use std::path::Path;

use mcpguard_redact::{RedactingWriter, Redactor};

use crate::{Exit, bad};

pub(crate) fn redact(file: Option<&Path>, check: bool) -> Exit {
    let redactor = Redactor::new().map_err(|e| bad(e.to_string()))?;
    let mut input: Box<dyn Read> = match file {
        Some(f) => Box::new(
            std::fs::File::open(f)
                .map_err(|e| bad(format!("{}: cannot read: {e}", f.display())))?,
        ),
        None => Box::new(io::stdin().lock()),
    };
    if check {
        let mut bytes = Vec::new();
        input
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        let text = String::from_utf8_lossy(&bytes);
        let findings = redactor.find(&text);
        for f in &findings {
            let line = text
                .get(..f.span().start)
                .map_or(0, |t| t.matches('\n').count())
                + 1;
            eprintln!("line {line}: {}", f.rule_id());
        }
        return Ok(u8::from(!findings.is_empty()));
    }
    let stdout = io::stdout().lock();
    let mut writer = RedactingWriter::new(io::BufWriter::new(stdout), redactor);
    io::copy(&mut input, &mut writer).map_err(|e| bad(format!("cannot redact: {e}")))?;
    writer
        .finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| bad(format!("cannot write: {e}")))?;
    Ok(0)
}
