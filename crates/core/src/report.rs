//! The launch report for people and tools: Markdown for a pull-request comment,
//! SARIF 2.1.0 for code-scanning interfaces. Each lists control, server, tool,
//! tier and the sentence that says what to do; SARIF also points at the line of
//! the server or tool in the inventory file ([`InventorySource::positions`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::error::{InventoryError, InventoryErrorKind, Position};
use crate::inventory::{Format, Inventory};
use crate::launch::{Control, ControlFailure, LaunchReport};
use crate::load::offset_in;

/// An inventory file's text, kept to parse it and to find where a server or a
/// tool is written in it.
#[derive(Debug, Clone)]
pub struct InventorySource {
    origin: String,
    text: String,
    format: Format,
}

impl InventorySource {
    /// Reads an inventory file, TOML or JSON by its extension.
    ///
    /// # Errors
    ///
    /// [`InventoryErrorKind::Io`] when the file cannot be read or its extension is
    /// neither `.toml` nor `.json`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, InventoryError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let format = Format::of_path(path, &origin)?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            InventoryError::new(InventoryErrorKind::Io, &origin, format!("cannot read: {e}"))
        })?;
        Ok(Self {
            origin,
            text,
            format,
        })
    }

    /// Parses it, as [`Inventory::load`] does.
    ///
    /// # Errors
    ///
    /// As [`Inventory::from_toml_str`]: every problem the file has.
    pub fn parse(&self) -> Result<Inventory, InventoryError> {
        Inventory::parse(&self.text, &self.origin, self.format)
    }

    /// The file name it was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Where each server (its `[[servers]]` table) and each tool is written in
    /// the file, found in one pass.
    pub fn positions(&self) -> SourcePositions {
        let mut offsets: Vec<((String, Option<String>), usize)> = Vec::new();
        match self.format {
            Format::Toml => toml_offsets(&self.text, &mut offsets),
            Format::Json => json_offsets(&self.text, &mut offsets),
        }
        let lines = LineStarts::of(&self.text);
        let mut at = HashMap::with_capacity(offsets.len());
        for (key, offset) in offsets {
            // The first entry of a name wins, as the loader reports duplicates.
            at.entry(key)
                .or_insert_with(|| lines.position(&self.text, offset));
        }
        SourcePositions { at }
    }
}

/// Where the servers and tools of an inventory file are written
/// ([`InventorySource::positions`]).
#[derive(Debug, Clone, Default)]
pub struct SourcePositions {
    at: HashMap<(String, Option<String>), Position>,
}

impl SourcePositions {
    /// The position of server `server`, or of its tool `tool`.
    pub fn get(&self, server: &str, tool: Option<&str>) -> Option<Position> {
        self.at
            .get(&(server.to_owned(), tool.map(str::to_owned)))
            .copied()
    }
}

/// The byte offset of each line's start, to turn offsets into positions without
/// scanning the text from its start each time.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn of(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self(starts)
    }

    fn position(&self, text: &str, offset: usize) -> Position {
        let line = self.0.partition_point(|&start| start <= offset).max(1);
        let start = self.0.get(line - 1).copied().unwrap_or(0);
        let column = text
            .get(start..offset)
            .map_or(1, |before| before.chars().count() + 1);
        Position { line, column }
    }
}

fn toml_offsets(text: &str, out: &mut Vec<((String, Option<String>), usize)>) {
    use toml_edit::{Item, TableLike, Value as V};
    type Entry<'a> = (&'a dyn TableLike, Option<std::ops::Range<usize>>);
    fn entries(item: &Item) -> Vec<Entry<'_>> {
        match item {
            Item::ArrayOfTables(a) => a.iter().map(|t| (t as &dyn TableLike, t.span())).collect(),
            Item::Value(V::Array(a)) => a
                .iter()
                .filter_map(|v| Some((v.as_inline_table()? as &dyn TableLike, v.span())))
                .collect(),
            _ => Vec::new(),
        }
    }
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return;
    };
    let Some(servers) = doc.get("servers") else {
        return;
    };
    for (server, span) in entries(servers) {
        let Some(id) = server.get("id").and_then(Item::as_str) else {
            continue;
        };
        if let Some(span) = span {
            out.push(((id.to_owned(), None), span.start));
        }
        for (tool, span) in server.get("tools").map(entries).unwrap_or_default() {
            if let (Some(name), Some(span)) = (tool.get("name").and_then(Item::as_str), span) {
                out.push(((id.to_owned(), Some(name.to_owned())), span.start));
            }
        }
    }
}

fn json_offsets(text: &str, out: &mut Vec<((String, Option<String>), usize)>) {
    type Raw<'a> = &'a serde_json::value::RawValue;
    fn object<'a>(raw: Raw<'a>) -> Option<BTreeMap<String, Raw<'a>>> {
        serde_json::from_str(raw.get()).ok()
    }
    fn list<'a>(raw: Raw<'a>) -> Option<Vec<Raw<'a>>> {
        serde_json::from_str(raw.get()).ok()
    }
    fn string(raw: Option<&Raw<'_>>) -> Option<String> {
        raw.and_then(|r| serde_json::from_str(r.get()).ok())
    }
    let offset = |raw: Raw<'_>| offset_in(text, raw.get());
    let Ok(top) = serde_json::from_str::<BTreeMap<String, Raw<'_>>>(text) else {
        return;
    };
    let Some(servers) = top.get("servers").and_then(|s| list(s)) else {
        return;
    };
    for raw in servers {
        let Some(server) = object(raw) else { continue };
        let Some(id) = string(server.get("id")) else {
            continue;
        };
        if let Some(at) = offset(raw) {
            out.push(((id.clone(), None), at));
        }
        for raw in server
            .get("tools")
            .and_then(|t| list(t))
            .unwrap_or_default()
        {
            let name = object(raw).and_then(|t| string(t.get("name")));
            if let (Some(name), Some(at)) = (name, offset(raw)) {
                out.push(((id.clone(), Some(name)), at));
            }
        }
    }
}

