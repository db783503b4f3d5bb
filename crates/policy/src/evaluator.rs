//! The evaluator: a call and the state it is made in, to a decision. Pure.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression,
};
use mcpguard_core::{Tier, ToolProfile};

use crate::args::{self, ArgType};
use crate::call::{Principal, ServerAction, ToolCall};
use crate::decision::{ApprovalRequest, Decision, Explanation, PolicyOutcome, Verdict};
use crate::error::BuildError;
use crate::index::{Answer, Scope, SliceKey};
use crate::model::{CallContext, DestinationAttrs, ListContext, Model, ToolEntry, uid};
use crate::policies::{CompiledPolicies, PolicySource};
use crate::state::SessionState;

/// What a call is decided in besides itself: the state of its session and
/// whether a person approved exactly this call.
///
/// ```
/// use mcpguard_policy::{CallState, SessionState};
/// let state = CallState::new(SessionState::with(true, false)).approved(true);
/// assert!(state.session.tainted && state.approved);
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CallState {
    /// The session's state (`context.session`).
    pub session: SessionState,
    /// A person approved this exact call (`context.approved`).
    pub approved: bool,
}

impl CallState {
    /// A call in a session with this state, not approved.
    pub const fn new(session: SessionState) -> Self {
        Self {
            session,
            approved: false,
        }
    }

    /// The same state, approved or not.
    #[must_use]
    pub const fn approved(mut self, approved: bool) -> Self {
        self.approved = approved;
        self
    }
}

/// Decides calls against the inventory's model and one policy set: the
/// analogue of Cedar's `is_authorized(request, policies, entities)`.
///
/// Immutable and pure: [`Evaluator::evaluate`] reads no store, writes no audit
/// event and does no I/O, so the same call in the same [`CallState`] always gets
/// the same decision. A [`crate::Gate`] holds one (and replaces it whole when
/// its policies are swapped) and adds the state and the effects around it.
///
/// ```
/// use mcpguard_core::{Inventory, Tier};
/// use mcpguard_policy::{CallState, Gate, Principal, SessionState, ToolCall, Verdict};
///
/// let inventory = Inventory::load("../../examples/inventories/team.toml")?;
/// let gate = Gate::builder().inventory(inventory).tier(Tier::Team).build()?;
/// let evaluator = gate.evaluator();
/// // The pinned definition, as a gateway saw it in `tools/list`.
/// let pin = "sha256:3a00ed6f64de4e8cdd884442f0de65c7cde8e34d07258faab59e79030f429067";
/// let call = ToolCall::new(Principal::new("ana"), "fetch", "fetch")
///     .arguments(serde_json::json!({"url": "https://docs.rs/cedar-policy"}))
///     .definition(pin.parse()?);
/// let clean = evaluator.evaluate(&call, &CallState::default());
/// // Untrusted content read and private data seen: nothing may leave.
/// let trifecta = evaluator.evaluate(&call, &CallState::new(SessionState::with(true, true)));
/// assert_eq!(clean.verdict(), Verdict::Allow);
/// assert_eq!(trifecta.verdict(), Verdict::Deny);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Evaluator {
    model: Arc<Model>,
    policies: CompiledPolicies,
    authorizer: Authorizer,
    tier: Tier,
}

/// What a request is about: the action, the resource and its ancestors, and the
/// resource entities Cedar needs.
struct Target<'a, const N: usize> {
    action: &'a EntityUid,
    resource: &'a EntityUid,
    ancestors: &'a [EntityUid],
    resource_type: &'a EntityTypeName,
    entities: [&'a Entity; N],
}

impl Evaluator {
    pub(crate) fn new(model: Arc<Model>, policies: CompiledPolicies, tier: Tier) -> Self {
        Self {
            model,
            policies,
            authorizer: Authorizer::new(),
            tier,
        }
    }

    /// The same model and tier with other policies.
    pub(crate) fn with_policies(&self, policies: &PolicySource) -> Result<Self, BuildError> {
        let compiled = policies.compile(&self.model.schema, &self.model.untyped)?;
        Ok(Self::new(Arc::clone(&self.model), compiled, self.tier))
    }

