//! Arbitrary JSON, deep nesting included: `redact_json` never panics, never
//! overflows the stack, and a second pass changes nothing.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mcpguard_redact::Redactor;
use serde_json::Value;

static REDACTOR: LazyLock<Redactor> =
    LazyLock::new(|| Redactor::new().expect("the built-in catalogue compiles"));

fuzz_target!(|data: &[u8]| {
    let (depth, rest) = match data.split_first() {
        Some((d, rest)) => (usize::from(*d) * 40, rest),
        None => return,
    };
    let mut value: Value = serde_json::from_slice(rest)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(rest).into_owned()));
    // Nest it up to about 10,000 levels deep, alternating objects and arrays.
    for level in 0..depth {
        value = if level % 2 == 0 {
            Value::Array(vec![value])
        } else {
            let mut m = serde_json::Map::new();
            m.insert(
                if level % 3 == 0 {
                    "token".into()
                } else {
                    "k".into()
                },
                value,
            );
            Value::Object(m)
        };
    }
    REDACTOR.redact_json(&mut value);
    assert_eq!(
        REDACTOR.redact_json(&mut value),
        0,
        "redact_json is not idempotent"
    );
    // Dropping a deep value must not overflow either.
    drop(value);
});
