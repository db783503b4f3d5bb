//! How a call's arguments become `context.args`, typed so the Cedar validator
//! accepts policies over them.
//!
//! Each tool's `inputSchema` (JSON Schema, from `tools/list`) is read into an
//! [`ArgType`]:
//!
//! | JSON Schema | Cedar |
//! |---|---|
//! | `string`, a string `enum` or `const` | `String` |
//! | `integer`, an integer `enum` or `const` | `Long` |
//! | `boolean` | `Bool` |
//! | `array` with typed `items` | `Set<..>` |
//! | `object` with `properties` | a record |
//! | `["T", "null"]`, `anyOf`/`oneOf` of `T` and `null` | `T`, optional |
//! | `anyOf`/`oneOf` whose alternatives all have one type | that type |
//! | `$ref` into `#/$defs` or `#/definitions`, `allOf` of one schema | what it points at |
//!
//! This covers what `schemars` (which rmcp's `#[tool]` macros use) generates for
//! `Option<T>`, unsigned and signed integers, `Vec<T>`, unit enums and nested
//! structs, to a depth of 8. What has no Cedar type is reported, never dropped
//! in silence: a `number` (Cedar has whole numbers only), alternatives of different
//! types, a property without a type, a reference that leads nowhere. The gate lists
//! each such property in [`crate::Evaluator::schema_notes`] with its tool, and a policy
//! that names one fails validation with the reason.
//!
//! Cedar types the context per action, not per tool, so the gate's `Args` record is
//! the union of all tools' arguments: every attribute optional, at every level
//! (`context.args has path && context.args.path like "/etc/*"`). A name that two
//! tools type differently is left out of `Args` altogether and reported by
//! [`crate::Evaluator::schema_notes`].
//!
//! At call time the arguments are checked against the called tool's own schema:
//! a value of the wrong type (a number where the tool takes a string) makes the
//! call malformed, and the gate denies it. A `null` is an absent argument.
//! Arguments the tool's schema does not type are not visible to policies.

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

/// A property of a tool's input schema that has no Cedar type: its dotted path
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Untyped {
    pub(crate) path: String,
    pub(crate) why: String,
}

/// What one schema reads as: a type (and whether `null` is allowed), or why none.
type Read = Result<(ArgType, bool), String>;

impl ArgType {
    /// The record type of a tool's input schema, with every property that has no
    /// Cedar type in `untyped`. `None` when the schema is not an object schema.
    pub(crate) fn of_input_schema(
        schema: &Value,
        untyped: &mut Vec<Untyped>,
    ) -> Option<BTreeMap<String, ArgType>> {
        match Self::read(schema, schema, 0, "", untyped) {
            Ok((Self::Record(fields), _)) => Some(fields),
            _ => None,
        }
    }

