//! `mcpguard inventory check` and `mcpguard inventory risk`.

use std::path::Path;

use mcpguard_core::{Definitions, InventorySource, LaunchGate, Tier};
use mcpguard_redact::Redactor;
use serde_json::Value;

use crate::commands::pin::tool_list;
use crate::{Exit, Format, ReportFormat, bad, json_out, load};

pub(crate) fn inventory_check(
    file: &Path,
    tier: Tier,
    tools: &[String],
    format: ReportFormat,
) -> Exit {
    let source = InventorySource::read(file).map_err(|e| bad(e.to_string()))?;
    let inventory = source.parse().map_err(|e| bad(e.to_string()))?;
    let report = if tools.is_empty() {
        LaunchGate::evaluate(&inventory, tier)
    } else {
        let redactor = Redactor::new().map_err(|e| bad(e.to_string()))?;
        let secrets = |text: &str| -> Vec<std::ops::Range<usize>> {
            redactor
                .find(text)
                .iter()
                .map(mcpguard_redact::Finding::span)
                .collect()
        };
        let mut definitions = Definitions::new().secrets(&secrets);
        for spec in tools {
            let (server, path) = spec.split_once('=').ok_or_else(|| {
                bad(format!(
                    "--tools {spec}: write SERVER=FILE, for example --tools github=tools.json"
                ))
            })?;
            if inventory.server(server).is_none() {
                return Err(bad(format!(
                    "--tools {spec}: server `{server}` is not in the inventory"
                )));
            }
            definitions = definitions.server(server, Value::Array(tool_list(Path::new(path))?));
        }
        LaunchGate::evaluate_with_definitions(&inventory, tier, &definitions)
    };
    match format {
        ReportFormat::Json => json_out(&report)?,
        ReportFormat::Sarif => json_out(&report.to_sarif(&source))?,
        ReportFormat::Markdown => say!("{}", report.to_markdown().trim_end()),
        ReportFormat::Text => say!("{}", report.to_string().trim_end()),
    }
    Ok(if report.passed() { 0 } else { 1 })
}

pub(crate) fn inventory_risk(file: &Path, format: Format) -> Exit {
    let inventory = load(file)?;
    let mut rows: Vec<_> = inventory.tools().map(|(s, t)| (s, t, t.risk())).collect();
    rows.sort_by_key(|(_, _, r)| std::cmp::Reverse(r.score()));
    if format == Format::Json {
        let list: Vec<Value> = rows
            .iter()
            .map(|(s, t, r)| serde_json::json!({"server": s.id, "tool": t.name, "risk": r}))
            .collect();
        json_out(&list)?;
        return Ok(0);
    }
    say!(
        "{:<16}  {:<28}  {:>5}  {:<8}  FACTORS",
        "SERVER",
        "TOOL",
        "SCORE",
        "LEVEL"
    );
    for (s, t, r) in rows {
        say!(
            "{:<16}  {:<28}  {:>5}  {:<8}  {} ({}) × {} ({}) × {} (reach {})",
            s.id.as_str(),
            t.name.as_str(),
            r.score(),
            r.level().to_string(),
            r.sensitivity,
            r.data_class,
            r.write_ability,
            r.strongest_action,
            r.reach_factor,
            r.reach
        );
    }
    Ok(0)
}
