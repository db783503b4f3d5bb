//! A real MCP server over stdio — or streamable HTTP — with mcpguard in front of
//! every tool.
//!
//! ```text
//! cargo run --example gated_server -- [--root DIR] [--secrets DIR]
//!                                      [--tier personal|team|production]
//!                                      [--audit FILE] [--audit-key-env VAR]
//!                                      [--audit-head FILE] [--principal ID]
//! cargo run --example gated_server --features http -- [the options above]
//!     --http 127.0.0.1:PORT --issuer ISS --audience AUD --jwks FILE_OR_URL
//!     [--scope SCOPE]... [--store redis://HOST[:PORT]]
//! ```
//!
//! **Over HTTP** (`--http`, with the `http` feature) the MCP endpoint is `/mcp`,
//! behind an OAuth 2.1 resource server ([`mcpguard::http`]): a bearer JWT from
//! `--issuer`, minted for `--audience` (this endpoint's canonical URI, such as
//! `https://mcp.example.com/mcp`), signed by a key of `--jwks` (a JWKS file, an
//! `https://` URL or a loopback `http://` one); the principal is its `sub`, the
//! principal's groups its `groups` (policies see them as the principal's
//! groups); each `--scope` is required of every token. Protected Resource
//! Metadata is at `/.well-known/oauth-protected-resource/mcp`. The approval key
//! comes from `MCPGUARD_APPROVAL_KEY` (needed when several processes serve);
//! `--store` keeps sessions and approvals on Redis (with the `redis` feature), so
//! that processes sharing it serve one deployment. The listening address is
//! printed on stderr (`--http 127.0.0.1:0` picks a free port).
//!
//! Tools, confined to `--root` (default `./workspace`, created if missing; every
//! path is resolved beneath it with `cap-std`, so no link — dangling, or swapped
//! after a check — leads out): `read_file`, `read_secret` (the files of the
//! secrets directory, `--secrets DIR`, default `<root>.secrets`, which lies outside
//! the workspace so that only this secret-class tool reaches it), `write_file`,
//! `delete_file`, `run_command` (a program and its arguments, no shell, 10 s,
//! confined with Landlock to the workspace and the system's programs, with an
//! environment of its own — refused where Landlock is missing) and
//! `fetch_url` (plain HTTP to loopback addresses only: this example has no
//! business on the internet, and its output is treated as untrusted).
//!
//! The gate uses `inventory.toml` and `policies.cedar` beside this file on top of
//! the baseline pack, audits to a keyed (HMAC-SHA-256) chain of JSON lines (`--audit`,
//! default `gated_server.audit.jsonl`) with the key from `MCPGUARD_AUDIT_KEY` (or the
//! variable `--audit-key-env` names: 32 random bytes as hex or base64), publishes the
//! chain's head to `--audit-head FILE` when given, and redacts results. Verify with
//! `mcpguard audit verify FILE [--head HEAD_FILE]`. A second server on the same log is
//! refused at start. Logs go to stderr; stdout carries the protocol.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use cap_std::fs::Dir;

