//! Every detector's vectors, from the file beside its rule: each positive is found
//! by its own rule at exactly the marked span and is gone after full redaction;
//! each negative comes back untouched from the whole catalogue.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test helpers fail loudly"
)]

use std::borrow::Cow;
use std::collections::HashSet;

use mcpguard_redact::{Redactor, catalogue};

mod support;

#[test]
fn catalogue_is_broad_and_ids_are_unique() {
    let rules: Vec<_> = catalogue().collect();
    assert!(rules.len() >= 60, "{} rules", rules.len());
    let mut ids = HashSet::new();
    for rule in &rules {
        assert!(
            ids.insert(rule.id().to_owned()),
            "duplicate id {}",
            rule.id()
        );
        assert!(
            !rule.positives().is_empty(),
            "{} has no positive vector",
            rule.id()
        );
        assert!(
            !rule.negatives().is_empty(),
            "{} has no negative vector",
            rule.id()
        );
        assert!(
            rule.keyword_list().next().is_some(),
            "{} has no keyword",
            rule.id()
        );
        assert!(!rule.provider_name().is_empty() && !rule.description_text().is_empty());
    }
}

#[test]
fn every_positive_is_found_by_its_rule_and_redacted() {
    let full = Redactor::new().unwrap();
    let mut failures = Vec::new();
    for rule in catalogue() {
        let id = rule.id().to_owned();
        let positives = rule.positives().to_vec();
        let alone = Redactor::builder()
            .builtin_rules(false)
            .rule(rule)
            .build()
            .unwrap();
        for vector in positives {
            let (text, spans) = support::unmark(vector);
            assert!(!spans.is_empty(), "{id}: a positive marks its secret");
            let found = alone.find(&text);
            let redacted = full.redact(&text);
            for span in spans {
                let secret = &text[span.clone()];
                if !found.iter().any(|f| f.rule_id() == id && f.span() == span) {
                    failures.push(format!(
                        "{id}: not found at {span:?} in {text:?}: {found:?}"
                    ));
                }
                if redacted.contains(secret) {
                    failures.push(format!("{id}: survives full redaction: {redacted:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_negative_is_untouched() {
    let full = Redactor::new().unwrap();
    let mut failures = Vec::new();
    for rule in catalogue() {
        for &vector in rule.negatives() {
            match full.redact(vector) {
                Cow::Borrowed(_) => {}
                Cow::Owned(changed) => failures.push(format!(
                    "{}: negative changed: {vector:?} -> {changed:?} {:?}",
                    rule.id(),
                    full.find(vector)
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