/// Text for one Markdown table cell: no line breaks, `|` escaped.
fn cell(text: &str) -> String {
    text.replace(['\n', '\r'], " ").replace('|', "\\|")
}

impl LaunchReport {
    /// The report as Markdown, for a pull-request comment: the verdict, each
    /// control's result, and a table of failures (control, server, tool, tier,
    /// what to do).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(out, "### mcpguard launch gate `{}`: {verdict}", self.tier);
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} servers, {} tools, {} controls checked, {} failures.",
            self.servers,
            self.tools,
            self.controls.len(),
            self.failures.len()
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "| control | result |");
        let _ = writeln!(out, "|---|---|");
        for &c in &self.controls {
            let n = self.failures_of(c).count();
            let result = if n == 0 {
                "pass".to_owned()
            } else {
                format!("**FAIL** ({n})")
            };
            let _ = writeln!(out, "| `{}` | {result} |", c.id());
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "| control | server | tool | tier | what to do |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for f in &self.failures {
                let tool = f
                    .tool
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |t| format!("`{t}`"));
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {tool} | {} | {} |",
                    f.control.id(),
                    f.server,
                    self.tier,
                    cell(&f.message)
                );
            }
        }
        out
    }

    /// The report as a SARIF 2.1.0 log, one result per failure, each pointing at
    /// the server or tool in `source` (the file the inventory was read from).
    pub fn to_sarif(&self, source: &InventorySource) -> Value {
        let rules: Vec<Value> = Control::ALL
            .iter()
            .map(|c| {
                json!({
                    "id": c.id(),
                    "name": c.id(),
                    "shortDescription": { "text": c.description() },
                    "defaultConfiguration": { "level": "error" },
                    "properties": { "fromTier": c.from_tier().as_str() },
                })
            })
            .collect();
        let positions = source.positions();
        let results: Vec<Value> = self
            .failures
            .iter()
            .map(|f| self.sarif_result(f, source.origin(), &positions))
            .collect();
        json!({
            "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "mcpguard",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                } },
                "properties": { "tier": self.tier.as_str() },
                "results": results,
            }],
        })
    }

    fn sarif_result(&self, f: &ControlFailure, origin: &str, positions: &SourcePositions) -> Value {
        let tool = f.tool.as_ref().map(ToString::to_string);
        let position = positions
            .get(f.server.as_str(), tool.as_deref())
            .or_else(|| positions.get(f.server.as_str(), None));
        let mut physical = serde_json::Map::new();
        physical.insert("artifactLocation".into(), json!({ "uri": origin }));
        if let Some(p) = position {
            physical.insert(
                "region".into(),
                json!({ "startLine": p.line, "startColumn": p.column }),
            );
        }
        let name = match &tool {
            Some(t) => format!("{}/{t}", f.server),
            None => f.server.to_string(),
        };
        let what = match &tool {
            Some(t) => format!("server `{}`, tool `{t}`", f.server),
            None => format!("server `{}`", f.server),
        };
        let index = Control::ALL.iter().position(|c| *c == f.control);
        json!({
            "ruleId": f.control.id(),
            "ruleIndex": index,
            "level": "error",
            "message": { "text": format!("{what} (tier {}): {}", self.tier, f.message) },
            "locations": [{
                "physicalLocation": physical,
                "logicalLocations": [{ "fullyQualifiedName": name, "kind": if tool.is_some() { "member" } else { "module" } }],
            }],
            "properties": { "server": f.server.as_str(), "tool": tool, "tier": self.tier.as_str() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_starts_agree_with_scanning_from_the_start() {
        let text = "a = 1\nbé = \"ü\"\n\n[[x]]\ny = 2";
        let lines = LineStarts::of(text);
        for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
            assert_eq!(
                lines.position(text, offset),
                Position::of_offset(text, offset),
                "{offset}"
            );
        }
    }

    fn source(text: &str, format: Format) -> InventorySource {
        InventorySource {
            origin: "inv".into(),
            text: text.into(),
            format,
        }
    }

    #[test]
    fn servers_and_tools_are_found_in_toml_and_json() {
        let toml = "version = 1\n\n[[servers]]\nid = \"a\"\n\n[[servers.tools]]\nname = \"t\"\n\n[[servers]]\nid = \"b\"\ntools = [\n  { name = \"u\" },\n]\n";
        let p = source(toml, Format::Toml).positions();
        let at = |s, t| p.get(s, t).map(|p| (p.line, p.column));
        assert_eq!(at("a", None), Some((3, 1)));
        assert_eq!(at("a", Some("t")), Some((6, 1)));
        assert_eq!(at("b", None), Some((9, 1)));
        assert_eq!(at("b", Some("u")), Some((12, 3)));
        assert_eq!(at("c", None), None);
        let json = "{\"version\": 1, \"servers\": [\n  {\"id\": \"a\", \"tools\": [\n    {\"name\": \"t\"}]},\n  {\"id\": \"b\"}]}";
        let p = source(json, Format::Json).positions();
        let at = |s, t| p.get(s, t).map(|p| (p.line, p.column));
        assert_eq!(at("a", None), Some((2, 3)));
        assert_eq!(at("a", Some("t")), Some((3, 5)));
        assert_eq!(at("b", None), Some((4, 3)));
        // Text that does not parse has no positions, and no panic.
        assert_eq!(source("{", Format::Json).positions().get("a", None), None);
        assert_eq!(source("[[", Format::Toml).positions().get("a", None), None);
    }
}