mod confine;
use mcpguard::DestinationKind;
use mcpguard::Inventory;
use mcpguard::policy::{
    AUDIT_KEY_VAR, AuditKey, Destination, Gate, HeadFile, HostClass, JsonLinesSink, PolicySource,
    Principal,
};
use mcpguard::rmcp::Guarded;
use mcpguard::{Tier, redact::Redactor};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{
    ErrorData as McpError, ServerHandler, ServiceExt as _, tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

const INVENTORY: &str = include_str!("inventory.toml");
const POLICIES: &str = include_str!("policies.cedar");

/// The most a tool returns of a file, a command's output or a page.
const MAX_OUTPUT: u64 = 1 << 20;

#[derive(Clone)]
struct Workspace {
    /// The workspace, as a directory handle: every path is looked up beneath it.
    root: Arc<Dir>,
    /// Where the named secrets live: outside the workspace, reachable only
    /// through `read_secret`.
    secrets: Arc<Dir>,
    /// The workspace's path, for `run_command`'s working directory.
    root_path: PathBuf,
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
struct PathArgs {
    /// A path relative to the workspace root.
    path: String,
}

#[derive(Deserialize, JsonSchema)]
struct SecretArgs {
    /// The name of a file of the secrets directory.
    name: String,
}

#[derive(Deserialize, JsonSchema)]
struct WriteArgs {
    /// A path relative to the workspace root.
    path: String,
    /// The text to write; the file is replaced.
    content: String,
}

#[derive(Deserialize, JsonSchema)]
struct CommandArgs {
    /// The program to run (looked up on PATH); no shell is involved.
    command: String,
    /// Its arguments.
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
struct UrlArgs {
    /// An `http://` URL on a loopback address.
    url: String,
}

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s.into())])
}

fn failure(s: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(s.into())])
}

/// `relative` as a path to look up beneath a directory, or why not. Absolute
/// paths and `..` are refused before the file system is asked (for a clear
/// message); links are followed only beneath the directory, by [`Dir`].
fn plain(relative: &str) -> Result<&Path, String> {
    let path = Path::new(relative);
    if relative.is_empty()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "`{relative}` is not a plain path inside the workspace"
        ));
    }
    Ok(path)
}

/// A file system error, said without the machine's paths.
fn io_failure(relative: &str, e: &std::io::Error) -> CallToolResult {
    let why =
        if e.kind() == std::io::ErrorKind::PermissionDenied || e.to_string().contains("outside") {
            "it leads outside the workspace (a link that escapes is not followed)".to_owned()
        } else {
            e.to_string()
        };
    failure(format!("`{relative}`: {why}"))
}

/// Reads at most [`MAX_OUTPUT`] bytes of `relative` beneath `dir`.
fn read_beneath(dir: &Dir, relative: &str) -> CallToolResult {
    let path = match plain(relative) {
        Ok(p) => p,
        Err(e) => return failure(e),
    };
    let mut bytes = Vec::new();
    let read = dir
        .open(path)
        .and_then(|file| file.take(MAX_OUTPUT + 1).read_to_end(&mut bytes));
    match read {
        Err(e) => io_failure(relative, &e),
        Ok(_) if bytes.len() as u64 > MAX_OUTPUT => {
            failure(format!("`{relative}` is larger than {MAX_OUTPUT} bytes"))
        }
        Ok(_) => text(String::from_utf8_lossy(&bytes)),
    }
}

impl Workspace {
    /// Runs a blocking file operation on the workspace off the async threads.
    async fn on_root<F>(&self, op: F) -> CallToolResult
    where
        F: FnOnce(&Dir) -> CallToolResult + Send + 'static,
    {
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || op(&root))
            .await
            .unwrap_or_else(|e| failure(format!("the file operation failed: {e}")))
    }
}

#[tool_router]
impl Workspace {
    fn new(root: Dir, secrets: Dir, root_path: PathBuf) -> Self {
        Self {
            root: Arc::new(root),
            secrets: Arc::new(secrets),
            root_path,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Read a text file of the workspace.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<PathArgs>,
    ) -> Result<CallToolResult, McpError> {
        Ok(self
            .on_root(move |root| read_beneath(root, &args.path))
            .await)
    }

    #[tool(
        description = "Read a named secret (a file of the secrets directory, outside the workspace).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_secret(
        &self,
        Parameters(args): Parameters<SecretArgs>,
    ) -> Result<CallToolResult, McpError> {
        if args.name.contains(['/', '\\']) || args.name.starts_with('.') {
            return Ok(failure("a secret's name is a plain file name"));
        }
        let secrets = Arc::clone(&self.secrets);
        Ok(
            tokio::task::spawn_blocking(move || read_beneath(&secrets, &args.name))
                .await
                .unwrap_or_else(|e| failure(format!("the read failed: {e}"))),
        )
    }

