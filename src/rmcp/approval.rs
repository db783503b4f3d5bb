//! Asking the person at the client: the approval form, the sealed approval state
//! of MCP 2026-07-28 retries, and elicitation for older peers.

use mcpguard_policy::{ApprovalGrant, Pending, ToolCall};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ElicitRequest, ElicitRequestParams, ElicitResult,
    ElicitationAction, ElicitationSchema, InputRequest, InputRequests, InputRequiredResult,
    ProtocolVersion, RequestStateCodec, SealOptions,
};
use rmcp::service::{RequestContext, RoleServer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

use super::output::{awaiting_review, refused};
use super::{APPROVAL_INPUT_KEY, Guarded};

/// Associated data of every sealed approval state: a state sealed for anything
/// else with the same key does not open as one.
const STATE_CONTEXT: &[u8] = b"io.mcpguard/approval-state/v1";

/// What `requestState` holds while a person is asked.
#[derive(Serialize, Deserialize)]
struct SealedApproval {
    principal: String,
    server: String,
    tool: String,
    digest: String,
    grant: ApprovalGrant,
}

/// How asking ended.
pub(super) enum Asked {
    /// The person approved (older peers, answered in the same request): run the
    /// call with this grant.
    Approved(ApprovalGrant),
    /// The answer to send now: an `InputRequiredResult` carrying the question, or
    /// a refusal.
    Reply(CallToolResponse),
}

impl<H> Guarded<H> {
    /// Asks the person at the client to approve a call the gate holds back.
    pub(super) async fn ask(
        &self,
        call: &ToolCall,
        pending: &Pending,
        context: &RequestContext<RoleServer>,
    ) -> Asked {
        let refuse = |reason: String| {
            let decision = self.gate.refuse(call, reason);
            Asked::Reply(refused(&decision, None).into())
        };
        if !declares_form_elicitation(context) {
            let reason = format!(
                "approval request {} is pending: this client did not declare form \
                 elicitation, so it cannot be asked (neither by input request nor by \
                 elicitation); approve the call out of band",
                pending.request().digest().to_hex()
            );
            return Asked::Reply(refused(pending.decision(), Some(&reason)).into());
        }
        // The approval the person may give, held in the gate's approval store
        // (single use, shared by replicas) until they answer.
        let approver = format!("{} (asked through MCP)", call.principal().id());
        let grant =
            match self
                .gate
                .approvals()
                .approve(pending.request(), &approver, self.approval_ttl)
            {
                Ok(grant) => grant,
                Err(e) => return refuse(format!("the approval could not be recorded: {e}")),
            };
        let form = approval_form(pending);
        let modern = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if modern {
            let Some(sealed) = self.seal(call, grant) else {
                return refuse("the approval state could not be sealed".to_owned());
            };
            let mut requests = InputRequests::new();
            requests.insert(
                APPROVAL_INPUT_KEY.to_owned(),
                InputRequest::Elicitation(ElicitRequest::new(form)),
            );
            return Asked::Reply(InputRequiredResult::new(Some(requests), Some(sealed)).into());
        }
        let answer = context
            .peer
            .create_elicitation_with_timeout(form, Some(self.elicitation_timeout))
            .await;
        match answer {
            Ok(answer) if accepted(&answer) => Asked::Approved(grant),
            Ok(_) => refuse("the person declined to approve the call".to_owned()),
            Err(e) => refuse(format!("the approval question got no answer: {e}")),
        }
    }

    /// A call held back for a reviewer other than the caller (four eyes): the
    /// reviewed grant its retry runs with, or the refusal that names the review
    /// to decide (opened now if none is).
    pub(super) fn four_eyes(&self, call: &ToolCall, pending: &Pending, ttl: Duration) -> Asked {
        let refuse = |reason: String| {
            let decision = self.gate.refuse(call, reason);
            Asked::Reply(refused(&decision, None).into())
        };
        let reviews = self.gate.reviews();
        let review = match reviews.for_call(&pending.request().digest()) {
            Ok(Some(review)) => review,
            Ok(None) => match reviews.open(pending, &self.gate.redacted_call(call), ttl) {
                Ok(review) => review,
                Err(e) => {
                    return refuse(format!("the approval request could not be recorded: {e}"));
                }
            },
            Err(e) => return refuse(format!("the approval requests could not be read: {e}")),
        };
        match review.decision() {
            None => return Asked::Reply(awaiting_review(pending.decision(), &review).into()),
            // A denial is not taken: it holds for every retry until the
            // request expires, so the caller cannot ask again at once.
            Some(d) if !d.approved() => {
                return refuse(format!(
                    "{} denied approval request {}; the denial holds until the request expires",
                    mcpguard_policy::quoted(d.reviewer()),
                    review.id()
                ));
            }
            Some(_) => {}
        }
        let taken = match reviews.take(&review) {
            Ok(Some(taken)) => taken,
            Ok(None) => {
                return refuse(format!("approval request {} was already used", review.id()));
            }
            Err(e) => return refuse(format!("the approval request could not be taken: {e}")),
        };
        match taken.decision() {
            Some(d) if d.approved() => match d.grant() {
                Some(grant) => Asked::Approved(grant.clone()),
                None => refuse(format!("approval request {} holds no grant", taken.id())),
            },
            Some(d) => refuse(format!(
                "{} denied approval request {}",
                d.reviewer(),
                taken.id()
            )),
            None => refuse(format!("approval request {} is not decided", taken.id())),
        }
    }

    /// The approval state of a call, sealed under this deployment's key.
    fn seal(&self, call: &ToolCall, grant: ApprovalGrant) -> Option<String> {
        let state = SealedApproval {
            principal: call.principal().id().to_owned(),
            server: call.server().to_owned(),
            tool: call.tool().to_owned(),
            digest: call.digest().to_hex(),
            grant,
        };
        let payload = serde_json::to_vec(&state).ok()?;
        Some(
            self.codec.seal_with(
                &payload,
                &SealOptions::new()
                    .associated_data(STATE_CONTEXT)
                    .ttl(self.approval_ttl),
            ),
        )
    }

    /// A retry that carries this gate's approval state: the grant, if the state
    /// is genuine, for this very call, and the person accepted. `None` when the
    /// request carries no state of ours (the inner handler's own multi-round
    /// state passes untouched).
    pub(super) fn approved_retry(
        &self,
        call: &ToolCall,
        request: &CallToolRequestParams,
    ) -> Option<Result<ApprovalGrant, &'static str>> {
        let answer = request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(APPROVAL_INPUT_KEY));
        let state = request.request_state.as_deref()?;
        let opened = self
            .codec
            .open_json_with::<SealedApproval>(state, STATE_CONTEXT);
        let sealed = match opened {
            Ok(sealed) => sealed,
            Err(_) if answer.is_none() => return None,
            Err(_) => {
                return Some(Err(
                    "the approval state is not one this server issued, was altered, or has expired",
                ));
            }
        };
        if sealed.principal != call.principal().id()
            || sealed.server != call.server()
            || sealed.tool != call.tool()
            || sealed.digest != call.digest().to_hex()
        {
            return Some(Err(
                "the approval state was issued for a different call (caller, tool or arguments)",
            ));
        }
        let accepted = answer
            .and_then(|a| serde_json::from_value::<ElicitResult>(a.clone()).ok())
            .is_some_and(|a| accepted(&a));
        if accepted {
            Some(Ok(sealed.grant))
        } else {
            Some(Err("the person declined to approve the call"))
        }
    }
}