    /// Decides a call in `state`. Never panics; anything that cannot be evaluated
    /// is a Deny, with the cause in [`Decision::errors`] or the reasons.
    ///
    /// A call only approval gates hold back is a RequireApproval when an approval
    /// would let it through, and the Deny that would follow otherwise (an approval
    /// lifts approval gates only).
    pub fn evaluate(&self, call: &ToolCall, state: &CallState) -> Decision {
        self.decide(call, *state, false)
    }

    /// The same decision as [`Evaluator::evaluate`], computed by evaluating every
    /// policy of the set with stock Cedar, without the index. Slower (linear in the
    /// number of policies); for checking the index and for debugging.
    pub fn evaluate_exhaustive(&self, call: &ToolCall, state: &CallState) -> Decision {
        self.decide(call, *state, true)
    }

    fn decide(&self, call: &ToolCall, state: CallState, exhaustive: bool) -> Decision {
        if call.arguments_too_deep() {
            return Decision::deny(format!(
                "malformed call: the arguments are nested deeper than {} levels",
                mcpguard_core::MAX_JSON_DEPTH
            ));
        }
        if let Some(action) = call.action() {
            return self.evaluate_server(call.principal(), call.server(), action);
        }
        let (entry, mut context) = match self.call_context(call, state) {
            Ok(prepared) => prepared,
            Err(d) => return d,
        };
        let target = tool_target(&self.model, entry);
        let first = self.decide_in(call, &target, &context, exhaustive);
        if context.approved || first.verdict() != Verdict::RequireApproval {
            return first;
        }
        // Only approval gates denied: would an approval let it through? The
        // context is built once; only `approved` differs.
        context.approved = true;
        let with_approval = self.decide_in(call, &target, &context, exhaustive);
        if with_approval.is_allowed() {
            first
        } else {
            with_approval
        }
    }

    fn decide_in(
        &self,
        call: &ToolCall,
        target: &Target<'_, 2>,
        context: &CallContext<'_>,
        exhaustive: bool,
    ) -> Decision {
        let context = match context.to_context() {
            Ok(c) => c,
            Err(e) => return Decision::deny_error("the context could not be built", e.into()),
        };
        match self.run(call.principal(), target, context, exhaustive) {
            Ok(outcome) => interpret(&self.policies, outcome, Some(call)),
            Err(d) => d,
        }
    }

    /// Whether `principal` may see a tool in `tools/list`: decided by `list_tools`
    /// policies, apart from `call_tool`, so a condition on arguments never hides a
    /// tool.
    pub fn evaluate_list(&self, principal: &Principal, server: &str, tool: &str) -> Decision {
        let Some(entry) = self.model.tool(server, tool) else {
            return not_in_inventory(server, tool);
        };
        let target = Target {
            action: &self.model.actions.list_tools,
            resource: &entry.uid,
            ancestors: std::slice::from_ref(&entry.server_uid),
            resource_type: &self.model.tool_type,
            entities: [&entry.entity, &entry.server_entity],
        };
        self.decide_listed(principal, &target)
    }

    /// Decides `resources/read` or `prompts/get` on a server.
    pub fn evaluate_server(
        &self,
        principal: &Principal,
        server: &str,
        action: ServerAction,
    ) -> Decision {
        let Some((server_uid, entity)) = self.model.servers.get(server) else {
            return Decision::deny(format!(
                "server `{}` is not in the inventory",
                shown_name(server)
            ));
        };
        let action = match action {
            ServerAction::ReadResource => &self.model.actions.read_resource,
            ServerAction::GetPrompt => &self.model.actions.get_prompt,
            ServerAction::CreateMessage => &self.model.actions.sample,
            ServerAction::Elicit => &self.model.actions.elicit,
            ServerAction::ListRoots => &self.model.actions.list_roots,
        };
        let target = Target {
            action,
            resource: server_uid,
            ancestors: &[],
            resource_type: &self.model.server_type,
            entities: [entity],
        };
        self.decide_listed(principal, &target)
    }

    fn decide_listed<const N: usize>(
        &self,
        principal: &Principal,
        target: &Target<'_, N>,
    ) -> Decision {
        let context = match (ListContext { tier: self.tier }).to_context() {
            Ok(c) => c,
            Err(e) => return Decision::deny_error("the context could not be built", e.into()),
        };
        match self.run(principal, target, context, false) {
            Ok(outcome) => interpret(&self.policies, outcome, None),
            Err(d) => d,
        }
    }