    #[tool(
        description = "Write a text file of the workspace, replacing it.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn write_file(
        &self,
        Parameters(args): Parameters<WriteArgs>,
    ) -> Result<CallToolResult, McpError> {
        Ok(self
            .on_root(move |root| {
                let path = match plain(&args.path) {
                    Ok(p) => p,
                    Err(e) => return failure(e),
                };
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
                    && let Err(e) = root.create_dir_all(parent)
                {
                    // A link in the way is "already there": say where it leads.
                    let e = root.metadata(parent).err().unwrap_or(e);
                    return io_failure(&args.path, &e);
                }
                match root.write(path, args.content.as_bytes()) {
                    Ok(()) => text(format!(
                        "wrote {} bytes to {}",
                        args.content.len(),
                        args.path
                    )),
                    Err(e) => io_failure(&args.path, &e),
                }
            })
            .await)
    }

    #[tool(
        description = "Delete a file of the workspace.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn delete_file(
        &self,
        Parameters(args): Parameters<PathArgs>,
    ) -> Result<CallToolResult, McpError> {
        Ok(self
            .on_root(move |root| {
                let path = match plain(&args.path) {
                    Ok(p) => p,
                    Err(e) => return failure(e),
                };
                match root.remove_file(path) {
                    Ok(()) => text(format!("deleted {}", args.path)),
                    Err(e) => io_failure(&args.path, &e),
                }
            })
            .await)
    }

    #[tool(
        description = "Run a program with arguments in the workspace (no shell, 10 second limit).",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn run_command(
        &self,
        Parameters(args): Parameters<CommandArgs>,
    ) -> Result<CallToolResult, McpError> {
        // Confined to the workspace (see `confine.rs`), and with an
        // environment of its own: the server's holds the audit and approval
        // keys.
        let launcher = match std::env::current_exe() {
            Ok(path) => path,
            Err(e) => return Ok(failure(format!("the command could not be confined: {e}"))),
        };
        let mut command = tokio::process::Command::new(launcher);
        command
            .arg(confine::FLAG)
            .arg(&self.root_path)
            .arg("--")
            .arg(&args.command)
            .args(&args.args)
            .current_dir(&self.root_path)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.root_path)
            .env("LANG", "C.UTF-8")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let run = tokio::time::timeout(Duration::from_secs(10), command.output()).await;
        Ok(match run {
            Err(_) => failure(format!(
                "`{}` ran over 10 seconds and was stopped",
                args.command
            )),
            Ok(Err(e)) => failure(format!("`{}` could not start: {e}", args.command)),
            Ok(Ok(out)) => {
                let mut body = String::from_utf8_lossy(&out.stdout).into_owned();
                body.push_str(&String::from_utf8_lossy(&out.stderr));
                body.truncate(usize::try_from(MAX_OUTPUT).unwrap_or(usize::MAX));
                if out.status.success() {
                    text(body)
                } else if out.status.code() == Some(i32::from(confine::UNCONFINED)) {
                    failure(body)
                } else {
                    failure(format!("exit status {}\n{body}", out.status))
                }
            }
        })
    }

    #[tool(
        description = "Fetch a web page over plain HTTP from a loopback address.",
        annotations(read_only_hint = true, open_world_hint = true)
    )]
    async fn fetch_url(
        &self,
        Parameters(args): Parameters<UrlArgs>,
    ) -> Result<CallToolResult, McpError> {
        let url = args.url;
        let url = match checked_url(&url) {
            Ok(url) => url,
            Err(e) => return Ok(failure(e)),
        };
        let fetched = tokio::task::spawn_blocking(move || fetch(&url)).await;
        Ok(match fetched {
            Ok(Ok(body)) => text(body),
            Ok(Err(e)) => failure(e),
            Err(e) => failure(format!("the fetch failed: {e}")),
        })
    }
}

