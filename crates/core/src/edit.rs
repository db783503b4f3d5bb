//! Edits of an inventory file that keep it as its authors wrote it.

use std::path::Path;

use serde_json::Value;

use crate::error::{InventoryError, InventoryErrorKind};
use crate::fingerprint::Fingerprint;
use crate::inventory::{Format, Inventory};

impl Inventory {
    /// Writes `pins` (tool name, fingerprint) into the `fingerprint` of the tools
    /// of `server` in the inventory file at `path`, and returns how many tools
    /// were pinned. A TOML file keeps its comments, order and layout (only the
    /// `fingerprint` values change or appear); a JSON file is rewritten with the
    /// same content, pretty-printed. Tools the file does not list are left out.
    ///
    /// The edited text must load as an inventory before it replaces the file,
    /// and it replaces it whole (written beside it, then renamed), so an edit
    /// never leaves a broken or half-written inventory.
    ///
    /// # Errors
    ///
    /// The file cannot be read or written, is not a valid inventory (before or
    /// after the edit), or has no server `server`.
    pub fn set_fingerprints(
        path: impl AsRef<Path>,
        server: &str,
        pins: &[(String, Fingerprint)],
    ) -> Result<usize, InventoryError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let format = Format::of_path(path, &origin)?;
        let io = |what: &str, e: std::io::Error| {
            InventoryError::new(
                InventoryErrorKind::Io,
                &origin,
                format!("cannot {what}: {e}"),
            )
        };
        let text = std::fs::read_to_string(path).map_err(|e| io("read", e))?;
        let before = Self::parse(&text, &origin, format)?;
        if before.server(server).is_none() {
            return Err(InventoryError::new(
                InventoryErrorKind::Invalid,
                &origin,
                format!("there is no server `{}`", server.escape_debug()),
            ));
        }
        let pinned = |name: &str| {
            pins.iter()
                .find(|(n, _)| n == name)
                .map(|(_, f)| f.to_string())
        };
        let (out, count) = match format {
            Format::Json => set_in_json(&text, &origin, server, pinned)?,
            Format::Toml => set_in_toml(&text, &origin, server, pinned)?,
        };
        // What is written must still load.
        Self::parse(&out, &origin, format)?;
        let temporary = path.with_extension(format!("{}.mcpguard-edit", format.extension()));
        std::fs::write(&temporary, out).map_err(|e| io("write", e))?;
        std::fs::rename(&temporary, path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            io("replace", e)
        })?;
        Ok(count)
    }
}

fn set_in_json(
    text: &str,
    origin: &str,
    server: &str,
    pinned: impl Fn(&str) -> Option<String>,
) -> Result<(String, usize), InventoryError> {
    let mut doc: Value = serde_json::from_str(text)
        .map_err(|e| InventoryError::new(InventoryErrorKind::Syntax, origin, e.to_string()))?;
    let mut count = 0;
    let servers = doc
        .get_mut("servers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter(|s| s.get("id").and_then(Value::as_str) == Some(server));
    for s in servers {
        let tools = s
            .get_mut("tools")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        for t in tools {
            let name = t.get("name").and_then(Value::as_str).map(str::to_owned);
            if let (Some(fp), Some(obj)) = (name.as_deref().and_then(&pinned), t.as_object_mut()) {
                obj.insert("fingerprint".to_owned(), Value::String(fp));
                count += 1;
            }
        }
    }
    let out = serde_json::to_string_pretty(&doc)
        .map_err(|e| InventoryError::new(InventoryErrorKind::Syntax, origin, e.to_string()))?;
    Ok((out + "\n", count))
}

fn set_in_toml(
    text: &str,
    origin: &str,
    server: &str,
    pinned: impl Fn(&str) -> Option<String>,
) -> Result<(String, usize), InventoryError> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        InventoryError::new(InventoryErrorKind::Syntax, origin, e.message().to_owned())
    })?;
    let mut count = 0;
    let servers = doc
        .get_mut("servers")
        .and_then(|s| s.as_array_of_tables_mut());
    for s in servers.into_iter().flat_map(|s| s.iter_mut()) {
        if s.get("id").and_then(|v| v.as_str()) != Some(server) {
            continue;
        }
        let tools = s.get_mut("tools").and_then(|t| t.as_array_of_tables_mut());
        for t in tools.into_iter().flat_map(|t| t.iter_mut()) {
            let name = t.get("name").and_then(|v| v.as_str()).map(str::to_owned);
            if let Some(fp) = name.as_deref().and_then(&pinned) {
                t.insert("fingerprint", toml_edit::value(fp));
                count += 1;
            }
        }
    }
    Ok((doc.to_string(), count))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"# the team's servers
version = 1

[[servers]]
id = "docs"        # first party
owner = "docs-team"
transport = "stdio"
provenance = { kind = "first_party" }
credential = "none"
data_classes = ["public"]

[[servers.tools]]
name = "search"    # the only tool
actions = ["read"]
reach = "none"
"#;

    fn scratch(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mcpguard-edit-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn toml_keeps_comments_and_layout() {
        let path = scratch("inventory.toml", TOML);
        let fp = Fingerprint::of_tool(&serde_json::json!({"name": "search"})).unwrap();
        let n = Inventory::set_fingerprints(&path, "docs", &[("search".to_owned(), fp)]).unwrap();
        assert_eq!(n, 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# the team's servers\n"), "{text}");
        assert!(
            text.contains("name = \"search\"    # the only tool"),
            "{text}"
        );
        assert!(text.contains(&format!("fingerprint = \"{fp}\"")), "{text}");
        let inventory = Inventory::load(&path).unwrap();
        assert_eq!(
            inventory.tool("docs", "search").unwrap().1.fingerprint,
            Some(fp)
        );
    }

    #[test]
    fn an_unknown_server_or_a_broken_file_is_an_error_and_nothing_is_written() {
        let path = scratch("unknown.toml", TOML);
        let fp = Fingerprint::of_tool(&serde_json::json!({"name": "search"})).unwrap();
        let err =
            Inventory::set_fingerprints(&path, "nope", &[("search".to_owned(), fp)]).unwrap_err();
        assert!(err.to_string().contains("no server"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), TOML);
        let broken = scratch("broken.toml", "version = 1\n[[servers]\n");
        assert!(Inventory::set_fingerprints(&broken, "docs", &[]).is_err());
    }
}
