//! How a call's arguments become `context.args`, typed so the Cedar validator
//! accepts policies over them.
//!
//! Each tool's `inputSchema` (JSON Schema, from `tools/list`) is read into an
//! [`ArgType`]: `string` → `String`, `integer` → `Long`, `boolean` → `Bool`,
//! `array` with typed `items` → `Set<..>`, `object` with `properties` → a record,
//! nested to any depth up to 8. Other JSON Schema types (`number`, `null`, unions,
//! `anyOf`, ...) are not represented, and neither are properties without a type.
//!
//! Cedar types the context per action, not per tool, so the gate's `Args` record is
//! the union of all tools' arguments: every attribute optional, at every level
//! (`context.args has path && context.args.path like "/etc/*"`). A name that two
//! tools type differently is left out of `Args` altogether and reported by
//! [`crate::Gate::schema_notes`].
//!
//! At call time the arguments are checked against the called tool's own schema:
//! a value of the wrong type (a number where the tool takes a string) makes the
//! call malformed, and the gate denies it. Arguments the tool's schema does not
//! type are not visible to policies.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use cedar_policy::RestrictedExpression;
use serde_json::Value;

const MAX_DEPTH: usize = 8;

/// The Cedar type of one argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArgType {
    String,
    Long,
    Bool,
    Set(Box<ArgType>),
    Record(BTreeMap<String, ArgType>),
}

impl ArgType {
    /// The type of a JSON Schema, or `None` when it has none mcpguard represents.
    pub(crate) fn from_json_schema(schema: &Value) -> Option<Self> {
        Self::read(schema, 0)
    }

    fn read(schema: &Value, depth: usize) -> Option<Self> {
        if depth > MAX_DEPTH {
            return None;
        }
        match schema.get("type")?.as_str()? {
            "string" => Some(Self::String),
            "integer" => Some(Self::Long),
            "boolean" => Some(Self::Bool),
            "array" => Some(Self::Set(Box::new(Self::read(
                schema.get("items")?,
                depth + 1,
            )?))),
            "object" => {
                let mut fields = BTreeMap::new();
                if let Some(Value::Object(props)) = schema.get("properties") {
                    for (name, prop) in props {
                        if let Some(t) = Self::read(prop, depth + 1) {
                            fields.insert(name.clone(), t);
                        }
                    }
                }
                Some(Self::Record(fields))
            }
            _ => None,
        }
    }

    /// Merges another tool's record into this union; names typed differently are
    /// removed and reported in `conflicts` as dotted paths.
    pub(crate) fn merge(
        union: &mut BTreeMap<String, ArgType>,
        other: &BTreeMap<String, ArgType>,
        prefix: &str,
        conflicts: &mut Vec<String>,
        dropped: &mut std::collections::BTreeSet<String>,
    ) {
        for (name, t) in other {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if dropped.contains(&path) {
                continue;
            }
            match union.get_mut(name) {
                None => {
                    union.insert(name.clone(), t.clone());
                }
                Some(Self::Record(mine)) => {
                    if let Self::Record(theirs) = t {
                        Self::merge(mine, theirs, &path, conflicts, dropped);
                    } else {
                        union.remove(name);
                        conflicts.push(path.clone());
                        dropped.insert(path);
                    }
                }
                Some(existing) => {
                    if existing != t {
                        union.remove(name);
                        conflicts.push(path.clone());
                        dropped.insert(path);
                    }
                }
            }
        }
    }

    /// The type in Cedar schema syntax, every record attribute optional.
    pub(crate) fn to_cedar(&self, out: &mut String) {
        match self {
            Self::String => out.push_str("String"),
            Self::Long => out.push_str("Long"),
            Self::Bool => out.push_str("Bool"),
            Self::Set(item) => {
                out.push_str("Set<");
                item.to_cedar(out);
                out.push('>');
            }
            Self::Record(fields) => record_to_cedar(fields, out),
        }
    }
}

/// A record type in Cedar schema syntax, every attribute optional.
pub(crate) fn record_to_cedar(fields: &BTreeMap<String, ArgType>, out: &mut String) {
    out.push('{');
    for (i, (name, t)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // JSON string escaping is also valid Cedar string-literal escaping for the
        // characters names contain.
        let _ = write!(
            out,
            "{}?: ",
            serde_json::to_string(name).unwrap_or_default()
        );
        t.to_cedar(out);
    }
    out.push('}');
}

/// Why a call's arguments do not fit the tool's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgMismatch {
    pub(crate) path: String,
    pub(crate) expected: &'static str,
}

/// Converts `value` (the call's arguments) to the `context.args` record: checked
/// against `tool` (the tool's own type), and keeping only what `union` (the gate's
/// `Args`) declares.
pub(crate) fn to_context(
    value: &Value,
    tool: &BTreeMap<String, ArgType>,
    union: &BTreeMap<String, ArgType>,
) -> Result<RestrictedExpression, ArgMismatch> {
    let Value::Object(map) = value else {
        return Err(ArgMismatch {
            path: String::new(),
            expected: "an object",
        });
    };
    record(map, tool, union, "")
}