    /// Reads `schema` (inside the document `root`, for `$ref`) at `path`.
    fn read(
        schema: &Value,
        root: &Value,
        depth: usize,
        path: &str,
        untyped: &mut Vec<Untyped>,
    ) -> Read {
        if depth > MAX_DEPTH {
            return Err(format!("it is nested deeper than {MAX_DEPTH} levels"));
        }
        let Value::Object(map) = schema else {
            return Err("its schema is not an object".to_owned());
        };
        if let Some(reference) = map.get("$ref") {
            let target = reference
                .as_str()
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|pointer| root.pointer(pointer))
                .ok_or_else(|| "its `$ref` does not point into the schema".to_owned())?;
            return Self::read(target, root, depth + 1, path, untyped);
        }
        if let Some(Value::Array(all)) = map.get("allOf") {
            return match all.as_slice() {
                [one] => Self::read(one, root, depth + 1, path, untyped),
                _ => Err("it combines several schemas with `allOf`".to_owned()),
            };
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(alternatives)) = map.get(key) {
                return Self::alternatives(alternatives, root, depth, path, untyped, key);
            }
        }
        if let Some(Value::Array(values)) = map.get("enum") {
            return Self::of_values(values.iter(), "enum");
        }
        if let Some(value) = map.get("const") {
            return Self::of_values(std::iter::once(value), "const");
        }
        let (name, nullable) = match map.get("type") {
            Some(Value::String(t)) => (t.as_str(), false),
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .collect();
                match names.as_slice() {
                    [one] => (*one, names.len() < types.len()),
                    _ => return Err("it allows values of several types".to_owned()),
                }
            }
            _ => return Err("it has no type".to_owned()),
        };
        let t = match name {
            "string" => Self::String,
            "integer" => Self::Long,
            "boolean" => Self::Bool,
            "number" => {
                return Err("it is a number, and Cedar has whole numbers only".to_owned());
            }
            "array" => {
                let items = map
                    .get("items")
                    .ok_or_else(|| "it is an array without `items`".to_owned())?;
                let (item, _) = Self::read(items, root, depth + 1, &format!("{path}[]"), untyped)
                    .map_err(|why| format!("its items cannot be typed: {why}"))?;
                Self::Set(Box::new(item))
            }
            "object" => {
                let mut fields = BTreeMap::new();
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (name, prop) in props {
                        let at = if path.is_empty() {
                            name.clone()
                        } else {
                            format!("{path}.{name}")
                        };
                        match Self::read(prop, root, depth + 1, &at, untyped) {
                            Ok((t, _)) => {
                                fields.insert(name.clone(), t);
                            }
                            Err(why) => untyped.push(Untyped { path: at, why }),
                        }
                    }
                }
                Self::Record(fields)
            }
            other => return Err(format!("its type `{other}` has no Cedar type")),
        };
        Ok((t, nullable))
    }

    /// `anyOf` / `oneOf`: `null` alternatives make the type optional; the others
    /// must all read as one type.
    fn alternatives(
        alternatives: &[Value],
        root: &Value,
        depth: usize,
        path: &str,
        untyped: &mut Vec<Untyped>,
        key: &str,
    ) -> Read {
        let mut found: Option<ArgType> = None;
        let mut nullable = false;
        for alternative in alternatives {
            if alternative.get("type").and_then(Value::as_str) == Some("null") {
                nullable = true;
                continue;
            }
            let (t, null) = Self::read(alternative, root, depth + 1, path, untyped)?;
            nullable |= null;
            match &found {
                None => found = Some(t),
                Some(previous) if *previous == t => {}
                Some(_) => return Err(format!("its `{key}` alternatives have different types")),
            }
        }
        found
            .map(|t| (t, nullable))
            .ok_or_else(|| format!("its `{key}` allows only `null`"))
    }

    /// The type of an `enum` or `const`: all strings, all integers or all booleans
    /// (`null` makes it optional).
    fn of_values<'a>(values: impl Iterator<Item = &'a Value>, key: &str) -> Read {
        let mut found: Option<ArgType> = None;
        let mut nullable = false;
        for value in values {
            let t = match value {
                Value::Null => {
                    nullable = true;
                    continue;
                }
                Value::String(_) => Self::String,
                Value::Bool(_) => Self::Bool,
                Value::Number(n) if n.is_i64() => Self::Long,
                _ => return Err(format!("its `{key}` values have no Cedar type")),
            };
            match &found {
                None => found = Some(t),
                Some(previous) if *previous == t => {}
                Some(_) => return Err(format!("its `{key}` values have different types")),
            }
        }
        found
            .map(|t| (t, nullable))
            .ok_or_else(|| format!("its `{key}` has no values"))
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
        // `null` is an absent argument (an `Option` left empty).
        let Some(v) = map.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
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
        let mut untyped = Vec::new();
        ArgType::of_input_schema(schema, &mut untyped).expect("an object schema")
    }

    #[test]
    fn json_schema_maps_to_cedar_types() {
        let mut untyped = Vec::new();
        let r = ArgType::of_input_schema(
            &json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "depth": {"type": "integer"},
                    "ratio": {"type": "number"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "opts": {"type": "object", "properties": {"recursive": {"type": "boolean"}}}
                }
            }),
            &mut untyped,
        )
        .unwrap();
        assert_eq!(
            untyped,
            vec![Untyped {
                path: "ratio".to_owned(),
                why: "it is a number, and Cedar has whole numbers only".to_owned()
            }]
        );
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
