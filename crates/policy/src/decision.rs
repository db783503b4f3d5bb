//! What the gate answers.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::call::CallDigest;

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[expect(
    clippy::exhaustive_enums,
    reason = "a new outcome must break every caller's match: it changes what runs"
)]
pub enum Verdict {
    /// Run the call.
    Allow,
    /// Ask a person; run the call only with their approval
    /// ([`crate::Gate::authorize_approved`]).
    RequireApproval,
    /// Do not run the call.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::RequireApproval => "require_approval",
            Self::Deny => "deny",
        })
    }
}

/// A decision about one call: the verdict, the policies that determined it and
/// their reasons, any errors that forced a deny, and for `RequireApproval` the
/// request to show a person. Decisions have no default: every one comes from the
/// gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[must_use = "a decision that is not acted on authorizes nothing"]
pub struct Decision {
    verdict: Verdict,
    policies: Vec<String>,
    reasons: Vec<Arc<str>>,
    errors: Vec<DecisionError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<Box<ApprovalRequest>>,
}

/// Why a decision could not be made as the policies would make it, so it is a
/// Deny: Cedar's evaluation error (with the policy it came from) or a failure of
/// the gate's own step, kept typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionError {
    kind: DecisionErrorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    message: String,
}

/// The step of a decision that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DecisionErrorKind {
    /// A policy raised an error while it was evaluated (Cedar's
    /// `PolicyEvaluationError`: a missing attribute, an overflow, a bad `ip()`).
    Evaluation,
    /// The request's context, entities or request could not be built.
    Request,
    /// The policy index could not slice the set for this request.
    Index,
    /// A session or approval store could not answer.
    Store,
    /// The audit sink could not record the call's start, so it was not run.
    Audit,
}

impl DecisionError {
    pub(crate) fn new(kind: DecisionErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            policy: None,
            message: message.into(),
        }
    }

    /// Cedar's error while evaluating one policy.
    pub(crate) fn evaluation(error: &cedar_policy::AuthorizationError) -> Self {
        let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = error;
        Self {
            kind: DecisionErrorKind::Evaluation,
            policy: Some(e.policy_id().to_string()),
            message: e.inner().to_string(),
        }
    }

    /// The failed step.
    pub fn kind(&self) -> DecisionErrorKind {
        self.kind
    }

    /// The policy whose evaluation failed, for [`DecisionErrorKind::Evaluation`].
    pub fn policy_id(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// What went wrong, in Cedar's or the store's words (redacted when the
    /// decision left the gate).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DecisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.policy {
            Some(id) => write!(f, "while evaluating policy `{id}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DecisionError {}

impl From<String> for DecisionError {
    fn from(message: String) -> Self {
        Self::new(DecisionErrorKind::Request, message)
    }
}

impl From<&cedar_policy::RequestValidationError> for DecisionError {
    fn from(e: &cedar_policy::RequestValidationError) -> Self {
        Self::new(DecisionErrorKind::Request, e.to_string())
    }
}

impl Decision {
    pub(crate) fn deny(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Deny,
            policies: Vec::new(),
            reasons: vec![Arc::from(reason.into())],
            errors: Vec::new(),
            approval: None,
        }
    }

    pub(crate) fn deny_error(reason: &str, error: DecisionError) -> Self {
        let mut d = Self::deny(reason);
        d.errors.push(error);
        d
    }

    pub(crate) fn from_parts(
        verdict: Verdict,
        policies: Vec<String>,
        reasons: Vec<Arc<str>>,
        errors: Vec<DecisionError>,
        approval: Option<ApprovalRequest>,
    ) -> Self {
        Self {
            verdict,
            policies,
            reasons,
            errors,
            approval: approval.map(Box::new),
        }
    }

    /// The same decision with its reasons and errors passed through `redactor`:
    /// an evaluation error can quote an argument, a refusal a caller's words.
    pub(crate) fn redacted(mut self, redactor: &mcpguard_redact::Redactor) -> Self {
        for error in &mut self.errors {
            if let std::borrow::Cow::Owned(clean) = redactor.redact(&error.message) {
                error.message = clean;
            }
        }
        for reason in &mut self.reasons {
            if let std::borrow::Cow::Owned(clean) = redactor.redact(reason) {
                *reason = Arc::from(clean);
            }
        }
        self
    }

    /// Allow, RequireApproval or Deny.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// Whether the call may run now.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// The ids of the policies that determined the verdict: for Allow the permits
    /// that matched, for Deny and RequireApproval the forbids that matched (empty
    /// when nothing permitted the call or the gate denied before evaluating).
    pub fn policy_ids(&self) -> &[String] {
        &self.policies
    }

    /// Why, in sentences a person understands, one per determining policy (or the
    /// gate's own reason when it denied before evaluating policies).
    pub fn reasons(&self) -> impl Iterator<Item = &str> {
        self.reasons.iter().map(|r| &**r)
    }

    /// Errors that forced a Deny (an evaluation error, a store failure).
    pub fn errors(&self) -> &[DecisionError] {
        &self.errors
    }

    /// For RequireApproval, what to show the person who approves.
    pub fn approval_request(&self) -> Option<&ApprovalRequest> {
        self.approval.as_deref()
    }
}

/// A call waiting for a person's approval: what it is and why it needs one. Grant it
/// with [`crate::Approvals::approve`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRequest {
    #[serde(serialize_with = "digest_hex")]
    digest: CallDigest,
    principal: String,
    server: String,
    tool: String,
    policies: Vec<String>,
    reasons: Vec<Arc<str>>,
    four_eyes: bool,
}

