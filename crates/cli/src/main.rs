//! `mcpguard`: the command line for reviewers and platform teams.
//!
//! Exit status: 0 when all is well, 1 when the answer is "no" (a control fails,
//! pins drifted, a call is not allowed, a secret was found, a log was tampered
//! with), 2 when the input cannot be used.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mcpguard_core::{Inventory, Tier};

use commands::{approvals, audit, inventory, pin, policy, proxy, redact};

/// Prints a line to standard output; a closed pipe downstream (`| head`) ends the
/// program quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        if let Err(e) = writeln!(::std::io::stdout().lock(), $($arg)*) {
            if e.kind() == ::std::io::ErrorKind::BrokenPipe {
                ::std::process::exit(0);
            }
        }
    }};
}

mod commands;

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
    /// Write fingerprints from a server's tools/list into the inventory, or check
    /// them; or accept one tool's reviewed definition (`--tool NAME --fingerprint FP`,
    /// as `mcpguard proxy` names it when it withholds the tool).
    Pin {
        /// The inventory file (TOML or JSON).
        file: PathBuf,
        /// The server whose tools these are.
        #[arg(long)]
        server: String,
        /// The server's tools/list answer (JSON): every tool in it is pinned.
        #[arg(long, required_unless_present = "tool", conflicts_with = "tool")]
        tools: Option<PathBuf>,
        /// One tool to pin, with `--fingerprint`.
        #[arg(long, requires = "fingerprint")]
        tool: Option<String>,
        /// The fingerprint to pin `--tool` at (`sha256:...`).
        #[arg(long, requires = "tool")]
        fingerprint: Option<String>,
        /// Report drift instead of writing: exit 1 when a pin differs or is missing.
        #[arg(long, conflicts_with = "tool")]
        check: bool,
    },
    /// Put the gate in front of an MCP server in any language: the upstream is
    /// the command after `--` (or the inventory's `launch`), the agent talks to
    /// this process over stdio (or streamable HTTP with `--http`).
    Proxy(Box<proxy::ProxyArgs>),
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
    /// Four-eyes approval requests waiting in a deployment's store: list, show,
    /// approve or deny them (the reviewer must not be the caller).
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
        /// The deployment's Redis (`redis://[user:password@]host[:port][/db]`);
        /// default: the URL in `MCPGUARD_REDIS_URL`. Never printed.
        #[arg(long, global = true, value_name = "URL")]
        store: Option<String>,
        /// The deployment's key namespace (as its servers were configured).
        #[arg(long, global = true, default_value = "mcpguard")]
        namespace: String,
        /// Output format.
        #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// The requests waiting for a reviewer (and decided ones not yet used).
    List,
    /// One request: the call as the reviewer sees it, redacted.
    Show {
        /// The request's id.
        id: String,
    },
    /// Approve a request: the caller's retry of that exact call runs once.
    Approve {
        /// The request's id.
        id: String,
        /// Who approves (recorded in the audit of the call); default: $USER.
        #[arg(long)]
        reviewer: Option<String>,
    },
    /// Deny a request: the caller's retry is refused, naming the reviewer.
    Deny {
        /// The request's id.
        id: String,
        /// Who denies; default: $USER.
        #[arg(long)]
        reviewer: Option<String>,
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
        /// Output format: a table, JSON, Markdown (for a pull-request comment) or
        /// SARIF 2.1.0 (for code-scanning interfaces).
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
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
        /// optionally `groups`, `arguments`, `session`, `purpose`, `method`,
        /// `definition`, and its state: `tainted`, `private_data`, or
        /// `state: {session: {tainted, private_data}, approved}`.
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
pub(crate) enum Format {
    Text,
    Json,
}

/// The formats of the launch report.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Text,
    Json,
    Markdown,
    Sarif,
}

/// A failure to report: the message and the exit status.
pub(crate) struct Failure(pub(crate) String, pub(crate) u8);

pub(crate) type Exit = Result<u8, Failure>;

pub(crate) fn bad(message: impl Into<String>) -> Failure {
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
        } => inventory::inventory_check(&file, tier.into(), &tools, format),
        Command::Inventory {
            command: InventoryCommand::Risk { file, format },
        } => inventory::inventory_risk(&file, format),
        Command::Pin {
            file,
            server,
            tools,
            tool,
            fingerprint,
            check,
        } => match (tools, tool, fingerprint) {
            (Some(tools), _, _) => pin::pin(&file, &server, &tools, check),
            (None, Some(tool), Some(fingerprint)) => {
                pin::pin_one(&file, &server, &tool, &fingerprint)
            }
            _ => Err(bad(
                "give `--tools FILE`, or `--tool NAME --fingerprint FP`",
            )),
        },
        Command::Proxy(args) => proxy::proxy(*args),
        Command::Policy {
            command: PolicyCommand::Validate { path, inventory },
        } => policy::policy_validate(&path, inventory.as_deref()),
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
        } => policy::policy_explain(
            &inventory,
            &call,
            policies.as_deref(),
            no_baseline,
            tier.into(),
            format,
        ),
        Command::Redact { file, check } => redact::redact(file.as_deref(), check),
        Command::Audit {
            command: AuditCommand::Verify { log, key_env, head },
        } => audit::audit_verify(&log, &key_env, head.as_deref()),
        Command::Approvals {
            command,
            store,
            namespace,
            format,
        } => {
            let action = match command {
                ApprovalsCommand::List => approvals::Action::List,
                ApprovalsCommand::Show { id } => approvals::Action::Show(id),
                ApprovalsCommand::Approve { id, reviewer } => {
                    approvals::Action::Decide(id, reviewer, true)
                }
                ApprovalsCommand::Deny { id, reviewer } => {
                    approvals::Action::Decide(id, reviewer, false)
                }
            };
            approvals::approvals(store.as_deref(), &namespace, &action, format)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure(message, code)) => {
            eprintln!("mcpguard: {message}");
            ExitCode::from(code)
        }
    }
}

pub(crate) fn load(file: &Path) -> Result<Inventory, Failure> {
    Inventory::load(file).map_err(|e| bad(e.to_string()))
}

pub(crate) fn json_out(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| bad(format!("cannot write JSON: {e}")))?;
    say!("{text}");
    Ok(())
}