/// The URL to fetch, pinned to the loopback address that was checked. The gate
/// decided on the URL as written; this parses it the same way
/// ([`Destination::parse`]), resolves it once ([`Destination::resolve`], which
/// refuses addresses of another class) and connects to exactly that address, so a
/// name cannot be re-pointed between the check and the connection. Plain HTTP to
/// loopback only: this example has no business on the network, and its tests never
/// reach it.
fn checked_url(text: &str) -> Result<String, String> {
    let destination = Destination::parse(DestinationKind::Url, text).map_err(|e| e.to_string())?;
    if destination.scheme() != "http" {
        return Err("only http:// URLs are fetched".to_owned());
    }
    if destination.class() != HostClass::Loopback {
        return Err(format!(
            "`{}` is a {} address; this server fetches only from loopback",
            destination.host(),
            destination.class()
        ));
    }
    let addr = destination
        .resolve()
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| format!("`{}` resolved to no address", destination.host()))?;
    let mut url = url::Url::parse(text).map_err(|e| e.to_string())?;
    let pinned = url
        .set_ip_host(addr.ip())
        .and_then(|()| url.set_port(Some(addr.port())))
        .and_then(|()| url.set_username(""))
        .and_then(|()| url.set_password(None));
    pinned.map_err(|()| "the URL cannot be pinned to its address".to_owned())?;
    Ok(url.into())
}

fn fetch(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_OUTPUT)
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{url}: HTTP {status}\n{body}"))
    }
}

#[tool_handler]
impl ServerHandler for Workspace {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.instructions = Some(
            "A sandboxed workspace. Every call is authorized, audited and redacted by mcpguard; \
             writes, deletes and commands need your approval."
                .to_owned(),
        );
        info
    }
}

struct Options {
    http: Option<HttpOptions>,
    root: PathBuf,
    secrets: Option<PathBuf>,
    tier: Tier,
    audit: PathBuf,
    audit_key_env: String,
    audit_head: Option<PathBuf>,
    principal: String,
}

/// How the HTTP endpoint is served and its tokens checked.
#[derive(Default)]
struct HttpOptions {
    listen: String,
    issuer: Option<String>,
    audience: Option<String>,
    jwks: Option<String>,
    scopes: Vec<String>,
    store: Option<String>,
    accept_untyped_jwt: bool,
}

const USAGE: &str = "usage: gated_server [--root DIR] [--secrets DIR] \
     [--tier personal|team|production] [--audit FILE] [--audit-key-env VAR] [--audit-head FILE] \
     [--principal ID] [--http ADDR --issuer ISS --audience AUD --jwks FILE_OR_URL [--scope SCOPE]... \
     [--store redis://HOST] [--accept-untyped-jwt]]";

