//! What goes back to the client: refusals as tool results, results passed
//! through the gate's output handling in one JSON round trip, information-flow
//! labels, fingerprints in `tools/list`.

use std::borrow::Cow;

use mcpguard_core::{DataClass, Fingerprint};
use mcpguard_policy::{Decision, Output, Review, ToolResult, Verdict};
use mcpguard_redact::Redactor;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, GetPromptResponse, MetaObject,
    ReadResourceResponse, Tool,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{DECISION_META_KEY, FINGERPRINT_META_KEY, LABELS_META_KEY};

pub(super) fn error_result(text: String, meta: Option<Value>) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    if let Some(meta) = meta {
        result
            .meta
            .get_or_insert_with(MetaObject::default)
            .0
            .insert(DECISION_META_KEY.to_owned(), meta);
    }
    result
}

/// The tool result of a call that did not run.
pub(super) fn refused(decision: &Decision, extra: Option<&str>) -> CallToolResult {
    refused_with(decision, extra, None)
}

/// A call held for a four-eyes review: refused, naming the review to decide
/// (`_meta` `io.mcpguard/decision` `review`: its id and expiry).
pub(super) fn awaiting_review(decision: &Decision, review: &Review) -> CallToolResult {
    let minutes = review
        .expires_at()
        .saturating_sub(review.requested_at())
        .div_ceil(60);
    let text = format!(
        "approval request {id} needs a reviewer other than {caller} (four eyes): a reviewer runs \
         `mcpguard approvals approve {id}`, then the same call, retried, runs once; the request \
         expires {minutes} minutes after it was made",
        id = review.id(),
        caller = review.caller(),
    );
    refused_with(decision, Some(&text), Some(review))
}

fn refused_with(
    decision: &Decision,
    extra: Option<&str>,
    review: Option<&Review>,
) -> CallToolResult {
    let mut reasons: Vec<String> = decision.reasons().map(ToOwned::to_owned).collect();
    if let Some(extra) = extra {
        reasons.push(extra.to_owned());
    }
    let text = match decision.verdict() {
        Verdict::RequireApproval => {
            format!(
                "mcpguard: this call needs a person's approval: {}",
                reasons.join("; ")
            )
        }
        _ => format!("mcpguard: this call was denied: {}", reasons.join("; ")),
    };
    let mut meta = json!({
        "verdict": decision.verdict().to_string(),
        "policies": decision.policy_ids(),
        "reasons": reasons,
        "approvalRequest": decision.approval_request().map(|r| r.digest().to_hex()),
    });
    if let (Some(review), Some(fields)) = (review, meta.as_object_mut()) {
        fields.insert(
            "review".to_owned(),
            json!({ "id": review.id(), "expiresAt": review.expires_at() }),
        );
    }
    error_result(text, Some(meta))
}

/// The protocol error of a refused `resources/read` or `prompts/get` (their
/// results have no error flag).
pub(super) fn refused_error(decision: &Decision) -> McpError {
    McpError::invalid_request(
        format!(
            "mcpguard: denied: {}",
            decision.reasons().collect::<Vec<_>>().join("; ")
        ),
        None,
    )
}

pub(super) fn withheld() -> CallToolResult {
    error_result(
        "mcpguard: the result was withheld because it could not be checked for secrets".to_owned(),
        None,
    )
}

/// Passes a result through `output` by way of its JSON form, serialised once
/// and read back only if something changed. `false` when the value does not
/// make the round trip: the caller withholds it.
pub(crate) fn process_serialized<T: Serialize + DeserializeOwned>(
    value: &mut T,
    output: &mut Output<'_>,
) -> bool {
    let Ok(mut json) = serde_json::to_value(&*value) else {
        return false;
    };
    let before = output.changed();
    output.json(&mut json);
    if output.changed() == before {
        return true;
    }
    match serde_json::from_value(json) {
        Ok(processed) => {
            *value = processed;
            true
        }
        Err(_) => false,
    }
}