    /// The decision with every policy's part in it (in the order of their sources):
    /// which matched, which errored.
    /// Costs one evaluation per policy; for reviewers and tools, not the hot path.
    pub fn explain(&self, call: &ToolCall, state: &CallState) -> Explanation {
        let decision = self.evaluate(call, state);
        let policies = &self.policies;
        let mut outcomes = Vec::new();
        let prepared = self
            .call_context(call, *state)
            .and_then(|(entry, context)| {
                let context = context.to_context().map_err(|e| {
                    Decision::deny_error("the context could not be built", e.into())
                })?;
                let target = tool_target(&self.model, entry);
                self.request_and_entities(call.principal(), &target, context)
            });
        if let Ok((request, entities)) = prepared {
            for id in &policies.order {
                let Some(policy) = policies.set.policy(&cedar_policy::PolicyId::new(id)) else {
                    continue;
                };
                let id = id.clone();
                let meta = policies.meta.get(&id);
                let mut single = PolicySet::new();
                let (matched, error) = match single.add(policy.clone()) {
                    Ok(()) => {
                        let r = self.authorizer.is_authorized(&request, &single, &entities);
                        let matched = r.diagnostics().reason().any(|p| p.to_string() == id);
                        let error = r.diagnostics().errors().next().map(ToString::to_string);
                        (matched, error)
                    }
                    Err(e) => (false, Some(e.to_string())),
                };
                outcomes.push(PolicyOutcome {
                    id,
                    effect: if meta.is_some_and(|m| m.forbid) {
                        "forbid"
                    } else {
                        "permit"
                    },
                    approval: meta.is_some_and(|m| m.approval),
                    matched,
                    reason: meta.map_or_else(String::new, |m| m.reason.to_string()),
                    error,
                });
            }
        }
        Explanation {
            decision,
            policies: outcomes,
        }
    }

    /// How the inventory describes a tool of a server: its data classes, actions,
    /// reach and whether its output is untrusted. `None` for a tool not in it.
    pub fn tool_profile(&self, server: &str, tool: &str) -> Option<&ToolProfile> {
        self.model.tool(server, tool).map(|entry| &entry.profile)
    }

    /// What running `call` does to its session: taint when what it reads may be
    /// hostile (the tool's output is untrusted; a server's resources and prompts
    /// when it is third-party or has a tool with untrusted output), private data
    /// seen for confidential-or-above data. Nothing for what the model lacks.
    pub(crate) fn session_marks(&self, call: &ToolCall) -> SessionState {
        if let Some(action) = call.action() {
            if !action.reads_server() {
                return SessionState::new();
            }
            return self
                .model
                .server_flags
                .get(call.server())
                .map_or(SessionState::new(), |f| {
                    SessionState::with(f.tainted, f.private)
                });
        }
        self.model
            .tool(call.server(), call.tool())
            .map_or(SessionState::new(), |e| {
                SessionState::with(e.untrusted_output, e.private)
            })
    }

    /// The target of a call: the inventory's `target` argument of its tool, or
    /// the subject (URI, prompt name) of a server action.
    pub(crate) fn target_of(&self, call: &ToolCall) -> Option<String> {
        if call.action().is_some() {
            return Some(call.tool().to_owned());
        }
        self.tool_profile(call.server(), call.tool())?
            .target_of(call.arguments_value())
    }

    /// The tier calls are decided in (`context.tier`).
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The Cedar schema policies are validated against, with its generated `Args`.
    pub fn schema_text(&self) -> &str {
        &self.model.schema_text
    }

    /// What was noticed while the model was built: tools offered but not
    /// inventoried, pins that do not match, argument names typed differently by
    /// different tools.
    pub fn schema_notes(&self) -> &[String] {
        &self.model.notes
    }

    /// The ids of the policies in force, sorted.
    pub fn policy_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .policies
            .set
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// The argument names policies can see, as dotted paths.
    pub fn argument_names(&self) -> Vec<String> {
        fn walk(prefix: &str, r: &BTreeMap<String, ArgType>, out: &mut Vec<String>) {
            for (k, t) in r {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if let ArgType::Record(inner) = t {
                    walk(&path, inner, out);
                }
                out.push(path);
            }
        }
        let mut out = Vec::new();
        walk("", &self.model.args, &mut out);
        out
    }

