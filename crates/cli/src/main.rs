//! `mcpguard`: the command line for reviewers and platform teams.
//!
//! Exit status: 0 when all is well, 1 when the answer is "no" (a control fails,
//! pins drifted, a call is not allowed, a secret was found, a log was tampered
//! with), 2 when the input cannot be used.

use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use mcpguard_core::{Definitions, Fingerprint, Inventory, LaunchGate, Tier};
use mcpguard_policy::{
    AuditKey, ChainErrorKind, ChainHead, Gate, MemorySessionStore, PolicySource, Principal,
    SessionKey, SessionState, SessionStore, ToolCall, verify_chain, verify_chain_with_head,
};
use mcpguard_redact::{RedactingWriter, Redactor};
use serde_json::Value;

/// Prints a line to standard output; a closed pipe downstream (`| head`) ends the
/// program quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        if let Err(e) = writeln!(io::stdout().lock(), $($arg)*) {
            if e.kind() == io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    };
}

#[derive(Parser)]
#[command(
    name = "mcpguard",
    version,
    about = "Security review of MCP servers: inventory, launch gates, policies, redaction, audit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inventory checks.
    Inventory {
        #[command(subcommand)]
        command: InventoryCommand,
    },
    /// Write fingerprints from a server's tools/list into the inventory, or check them.
    Pin {
        /// The inventory file (TOML or JSON).
        file: PathBuf,
        /// The server whose tools these are.
        #[arg(long)]
        server: String,
        /// The server's tools/list answer (JSON).
        #[arg(long)]
        tools: PathBuf,
        /// Report drift instead of writing: exit 1 when a pin differs or is missing.
        #[arg(long)]
        check: bool,
    },
    /// Policy checks.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Redact standard input (or a file) to standard output.
    Redact {
        /// The file to read (standard input when absent).
        file: Option<PathBuf>,
        /// Print nothing; exit 1 if anything would be redacted (for CI and pre-commit).
        #[arg(long)]
        check: bool,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum InventoryCommand {
    /// The launch gate for a tier: which controls fail, and why.
    Check {
        /// The inventory file (TOML or JSON).
        file: PathBuf,
        /// The tier to check against.
        #[arg(long, value_enum)]
        tier: TierArg,
        /// A server's `tools/list` output, as SERVER=FILE (repeatable): its tool
        /// definitions are linted (control `tool-definitions-clean`).
        #[arg(long = "tools", value_name = "SERVER=FILE")]
        tools: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Every tool ranked by risk, with its factors.
    Risk {
        /// The inventory file (TOML or JSON).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate `*.cedar` files against the mcpguard schema.
    Validate {
        /// A directory of `*.cedar` files, or one file.
        path: PathBuf,
        /// An inventory whose tool definitions type `context.args` (optional).
        #[arg(long)]
        inventory: Option<PathBuf>,
    },
    /// Decide one call and show every policy's part in it.
    Explain {
        /// The inventory file.
        #[arg(long)]
        inventory: PathBuf,
        /// The call, as a JSON object with `principal`, `server`, `tool` and
        /// optionally `groups`, `arguments`, `session`, `purpose`, `tainted`,
        /// `private_data`.
        #[arg(long)]
        call: PathBuf,
        /// Policies to add to the baseline pack (a directory or a file).
        #[arg(long)]
        policies: Option<PathBuf>,
        /// Leave the baseline pack out.
        #[arg(long)]
        no_baseline: bool,
        /// The tier the gate runs in.
        #[arg(long, value_enum, default_value_t = TierArg::Production)]
        tier: TierArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify a keyed (HMAC-SHA-256) JSON-lines audit log: 0 intact, 1 tampered
    /// (naming the first bad line), 2 when the log or key cannot be used.
    Verify {
        /// The log file.
        log: PathBuf,
        /// The environment variable that holds the audit key (hex or base64).
        #[arg(long, value_name = "VAR", default_value = mcpguard_policy::AUDIT_KEY_VAR)]
        key_env: String,
        /// The chain's published head (a file the log's writer published it to,
        /// or the head itself): a log cut short of it is reported as tampered.
        #[arg(long, value_name = "HEAD")]
        head: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum TierArg {
    Personal,
    Team,
    Production,
}

impl From<TierArg> for Tier {
    fn from(t: TierArg) -> Self {
        match t {
            TierArg::Personal => Self::Personal,
            TierArg::Team => Self::Team,
            TierArg::Production => Self::Production,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// A failure to report: the message and the exit status.
struct Failure(String, u8);

type Outcome = Result<u8, Failure>;

fn bad(message: impl Into<String>) -> Failure {
    Failure(message.into(), 2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inventory {
            command:
                InventoryCommand::Check {
                    file,
                    tier,
                    tools,
                    format,
                },
        } => inventory_check(&file, tier.into(), &tools, format),
        Command::Inventory {
            command: InventoryCommand::Risk { file, format },
        } => inventory_risk(&file, format),
        Command::Pin {
            file,
            server,
            tools,
            check,
        } => pin(&file, &server, &tools, check),
        Command::Policy {
            command: PolicyCommand::Validate { path, inventory },
        } => policy_validate(&path, inventory.as_deref()),
        Command::Policy {
            command:
                PolicyCommand::Explain {
                    inventory,
                    call,
                    policies,
                    no_baseline,
                    tier,
                    format,
                },
        } => policy_explain(
            &inventory,
            &call,
            policies.as_deref(),
            no_baseline,
            tier.into(),
            format,
        ),
        Command::Redact { file, check } => redact(file.as_deref(), check),
        Command::Audit {
            command: AuditCommand::Verify { log, key_env, head },
        } => audit_verify(&log, &key_env, head.as_deref()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure(message, code)) => {
            eprintln!("mcpguard: {message}");
            ExitCode::from(code)
        }
    }
}

fn load(file: &Path) -> Result<Inventory, Failure> {
    Inventory::load(file).map_err(|e| bad(e.to_string()))
}

fn json_out(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| bad(format!("cannot write JSON: {e}")))?;
    say!("{text}");
    Ok(())
}

fn inventory_check(file: &Path, tier: Tier, tools: &[String], format: Format) -> Outcome {
    let inventory = load(file)?;
    let report = if tools.is_empty() {
        LaunchGate::evaluate(&inventory, tier)
    } else {
        let redactor = Redactor::new().map_err(|e| bad(e.to_string()))?;
        let secrets = |text: &str| -> Vec<std::ops::Range<usize>> {
            redactor
                .find(text)
                .iter()
                .map(mcpguard_redact::Finding::span)
                .collect()
        };
        let mut definitions = Definitions::new().secrets(&secrets);
        for spec in tools {
            let (server, path) = spec.split_once('=').ok_or_else(|| {
                bad(format!(
                    "--tools {spec}: write SERVER=FILE, for example --tools github=tools.json"
                ))
            })?;
            if inventory.server(server).is_none() {
                return Err(bad(format!(
                    "--tools {spec}: server `{server}` is not in the inventory"
                )));
            }
            definitions = definitions.server(server, Value::Array(tool_list(Path::new(path))?));
        }
        LaunchGate::evaluate_with_definitions(&inventory, tier, &definitions)
    };
    match format {
        Format::Json => json_out(&report)?,
        Format::Text => say!("{}", report.to_string().trim_end()),
    }
    Ok(if report.passed() { 0 } else { 1 })
}

fn inventory_risk(file: &Path, format: Format) -> Outcome {
    let inventory = load(file)?;
    let mut rows: Vec<_> = inventory.tools().map(|(s, t)| (s, t, t.risk())).collect();
    rows.sort_by_key(|(_, _, r)| std::cmp::Reverse(r.score()));
    if format == Format::Json {
        let list: Vec<Value> = rows
            .iter()
            .map(|(s, t, r)| serde_json::json!({"server": s.id, "tool": t.name, "risk": r}))
            .collect();
        json_out(&list)?;
        return Ok(0);
    }
    say!(
        "{:<16}  {:<28}  {:>5}  {:<8}  FACTORS",
        "SERVER",
        "TOOL",
        "SCORE",
        "LEVEL"
    );
    for (s, t, r) in rows {
        say!(
            "{:<16}  {:<28}  {:>5}  {:<8}  {} ({}) × {} ({}) × {} (reach {})",
            s.id.as_str(),
            t.name.as_str(),
            r.score(),
            r.level().to_string(),
            r.sensitivity,
            r.data_class,
            r.write_ability,
            r.strongest_action,
            r.reach_factor,
            r.reach
        );
    }
    Ok(0)
}

/// The fingerprint of every tool in a tools/list answer, by name.
/// The tool definitions of a `tools/list` output file.
fn tool_list(tools: &Path) -> Result<Vec<Value>, Failure> {
    let text = std::fs::read_to_string(tools)
        .map_err(|e| bad(format!("{}: cannot read: {e}", tools.display())))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{}: not JSON: {e}", tools.display())))?;
    value
        .pointer("/result/tools")
        .or_else(|| value.get("tools"))
        .unwrap_or(&value)
        .as_array()
        .cloned()
        .ok_or_else(|| {
            bad(format!(
                "{}: no tool list (`tools`, `result.tools` or an array)",
                tools.display()
            ))
        })
}

fn fingerprints(tools: &Path) -> Result<Vec<(String, Fingerprint)>, Failure> {
    let list = tool_list(tools)?;
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Fingerprint::of_tool(t)
                .map(|f| (name, f))
                .map_err(|e| bad(format!("{}: tool {i}: {e}", tools.display())))
        })
        .collect()
}

fn pin(file: &Path, server: &str, tools: &Path, check: bool) -> Outcome {
    let inventory = load(file)?;
    let record = inventory
        .server(server)
        .ok_or_else(|| bad(format!("server `{server}` is not in {}", file.display())))?;
    let seen = fingerprints(tools)?;
    let mut drift = 0u8;
    for (name, fp) in &seen {
        match record.tool(name) {
            None => {
                say!("{server}/{name}: offered by the server but not in the inventory");
                drift = 1;
            }
            Some(t) if t.fingerprint == Some(*fp) => say!("{server}/{name}: pinned, unchanged"),
            Some(t) => {
                let what = if t.fingerprint.is_some() {
                    "changed"
                } else {
                    "not pinned"
                };
                say!("{server}/{name}: {what}: {fp}");
                drift = 1;
            }
        }
    }
    for t in &record.tools {
        if !seen.iter().any(|(n, _)| n == t.name.as_str()) {
            say!(
                "{server}/{}: in the inventory but no longer offered",
                t.name
            );
            drift = 1;
        }
    }
    if check {
        return Ok(drift);
    }
    write_pins(file, server, &seen)?;
    // What was written must still load: the edit never leaves a broken file.
    load(file)?;
    eprintln!(
        "pinned {} tools of `{server}` in {}",
        seen.len(),
        file.display()
    );
    Ok(0)
}

/// Writes fingerprints into the inventory file, keeping its formatting and comments.
fn write_pins(file: &Path, server: &str, pins: &[(String, Fingerprint)]) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| bad(format!("{}: cannot read: {e}", file.display())))?;
    let pinned = |name: &str| {
        pins.iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.to_string())
    };
    let out = if file.extension().is_some_and(|e| e == "json") {
        let mut doc: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        for s in doc
            .get_mut("servers")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if s.get("id").and_then(Value::as_str) != Some(server) {
                continue;
            }
            for t in s
                .get_mut("tools")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let name = t
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let (Some(fp), Some(obj)) = (pinned(&name), t.as_object_mut()) {
                    obj.insert("fingerprint".to_owned(), Value::String(fp));
                }
            }
        }
        serde_json::to_string_pretty(&doc).map_err(|e| bad(e.to_string()))? + "\n"
    } else {
        let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            bad(format!("{}: {}", file.display(), e.message()))
        })?;
        if let Some(servers) = doc
            .get_mut("servers")
            .and_then(|s| s.as_array_of_tables_mut())
        {
            for s in servers.iter_mut() {
                if s.get("id").and_then(|v| v.as_str()) != Some(server) {
                    continue;
                }
                if let Some(tools) = s.get_mut("tools").and_then(|t| t.as_array_of_tables_mut()) {
                    for t in tools.iter_mut() {
                        let name = t
                            .get("name")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_owned();
                        if let Some(fp) = pinned(&name) {
                            t.insert("fingerprint", toml_edit::value(fp));
                        }
                    }
                }
            }
        }
        doc.to_string()
    };
    std::fs::write(file, out).map_err(|e| bad(format!("{}: cannot write: {e}", file.display())))
}

