//! Serving an rmcp server handler over streamable HTTP behind the resource
//! server: the listener loop `mcpguard proxy --http` and the example server run.

use std::sync::Arc;

use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tower_layer::Layer as _;

use super::{METADATA_PATH, RemoteAddr, ResourceServer};

/// Serves `/mcp` on `listener`, every request through `auth` (401 without a
/// valid token, RFC 9728 metadata at the well-known paths), with a handler
/// from `handler` per MCP session or request (rmcp's way: state that outlives
/// one lives in the gate's stores). Other paths are 404. Accepted hosts are
/// the loopback names and the listener's own address, against DNS rebinding;
/// add others with `hosts`. Each connection records its peer as [`RemoteAddr`]
/// for the audit. Runs until accepting fails.
///
/// # Errors
///
/// The listener's address cannot be read, or accepting a connection fails.
pub async fn serve_mcp<H, F>(
    listener: TcpListener,
    auth: ResourceServer,
    hosts: &[String],
    handler: F,
) -> std::io::Result<()>
where
    H: ServerHandler,
    F: Fn() -> Result<H, std::io::Error> + Send + Sync + 'static,
{
    let local = listener.local_addr()?;
    let mut allowed = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        local.to_string(),
    ];
    allowed.extend(hosts.iter().cloned());
    let mcp = StreamableHttpService::new(
        handler,
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_allowed_hosts(allowed),
    );
    let service = auth.layer(mcp);
    loop {
        let (stream, remote) = listener.accept().await?;
        // Small JSON-RPC messages and SSE events: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let handle = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    let mut service = service.clone();
                    request.extensions_mut().insert(RemoteAddr(remote));
                    async move {
                        let path = request.uri().path();
                        if path != "/mcp" && !path.starts_with(METADATA_PATH) {
                            let mut response = hyper::Response::new(http_body_util::Either::Left(
                                http_body_util::Full::new(bytes::Bytes::from_static(
                                    b"not found\n",
                                )),
                            ));
                            *response.status_mut() = hyper::StatusCode::NOT_FOUND;
                            return Ok(response);
                        }
                        std::future::poll_fn(|cx| {
                            tower_service::Service::<hyper::Request<hyper::body::Incoming>>::poll_ready(
                                &mut service,
                                cx,
                            )
                        })
                        .await?;
                        tower_service::Service::call(&mut service, request).await
                    }
                },
            );
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), handle)
                .await;
            if let Err(e) = served {
                tracing::debug!(target: "mcpguard::http", %remote, error = %e, "connection ended with an error");
            }
        });
    }
}
