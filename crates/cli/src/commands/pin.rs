//! `mcpguard pin`: fingerprints from a server's `tools/list` into the inventory.

use std::path::Path;

use mcpguard_core::{Fingerprint, Inventory};
use serde_json::Value;

use crate::{Exit, Failure, bad, load};

/// The tool definitions of a `tools/list` output file.
pub(crate) fn tool_list(tools: &Path) -> Result<Vec<Value>, Failure> {
    let text = std::fs::read_to_string(tools)
        .map_err(|e| bad(format!("{}: cannot read: {e}", tools.display())))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{}: not JSON: {e}", tools.display())))?;
    value
        .pointer("/result/tools")
        .or_else(|| value.get("tools"))
        .unwrap_or(&value)
        .as_array()
        .cloned()
        .ok_or_else(|| {
            bad(format!(
                "{}: no tool list (`tools`, `result.tools` or an array)",
                tools.display()
            ))
        })
}

pub(crate) fn fingerprints(tools: &Path) -> Result<Vec<(String, Fingerprint)>, Failure> {
    let list = tool_list(tools)?;
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Fingerprint::of_tool(t)
                .map(|f| (name, f))
                .map_err(|e| bad(format!("{}: tool {i}: {e}", tools.display())))
        })
        .collect()
}

pub(crate) fn pin(file: &Path, server: &str, tools: &Path, check: bool) -> Exit {
    let inventory = load(file)?;
    let record = inventory
        .server(server)
        .ok_or_else(|| bad(format!("server `{server}` is not in {}", file.display())))?;
    let seen = fingerprints(tools)?;
    let mut drift = 0u8;
    for (name, fp) in &seen {
        match record.tool(name) {
            None => {
                say!("{server}/{name}: offered by the server but not in the inventory");
                drift = 1;
            }
            Some(t) if t.fingerprint == Some(*fp) => say!("{server}/{name}: pinned, unchanged"),
            Some(t) => {
                let what = if t.fingerprint.is_some() {
                    "changed"
                } else {
                    "not pinned"
                };
                say!("{server}/{name}: {what}: {fp}");
                drift = 1;
            }
        }
    }
    for t in &record.tools {
        if !seen.iter().any(|(n, _)| n == t.name.as_str()) {
            say!(
                "{server}/{}: in the inventory but no longer offered",
                t.name
            );
            drift = 1;
        }
    }
    if check {
        return Ok(drift);
    }
    // Format-preserving, checked to load, replaced whole.
    let pinned =
        Inventory::set_fingerprints(file, server, &seen).map_err(|e| bad(e.to_string()))?;
    eprintln!("pinned {pinned} tools of `{server}` in {}", file.display());
    Ok(0)
}

/// Accepts one tool's reviewed definition: writes `fingerprint` as the pin of
/// `server`/`tool`, which must already be in the inventory (with its actions,
/// reach and data, which no fingerprint can supply).
pub(crate) fn pin_one(file: &Path, server: &str, tool: &str, fingerprint: &str) -> Exit {
    let inventory = load(file)?;
    let record = inventory
        .server(server)
        .ok_or_else(|| bad(format!("server `{server}` is not in {}", file.display())))?;
    let fingerprint: Fingerprint = fingerprint
        .parse()
        .map_err(|e| bad(format!("--fingerprint: {e}")))?;
    let Some(profile) = record.tool(tool) else {
        return Err(bad(format!(
            "`{server}/{}` is not in {}: add a `[[servers.tools]]` entry for it (its actions, reach and data), then pin it",
            tool.escape_debug(),
            file.display()
        )));
    };
    if profile.fingerprint == Some(fingerprint) {
        say!("{server}/{tool}: pinned, unchanged");
        return Ok(0);
    }
    Inventory::set_fingerprints(file, server, &[(tool.to_owned(), fingerprint)])
        .map_err(|e| bad(e.to_string()))?;
    eprintln!(
        "pinned `{server}/{tool}` at {fingerprint} in {}",
        file.display()
    );
    Ok(0)
}