    /// Checks a call and builds its context: the tool must be known, its pinned
    /// definition unchanged, its arguments well-typed.
    fn call_context<'c>(
        &self,
        call: &'c ToolCall,
        state: CallState,
    ) -> Result<(&ToolEntry, CallContext<'c>), Decision> {
        let Some(entry) = self.model.tool(call.server(), call.tool()) else {
            return Err(not_in_inventory(call.server(), call.tool()));
        };
        if let Some(pin) = entry.pinned {
            let key = || format!("{}/{}", call.server(), call.tool());
            match call.definition_fingerprint().or(entry.observed) {
                None => {
                    return Err(Decision::deny(format!(
                        "tool `{}` has a pinned fingerprint but its definition was not seen; give the gate the server's tools/list",
                        key()
                    )));
                }
                Some(seen) if seen != pin => {
                    return Err(Decision::deny(format!(
                        "the definition of tool `{}` changed since it was pinned: a changed tool is a different tool",
                        key()
                    )));
                }
                Some(_) => {}
            }
        }
        let mismatch = args::ArgMismatch {
            path: String::new(),
            expected: "an object",
        };
        let args = match &entry.args {
            Some(t) => args::to_context(call.arguments_value(), t, &self.model.args),
            None if call.arguments_value().is_object() => {
                RestrictedExpression::new_record([]).map_err(|_| mismatch)
            }
            None => Err(mismatch),
        };
        let args = args.map_err(|m| {
            let at = if m.path.is_empty() {
                "the arguments".to_owned()
            } else {
                format!("argument `{}`", m.path)
            };
            Decision::deny(format!("malformed call: {at} must be {}", m.expected))
        })?;
        let destination = DestinationAttrs::of_call(&entry.profile, call.arguments_value())
            .to_expression()
            .map_err(|e| Decision::deny_error("the context could not be built", e.into()))?;
        Ok((
            entry,
            CallContext {
                tier: self.tier,
                session: state.session,
                approved: state.approved,
                purpose: call.purpose_text().unwrap_or_default(),
                destination,
                args,
            },
        ))
    }

    fn principal_uids(&self, principal: &Principal) -> (EntityUid, Vec<EntityUid>) {
        let mut names: Vec<&String> = principal.groups().iter().collect();
        names.sort_unstable();
        names.dedup();
        (
            uid(&self.model.user_type, principal.id()),
            names
                .into_iter()
                .map(|g| uid(&self.model.group_type, g))
                .collect(),
        )
    }

    fn entities<const N: usize>(
        principal: &EntityUid,
        groups: &[EntityUid],
        target: &Target<'_, N>,
    ) -> Result<Entities, String> {
        let group_entities = groups
            .iter()
            .map(|g| Entity::new_no_attrs(g.clone(), HashSet::new()));
        let principal_entity =
            Entity::new_no_attrs(principal.clone(), groups.iter().cloned().collect());
        Entities::from_entities(
            std::iter::once(principal_entity)
                .chain(group_entities)
                .chain(target.entities.iter().map(|e| (*e).clone())),
            None,
        )
        .map_err(|e| e.to_string())
    }

    fn request_and_entities<const N: usize>(
        &self,
        principal: &Principal,
        target: &Target<'_, N>,
        context: Context,
    ) -> Result<(Request, Entities), Decision> {
        let (principal_uid, groups) = self.principal_uids(principal);
        let entities = Self::entities(&principal_uid, &groups, target)
            .map_err(|e| Decision::deny_error("the entities could not be built", e.into()))?;
        let request = Request::new(
            principal_uid,
            target.action.clone(),
            target.resource.clone(),
            context,
            None,
        )
        .map_err(|e| Decision::deny_error("the request could not be built", (&e).into()))?;
        Ok((request, entities))
    }

    /// Evaluates a request: through the index (only the policies whose scope
    /// matches, the context-free ones once per principal, groups and resource), or
    /// over the whole set with stock Cedar when `exhaustive`.
    fn run<const N: usize>(
        &self,
        principal: &Principal,
        target: &Target<'_, N>,
        context: Context,
        exhaustive: bool,
    ) -> Result<Answer, Decision> {
        let policies = &self.policies;
        if exhaustive {
            let (request, entities) = self.request_and_entities(principal, target, context)?;
            return Ok(Answer::of(&self.authorizer.is_authorized(
                &request,
                &policies.set,
                &entities,
            )));
        }
        let (principal_uid, groups) = self.principal_uids(principal);
        let request = Request::new(
            principal_uid.clone(),
            target.action.clone(),
            target.resource.clone(),
            context,
            None,
        )
        .map_err(|e| Decision::deny_error("the request could not be built", (&e).into()))?;
        let key = SliceKey {
            principal: principal_uid,
            groups,
            resource: target.resource.clone(),
            action: target.action.clone(),
        };
        let slice = policies
            .index
            .slice(
                &key,
                &Scope {
                    ancestors: target.ancestors,
                    resource_type: target.resource_type,
                    principal_type: &self.model.user_type,
                },
                || Self::entities(&key.principal, &key.groups, target),
                &request,
                &self.authorizer,
            )
            .map_err(|e| Decision::deny_error("the policy index could not be built", e.into()))?;
        Ok(slice.decide(&request, &self.authorizer))
    }
}