/// A codec for approval states under `key`, or `None` when the key is too short.
pub(super) fn codec(key: &[u8]) -> Option<RequestStateCodec> {
    RequestStateCodec::try_new(key.to_vec()).ok()
}

/// Whether the client declared form elicitation: in this request's capabilities
/// (MCP 2026-07-28 and later, where capabilities travel with every request), or
/// at `initialize` on older peers. An elicitation capability that names neither
/// form nor URL means form, as the specification says.
fn declares_form_elicitation(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|caps| caps.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// An explicit yes: accepted, with `approve` ticked.
fn accepted(answer: &ElicitResult) -> bool {
    answer.action == ElicitationAction::Accept
        && answer
            .content
            .as_ref()
            .and_then(|c| c.get("approve"))
            .and_then(Value::as_bool)
            == Some(true)
}

/// The form a person answers to approve one call: the gate's question
/// ([`Pending::question`]: tool, server, caller, target and destination first and
/// whole, the rest redacted and quoted) and a box to tick.
fn approval_form(pending: &Pending) -> ElicitRequestParams {
    let schema = ElicitationSchema::builder().required_bool_property("approve", |b| {
        b.title("Approve this call")
            .description("Tick to let this exact call run once.")
    });
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: pending.question().to_owned(),
        requested_schema: schema.build_unchecked(),
    }
}
