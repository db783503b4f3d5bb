//! The exact policy index: which policies can apply to a request, decided by their
//! scope alone, so a call evaluates only those — and only the ones that read
//! `context`, the rest being evaluated once per principal, groups and resource.
//!
//! Exactness rests on two facts of Cedar's semantics:
//! - a policy whose scope (principal, action, resource constraints) does not match
//!   the request is not satisfied and cannot error, because the conditions are not
//!   evaluated; leaving it out changes neither the decision nor its diagnostics;
//! - a policy that never mentions `context` is satisfied, or errors, the same way
//!   for every context, given the same principal, resource and entities.
//!
//! The decision is then Cedar's: Allow when no forbid is satisfied and some permit
//! is; the determining policies are the satisfied permits (Allow) or the satisfied
//! forbids (Deny); errors are the union of both parts' errors.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::decision::DecisionError;
use cedar_policy::{
    ActionConstraint, AuthorizationError, Authorizer, Decision, Effect, Entities, EntityUid,
    Policy, PolicyId, PolicySet, PrincipalConstraint, Request, ResourceConstraint,
};
use serde_json::Value;

/// How many (principal, groups, resource, action) slices are kept; the cache is
/// emptied when it would grow past this, so memory stays bounded.
const CACHE_CAPACITY: usize = 8192;

/// One policy as the index sees it.
#[derive(Debug)]
struct Entry {
    policy: Policy,
    permit: bool,
    context_free: bool,
    /// For a policy that reads context but whose first condition is a `when` that
    /// does not: a permit with the same scope and only that condition. Cedar
    /// evaluates conditions in order and stops at the first false one, so where the
    /// guard is not satisfied (and does not error) the policy cannot be satisfied
    /// or error for any context, and is left out of the slice.
    guard: Option<Policy>,
}

/// Policies indexed by resource constraint, built once per policy set.
#[derive(Debug)]
pub(crate) struct PolicyIndex {
    entries: Vec<Entry>,
    /// Policies whose resource constraint names no entity (any, or a type).
    any_resource: Vec<usize>,
    /// Policies whose resource constraint names an entity (`==`, `in`, `is .. in`).
    by_resource: HashMap<EntityUid, Vec<usize>>,
    cache: RwLock<HashMap<SliceKey, Arc<Slice>>>,
}

/// What identifies a slice: who, with which groups, on what, doing what.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SliceKey {
    pub(crate) principal: EntityUid,
    pub(crate) groups: Vec<EntityUid>,
    pub(crate) resource: EntityUid,
    pub(crate) action: EntityUid,
}

/// What the index needs to know of a request's scope beyond its key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    /// The resource's ancestors (a tool's server).
    pub(crate) ancestors: &'a [EntityUid],
    pub(crate) resource_type: &'a cedar_policy::EntityTypeName,
    pub(crate) principal_type: &'a cedar_policy::EntityTypeName,
}

/// The policies that can apply to one key, split by whether they read `context`,
/// with the context-free part already evaluated.
#[derive(Debug)]
pub(crate) struct Slice {
    pub(crate) entities: Entities,
    contextual: Option<PolicySet>,
    fixed_permits: Vec<String>,
    fixed_forbids: Vec<String>,
    fixed_errors: Vec<DecisionError>,
}

/// Cedar's answer, in parts the gate maps onto a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) allow: bool,
    /// The determining policies, sorted.
    pub(crate) ids: Vec<String>,
    pub(crate) errors: Vec<DecisionError>,
}

impl Answer {
    /// Cedar's answer over the whole set, as stock Cedar gives it.
    pub(crate) fn of(response: &cedar_policy::Response) -> Self {
        let mut ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        ids.sort_unstable();
        Self {
            allow: response.decision() == Decision::Allow,
            ids,
            errors: response
                .diagnostics()
                .errors()
                .map(DecisionError::evaluation)
                .collect(),
        }
    }
}

/// Whether a policy's JSON form mentions the `context` variable anywhere.
fn mentions_context(v: &Value) -> bool {
    match v {
        Value::Object(map) => {
            map.get("Var").and_then(Value::as_str) == Some("context")
                || map.values().any(mentions_context)
        }
        Value::Array(items) => items.iter().any(mentions_context),
        _ => false,
    }
}

