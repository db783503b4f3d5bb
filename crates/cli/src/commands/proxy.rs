//! `mcpguard proxy`: the gate in front of an MCP server in any language.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use mcpguard::policy::{
    AuditKey, Gate, GateBuilder, HeadFile, JsonLinesSink, PolicySource, Principal,
};
use mcpguard::proxy::{Proxied, Upstream, UpstreamConfig};
use mcpguard::redact::Redactor;
use mcpguard::rmcp::Guarded;
use mcpguard_core::{Inventory, LaunchGate, Tier};
use rmcp::ServiceExt as _;
use serde_json::json;

use crate::{Exit, Failure, TierArg, bad, load};

/// `mcpguard proxy` (see `mcpguard proxy --help`).
#[derive(Args)]
#[command(
    after_help = "The upstream's environment starts empty: PATH, HOME, the variables `launch.env` and \
                  --pass-env name, and the server's credentials the tier allows (never on its command \
                  line). Calls are audited to --audit, keyed by the variable --audit-key-env names \
                  (32 random bytes, hex or base64: `openssl rand -hex 32`)."
)]
pub(crate) struct ProxyArgs {
    /// The inventory (TOML or JSON).
    #[arg(long)]
    inventory: PathBuf,
    /// The server, by its id in the inventory.
    #[arg(long)]
    server: String,
    /// The tier calls are decided in.
    #[arg(long, value_enum, default_value_t = TierArg::Production)]
    tier: TierArg,
    /// Policies to add to the baseline pack (a directory of `*.cedar` or one file).
    #[arg(long)]
    policies: Option<PathBuf>,
    /// The keyed audit log (JSON lines, continued when it exists).
    #[arg(long, required_unless_present_any = ["print_config", "list_tools"])]
    audit: Option<PathBuf>,
    /// The variable that holds the audit key.
    #[arg(long, value_name = "VAR", default_value = mcpguard::policy::AUDIT_KEY_VAR)]
    audit_key_env: String,
    /// Publish the audit chain's head to this file (`mcpguard audit verify --head`).
    #[arg(long)]
    audit_head: Option<PathBuf>,
    /// Who calls, over stdio (default: the OS user, from `USER` or `LOGNAME`).
    #[arg(long)]
    principal: Option<String>,
    /// Another variable of this environment to give the upstream (repeatable).
    #[arg(long = "pass-env", value_name = "NAME")]
    pass_env: Vec<String>,
    /// Seconds a request to the upstream may take.
    #[arg(long, default_value_t = 60)]
    call_timeout: u64,
    /// The largest message read from the upstream, in MiB.
    #[arg(long, default_value_t = 8)]
    max_message_mib: usize,
    /// Start even when the inventory fails the tier's launch gate for this server.
    #[arg(long)]
    skip_launch_gate: bool,
    /// Serve the agent over streamable HTTP at this address (`127.0.0.1:8080`),
    /// behind an OAuth 2.1 resource server, instead of stdio.
    #[arg(long, value_name = "ADDR", requires_all = ["issuer", "audience", "jwks"])]
    http: Option<String>,
    /// `--http`: the authorization server whose tokens are accepted.
    #[arg(long)]
    issuer: Option<String>,
    /// `--http`: this endpoint's canonical URI (the tokens' audience).
    #[arg(long)]
    audience: Option<String>,
    /// `--http`: the issuer's keys: a JWKS file or an `https://` URL.
    #[arg(long)]
    jwks: Option<String>,
    /// `--http`: a scope every token must carry (repeatable).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// `--http`: also accept JWTs whose header has no `typ` or the generic
    /// `JWT`, for an issuer that does not mark access tokens `at+jwt` (RFC 9068).
    #[arg(long, requires = "http")]
    accept_untyped_jwt: bool,
    /// Sessions and approvals on this Redis (`redis://`), shared by replicas.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Print the `mcpServers` entry that runs this proxy, and exit.
    #[arg(long)]
    print_config: bool,
    /// Start the upstream, print every tool it offers (a `tools/list` result,
    /// for `mcpguard pin --tools`), and exit.
    #[arg(long, conflicts_with = "print_config")]
    list_tools: bool,
    /// The upstream's command and arguments (default: the inventory's `launch`).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub(crate) fn proxy(args: ProxyArgs) -> Exit {
    let inventory = load(&args.inventory)?;
    let tier = Tier::from(args.tier);
    let mut config =
        UpstreamConfig::from_inventory(&inventory, &args.server).map_err(|e| bad(e.to_string()))?;
    if !args.command.is_empty() {
        config = config.command(args.command.clone());
    }
    for name in &args.pass_env {
        if !mcpguard_core::is_env_var_name(name) {
            return Err(bad(format!(
                "--pass-env takes a variable's name, not `{}`",
                name.escape_debug()
            )));
        }
        config = config.pass_env(name);
    }
    config = config
        .inventory_name(args.inventory.display().to_string())
        .call_timeout(Duration::from_secs(args.call_timeout.max(1)))
        .max_message_bytes(args.max_message_mib.max(1).saturating_mul(1024 * 1024));
    if config.command_line().is_empty() {
        return Err(bad(mcpguard::proxy::ProxyError::NoCommand.to_string()));
    }
    if args.print_config {
        return print_config(&args, config.command_line());
    }
    if !args.skip_launch_gate {
        launch_gate(&inventory, &args.server, tier)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| bad(format!("no async runtime: {e}")))?;
    let exit = runtime.block_on(run(args, inventory, tier, config));
    // The agent's stdin is read on a blocking thread that may still wait for
    // input after a signal: the process ends without waiting for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    exit
}

