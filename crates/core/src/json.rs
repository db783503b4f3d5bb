//! JSON values built in code may be nested deeper than the call stack allows
//! (parsed JSON stops at 128 levels; `serde_json`'s clone, drop and
//! serialization all recurse): what every public entry point that takes a
//! `serde_json::Value` checks before it walks, clones or drops one.

use serde_json::Value;

/// The deepest nesting a value that reaches the gate, the lint or a fingerprint
/// may have: what `serde_json` itself parses (its recursion limit). Anything
/// deeper can only have been built in code, and is refused with a typed error
/// or a finding rather than walked.
pub const MAX_JSON_DEPTH: usize = 128;

/// Whether `value` holds arrays or objects nested deeper than `depth` levels
/// (a scalar is at depth 0, `[1]` at 1). Walks an explicit stack and stops at
/// the first branch past `depth`.
///
/// ```
/// use serde_json::json;
/// assert!(!mcpguard_core::nested_deeper_than(&json!({"a": [1]}), 2));
/// assert!(mcpguard_core::nested_deeper_than(&json!({"a": [[1]]}), 2));
/// ```
pub fn nested_deeper_than(value: &Value, depth: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((value, level)) = stack.pop() {
        match value {
            Value::Array(items) if !items.is_empty() => {
                if level >= depth {
                    return true;
                }
                stack.extend(items.iter().map(|child| (child, level + 1)));
            }
            Value::Object(map) if !map.is_empty() => {
                if level >= depth {
                    return true;
                }
                stack.extend(map.values().map(|child| (child, level + 1)));
            }
            _ => {}
        }
    }
    false
}

/// Drops `value` one level at a time: `serde_json::Value`'s own drop recurses,
/// and a value nested deep enough overflows the stack.
pub fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `depth` arrays inside each other, built without recursion.
    fn nested(depth: usize) -> Value {
        let mut value = Value::Null;
        for _ in 0..depth {
            value = Value::Array(vec![value]);
        }
        value
    }

    #[test]
    fn depth_is_measured_without_recursion_and_dropped_without_it() {
        assert!(!nested_deeper_than(&Value::Null, 0));
        assert!(!nested_deeper_than(&nested(3), 3));
        assert!(nested_deeper_than(&nested(4), 3));
        // Empty containers add no level below them.
        assert!(!nested_deeper_than(&serde_json::json!([[], {}]), 1));
        let deep = nested(200_000);
        assert!(nested_deeper_than(&deep, MAX_JSON_DEPTH));
        dismantle(deep);
    }
}
