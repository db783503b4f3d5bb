//! `mcpguard proxy` end to end.
//!
//! - In front of real third-party servers no one here wrote (the npm package
//!   `@modelcontextprotocol/server-filesystem`, the PyPI package `mcp-server-git`)
//!   and a misbehaving test upstream, driven by the official MCP Python SDK
//!   (`tests/e2e/proxy_client.py`); then the audit chains are verified.
//! - Bad upstreams (`tests/e2e/test_upstream.py`): a crash mid-call, a call never
//!   answered, garbage on stdout, a 50 MB result, a slow call beside a fast one —
//!   each a clean error result or answer within its time limit, the proxy's
//!   memory bounded; and the child dies with the proxy.
//!
//! Needs Python 3 with `tests/e2e/requirements.txt`, and the two servers where
//! `scripts/install-test-deps` installs them (`target/proxy-e2e`, or the paths in
//! `MCPGUARD_FILESYSTEM_SERVER` and `MCPGUARD_GIT_SERVER`); without them the
//! first test fails and says so.
#![cfg(feature = "proxy")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail loudly"
)]

#[path = "support/bins.rs"]
mod bins;
#[cfg(feature = "http")]
#[path = "support/tokens.rs"]
mod tokens;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bins::{cli_binary, output_within, python, require_python_sdk, scratch_dir};
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::async_rw::AsyncRwTransport;
use serde_json::Value;

const AUDIT_KEY: &str = "5a4b3c2d1e0f99887766554433221100ffeeddccbbaa99887766554433221100";
const UPSTREAM_TOKEN: &str = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A server installed by `scripts/install-test-deps`, or where `var` says.
fn installed(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| repo().join(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps (or set {var})",
        path.display()
    );
    path
}