/// Refuses a server the inventory does not let run in `tier`.
fn launch_gate(inventory: &Inventory, server: &str, tier: Tier) -> Result<(), Failure> {
    let report = LaunchGate::evaluate(inventory, tier);
    let failures: Vec<String> = report
        .failures
        .iter()
        .filter(|f| f.server.as_str() == server)
        .map(|f| format!("  {}: {}", f.control, f.message))
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    Err(Failure(
        format!(
            "server `{server}` may not run in the {tier} tier; the launch gate fails:\n{}\n(`mcpguard inventory check` shows the report; --skip-launch-gate starts it anyway)",
            failures.join("\n")
        ),
        1,
    ))
}

async fn run(args: ProxyArgs, inventory: Inventory, tier: Tier, config: UpstreamConfig) -> Exit {
    let redactor = Redactor::new().map_err(|e| bad(e.to_string()))?;
    // Fail on a bad audit key or policy before the upstream starts.
    let builder = gate_builder(&args, &inventory, tier, &redactor)?;
    let upstream = Upstream::start(config, &inventory, tier, &redactor)
        .await
        .map_err(|e| bad(e.to_string()))?;
    if args.list_tools {
        crate::json_out(&json!({ "tools": upstream.definitions() }))?;
        return Ok(0);
    }
    let gate = Arc::new(
        builder
            .tool_definitions(args.server.clone(), upstream.definitions())
            .build()
            .map_err(|e| bad(e.to_string()))?,
    );
    match &args.http {
        None => serve_stdio(&args, upstream, gate).await,
        Some(address) => serve_http(&args, address, upstream, gate).await,
    }
}

/// The gate, without the upstream's definitions (added once it has listed
/// them): inventory, tier, policies, the keyed audit chain, the redactor that
/// the upstream's credentials are registered with, and the stores.
fn gate_builder(
    args: &ProxyArgs,
    inventory: &Inventory,
    tier: Tier,
    redactor: &Redactor,
) -> Result<GateBuilder, Failure> {
    let mut policies = PolicySource::baseline();
    if let Some(path) = &args.policies {
        policies = if path.is_dir() {
            policies.with_dir(path)
        } else {
            policies.with_file(path)
        }
        .map_err(|e| bad(e.to_string()))?;
    }
    let mut builder = Gate::builder()
        .inventory(inventory.clone())
        .tier(tier)
        .policies(policies)
        .redactor(redactor.clone())
        .redact_results(true);
    if let Some(audit) = &args.audit {
        builder = builder.audit_sink(Arc::new(audit_sink(
            audit,
            &args.audit_key_env,
            args.audit_head.as_deref(),
        )?));
    }
    if let Some(url) = &args.store {
        use mcpguard::policy::{RedisApprovalStore, RedisConfig, RedisSessionStore};
        let config = RedisConfig::new(url, format!("proxy:{}", args.server))
            .map_err(|e| bad(e.to_string()))?;
        let sessions = RedisSessionStore::new(config.clone());
        sessions.ping().map_err(|e| bad(e.to_string()))?;
        builder = builder
            .session_store(Arc::new(sessions))
            .approval_store(Arc::new(RedisApprovalStore::new(config)));
    }
    Ok(builder)
}

fn audit_sink(
    path: &Path,
    key_env: &str,
    head: Option<&Path>,
) -> Result<JsonLinesSink<std::fs::File>, Failure> {
    let key = AuditKey::from_env(key_env).map_err(|e| bad(e.to_string()))?;
    match head {
        Some(head) => JsonLinesSink::open_after(path, key, HeadFile::new(head)),
        None => JsonLinesSink::open(path, key),
    }
    .map_err(|e| bad(e.to_string()))
}