fn policy_source(path: &Path, baseline: bool) -> Result<PolicySource, Failure> {
    let source = if baseline {
        PolicySource::baseline()
    } else {
        PolicySource::empty()
    };
    if path.is_dir() {
        source.with_dir(path)
    } else {
        source.with_file(path)
    }
    .map_err(|e| bad(e.to_string()))
}

fn policy_validate(path: &Path, inventory: Option<&Path>) -> Outcome {
    let inventory = match inventory {
        Some(f) => load(f)?,
        None => Inventory::from_servers(Vec::new()).map_err(|e| bad(e.to_string()))?,
    };
    let source = policy_source(path, false)?;
    match Gate::builder()
        .inventory(inventory)
        .policies(source)
        .build()
    {
        Ok(gate) => {
            say!("valid: {} policies", gate.policy_ids().len());
            Ok(0)
        }
        Err(e) => Err(Failure(e.to_string(), 1)),
    }
}

fn policy_explain(
    inventory: &Path,
    call: &Path,
    policies: Option<&Path>,
    no_baseline: bool,
    tier: Tier,
    format: Format,
) -> Outcome {
    let inventory = load(inventory)?;
    let text = std::fs::read_to_string(call)
        .map_err(|e| bad(format!("{}: cannot read: {e}", call.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{}: not JSON: {e}", call.display())))?;
    let field = |name: &str| v.get(name).and_then(Value::as_str);
    let (Some(principal), Some(server), Some(tool)) =
        (field("principal"), field("server"), field("tool"))
    else {
        return Err(bad(format!(
            "{}: a call needs `principal`, `server` and `tool`",
            call.display()
        )));
    };
    let mut who = Principal::new(principal);
    for g in v
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        who = who.in_group(g);
    }
    let mut tool_call = ToolCall::new(who, server, tool).arguments(
        v.get("arguments")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({})),
    );
    if let Some(s) = field("session") {
        tool_call = tool_call.session(s);
    }
    if let Some(p) = field("purpose") {
        tool_call = tool_call.purpose(p);
    }
    let flag = |name: &str| v.get(name).and_then(Value::as_bool).unwrap_or(false);
    let sessions = Arc::new(MemorySessionStore::default());
    sessions
        .merge(
            &SessionKey {
                principal: principal.to_owned(),
                session: field("session").unwrap_or_default().to_owned(),
            },
            SessionState::with(flag("tainted"), flag("private_data")),
        )
        .map_err(|e| bad(e.to_string()))?;
    let source = match policies {
        Some(p) => policy_source(p, !no_baseline)?,
        None if no_baseline => PolicySource::empty(),
        None => PolicySource::baseline(),
    };
    let gate = Gate::builder()
        .inventory(inventory)
        .tier(tier)
        .policies(source)
        .session_store(sessions)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let explanation = gate.explain(&tool_call);
    let decision = &explanation.decision;
    if format == Format::Json {
        json_out(&explanation)?;
    } else {
        say!("decision: {}", decision.verdict());
        for r in decision.reasons() {
            say!("  because: {r}");
        }
        for e in decision.errors() {
            say!("  error: {e}");
        }
        say!(
            "\n{:<36}  {:<6}  {:<8}  {:<7}  REASON",
            "POLICY",
            "EFFECT",
            "APPROVAL",
            "MATCHED"
        );
        for p in &explanation.policies {
            say!(
                "{:<36}  {:<6}  {:<8}  {:<7}  {}",
                p.id,
                p.effect,
                if p.approval { "yes" } else { "-" },
                if p.matched { "yes" } else { "-" },
                p.error
                    .as_deref()
                    .map_or_else(|| p.reason.clone(), |e| format!("error: {e}"))
            );
        }
    }
    Ok(if decision.is_allowed() { 0 } else { 1 })
}

fn redact(file: Option<&Path>, check: bool) -> Outcome {
    let redactor = Redactor::new().map_err(|e| bad(e.to_string()))?;
    let mut input: Box<dyn Read> = match file {
        Some(f) => Box::new(
            std::fs::File::open(f)
                .map_err(|e| bad(format!("{}: cannot read: {e}", f.display())))?,
        ),
        None => Box::new(io::stdin().lock()),
    };
    if check {
        let mut bytes = Vec::new();
        input
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("cannot read: {e}")))?;
        let text = String::from_utf8_lossy(&bytes);
        let findings = redactor.find(&text);
        for f in &findings {
            let line = text
                .get(..f.span().start)
                .map_or(0, |t| t.matches('\n').count())
                + 1;
            eprintln!("line {line}: {}", f.rule_id());
        }
        return Ok(u8::from(!findings.is_empty()));
    }
    let stdout = io::stdout().lock();
    let mut writer = RedactingWriter::new(io::BufWriter::new(stdout), redactor);
    io::copy(&mut input, &mut writer).map_err(|e| bad(format!("cannot redact: {e}")))?;
    writer
        .finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| bad(format!("cannot write: {e}")))?;
    Ok(0)
}

