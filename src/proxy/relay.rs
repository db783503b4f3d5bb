//! The proxy's client role toward the upstream: what the upstream sends the
//! client. Requests (sampling, elicitation, roots) are relayed to the agent only
//! when the gate's policies permit them; progress goes to the call it belongs
//! to, logging is redacted, and a changed tool list is pinned again.
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
    async fn relay<T, F, Fut>(&self, action: ServerAction, forward: F) -> Result<T, McpError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(rmcp::Peer<rmcp::service::RoleServer>) -> Fut,
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
        let outcome = forward(agent)
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
        self.relay(ServerAction::CreateMessage, |agent| async move {
            agent.create_message(params).await
        })
        .await
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        self.relay(ServerAction::ListRoots, |agent| async move {
            agent.list_roots().await
        })
        .await
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        self.relay(ServerAction::Elicit, |agent| async move {
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
        if let Some(message) = params.message.as_mut() {
            *message = self.state.redactor.redact(message).into_owned();
        }
        let _ = agent.notify_progress(params).await;
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let mut params = params;
        self.state.redactor.redact_json(&mut params.data);
        if let Some(logger) = params.logger.as_mut() {
            *logger = self.state.redactor.redact(logger).into_owned();
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
        self.state.refresh(&context.peer).await;
        if let Some(agent) = self.state.agent() {
            let _ = agent.notify_tool_list_changed().await;
        }
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
        if let Some(agent) = self.state.agent() {
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