/// The calling person over stdio: `--principal`, else the OS user.
fn stdio_principal(args: &ProxyArgs) -> Result<Principal, Failure> {
    let id = args
        .principal
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| bad("no principal: give --principal (neither USER nor LOGNAME is set)"))?;
    Ok(Principal::new(id))
}

async fn serve_stdio(args: &ProxyArgs, upstream: Upstream, gate: Arc<Gate>) -> Exit {
    let principal = stdio_principal(args)?;
    let guarded: Guarded<Proxied> = upstream
        .guard(gate, Some(principal.clone()))
        .map_err(|e| bad(e.to_string()))?
        .principal(principal);
    let proxied = guarded.inner().clone();
    let outcome = async {
        let running = guarded
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| bad(format!("the agent's MCP session did not start: {e}")))?;
        tokio::select! {
            ended = running.waiting() => ended.map(|_| ()).map_err(|e| bad(format!("the agent's MCP session ended badly: {e}"))),
            () = terminated() => Ok(()),
        }
    }
    .await;
    proxied.shutdown(Duration::from_secs(3)).await;
    outcome.map(|()| 0)
}

/// SIGINT or SIGTERM.
async fn terminated() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = interrupt.await;
            return;
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

async fn serve_http(args: &ProxyArgs, address: &str, upstream: Upstream, gate: Arc<Gate>) -> Exit {
    use mcpguard::http::{JwksSource, JwtConfig, JwtVerifier, ResourceServer};
    let need = |v: &Option<String>, flag: &str| {
        v.clone().ok_or_else(|| bad(format!("--http needs {flag}")))
    };
    let issuer = need(&args.issuer, "--issuer")?;
    let audience = need(&args.audience, "--audience")?;
    let jwks = JwksSource::parse(&need(&args.jwks, "--jwks")?).map_err(|e| bad(e.to_string()))?;
    let verifier = JwtVerifier::load(
        JwtConfig::new(&issuer, &audience, jwks).accept_untyped(args.accept_untyped_jwt),
    )
    .await
    .map_err(|e| bad(e.to_string()))?;
    let mut auth = ResourceServer::builder(Arc::clone(&gate), &audience)
        .authorization_server(&issuer)
        .verifier(Arc::new(verifier))
        .server(args.server.clone());
    for scope in &args.scopes {
        auth = auth.require_scope(scope);
    }
    let auth = auth.build().map_err(|e| bad(e.to_string()))?;
    // Many clients share the upstream: none is asked on its behalf.
    let guarded = upstream.guard(gate, None).map_err(|e| bad(e.to_string()))?;
    let proxied = guarded.inner().clone();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| bad(format!("--http {address}: {e}")))?;
    let local = listener.local_addr().map_err(|e| bad(e.to_string()))?;
    eprintln!("mcpguard proxy: `{}` on http://{local}/mcp", args.server);
    let outcome = tokio::select! {
        served = mcpguard::http::serve_mcp(listener, auth, &[], move || Ok(guarded.clone())) => {
            served.map_err(|e| bad(format!("--http {address}: {e}")))
        }
        () = terminated() => Ok(()),
    };
    proxied.shutdown(Duration::from_secs(3)).await;
    outcome.map(|()| 0)
}

/// The `mcpServers` entry of the clients' configuration files.
fn print_config(args: &ProxyArgs, command: &[String]) -> Exit {
    let absolute = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let mut proxy_args = vec![
        "proxy".to_owned(),
        "--inventory".to_owned(),
        absolute(&args.inventory),
        "--server".to_owned(),
        args.server.clone(),
        "--tier".to_owned(),
        Tier::from(args.tier).to_string(),
        "--audit".to_owned(),
        args.audit
            .as_deref()
            .map_or_else(|| format!("{}.audit.jsonl", args.server), absolute),
    ];
    if let Some(policies) = &args.policies {
        proxy_args.extend(["--policies".to_owned(), absolute(policies)]);
    }
    if let Some(principal) = &args.principal {
        proxy_args.extend(["--principal".to_owned(), principal.clone()]);
    }
    for name in &args.pass_env {
        proxy_args.extend(["--pass-env".to_owned(), name.clone()]);
    }
    if !args.command.is_empty() {
        proxy_args.push("--".to_owned());
        proxy_args.extend(command.iter().cloned());
    }
    let entry = json!({
        "mcpServers": {
            args.server.clone(): {
                "command": "mcpguard",
                "args": proxy_args,
                "env": { args.audit_key_env.clone(): format!("<the audit key: `openssl rand -hex 32`, or your client's reference to {}>", args.audit_key_env) },
            }
        }
    });
    crate::json_out(&entry)?;
    Ok(0)
}
