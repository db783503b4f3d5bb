//! What an inner handler (or an upstream, through the proxy) asks of the client
//! in an MCP 2026-07-28 `InputRequiredResult`, and what the client answers on
//! the retry.
//!
//! An input request is the stateless form of a server-to-client request: a
//! `sampling/createMessage` in it prompts the client's model exactly as the
//! legacy request does. So each one is decided by the same Cedar actions
//! (`sample`, `elicit`, `list_roots`) and audited as such, and what the person or
//! the model reads of it is sanitized and redacted. The retry's `inputResponses`
//! go back to the handler redacted, as a relayed answer does.

use mcpguard_policy::{Admission, Decision, ServerAction, ToolCall};
use mcpguard_redact::Redactor;
use rmcp::model::{InputRequest, InputRequests, InputRequiredResult, InputResponses};

use super::output::clean;
use super::{APPROVAL_INPUT_KEY, Guarded};

/// The server action an input request asks for, or `None` for a kind this
/// build does not know (refused).
fn action_of(request: &InputRequest) -> Option<ServerAction> {
    match request {
        InputRequest::CreateMessage(_) => Some(ServerAction::CreateMessage),
        InputRequest::Elicitation(_) => Some(ServerAction::Elicit),
        InputRequest::ListRoots(_) => Some(ServerAction::ListRoots),
        _ => None,
    }
}

impl<H> Guarded<H> {
    /// The redactor, when the gate redacts results.
    pub(super) fn redacting(&self) -> Option<&Redactor> {
        self.gate.redacts_results().then(|| self.gate.redactor())
    }

    /// Decides, sanitizes and redacts the input requests of `result`, which the
    /// handler returned for `call`. `Err` with the decision that refuses it: an
    /// input request the policies refuse (or that would need an approval, which
    /// an input request cannot ask for), one under this gate's own approval key,
    /// a request state that carries a secret, or a result that cannot be
    /// checked.
    pub(super) fn screen_input(
        &self,
        call: &ToolCall,
        result: &mut InputRequiredResult,
    ) -> Result<(), Decision> {
        self.screen_requests(call, result.input_requests.as_mut())?;
        let method = call.method();
        if let Some(state) = &result.request_state
            && self.gate.redacts_results()
            && !self.gate.redactor().find(state).is_empty()
        {
            // The state is echoed back verbatim, so it cannot be redacted: one
            // that carries a secret is not shown to the client at all.
            return Err(self.gate.refuse(
                call,
                format!("the handler's answer to `{method}` carries a secret in its request state"),
            ));
        }
        if result
            .meta
            .as_mut()
            .is_none_or(|meta| clean(meta, self.redacting()))
        {
            Ok(())
        } else {
            Err(self.gate.refuse(
                call,
                format!("the handler's answer to `{method}` could not be checked for secrets"),
            ))
        }
    }

    /// Decides, sanitizes and redacts input requests the handler makes for
    /// `call` (in an `InputRequiredResult`, or a task's `input_required`
    /// status). `Err` with the refusing decision.
    pub(super) fn screen_requests(
        &self,
        call: &ToolCall,
        requests: Option<&mut InputRequests>,
    ) -> Result<(), Decision> {
        let method = call.method();
        let Some(requests) = requests else {
            return Ok(());
        };
        for (key, request) in requests.iter() {
            if key == APPROVAL_INPUT_KEY {
                return Err(self.gate.refuse(
                    call,
                    format!(
                        "the handler's answer to `{method}` asks under the key mcpguard's own \
                         approval question uses (`{APPROVAL_INPUT_KEY}`), which would pass \
                         for the gate's question"
                    ),
                ));
            }
            let Some(action) = action_of(request) else {
                return Err(self.gate.refuse(
                    call,
                    format!("the handler's answer to `{method}` asks the client for input of a kind mcpguard does not know"),
                ));
            };
            self.admit_input(call, action)?;
        }
        // Always sanitized: an escape sequence in a question is the
        // forged-prompt channel.
        if clean(requests, self.redacting()) {
            Ok(())
        } else {
            Err(self.gate.refuse(
                call,
                format!("the handler's answer to `{method}` could not be checked for secrets"),
            ))
        }
    }

    /// Admits one input request of `call` as the server action it is, and
    /// finishes it at once: the request is handed to the client now, and its
    /// answer comes with a later retry.
    fn admit_input(&self, call: &ToolCall, action: ServerAction) -> Result<(), Decision> {
        let mut relayed = ToolCall::server_action(
            call.principal().clone(),
            call.server(),
            action,
            action.method(),
        );
        if let Some(session) = call.session_id() {
            relayed = relayed.session(session);
        }
        match self.gate.admit(&relayed) {
            Admission::Run(permit) => permit
                .finish(Ok::<(), std::convert::Infallible>(()))
                .map_err(|e| self.gate.refuse(call, e.to_string())),
            Admission::Ask(pending) => {
                let reasons = pending.decision().reasons().collect::<Vec<_>>().join("; ");
                Err(self.gate.refuse(
                    call,
                    format!(
                        "the handler asks the client for `{}`, which needs an approval an input \
                         request cannot ask for: {reasons}",
                        action.method()
                    ),
                ))
            }
            Admission::Refuse(decision) => Err(self.gate.refuse(
                call,
                format!(
                    "the handler asks the client for `{}`, which the policies refuse: {}",
                    action.method(),
                    decision.reasons().collect::<Vec<_>>().join("; ")
                ),
            )),
        }
    }
}

/// Redacts the client's answers to input requests before the handler sees
/// them: the handler (an upstream, through the proxy) must not learn a secret
/// the client's side holds.
pub(super) fn redact_responses(redactor: &Redactor, responses: Option<&mut InputResponses>) {
    for value in responses.into_iter().flat_map(|r| r.values_mut()) {
        redactor.redact_json(value);
    }
}
