//! The minimal rmcp server the HTTP and proxy benches call: one read-only
//! `echo` tool that says its text back.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData as McpError, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Clone)]
pub(crate) struct Echo {
    #[expect(
        dead_code,
        reason = "read by the code `tool_handler` generates, which the lint does not see"
    )]
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
pub(crate) struct EchoArgs {
    /// What to say back.
    text: String,
}

#[tool_router]
impl Echo {
    pub(crate) fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Say it back.", annotations(read_only_hint = true))]
    async fn echo(
        &self,
        Parameters(args): Parameters<EchoArgs>,
    ) -> Result<CallToolResult, McpError> {
        Ok(CallToolResult::success(vec![ContentBlock::text(args.text)]))
    }
}

#[tool_handler]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}