fn record(
    map: &serde_json::Map<String, Value>,
    tool: &BTreeMap<String, ArgType>,
    union: &BTreeMap<String, ArgType>,
    prefix: &str,
) -> Result<RestrictedExpression, ArgMismatch> {
    let mut fields = Vec::new();
    for (name, t) in tool {
        let Some(v) = map.get(name) else { continue };
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        // Checked against the tool's type whether or not policies can see it.
        let converted = convert(v, t, union.get(name), &path)?;
        if let (Some(expr), Some(_)) = (converted, union.get(name)) {
            fields.push((name.clone(), expr));
        }
    }
    RestrictedExpression::new_record(fields).map_err(|_| ArgMismatch {
        path: prefix.to_owned(),
        expected: "a record with distinct names",
    })
}

/// Checks `v` against `t`; returns the expression when `visible` (the union's type
/// for it) is present and equal in kind.
fn convert(
    v: &Value,
    t: &ArgType,
    visible: Option<&ArgType>,
    path: &str,
) -> Result<Option<RestrictedExpression>, ArgMismatch> {
    let mismatch = |expected| ArgMismatch {
        path: path.to_owned(),
        expected,
    };
    let expr = match (t, v) {
        (ArgType::String, Value::String(s)) => RestrictedExpression::new_string(s.clone()),
        (ArgType::String, _) => return Err(mismatch("a string")),
        (ArgType::Long, Value::Number(n)) => match n.as_i64() {
            Some(i) => RestrictedExpression::new_long(i),
            None => return Err(mismatch("a whole number in 64 bits")),
        },
        (ArgType::Long, _) => return Err(mismatch("a whole number")),
        (ArgType::Bool, Value::Bool(b)) => RestrictedExpression::new_bool(*b),
        (ArgType::Bool, _) => return Err(mismatch("true or false")),
        (ArgType::Set(item), Value::Array(items)) => {
            let inner = match visible {
                Some(ArgType::Set(i)) => Some(i.as_ref()),
                _ => None,
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, it) in items.iter().enumerate() {
                if let Some(e) = convert(it, item, inner, &format!("{path}[{i}]"))? {
                    out.push(e);
                }
            }
            RestrictedExpression::new_set(out)
        }
        (ArgType::Set(_), _) => return Err(mismatch("an array")),
        (ArgType::Record(fields), Value::Object(map)) => {
            let empty = BTreeMap::new();
            let union = match visible {
                Some(ArgType::Record(u)) => u,
                _ => &empty,
            };
            record(map, fields, union, path)?
        }
        (ArgType::Record(_), _) => return Err(mismatch("an object")),
    };
    Ok(visible.map(|_| expr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record_of(schema: &Value) -> BTreeMap<String, ArgType> {
        match ArgType::from_json_schema(schema) {
            Some(ArgType::Record(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_schema_maps_to_cedar_types() {
        let r = record_of(&json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "depth": {"type": "integer"},
                "ratio": {"type": "number"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "opts": {"type": "object", "properties": {"recursive": {"type": "boolean"}}}
            }
        }));
        let mut out = String::new();
        record_to_cedar(&r, &mut out);
        assert_eq!(
            out,
            r#"{"depth"?: Long, "opts"?: {"recursive"?: Bool}, "path"?: String, "tags"?: Set<String>}"#
        );
    }

    #[test]
    fn conflicting_names_leave_the_union() {
        let mut union = record_of(
            &json!({"type": "object", "properties": {"path": {"type": "string"}, "n": {"type": "integer"}}}),
        );
        let other = record_of(
            &json!({"type": "object", "properties": {"path": {"type": "array", "items": {"type": "string"}}, "n": {"type": "integer"}}}),
        );
        let mut conflicts = Vec::new();
        let mut dropped = Default::default();
        ArgType::merge(&mut union, &other, "", &mut conflicts, &mut dropped);
        assert_eq!(conflicts, vec!["path".to_owned()]);
        assert!(union.contains_key("n") && !union.contains_key("path"));
        // A third tool typing it as a string again does not bring it back.
        let third =
            record_of(&json!({"type": "object", "properties": {"path": {"type": "string"}}}));
        ArgType::merge(&mut union, &third, "", &mut conflicts, &mut dropped);
        assert!(!union.contains_key("path"));
    }

    #[test]
    fn arguments_are_checked_against_the_tool() {
        let tool = record_of(
            &json!({"type": "object", "properties": {"path": {"type": "string"}, "n": {"type": "integer"}}}),
        );
        assert!(to_context(&json!({"path": "/etc", "n": 3, "extra": [1]}), &tool, &tool).is_ok());
        let err = to_context(&json!({"path": 7}), &tool, &tool).unwrap_err();
        assert_eq!((err.path.as_str(), err.expected), ("path", "a string"));
        let err = to_context(&json!({"n": 1.5}), &tool, &tool).unwrap_err();
        assert_eq!(err.expected, "a whole number in 64 bits");
        assert!(to_context(&json!([1]), &tool, &tool).is_err());
    }
}