fn digest_hex<S: serde::Serializer>(d: &CallDigest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_hex())
}

impl ApprovalRequest {
    pub(crate) fn new(
        digest: CallDigest,
        principal: &str,
        server: &str,
        tool: &str,
        policies: Vec<String>,
        reasons: Vec<Arc<str>>,
    ) -> Self {
        Self {
            digest,
            principal: principal.to_owned(),
            server: server.to_owned(),
            tool: tool.to_owned(),
            policies,
            reasons,
            four_eyes: false,
        }
    }

    pub(crate) fn four_eyes(mut self, four_eyes: bool) -> Self {
        self.four_eyes = four_eyes;
        self
    }

    /// Whether a gate of the call is `@approval("four-eyes")`: the caller may not
    /// approve it; a reviewer other than the caller must, out of band
    /// ([`crate::Reviews`]).
    pub fn needs_reviewer(&self) -> bool {
        self.four_eyes
    }

    /// The digest of the exact call (principal, server, tool, arguments).
    pub fn digest(&self) -> CallDigest {
        self.digest
    }

    /// Who asked.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The tool.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The approval policies that asked for a person.
    pub fn policy_ids(&self) -> &[String] {
        &self.policies
    }

    /// Why a person must approve.
    pub fn reasons(&self) -> impl Iterator<Item = &str> {
        self.reasons.iter().map(|r| &**r)
    }
}

/// A decision with every policy's part in it, for reviewers and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The decision, exactly as [`crate::Gate::authorize`] gives it.
    pub decision: Decision,
    /// Every policy of the gate, with whether it matched this call.
    pub policies: Vec<PolicyOutcome>,
}

/// One policy's part in an [`Explanation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PolicyOutcome {
    /// The policy id.
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: &'static str,
    /// Whether it is an approval gate (`@approval("human")`).
    pub approval: bool,
    /// Whether its scope and conditions matched this call.
    pub matched: bool,
    /// Its reason.
    pub reason: String,
    /// The evaluation error, if it had one (a policy that errors is ignored by
    /// Cedar; the gate then denies).
    pub error: Option<String>,
}

/// A call held back for a person's approval (already audited as
/// `needs_approval`).
#[derive(Debug, Clone)]
pub struct Pending {
    pub(crate) decision: Decision,
    pub(crate) request: ApprovalRequest,
    pub(crate) question: String,
}

impl Pending {
    /// The decision (RequireApproval, with its reasons and policies).
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// What to approve: the request a grant is issued for
    /// ([`crate::Approvals::approve`]).
    pub fn request(&self) -> &ApprovalRequest {
        &self.request
    }

    /// The question to put to the person who may approve: tool, server, caller,
    /// target and destination first and whole, the other arguments in name order
    /// with long values elided in the middle, the reasons, and the call's digest.
    /// Everything in it has passed the gate's redactor.
    pub fn question(&self) -> &str {
        &self.question
    }

    /// The decision, given up.
    pub fn into_decision(self) -> Decision {
        self.decision
    }
}