fn audit_verify(log: &Path, key_env: &str, head: Option<&str>) -> Outcome {
    let key = AuditKey::from_env(key_env).map_err(|e| bad(e.to_string()))?;
    let head = head
        .map(|h| {
            let text = if h.trim_start().starts_with('{') {
                h.to_owned()
            } else {
                std::fs::read_to_string(h)
                    .map_err(|e| bad(format!("{h}: cannot read the head: {e}")))?
            };
            ChainHead::parse(&text).map_err(|e| bad(format!("{h}: {e}")))
        })
        .transpose()?;
    let file = std::fs::File::open(log)
        .map_err(|e| bad(format!("{}: cannot read: {e}", log.display())))?;
    let reader = BufReader::new(file);
    let verified = match &head {
        Some(head) => verify_chain_with_head(reader, &key, head),
        None => verify_chain(reader, &key),
    };
    match verified {
        Ok(summary) => {
            say!(
                "{}: chain intact, {} lines, key {}, head {}{}",
                log.display(),
                summary.lines,
                key.id(),
                summary.head,
                if head.is_some() {
                    ", matches the published head"
                } else {
                    " (give --head to check that nothing was cut off the end)"
                }
            );
            Ok(0)
        }
        Err(e) => {
            let code = match e.kind() {
                ChainErrorKind::Tampered => 1,
                _ => 2,
            };
            Err(Failure(format!("{}: {e}", log.display()), code))
        }
    }
}
