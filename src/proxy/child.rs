//! Starting the upstream: its environment (empty but for an allowlist and the
//! credentials the tier allows), its pipes, its redacted stderr.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use mcpguard_core::{CredentialSource, Inventory, ServerRecord, Tier};
use mcpguard_policy::{CredentialResolver, Credentials};
use mcpguard_redact::Redactor;
use tokio::io::AsyncReadExt as _;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use super::ProxyError;

/// The variables every child sees when the proxy has them.
const BASE_ENV: [&str; 2] = ["PATH", "HOME"];

/// The longest stderr line kept whole; the rest of a longer line is dropped.
const MAX_STDERR_LINE: usize = 8 * 1024;

/// The stderr lines kept for an error message when the upstream fails to start.
const KEPT_STDERR_LINES: usize = 20;

/// A running upstream: its pipes, and the process, killed when this is dropped.
pub(super) struct Spawned {
    pub(super) child: Child,
    pub(super) stdin: ChildStdin,
    pub(super) stdout: ChildStdout,
    pub(super) stderr: Option<ChildStderr>,
}

/// The environment of the child: `PATH`, `HOME`, the variables `pass` names (from
/// the proxy's own environment, when set), and every credential of `record` the
/// tier allows, each resolved and registered with the redactor.
pub(super) fn environment(
    inventory: &Inventory,
    record: &ServerRecord,
    tier: Tier,
    pass: &[String],
    credential_env: &BTreeMap<String, String>,
    resolver: &dyn CredentialResolver,
    redactor: &Redactor,
) -> Result<Vec<(String, String)>, ProxyError> {
    let mut env = Vec::new();
    for name in BASE_ENV
        .iter()
        .copied()
        .chain(pass.iter().map(String::as_str))
    {
        if let Ok(value) = std::env::var(name)
            && !env.iter().any(|(n, _): &(String, String)| n == name)
        {
            env.push((name.to_owned(), value));
        }
    }
    let credentials = Credentials::of(inventory, tier, redactor.clone());
    for credential in &record.credentials {
        let name = credential.name.as_str();
        if !credential.allowed_in(tier) {
            // Not given: the inventory keeps it out of this tier.
            continue;
        }
        let var = match (credential_env.get(name), &credential.source) {
            (Some(var), _) => var.clone(),
            (None, CredentialSource::Env(var)) => var.clone(),
            (None, source) => {
                return Err(ProxyError::Credential(format!(
                    "credential `{name}` of server `{}` comes from {source}: name the variable the \
                     server reads it from in `launch.credential_env` (`credential_env = {{ {name} = \"API_TOKEN\" }}`)",
                    record.id
                )));
            }
        };
        let secret = credentials
            .resolve(record.id.as_str(), name, resolver)
            .map_err(|e| ProxyError::Credential(e.to_string()))?;
        env.retain(|(n, _)| *n != var);
        env.push((var, secret.expose().clone()));
    }
    Ok(env)
}

/// Starts `command` with exactly `env`, its three pipes, killed on drop.
pub(super) fn spawn(command: &[String], env: Vec<(String, String)>) -> Result<Spawned, ProxyError> {
    let Some((program, args)) = command.split_first() else {
        return Err(ProxyError::NoCommand);
    };
    let mut cmd = match parent_death_launcher() {
        // The child is killed when the proxy dies, however it dies (SIGKILL
        // included, where no handler of the proxy's runs): `setpriv` sets the
        // parent-death signal and executes the program in its place (same
        // process), so no `unsafe` `pre_exec` is needed.
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL", "--"]).arg(program);
            cmd
        }
        None => Command::new(program),
    };
    cmd.args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| ProxyError::Spawn {
        program: program.clone(),
        source,
    })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(ProxyError::Spawn {
            program: program.clone(),
            source: std::io::Error::other("the child's pipes were not opened"),
        });
    };
    let stderr = child.stderr.take();
    Ok(Spawned {
        child,
        stdin,
        stdout,
        stderr,
    })
}

/// `setpriv` (util-linux) where the proxy's `PATH` has it, on Linux: what
/// starts the upstream with a parent-death signal. Elsewhere, or without it,
/// the child is ended when the proxy exits or is signalled, not when it is
/// killed outright.
fn parent_death_launcher() -> Option<&'static std::path::Path> {
    static FOUND: std::sync::LazyLock<Option<std::path::PathBuf>> =
        std::sync::LazyLock::new(|| {
            if !cfg!(target_os = "linux") {
                return None;
            }
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .map(|dir| dir.join("setpriv"))
                .find(|candidate| candidate.is_file())
        });
    FOUND.as_deref()
}

/// The last lines the upstream wrote to stderr, redacted.
#[derive(Clone, Default)]
pub(super) struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if lines.len() == KEPT_STDERR_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines, oldest first, joined for an error message.
    pub(super) fn joined(&self) -> String {
        let lines = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// Copies the upstream's stderr to the proxy's, line by line, each redacted and
/// prefixed with the server's id; lines longer than 8 KiB are cut. Ends at EOF.
pub(super) fn forward_stderr(
    stderr: ChildStderr,
    server: String,
    redactor: Redactor,
    tail: StderrTail,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stderr = stderr;
        let mut buf = vec![0u8; 4096];
        let mut line: Vec<u8> = Vec::new();
        let mut cut = false;
        let emit = |line: &[u8], cut: bool| {
            let text = String::from_utf8_lossy(line);
            let text = text.trim_end_matches('\r');
            let (clean, _) = mcpguard_core::sanitize(text);
            let redacted = redactor.redact(&clean).into_owned();
            let shown = if cut {
                format!("{redacted} [line cut at {MAX_STDERR_LINE} bytes]")
            } else {
                redacted
            };
            let _ = writeln!(
                std::io::stderr().lock(),
                "mcpguard proxy: {server}: {shown}"
            );
            tail.push(shown);
        };
        loop {
            let n = match stderr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &byte in buf.iter().take(n) {
                if byte == b'\n' {
                    emit(&line, cut);
                    line.clear();
                    cut = false;
                } else if line.len() < MAX_STDERR_LINE {
                    line.push(byte);
                } else {
                    cut = true;
                }
            }
        }
        if !line.is_empty() {
            emit(&line, cut);
        }
    })
}