/// Maps Cedar's answer onto a decision. With `call`, a Deny made only by
/// approval gates becomes RequireApproval (the caller then checks that an
/// approval would allow it).
fn interpret(policies: &CompiledPolicies, outcome: Answer, call: Option<&ToolCall>) -> Decision {
    let Answer { allow, ids, errors } = outcome;
    let reasons: Vec<Arc<str>> = ids
        .iter()
        .map(|id| {
            policies
                .meta
                .get(id)
                .map_or_else(|| Arc::from(format!("policy `{id}`")), |m| m.reason.clone())
        })
        .collect();
    if !errors.is_empty() {
        let mut reasons = reasons;
        reasons.insert(
            0,
            Arc::from("a policy could not be evaluated for this call, so it is denied"),
        );
        return Decision::from_parts(Verdict::Deny, ids, reasons, errors, None);
    }
    if allow {
        return Decision::from_parts(Verdict::Allow, ids, reasons, errors, None);
    }
    if ids.is_empty() {
        return Decision::from_parts(
            Verdict::Deny,
            ids,
            vec![Arc::from("no policy permits this call")],
            errors,
            None,
        );
    }
    let only_approval = ids
        .iter()
        .all(|id| policies.meta.get(id).is_some_and(|m| m.approval));
    match call {
        Some(call) if only_approval => {
            let four_eyes = ids
                .iter()
                .any(|id| policies.meta.get(id).is_some_and(|m| m.four_eyes));
            let request = ApprovalRequest::new(
                call.digest(),
                call.principal().id(),
                call.server(),
                call.tool(),
                ids.clone(),
                reasons.clone(),
            )
            .four_eyes(four_eyes);
            Decision::from_parts(
                Verdict::RequireApproval,
                ids,
                reasons,
                errors,
                Some(request),
            )
        }
        _ => Decision::from_parts(Verdict::Deny, ids, reasons, errors, None),
    }
}

fn tool_target<'a>(model: &'a Model, entry: &'a ToolEntry) -> Target<'a, 2> {
    Target {
        action: &model.actions.call_tool,
        resource: &entry.uid,
        ancestors: std::slice::from_ref(&entry.server_uid),
        resource_type: &model.tool_type,
        entities: [&entry.entity, &entry.server_entity],
    }
}

/// A name that came from a client, as a reason shows it: only when it is
/// name-shaped (the gate's redactor still passes over every reason that leaves it).
pub(crate) fn shown_name(s: &str) -> &str {
    if s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        s
    } else {
        "(name not shown)"
    }
}

fn not_in_inventory(server: &str, tool: &str) -> Decision {
    Decision::deny(format!(
        "tool `{}` of server `{}` is not in the inventory",
        shown_name(tool),
        shown_name(server)
    ))
}

impl fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluator")
            .field("tier", &self.tier)
            .field(
                "tools",
                &self.model.tools.values().map(|t| t.len()).sum::<usize>(),
            )
            .field("policies", &self.policies.set.num_of_policies())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluator_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Evaluator>();
    }
}