/// Sanitizes (always) and redacts (with `redactor`) something a client shows a
/// person or a model that is not a call's result — a list, an input request, a
/// relayed request, a notification — in one pass. `false` when it does not
/// make the round trip: the caller does not send it.
pub(crate) fn clean<T: Serialize + DeserializeOwned>(
    value: &mut T,
    redactor: Option<&Redactor>,
) -> bool {
    process_serialized(value, &mut Output::new(redactor, true))
}

/// A `tools/call` response the gate can process.
pub(super) struct Response(pub(super) CallToolResponse);

impl ToolResult for Response {
    fn process(&mut self, output: &mut Output<'_>) {
        if let CallToolResponse::Complete(result) = &mut self.0
            && !process_serialized(result, output)
        {
            *result = withheld();
        }
    }

    fn is_error(&self) -> bool {
        matches!(&self.0, CallToolResponse::Complete(r) if r.is_error == Some(true))
    }

    fn is_input_required(&self) -> bool {
        matches!(&self.0, CallToolResponse::InputRequired(_))
    }
}

/// A `resources/read` response the gate can process.
pub(super) struct Resource(pub(super) ReadResourceResponse);

impl ToolResult for Resource {
    fn process(&mut self, output: &mut Output<'_>) {
        if let ReadResourceResponse::Complete(result) = &mut self.0
            && !process_serialized(result, output)
        {
            *result = rmcp::model::ReadResourceResult::new(Vec::new());
        }
    }

    fn is_input_required(&self) -> bool {
        matches!(&self.0, ReadResourceResponse::InputRequired(_))
    }
}

/// A `prompts/get` response the gate can process.
pub(super) struct Prompt(pub(super) GetPromptResponse);

impl ToolResult for Prompt {
    fn process(&mut self, output: &mut Output<'_>) {
        if let GetPromptResponse::Complete(result) = &mut self.0
            && !process_serialized(result, output)
        {
            result.messages.clear();
        }
    }

    fn is_input_required(&self) -> bool {
        matches!(&self.0, GetPromptResponse::InputRequired(_))
    }
}

/// Adds a tool's information-flow labels to a complete result: `integrity`
/// (`untrusted` for output an attacker may control) and `confidentiality` (the
/// most sensitive data class).
pub(super) fn labelled(
    mut response: CallToolResponse,
    untrusted: bool,
    confidentiality: Option<DataClass>,
) -> CallToolResponse {
    if let CallToolResponse::Complete(result) = &mut response {
        let labels = json!({
            "integrity": if untrusted { "untrusted" } else { "trusted" },
            "confidentiality": confidentiality.map_or("public", DataClass::as_str),
        });
        result
            .meta
            .get_or_insert_with(MetaObject::default)
            .0
            .insert(LABELS_META_KEY.to_owned(), labels);
    }
    response
}

/// A protocol error of the inner handler, with any secret in it redacted.
pub(crate) fn redacted_error(redactor: &Redactor, mut error: McpError) -> McpError {
    let message = redactor.redact(&error.message).into_owned();
    error.message = Cow::Owned(message);
    if let Some(data) = error.data.as_mut() {
        redactor.redact_json(data);
    }
    error
}

/// Publishes a tool definition's fingerprint in its `_meta`.
pub(super) fn publish_fingerprint(tool: &mut Tool) {
    // `_meta` is not part of a fingerprint; an inner handler's own value for this
    // key is replaced.
    if let Some(fingerprint) = fingerprint_of(tool) {
        tool.meta.get_or_insert_with(MetaObject::default).0.insert(
            FINGERPRINT_META_KEY.to_owned(),
            Value::String(fingerprint.to_string()),
        );
    }
}

/// The fingerprint of a tool definition as `tools/list` shows it.
pub(crate) fn fingerprint_of(tool: &Tool) -> Option<Fingerprint> {
    Fingerprint::of_tool(&serde_json::to_value(tool).ok()?).ok()
}
