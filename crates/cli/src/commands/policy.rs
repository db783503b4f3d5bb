//! `mcpguard policy validate` and `mcpguard policy explain`.

use std::path::Path;

use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{CallState, Gate, PolicySource, ToolCall};
use serde_json::Value;

use crate::{Exit, Failure, Format, bad, json_out, load};

pub(crate) fn policy_source(path: &Path, baseline: bool) -> Result<PolicySource, Failure> {
    let source = if baseline {
        PolicySource::baseline()
    } else {
        PolicySource::empty()
    };
    if path.is_dir() {
        source.with_dir(path)
    } else {
        source.with_file(path)
    }
    .map_err(|e| bad(e.to_string()))
}

pub(crate) fn policy_validate(path: &Path, inventory: Option<&Path>) -> Exit {
    let inventory = match inventory {
        Some(f) => load(f)?,
        None => Inventory::from_servers(Vec::new()).map_err(|e| bad(e.to_string()))?,
    };
    let source = policy_source(path, false)?;
    match Gate::builder()
        .inventory(inventory)
        .policies(source)
        .build()
    {
        Ok(gate) => {
            say!("valid: {} policies", gate.evaluator().policy_ids().len());
            Ok(0)
        }
        Err(e) => Err(Failure(e.to_string(), 1)),
    }
}

pub(crate) fn policy_explain(
    inventory: &Path,
    call: &Path,
    policies: Option<&Path>,
    no_baseline: bool,
    tier: Tier,
    format: Format,
) -> Exit {
    let inventory = load(inventory)?;
    let (tool_call, state) = read_call(call)?;
    let source = match policies {
        Some(p) => policy_source(p, !no_baseline)?,
        None if no_baseline => PolicySource::empty(),
        None => PolicySource::baseline(),
    };
    let gate = Gate::builder()
        .inventory(inventory)
        .tier(tier)
        .policies(source)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    // The pure evaluator, in the state the file states: no store involved.
    let explanation = gate.evaluator().explain(&tool_call, &state);
    let decision = &explanation.decision;
    if format == Format::Json {
        json_out(&explanation)?;
    } else {
        say!("decision: {}", decision.verdict());
        for r in decision.reasons() {
            say!("  because: {r}");
        }
        for e in decision.errors() {
            say!("  error: {e}");
        }
        say!(
            "\n{:<36}  {:<6}  {:<8}  {:<7}  REASON",
            "POLICY",
            "EFFECT",
            "APPROVAL",
            "MATCHED"
        );
        for p in &explanation.policies {
            say!(
                "{:<36}  {:<6}  {:<8}  {:<7}  {}",
                p.id,
                p.effect,
                if p.approval { "yes" } else { "-" },
                if p.matched { "yes" } else { "-" },
                p.error
                    .as_deref()
                    .map_or_else(|| p.reason.clone(), |e| format!("error: {e}"))
            );
        }
    }
    Ok(if decision.is_allowed() { 0 } else { 1 })
}

/// A call file: the call in its JSON form ([`ToolCall`]'s `Deserialize`), and
/// the state it is decided in, as `"state": {"session": {"tainted": …,
/// "private_data": …}, "approved": …}` or the shorthand flags `tainted` and
/// `private_data` beside the call.
pub(crate) fn read_call(path: &Path) -> Result<(ToolCall, CallState), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("{}: cannot read: {e}", path.display())))?;
    let mut v: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{}: not JSON: {e}", path.display())))?;
    let Some(object) = v.as_object_mut() else {
        return Err(bad(format!("{}: a call is a JSON object", path.display())));
    };
    let flag = |object: &mut serde_json::Map<String, Value>, name: &str| {
        object.remove(name).map(|f| {
            f.as_bool().ok_or_else(|| {
                bad(format!(
                    "{}: `{name}` must be true or false",
                    path.display()
                ))
            })
        })
    };
    let tainted = flag(object, "tainted").transpose()?;
    let private = flag(object, "private_data").transpose()?;
    let mut state: CallState = match object.remove("state") {
        Some(s) => serde_json::from_value(s)
            .map_err(|e| bad(format!("{}: `state`: {e}", path.display())))?,
        None => CallState::default(),
    };
    state.session.tainted |= tainted.unwrap_or(false);
    state.session.private_data |= private.unwrap_or(false);
    let call: ToolCall = serde_json::from_value(v)
        .map_err(|e| bad(format!("{}: not a call: {e}", path.display())))?;
    Ok((call, state))
}