/// The guard of a policy (see [`Entry::guard`]), when its first condition is a
/// context-free `when`.
fn guard_of(mut json: Value, index: usize) -> Option<Policy> {
    let first = json.get("conditions")?.as_array()?.first()?.clone();
    if first.get("kind")?.as_str()? != "when" || mentions_context(first.get("body")?) {
        return None;
    }
    let obj = json.as_object_mut()?;
    obj.insert("effect".to_owned(), Value::from("permit"));
    obj.insert("conditions".to_owned(), Value::Array(vec![first]));
    obj.remove("annotations");
    Policy::from_json(Some(PolicyId::new(format!("guard#{index}"))), json).ok()
}

impl PolicyIndex {
    pub(crate) fn build(set: &PolicySet) -> Self {
        let mut entries = Vec::new();
        let mut any_resource = Vec::new();
        let mut by_resource: HashMap<EntityUid, Vec<usize>> = HashMap::new();
        for policy in set.policies() {
            let i = entries.len();
            match policy.resource_constraint() {
                ResourceConstraint::Any | ResourceConstraint::Is(_) => any_resource.push(i),
                ResourceConstraint::Eq(uid)
                | ResourceConstraint::In(uid)
                | ResourceConstraint::IsIn(_, uid) => by_resource.entry(uid).or_default().push(i),
            }
            // A policy whose JSON form cannot be produced is treated as reading
            // context: evaluated on every call, never cached.
            let json = policy.to_json().ok();
            let context_free = json.as_ref().is_some_and(|j| !mentions_context(j));
            let guard = if context_free {
                None
            } else {
                json.and_then(|j| guard_of(j, i))
            };
            entries.push(Entry {
                policy: policy.clone(),
                permit: policy.effect() == Effect::Permit,
                context_free,
                guard,
            });
        }
        Self {
            entries,
            any_resource,
            by_resource,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The slice for `key`, computed and cached on first use. `entities` builds the
    /// request's entities (principal, groups, resource and its ancestors);
    /// `request` is a request for this key with any context (only context-free
    /// policies are evaluated with it).
    pub(crate) fn slice(
        &self,
        key: &SliceKey,
        scope: &Scope<'_>,
        entities: impl FnOnce() -> Result<Entities, String>,
        request: &Request,
        authorizer: &Authorizer,
    ) -> Result<Arc<Slice>, String> {
        if let Some(hit) = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
        {
            return Ok(hit.clone());
        }
        let Scope {
            ancestors,
            resource_type,
            principal_type,
        } = *scope;
        let entities = entities()?;
        let mut candidates: Vec<usize> = self.any_resource.clone();
        for uid in std::iter::once(&key.resource).chain(ancestors) {
            if let Some(list) = self.by_resource.get(uid) {
                candidates.extend(list);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let principal_in: HashSet<&EntityUid> =
            std::iter::once(&key.principal).chain(&key.groups).collect();
        let resource_in: HashSet<&EntityUid> =
            std::iter::once(&key.resource).chain(ancestors).collect();
        let mut fixed_permits = PolicySet::new();
        let mut fixed_forbids = PolicySet::new();
        let mut contextual_entries = Vec::new();
        let mut guards = PolicySet::new();
        for i in candidates {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            let action_ok = match e.policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(a) => a == key.action,
                ActionConstraint::In(list) => list.contains(&key.action),
            };
            let resource_ok = match e.policy.resource_constraint() {
                ResourceConstraint::Any => true,
                ResourceConstraint::Eq(uid) => uid == key.resource,
                ResourceConstraint::In(uid) => resource_in.contains(&uid),
                ResourceConstraint::Is(t) => &t == resource_type,
                ResourceConstraint::IsIn(t, uid) => {
                    &t == resource_type && resource_in.contains(&uid)
                }
            };
            let principal_ok = match e.policy.principal_constraint() {
                PrincipalConstraint::Any => true,
                PrincipalConstraint::Eq(uid) => uid == key.principal,
                PrincipalConstraint::In(uid) => principal_in.contains(&uid),
                PrincipalConstraint::Is(t) => &t == principal_type,
                PrincipalConstraint::IsIn(t, uid) => {
                    &t == principal_type && principal_in.contains(&uid)
                }
            };
            if !(action_ok && resource_ok && principal_ok) {
                continue;
            }
            if !e.context_free {
                if let Some(g) = &e.guard {
                    guards.add(g.clone()).map_err(|err| err.to_string())?;
                }
                contextual_entries.push(e);
                continue;
            }
            let target = if e.permit {
                &mut fixed_permits
            } else {
                &mut fixed_forbids
            };
            target
                .add(e.policy.clone())
                .map_err(|err| err.to_string())?;
        }
        // Guards that are neither satisfied nor errored rule their policies out.
        let (mut live_guards, mut errored_guards) = (HashSet::new(), HashSet::new());
        if guards.num_of_policies() > 0 {
            let r = authorizer.is_authorized(request, &guards, &entities);
            if r.decision() == Decision::Allow {
                live_guards.extend(r.diagnostics().reason().map(ToString::to_string));
            }
            for err in r.diagnostics().errors() {
                let AuthorizationError::PolicyEvaluationError(e) = err;
                errored_guards.insert(e.policy_id().to_string());
            }
        }
        let mut contextual = PolicySet::new();
        for e in contextual_entries {
            if let Some(g) = &e.guard {
                let id = g.id().to_string();
                if !live_guards.contains(&id) && !errored_guards.contains(&id) {
                    continue;
                }
            }
            contextual
                .add(e.policy.clone())
                .map_err(|err| err.to_string())?;
        }
        let any_contextual = contextual.num_of_policies() > 0;
        // Context-free policies, evaluated once: permits and forbids apart, so that
        // both satisfied sets are known.
        let permits = Answer::of(&authorizer.is_authorized(request, &fixed_permits, &entities));
        let forbids = Answer::of(&authorizer.is_authorized(request, &fixed_forbids, &entities));
        let mut fixed_errors = permits.errors;
        fixed_errors.extend(forbids.errors);
        let slice = Arc::new(Slice {
            entities,
            contextual: any_contextual.then_some(contextual),
            // A set of permits only: Allow names the satisfied ones; Deny, none.
            fixed_permits: if permits.allow {
                permits.ids
            } else {
                Vec::new()
            },
            // A set of forbids only: always Deny, naming the satisfied ones.
            fixed_forbids: forbids.ids,
            fixed_errors,
        });
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key.clone(), slice.clone());
        Ok(slice)
    }
}

impl Slice {
    /// Evaluates the contextual part for `request` and combines it with the fixed
    /// part into Cedar's answer.
    pub(crate) fn decide(&self, request: &Request, authorizer: &Authorizer) -> Answer {
        let mut errors = self.fixed_errors.clone();
        let (mut permits, mut forbids) = (self.fixed_permits.clone(), self.fixed_forbids.clone());
        if let Some(set) = &self.contextual {
            let part = Answer::of(&authorizer.is_authorized(request, set, &self.entities));
            errors.extend(part.errors);
            // Allow: its reasons are the satisfied permits and no forbid is
            // satisfied. Deny: its reasons are the satisfied forbids; which permits
            // were satisfied no longer matters, the answer is Deny either way.
            if part.allow {
                permits.extend(part.ids);
            } else {
                forbids.extend(part.ids);
            }
        }
        let (allow, mut ids) = if !forbids.is_empty() {
            (false, forbids)
        } else if !permits.is_empty() {
            (true, permits)
        } else {
            (false, Vec::new())
        };
        ids.sort_unstable();
        Answer { allow, ids, errors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn context_mentions_are_found_anywhere() {
        let p = |src: &str| Policy::from_str(src).unwrap().to_json().unwrap();
        assert!(!mentions_context(&p(
            "permit(principal, action, resource) when { resource.x };"
        )));
        assert!(mentions_context(&p(
            "permit(principal, action, resource) when { resource.x } unless { context.a.b };"
        )));
        assert!(mentions_context(&p(
            "forbid(principal, action, resource) when { [1, context.n].contains(2) };"
        )));
    }
}
