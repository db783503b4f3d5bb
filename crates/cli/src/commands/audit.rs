//! `mcpguard audit verify`: the keyed chain of a JSON-lines audit log.

use std::io::BufReader;
use std::path::Path;

use mcpguard_policy::{AuditKey, ChainErrorKind, ChainHead, verify_chain, verify_chain_with_head};

use crate::{Exit, Failure, bad};

pub(crate) fn audit_verify(log: &Path, key_env: &str, head: Option<&str>) -> Exit {
    let key = AuditKey::from_env(key_env).map_err(|e| bad(e.to_string()))?;
    let head = head
        .map(|h| {
            let text = if h.trim_start().starts_with('{') {
                h.to_owned()
            } else {
                std::fs::read_to_string(h)
                    .map_err(|e| bad(format!("{h}: cannot read the head: {e}")))?
            };
            ChainHead::parse(&text).map_err(|e| bad(format!("{h}: {e}")))
        })
        .transpose()?;
    let file = std::fs::File::open(log)
        .map_err(|e| bad(format!("{}: cannot read: {e}", log.display())))?;
    let reader = BufReader::new(file);
    let verified = match &head {
        Some(head) => verify_chain_with_head(reader, &key, head),
        None => verify_chain(reader, &key),
    };
    match verified {
        Ok(summary) => {
            say!(
                "{}: chain intact, {} lines, key {}, head {}{}",
                log.display(),
                summary.lines,
                key.id(),
                summary.head,
                if head.is_some() {
                    ", matches the published head"
                } else {
                    " (give --head to check that nothing was cut off the end)"
                }
            );
            Ok(0)
        }
        Err(e) => {
            let code = match e.kind() {
                ChainErrorKind::Tampered => 1,
                _ => 2,
            };
            Err(Failure(format!("{}: {e}", log.display()), code))
        }
    }
}