fn parse_options() -> Result<Options, String> {
    let mut http = HttpOptions::default();
    let mut options = Options {
        http: None,
        root: PathBuf::from("workspace"),
        secrets: None,
        tier: Tier::Team,
        audit: PathBuf::from("gated_server.audit.jsonl"),
        audit_key_env: AUDIT_KEY_VAR.to_owned(),
        audit_head: None,
        principal: std::env::var("USER").unwrap_or_else(|_| "local-user".to_owned()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--root" => options.root = PathBuf::from(value()?),
            "--secrets" => options.secrets = Some(PathBuf::from(value()?)),
            "--audit" => options.audit = PathBuf::from(value()?),
            "--audit-key-env" => options.audit_key_env = value()?,
            "--audit-head" => options.audit_head = Some(PathBuf::from(value()?)),
            "--principal" => options.principal = value()?,
            "--http" => http.listen = value()?,
            "--issuer" => http.issuer = Some(value()?),
            "--audience" => http.audience = Some(value()?),
            "--jwks" => http.jwks = Some(value()?),
            "--scope" => http.scopes.push(value()?),
            "--store" => http.store = Some(value()?),
            "--accept-untyped-jwt" => http.accept_untyped_jwt = true,
            "--tier" => {
                let v = value()?;
                options.tier = serde_json::from_value(serde_json::Value::String(v.clone()))
                    .map_err(|_| format!("--tier {v}: expected personal, team or production"))?;
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if !http.listen.is_empty() {
        options.http = Some(http);
    } else if http.issuer.is_some()
        || http.audience.is_some()
        || http.jwks.is_some()
        || !http.scopes.is_empty()
        || http.store.is_some()
        || http.accept_untyped_jwt
    {
        return Err(
            "--issuer, --audience, --jwks, --scope, --store and --accept-untyped-jwt are options of --http".to_owned(),
        );
    }
    Ok(options)
}

/// The audit sink: the keyed chain in `--audit`, locked against a second writer
/// and continued from where it ends, its head published to `--audit-head` (and,
/// when one is published already, the log checked against it first: a log cut
/// while the server was down is refused, not continued).
fn audit_sink(options: &Options) -> Result<JsonLinesSink<std::fs::File>, String> {
    let key = AuditKey::from_env(&options.audit_key_env).map_err(|e| e.to_string())?;
    match &options.audit_head {
        Some(head) => JsonLinesSink::open_after(&options.audit, key, HeadFile::new(head)),
        None => JsonLinesSink::open(&options.audit, key),
    }
    .map_err(|e| e.to_string())
}

/// A directory, created if missing, as its canonical path and a handle that
/// resolves every path beneath it.
fn directory(path: &Path) -> Result<(PathBuf, Dir), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let canonical = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = Dir::open_ambient_dir(&canonical, cap_std::ambient_authority())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((canonical, dir))
}

/// The workspace and the secrets directory beside it (`--secrets`, default
/// `<root>.secrets`), which must not lie inside the workspace: the file tools
/// cannot reach it, by path or by link.
fn workspace(options: &Options) -> Result<Workspace, String> {
    let (root_path, root) = directory(&options.root)?;
    let secrets_path = options.secrets.clone().unwrap_or_else(|| {
        let mut name = root_path.clone().into_os_string();
        name.push(".secrets");
        PathBuf::from(name)
    });
    let (secrets_canonical, secrets) = directory(&secrets_path)?;
    if secrets_canonical.starts_with(&root_path) || root_path.starts_with(&secrets_canonical) {
        return Err(format!(
            "the secrets directory {} must not be inside the workspace {} (or hold it): \
             the file tools could read it",
            secrets_canonical.display(),
            root_path.display()
        ));
    }
    Ok(Workspace::new(root, secrets, root_path))
}

/// The gate of `workspace`: the inventory and policies beside this file, the
/// audit chain, the redactor, the session and approval stores.
fn gate(options: &Options, workspace: &Workspace) -> Result<Gate, String> {
    let inventory = Inventory::from_toml_str(INVENTORY, "examples/gated_server/inventory.toml")
        .map_err(|e| e.to_string())?;
    let definitions =
        serde_json::to_value(workspace.tool_router.list_all()).map_err(|e| e.to_string())?;
    let builder = Gate::builder()
        .inventory(inventory)
        .policies(
            PolicySource::baseline().with_str("examples/gated_server/policies.cedar", POLICIES),
        )
        .tier(options.tier)
        .tool_definitions("workspace", definitions)
        .audit_sink(Arc::new(audit_sink(options)?))
        .redactor(Redactor::new().map_err(|e| e.to_string())?)
        .redact_results(true);
    let builder = match options.http.as_ref().and_then(|h| h.store.as_deref()) {
        None => builder,
        Some(url) => stores(builder, url)?,
    };
    builder.build().map_err(|e| e.to_string())
}

/// Sessions and approvals on the Redis at `url`, shared by every process that
/// names it.
#[cfg(feature = "redis")]
fn stores(
    builder: mcpguard::policy::GateBuilder,
    url: &str,
) -> Result<mcpguard::policy::GateBuilder, String> {
    use mcpguard::policy::{RedisApprovalStore, RedisConfig, RedisSessionStore};
    let config = RedisConfig::new(url, "gated-server").map_err(|e| e.to_string())?;
    let sessions = RedisSessionStore::new(config.clone());
    sessions.ping().map_err(|e| e.to_string())?;
    Ok(builder
        .session_store(Arc::new(sessions))
        .approval_store(Arc::new(RedisApprovalStore::new(config))))
}

#[cfg(not(feature = "redis"))]
fn stores(
    _: mcpguard::policy::GateBuilder,
    _: &str,
) -> Result<mcpguard::policy::GateBuilder, String> {
    Err(
        "--store needs the `redis` feature: cargo run --example gated_server --features http,redis"
            .to_owned(),
    )
}

async fn serve(options: Options) -> Result<(), String> {
    let workspace = workspace(&options)?;
    let gate = Arc::new(gate(&options, &workspace)?);
    if let Some(http) = &options.http {
        return serve_http(http, gate, workspace).await;
    }
    let server = Guarded::new(workspace, gate, "workspace")
        .map_err(|e| e.to_string())?
        .principal(Principal::new(options.principal));
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP session did not start: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| format!("the MCP session ended badly: {e}"))?;
    Ok(())
}

#[cfg(not(feature = "http"))]
async fn serve_http(_: &HttpOptions, _: Arc<Gate>, _: Workspace) -> Result<(), String> {
    Err(
        "--http needs the `http` feature: cargo run --example gated_server --features http"
            .to_owned(),
    )
}

/// Serves `/mcp` over HTTP behind the resource server, one handler per session
/// or request (rmcp's way): the gate's stores hold what outlives one.
#[cfg(feature = "http")]
async fn serve_http(
    http: &HttpOptions,
    gate: Arc<Gate>,
    workspace: Workspace,
) -> Result<(), String> {
    use mcpguard::http::{JwksSource, JwtConfig, JwtVerifier, ResourceServer};

    let need =
        |v: &Option<String>, flag: &str| v.clone().ok_or_else(|| format!("--http needs {flag}"));
    let issuer = need(&http.issuer, "--issuer ISSUER")?;
    let audience = need(&http.audience, "--audience (this endpoint's canonical URI)")?;
    let jwks =
        JwksSource::parse(&need(&http.jwks, "--jwks FILE_OR_URL")?).map_err(|e| e.to_string())?;
    let config = JwtConfig::new(&issuer, &audience, jwks).accept_untyped(http.accept_untyped_jwt);
    let verifier = JwtVerifier::load(config).await.map_err(|e| e.to_string())?;
    let mut auth = ResourceServer::builder(Arc::clone(&gate), &audience)
        .authorization_server(&issuer)
        .verifier(Arc::new(verifier))
        .server("workspace");
    for scope in &http.scopes {
        auth = auth.require_scope(scope);
    }
    let auth = auth.build().map_err(|e| e.to_string())?;
    // Fail at start, not at the first call, when the approval key is unusable.
    Guarded::new(workspace.clone(), Arc::clone(&gate), "workspace").map_err(|e| e.to_string())?;

    let listener = tokio::net::TcpListener::bind(&http.listen)
        .await
        .map_err(|e| format!("--http {}: {e}", http.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("gated_server: listening on http://{local}/mcp");
    mcpguard::http::serve_mcp(listener, auth, &[], move || {
        Guarded::new(workspace.clone(), Arc::clone(&gate), "workspace")
            .map_err(std::io::Error::other)
    })
    .await
    .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(confine::FLAG) {
        return confine::launch(args.get(1..).unwrap_or_default());
    }
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gated_server: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gated_server: no async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gated_server: {e}");
            ExitCode::FAILURE
        }
    }
}
