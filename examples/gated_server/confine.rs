//! `run_command`'s confinement: the command runs in a child of this very
//! program (`gated_server --confined ROOT -- PROGRAM ARGS…`), which restricts
//! itself with Landlock (Linux 5.13 and later) before it executes the program:
//! the program may read and write beneath the workspace, read the system's
//! programs and libraries (`/usr`, `/bin`, `/lib`, `/lib64`, `/etc`), and nothing
//! else — not the secrets directory beside the workspace, not `/proc` (another
//! process's environment). Where Landlock is not available, the command is not
//! run at all: unconfined, it could read the secrets `read_secret` guards.

use std::path::Path;
use std::process::ExitCode;

/// The first argument that makes this program the confined launcher.
pub(crate) const FLAG: &str = "--confined";

/// The exit status of a launcher that could not confine itself.
pub(crate) const UNCONFINED: u8 = 126;

/// Runs as the launcher: `args` are what follows [`FLAG`] (`ROOT -- PROGRAM
/// ARGS…`). Returns only when the program could not be run.
pub(crate) fn launch(args: &[String]) -> ExitCode {
    let (Some(root), Some("--"), Some(program)) =
        (args.first(), args.get(1).map(String::as_str), args.get(2))
    else {
        eprintln!("gated_server {FLAG}: usage: {FLAG} ROOT -- PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    if let Err(e) = restrict(Path::new(root)) {
        eprintln!("gated_server: run_command is refused: {e}");
        return ExitCode::from(UNCONFINED);
    }
    exec(program, args.get(3..).unwrap_or_default())
}

#[cfg(target_os = "linux")]
fn restrict(root: &Path) -> Result<(), String> {
    use landlock::{
        ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
        path_beneath_rules,
    };
    let abi = ABI::V5;
    let system = [
        "/usr",
        "/bin",
        "/sbin",
        "/lib",
        "/lib64",
        "/etc",
        "/dev/null",
    ]
    .into_iter()
    .filter(|p| Path::new(p).exists());
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(system, AccessFs::from_read(abi))))
        .and_then(|r| r.add_rules(path_beneath_rules([root], AccessFs::from_all(abi))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| format!("the command could not be confined to the workspace ({e})"))?;
    match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
        RulesetStatus::NotEnforced => Err(
            "this kernel offers no Landlock, so the command could not be confined to the \
             workspace (it could read the secrets beside it)"
                .to_owned(),
        ),
    }
}

#[cfg(not(target_os = "linux"))]
fn restrict(_root: &Path) -> Result<(), String> {
    Err("commands are confined with Landlock, which only Linux has".to_owned())
}

#[cfg(unix)]
fn exec(program: &str, args: &[String]) -> ExitCode {
    use std::os::unix::process::CommandExt as _;
    let e = std::process::Command::new(program).args(args).exec();
    eprintln!("gated_server: `{program}` could not start: {e}");
    ExitCode::from(127)
}

#[cfg(not(unix))]
fn exec(program: &str, _args: &[String]) -> ExitCode {
    eprintln!("gated_server: `{program}` cannot be run confined here");
    ExitCode::from(UNCONFINED)
}