#[test]
fn the_proxy_gates_real_third_party_servers() {
    require_python_sdk();
    let filesystem = installed(
        "MCPGUARD_FILESYSTEM_SERVER",
        "target/proxy-e2e/node/node_modules/.bin/mcp-server-filesystem",
    );
    let git = installed(
        "MCPGUARD_GIT_SERVER",
        "target/proxy-e2e/git-venv/bin/mcp-server-git",
    );
    let work = scratch_dir("mcpguard-proxy-e2e");
    let child = Command::new(python())
        .arg(repo().join("tests/e2e/proxy_client.py"))
        .arg(cli_binary())
        .arg(&work)
        .arg(&filesystem)
        .arg(&git)
        .env("MCPGUARD_AUDIT_KEY", AUDIT_KEY)
        .env("TEST_UPSTREAM_TOKEN", UPSTREAM_TOKEN)
        .env("UNRELATED_SECRET", "not-for-any-upstream-0123456789")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_within(child, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("checks passed"),
        "the proxy client failed:\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains(UPSTREAM_TOKEN),
        "the upstream's token reached the proxy's log: {stderr}"
    );
    assert!(
        stderr.contains("[REDACTED:known-secret]"),
        "the upstream's stderr is copied, redacted: {stderr}"
    );
    for name in ["filesystem", "git", "test-upstream"] {
        let log = work.join(format!("{name}.audit.jsonl"));
        let verified = Command::new(cli_binary())
            .args(["audit", "verify"])
            .arg(&log)
            .arg("--head")
            .arg(work.join(format!("{name}.audit.jsonl.head")))
            .env("MCPGUARD_AUDIT_KEY", AUDIT_KEY)
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "{name}: the audit chain does not verify: {}",
            String::from_utf8_lossy(&verified.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// A copy of the proxy tests' inventory in `work` with the test upstream's
/// definitions pinned, as an operator would (`--list-tools`, then `mcpguard
/// pin`); the inventory and the command that starts the upstream.
fn pinned_test_upstream(work: &Path) -> (PathBuf, [String; 2]) {
    let inventory = work.join("inventory.toml");
    std::fs::copy(repo().join("tests/e2e/proxy/inventory.toml"), &inventory).unwrap();
    let upstream = [
        python(),
        repo()
            .join("tests/e2e/test_upstream.py")
            .display()
            .to_string(),
    ];
    let listed = Command::new(cli_binary())
        .args(["proxy", "--inventory"])
        .arg(&inventory)
        .args([
            "--server",
            "test-upstream",
            "--tier",
            "team",
            "--list-tools",
            "--",
        ])
        .args(&upstream)
        .env("TEST_UPSTREAM_TOKEN", UPSTREAM_TOKEN)
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    std::fs::write(work.join("tools.json"), &listed.stdout).unwrap();
    let pinned = Command::new(cli_binary())
        .arg("pin")
        .arg(&inventory)
        .args(["--server", "test-upstream", "--tools"])
        .arg(work.join("tools.json"))
        .output()
        .unwrap();
    assert!(
        pinned.status.success(),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    (inventory, upstream)
}

/// A proxy in front of the test upstream, with a short call limit, and the
/// rmcp client talking to it.
struct Proxied<C: rmcp::ClientHandler = ClientConfig> {
    client: RunningService<RoleClient, C>,
    proxy: tokio::process::Child,
    work: PathBuf,
}

impl Proxied {
    async fn start(extra: &[&str]) -> Self {
        Self::start_with(extra, "team", ClientConfig::default()).await
    }
}

impl<C: rmcp::ClientHandler> Proxied<C> {
    async fn start_with(extra: &[&str], tier: &str, handler: C) -> Self {
        Self::start_in(extra, tier, handler, None).await
    }

    /// [`Proxied::start_with`], the client starting in `lifecycle`
    /// (`server/discover` for a 2026-07-28 client); `None`: `initialize`.
    async fn start_in(
        extra: &[&str],
        tier: &str,
        handler: C,
        lifecycle: Option<rmcp::service::ClientLifecycleMode>,
    ) -> Self {
        let work = scratch_dir("mcpguard-proxy-bad");
        let (inventory, upstream) = pinned_test_upstream(&work);
        let mut proxy = tokio::process::Command::new(cli_binary())
            .args(["proxy", "--inventory"])
            .arg(&inventory)
            .args([
                "--server",
                "test-upstream",
                "--tier",
                tier,
                "--principal",
                "ana",
            ])
            .arg("--audit")
            .arg(work.join("audit.jsonl"))
            .args(extra)
            .arg("--")
            .args(&upstream)
            .env("MCPGUARD_AUDIT_KEY", AUDIT_KEY)
            .env("TEST_UPSTREAM_TOKEN", UPSTREAM_TOKEN)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(work.join("proxy.stderr")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let transport = AsyncRwTransport::<RoleClient, _, _>::new(
            proxy.stdout.take().unwrap(),
            proxy.stdin.take().unwrap(),
        );
        let client = match lifecycle {
            None => tokio::time::timeout(Duration::from_secs(30), handler.serve(transport))
                .await
                .expect("the proxy answers initialize")
                .unwrap(),
            Some(lifecycle) => {
                use rmcp::service::ClientServiceExt as _;
                tokio::time::timeout(
                    Duration::from_secs(30),
                    handler.serve_with_lifecycle(transport, lifecycle),
                )
                .await
                .expect("the proxy answers server/discover")
                .unwrap()
            }
        };
        Self {
            client,
            proxy,
            work,
        }
    }

    async fn call(&self, tool: &str) -> CallToolResult {
        self.client
            .call_tool(CallToolRequestParams::new(tool.to_owned()))
            .await
            .unwrap()
    }

    /// The proxy's peak resident memory, in KiB (Linux).
    fn peak_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.proxy.id()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pid_alive(pid: u32) -> bool {
    // A zombie has exited: only a process still running counts.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upstreams_give_clean_errors_without_hanging() {
    let proxied = Proxied::start(&["--call-timeout", "3"]).await;

    // A slow call does not hold up a fast one.
    let started = Instant::now();
    let (slow, fast) = tokio::join!(proxied.call("slow"), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let fast = proxied.call("fast").await;
        (fast, started.elapsed())
    });
    assert_eq!(text(&slow), "slow done");
    assert_eq!(text(&fast.0), "fast done");
    assert!(
        fast.1 < Duration::from_millis(1500),
        "the fast call waited for the slow one: {:?}",
        fast.1
    );

    // Lines that are not JSON-RPC are skipped; the answer after them arrives.
    let garbage = proxied.call("garbage").await;
    assert_eq!(text(&garbage), "still here", "{garbage:?}");

    // A call never answered ends at the time limit, as an error result.
    let started = Instant::now();
    let hung = proxied.call("hang").await;
    assert_eq!(hung.is_error, Some(true), "{hung:?}");
    assert!(
        text(&hung).contains("did not answer within 3 s"),
        "{}",
        text(&hung)
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A 50 MB answer is dropped as it is read, not held: the call times out
    // and the proxy's peak memory grows by far less than the answer's size
    // (at most the 8 MiB message limit, and buffers).
    let before = proxied.peak_kib();
    let huge = proxied.call("huge").await;
    assert_eq!(huge.is_error, Some(true), "{huge:?}");
    assert!(text(&huge).contains("did not answer"), "{}", text(&huge));
    if let (Some(before), Some(after)) = (before, proxied.peak_kib()) {
        assert!(
            after.saturating_sub(before) < 24 * 1024,
            "the proxy's peak memory grew from {before} KiB to {after} KiB"
        );
    }

    // The upstream still works after all that.
    assert_eq!(text(&proxied.call("fast").await), "fast done");

    // A crash mid-call: an error result naming the exit, then every later
    // call fails the same clean way.
    let crashed = proxied.call("crash").await;
    assert_eq!(crashed.is_error, Some(true), "{crashed:?}");
    assert!(
        text(&crashed).contains("test-upstream"),
        "{}",
        text(&crashed)
    );
    let after = proxied.call("fast").await;
    assert_eq!(after.is_error, Some(true), "{after:?}");
    assert!(
        text(&after).contains("exited") || text(&after).contains("closed"),
        "{}",
        text(&after)
    );

    let work = proxied.work.clone();
    drop(proxied);
    let audit = std::fs::read_to_string(work.join("audit.jsonl")).unwrap();
    let errors = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["mcpguard.outcome"] == "error")
        .count();
    assert!(
        errors >= 4,
        "the failed calls are audited as errors:\n{audit}"
    );
    assert!(!audit.contains(UPSTREAM_TOKEN));
    let log = std::fs::read_to_string(work.join("proxy.stderr")).unwrap();
    assert!(
        log.contains("crashing on purpose"),
        "the upstream's stderr is in the proxy's: {log}"
    );
    assert!(!log.contains(UPSTREAM_TOKEN), "{log}");
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_dies_with_the_proxy() {
    for ending in [
        "the agent hangs up",
        "the proxy is terminated",
        "the proxy is killed",
    ] {
        let mut proxied = Proxied::start(&[]).await;
        let who: Value = serde_json::from_str(&text(&proxied.call("whoami").await)).unwrap();
        let pid = u32::try_from(who["pid"].as_u64().unwrap()).unwrap();
        assert!(pid_alive(pid));
        let proxy = proxied.proxy.id().unwrap();
        match ending {
            "the agent hangs up" => {
                let _ = proxied.client.cancel().await;
            }
            "the proxy is terminated" => {
                Command::new("kill")
                    .args(["-TERM", &proxy.to_string()])
                    .status()
                    .unwrap();
            }
            _ => {
                // SIGKILL: no handler of the proxy's runs. The upstream now
                // ignores the end of its input, so closing it does not end it
                // (before, it kept running with its credential).
                assert_eq!(text(&proxied.call("linger").await), "lingering");
                Command::new("kill")
                    .args(["-KILL", &proxy.to_string()])
                    .status()
                    .unwrap();
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(10), proxied.proxy.wait())
            .await
            .unwrap_or_else(|_| panic!("{ending}: the proxy does not exit"))
            .unwrap();
        if ending != "the proxy is killed" {
            assert!(
                status.success(),
                "{ending}: the proxy exits cleanly: {status}"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid_alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!pid_alive(pid), "{ending}: the upstream outlived the proxy");
        let _ = std::fs::remove_dir_all(&proxied.work);
    }
}

#[test]
fn the_launch_gate_and_the_client_configuration() {
    let inventory = repo().join("tests/e2e/proxy/inventory.toml");
    // Unpinned third-party tools may not run in production.
    let refused = Command::new(cli_binary())
        .args(["proxy", "--inventory"])
        .arg(&inventory)
        .args([
            "--server",
            "filesystem",
            "--tier",
            "production",
            "--audit",
            "unused.jsonl",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tool-fingerprint-pinned"), "{stderr}");

    // The entry a client configuration needs.
    let printed = Command::new(cli_binary())
        .args(["proxy", "--inventory"])
        .arg(&inventory)
        .args([
            "--server",
            "git",
            "--tier",
            "team",
            "--print-config",
            "--",
            "uvx",
            "mcp-server-git",
        ])
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let config: Value = serde_json::from_slice(&printed.stdout).unwrap();
    let entry = &config["mcpServers"]["git"];
    assert_eq!(entry["command"], "mcpguard");
    let args: Vec<&str> = entry["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "proxy");
    assert!(
        args.windows(2).any(|w| w == ["--server", "git"]),
        "{args:?}"
    );
    assert!(args.windows(2).any(|w| w == ["--tier", "team"]), "{args:?}");
    assert_eq!(&args[args.len() - 3..], ["--", "uvx", "mcp-server-git"]);
    assert!(
        Path::new(args[2]).is_absolute(),
        "the inventory is named by an absolute path: {args:?}"
    );
}

#[cfg(feature = "http")]
#[test]
fn the_proxy_serves_http_agents_behind_the_resource_server() {
    use std::io::{BufRead as _, BufReader};

    require_python_sdk();
    let work = scratch_dir("mcpguard-proxy-http");
    let (inventory, upstream) = pinned_test_upstream(&work);

    let issuer = tokens::Issuer::new("https://id.example.test", "proxy-key");
    let jwks = work.join("jwks.json");
    std::fs::write(&jwks, tokens::Issuer::jwks(&[&issuer])).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut proxy = Command::new(cli_binary())
        .args(["proxy", "--inventory"])
        .arg(&inventory)
        .args(["--server", "test-upstream", "--tier", "team"])
        .arg("--audit")
        .arg(work.join("audit.jsonl"))
        .args(["--http", &format!("127.0.0.1:{port}")])
        .args(["--issuer", "https://id.example.test", "--audience", &url])
        .arg("--jwks")
        .arg(&jwks)
        .arg("--")
        .args(&upstream)
        .env("MCPGUARD_AUDIT_KEY", AUDIT_KEY)
        .env("TEST_UPSTREAM_TOKEN", UPSTREAM_TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(proxy.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("on http://"));
    assert!(listening, "the proxy did not start listening");
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});

    let token = issuer.token("ana@example.com", &url);
    let client = Command::new(python())
        .arg(repo().join("tests/e2e/proxy_client.py"))
        .args(["http", &url, &token])
        .env("TEST_UPSTREAM_TOKEN", UPSTREAM_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_within(client, Duration::from_secs(120));
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = std::fs::read_to_string(work.join("audit.jsonl")).unwrap();
    let events: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["gen_ai.tool.name"] == "fast" && e["user.id"] == "ana@example.com"),
        "calls are audited under the token's subject:\n{audit}"
    );
    assert!(!audit.contains(&token) && !audit.contains(UPSTREAM_TOKEN));
    let _ = std::fs::remove_dir_all(&work);
}

/// The agent's side of sampling: a model that answers with a token-shaped
/// secret, and counts how often it was asked.
struct Model {
    asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// A GitHub token shape (a fake value) the model lets slip.
const SLIPPED: &str = "ghp_R4nd0mF4k3T0k3nV4lu3F0rT3st1ngXy12Ab";

impl rmcp::ClientHandler for Model {
    #[expect(deprecated, reason = "sampling is what the test exercises")]
    async fn create_message(
        &self,
        _params: rmcp::model::CreateMessageRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, rmcp::ErrorData> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(rmcp::model::CreateMessageResult::new(
            rmcp::model::SamplingMessage::assistant_text(format!("the token is {SLIPPED}")),
            "test-model".to_owned(),
        ))
    }

    fn get_info(&self) -> ClientConfig {
        let mut config = ClientConfig::default();
        config.capabilities.sampling = Some(Default::default());
        config
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampling_is_relayed_only_where_policy_permits_and_redacted() {
    for (tier, relayed) in [("team", false), ("personal", true)] {
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let model = Model {
            asked: std::sync::Arc::clone(&asked),
        };
        let proxied = Proxied::start_with(&[], tier, model).await;
        let answer = proxied
            .client
            .call_tool(CallToolRequestParams::new("sample"))
            .await
            .unwrap();
        let body = text(&answer);
        let times = asked.load(std::sync::atomic::Ordering::SeqCst);
        if relayed {
            assert_eq!(times, 1, "{tier}: the model is asked: {body}");
            assert!(
                !body.contains(SLIPPED) && body.contains("[REDACTED"),
                "{tier}: the model's answer reaches the upstream redacted: {body}"
            );
        } else {
            assert_eq!(times, 0, "{tier}: the model is never asked: {body}");
            assert!(
                body.contains("was refused"),
                "{tier}: the upstream is told no: {body}"
            );
        }
        let audit = std::fs::read_to_string(proxied.work.join("audit.jsonl")).unwrap();
        let relay: Vec<Value> = audit
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["mcp.method.name"] == "sampling/createMessage")
            .collect();
        let outcome = if relayed { "ok" } else { "denied" };
        assert!(
            relay
                .iter()
                .any(|e| e["mcpguard.outcome"] == outcome && e["user.id"] == "ana"),
            "{tier}: the relay is audited: {audit}"
        );
        assert!(!audit.contains(SLIPPED));
        let _ = std::fs::remove_dir_all(&proxied.work);
    }
}

/// The agent's side of elicitation: a person who accepts, and whose answer
/// holds a secret of the agent's side; what the person was shown is kept.
struct Person {
    shown: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A secret of the agent's side that must not reach the upstream.
const AGENT_SECRET: &str = "sk-proj-Zq8Xv3Lm9Tn2Wb7Yc4Rk6Hs1Jd5Gf0Pa3Qe8Uo2Iy7";

impl rmcp::ClientHandler for Person {
    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        self.shown
            .lock()
            .unwrap()
            .push(serde_json::to_string(&request).unwrap());
        Ok(
            rmcp::model::ElicitResult::new(rmcp::model::ElicitationAction::Accept).with_content(
                serde_json::from_value(serde_json::json!({"ok": true, "note": AGENT_SECRET}))
                    .unwrap(),
            ),
        )
    }

    fn get_info(&self) -> ClientConfig {
        let mut config = ClientConfig::default();
        config.capabilities.elicitation = Some(Default::default());
        // Input requests exist from MCP 2026-07-28 on (rmcp refuses them to
        // older peers).
        config.protocol_version = rmcp::model::ProtocolVersion::V_2026_07_28;
        config
    }
}

/// What the agent or the person reads of an upstream: no credential of the
/// upstream's, no terminal escape, no bidi control.
fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(UPSTREAM_TOKEN),
        "{what}: the upstream's token: {text}"
    );
    assert!(!text.contains('\u{1b}'), "{what}: an escape: {text:?}");
    assert!(
        !text.contains('\u{202e}'),
        "{what}: a bidi control: {text:?}"
    );
}

/// What an upstream sends the agent passes the gate whatever its form: a
/// relayed `elicitation/create` (the person saw the upstream's credential and
/// escapes), a 2026-07-28 `InputRequiredResult` (it reached the agent
/// untouched, sampling included in team, and was audited `ok`), and the lists
/// and completions (forwarded as sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_the_upstream_is_decided_and_cleaned() {
    let modern = rmcp::service::ClientLifecycleMode::Discover {
        preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
    };
    for lifecycle in [None, Some(modern)] {
        let era = if lifecycle.is_some() {
            "2026-07-28"
        } else {
            "2025-11-25"
        };
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let person = Person {
            shown: std::sync::Arc::clone(&shown),
        };
        let modern = lifecycle.is_some();
        let proxied = Proxied::start_in(&[], "team", person, lifecycle).await;
        let client = &proxied.client;

        if !modern {
            // A relayed elicitation (server-to-client requests are the older
            // era's): the person sees it cleaned; the answer goes back redacted.
            let body = text(&proxied.call("elicit").await);
            let seen = shown.lock().unwrap().join("\n");
            assert!(!seen.is_empty(), "the person was asked: {body}");
            assert_clean("the relayed question", &seen);
            assert!(seen.contains("[REDACTED"), "{seen}");
            assert!(!body.contains(AGENT_SECRET), "the upstream got: {body}");
        }

        // An input request for sampling, in team: refused as the relay is.
        let answer = client
            .call_tool_once(CallToolRequestParams::new("ask_model"))
            .await
            .unwrap();
        let rmcp::model::CallToolResponse::Complete(refused) = answer else {
            panic!("{era}: the sampling input request reached the agent: {answer:?}")
        };
        assert_eq!(refused.is_error, Some(true), "{era}: {refused:?}");
        assert_clean("the refusal", &text(&refused));

        if modern {
            // An input request for the person: cleaned, then its answer
            // redacted on the retry.
            let answer = client
                .call_tool_once(CallToolRequestParams::new("ask_person"))
                .await
                .unwrap();
            let rmcp::model::CallToolResponse::InputRequired(input) = answer else {
                panic!("expected the input request, got {answer:?}")
            };
            assert_clean("the input request", &serde_json::to_string(&input).unwrap());
            let mut responses = rmcp::model::InputResponses::new();
            responses.insert(
                "person".to_owned(),
                serde_json::json!({"action": "accept", "content": {"ok": true, "note": AGENT_SECRET}}),
            );
            let mut retry = CallToolRequestParams::new("ask_person");
            retry.input_responses = Some(responses);
            retry.request_state = input.request_state.clone();
            let answer = client.call_tool_once(retry).await.unwrap();
            let rmcp::model::CallToolResponse::Complete(done) = answer else {
                panic!("the retry did not complete: {answer:?}")
            };
            let echoed = text(&done);
            assert!(
                echoed.contains("accept") && !echoed.contains(AGENT_SECRET),
                "the upstream got: {echoed}"
            );
        }

        // Lists and completions.
        let listed = [
            serde_json::to_string(&client.list_resources(None).await.unwrap()).unwrap(),
            serde_json::to_string(&client.list_resource_templates(None).await.unwrap()).unwrap(),
            serde_json::to_string(&client.list_prompts(None).await.unwrap()).unwrap(),
            serde_json::to_string(
                &client
                    .complete(
                        serde_json::from_value(serde_json::json!({
                            "ref": {"type": "ref/prompt", "name": "greet"},
                            "argument": {"name": "x", "value": ""}
                        }))
                        .unwrap(),
                    )
                    .await
                    .unwrap(),
            )
            .unwrap(),
        ];
        for text in &listed {
            assert_clean(era, text);
            assert!(text.contains("[REDACTED"), "{era}: {text}");
        }

        // The audit says what happened: sampling refused; on 2026-07-28, the
        // first `ask_person` ended `input_required`.
        let audit = std::fs::read_to_string(proxied.work.join("audit.jsonl")).unwrap();
        let events: Vec<Value> = audit
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert!(
            events
                .iter()
                .any(|e| e["mcp.method.name"] == "sampling/createMessage"
                    && e["mcpguard.outcome"] == "denied"),
            "{era}: {audit}"
        );
        if modern {
            assert!(
                events.iter().any(|e| e["gen_ai.tool.name"] == "ask_person"
                    && e["mcpguard.outcome"] == "input_required"),
                "{audit}"
            );
        }
        assert!(!audit.contains(UPSTREAM_TOKEN) && !audit.contains(AGENT_SECRET));
        let _ = std::fs::remove_dir_all(&proxied.work);
    }
}

/// A burst of `tools/list_changed` is one re-listing, not one per
/// notification (300 notifications made 301 re-listings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_list_changed_is_listed_again_once() {
    let proxied = Proxied::start(&[]).await;
    let before: u64 = text(&proxied.call("listings").await)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(text(&proxied.call("flood").await), "flooded");
    // Let the burst arrive and the re-listing (if any) run.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after: u64 = text(&proxied.call("listings").await)
        .trim()
        .parse()
        .unwrap();
    let relisted = after - before;
    assert!(
        (1..=3).contains(&relisted),
        "300 notifications made {relisted} re-listings"
    );
    let _ = std::fs::remove_dir_all(&proxied.work);
}
