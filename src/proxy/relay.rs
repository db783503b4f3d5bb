//! The proxy's client role toward the upstream: what the upstream sends the
//! client. Requests (sampling, elicitation, roots) are relayed to the agent only
//! when the gate's policies permit them, sanitized and redacted on the way (and
//! the agent's answer redacted on the way back); progress goes to the call it
//! belongs to; every notification passed on is sanitized and redacted; a
//! changed tool list is pinned again.
#![expect(
    deprecated,
    reason = "sampling, roots and logging are deprecated by SEP-2577 and still relayed for upstreams on the protocol versions that have them"
)]

use std::sync::Arc;

use mcpguard_policy::{Admission, GuardError, Principal, ServerAction, ToolCall};
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, Implementation, ListRootsResult,
    LoggingMessageNotificationParam, ProgressNotificationParam, ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use rmcp::{ClientHandler, ErrorData as McpError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::State;
use crate::rmcp::output::process_serialized;

/// How long the proxy waits after an upstream's `tools/list_changed` before it
/// lists again, gathering the notifications that follow into one re-listing.
const LIST_CHANGED_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(50);

/// The upstream's view of the proxy as its client.
pub(super) struct Relay {
    pub(super) state: Arc<State>,
}

/// A relayed answer the gate can redact: it goes to the upstream, which must not
/// learn a secret the agent's side holds.
struct Answer<T>(T);

impl<T: Serialize + DeserializeOwned> mcpguard_policy::ToolResult for Answer<T> {
    fn process(&mut self, output: &mut mcpguard_policy::Output<'_>) {
        // A value that does not make the round trip is sent as it was: it is
        // the agent's own answer, and withholding it would break the relay.
        let _ = process_serialized(&mut self.0, output);
    }
}

impl Relay {
    /// Asks the gate whether `action` may be relayed for the principal the
    /// proxy serves; when it may, `forward` sends it to the agent, and the
    /// answer is redacted and audited as the call's outcome.
    async fn relay<P, T, F, Fut>(
        &self,
        action: ServerAction,
        mut params: P,
        forward: F,
    ) -> Result<T, McpError>
    where
        P: Serialize + DeserializeOwned,
        T: Serialize + DeserializeOwned,
        F: FnOnce(rmcp::Peer<rmcp::service::RoleServer>, P) -> Fut,
        Fut: std::future::Future<Output = Result<T, rmcp::service::ServiceError>>,
    {
        let state = &self.state;
        let refused =
            |reason: String| McpError::invalid_request(format!("mcpguard: {reason}"), None);
        let Some(gate) = state.gate.get() else {
            return Err(refused(format!(
                "`{}` was refused: no client is connected to the proxy yet",
                action.method()
            )));
        };
        let identity = state.identity.get();
        let principal = identity.and_then(|i| i.principal.clone());
        let mut call = ToolCall::server_action(
            principal
                .clone()
                .unwrap_or_else(|| Principal::new("unverified")),
            &state.server,
            action,
            action.method(),
        );
        if let Some(identity) = identity {
            call = call.session(identity.session.clone());
        }
        let single = principal.is_some();
        let (true, Some(agent)) = (single, state.agent()) else {
            // Over HTTP many clients share the upstream: which one it asks
            // cannot be told, so none is. Over stdio, none may be there yet.
            let why = if single {
                "no client has connected to the proxy yet"
            } else {
                "the proxy serves several clients over HTTP and cannot tell which one the upstream asks"
            };
            let d = gate.refuse(&call, why);
            return Err(refused(d.reasons().collect::<Vec<_>>().join("; ")));
        };
        // What the person (or the client's model) reads of the upstream's
        // request is cleaned as its results are.
        if !state.clean(&mut params) {
            let d = gate.refuse(
                &call,
                "the upstream's request could not be checked for secrets",
            );
            return Err(refused(d.reasons().collect::<Vec<_>>().join("; ")));
        }
        let permit = match gate.admit(&call) {
            Admission::Run(permit) => permit,
            Admission::Ask(pending) => {
                let reasons = pending.decision().reasons().collect::<Vec<_>>().join("; ");
                return Err(refused(format!(
                    "`{}` needs approval, which a relayed request cannot ask for: {reasons}",
                    action.method()
                )));
            }
            Admission::Refuse(d) => {
                return Err(refused(format!(
                    "`{}` from `{}` was refused: {}",
                    action.method(),
                    state.server,
                    d.reasons().collect::<Vec<_>>().join("; ")
                )));
            }
        };
        let outcome = forward(agent, params)
            .await
            .map(Answer)
            .map_err(|e| McpError::internal_error(format!("the client did not answer: {e}"), None));
        match permit.finish(outcome) {
            Ok(Answer(answer)) => Ok(answer),
            Err(GuardError::Handler(e)) => Err(e),
            Err(other) => Err(McpError::internal_error(format!("mcpguard: {other}"), None)),
        }
    }
}

impl ClientHandler for Relay {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        self.relay(
            ServerAction::CreateMessage,
            params,
            |agent, params| async move { agent.create_message(params).await },
        )
        .await
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        self.relay(ServerAction::ListRoots, (), |agent, ()| async move {
            agent.list_roots().await
        })
        .await
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        self.relay(ServerAction::Elicit, request, |agent, request| async move {
            agent.create_elicitation(request).await
        })
        .await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let Some((agent, token)) = self.state.progress_route(&params.progress_token) else {
            return;
        };
        let mut params = params;
        params.progress_token = token;
        if self.state.clean(&mut params) {
            let _ = agent.notify_progress(params).await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let mut params = params;
        if !self.state.clean(&mut params) {
            return;
        }
        match self.state.agent() {
            Some(agent) => {
                let _ = agent.notify_logging_message(params).await;
            }
            None => self
                .state
                .log(&format!("log ({:?}): {}", params.level, params.data)),
        }
    }

    async fn on_tool_list_changed(&self, context: NotificationContext<RoleClient>) {
        // Coalesced: a burst of notifications (an upstream may send hundreds)
        // is one re-listing, made a moment after the first; one that comes
        // while a re-listing runs gets one more after it.
        if self
            .state
            .relisting
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let state = Arc::clone(&self.state);
        let peer = context.peer.clone();
        tokio::spawn(async move {
            tokio::time::sleep(LIST_CHANGED_DEBOUNCE).await;
            state
                .relisting
                .store(false, std::sync::atomic::Ordering::Release);
            state.refresh(&peer).await;
            if let Some(agent) = state.agent() {
                let _ = agent.notify_tool_list_changed().await;
            }
        });
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(agent) = self.state.agent() {
            let _ = agent.notify_resource_list_changed().await;
        }
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(agent) = self.state.agent() {
            let _ = agent.notify_prompt_list_changed().await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let mut params = params;
        if let Some(agent) = self.state.agent()
            && self.state.clean(&mut params)
        {
            let _ = agent.notify_resource_updated(params).await;
        }
    }

    fn get_info(&self) -> ClientConfig {
        // Declared so that the upstream may ask; each request is decided when
        // it comes.
        let mut capabilities = ClientCapabilities::default();
        capabilities.sampling = Some(Default::default());
        capabilities.roots = Some(Default::default());
        capabilities.elicitation = Some(Default::default());
        let mut config = ClientConfig::default();
        config.capabilities = capabilities;
        config.client_info = Implementation::new("mcpguard-proxy", env!("CARGO_PKG_VERSION"));
        config
    }
}
