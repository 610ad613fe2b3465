//! Packaging and operations checks for ferrymail: reads the systemd units in `systemd/`,
//! starts the real daemon binaries from sockets the way systemd does (LISTEN_FDS,
//! LISTEN_FDNAMES, NOTIFY_SOCKET), and drives a bounded SMTP/IMAP load while daemons are
//! restarted one at a time; [`netns`] builds separate hosts in network namespaces and
//! [`gluster`] a replicated GlusterFS volume shared by them. Used by
//! this crate's tests; nothing here is linked into a daemon.

pub mod activation;
pub mod cluster;
pub mod gluster;
pub mod load;
pub mod mailbox_view;
pub mod netns;
pub mod topology;
pub mod units;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate lives in `crates/system-tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Path of a required external tool, or a message naming the Debian package that has it.
pub fn require_tool(name: &str, package: &str) -> Result<PathBuf, String> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.ok_or_else(|| {
        format!("`{name}` is not installed: install the Debian package `{package}` (listed in .ci/packages)")
    })
}

/// Runs a command, returning its stdout, or an error with its status and stderr.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{shown} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The daemons, by binary name.
pub const DAEMONS: [&str; 7] = [
    "mta-smtpd",
    "queue-runner",
    "local-delivery",
    "imapd",
    "pop3d",
    "managesieved",
    "proxyd",
];

/// Everything `deploy/install.sh` installs from the target directory.
pub const BINARIES: [&str; 9] = [
    "mta-smtpd",
    "queue-runner",
    "local-delivery",
    "imapd",
    "pop3d",
    "managesieved",
    "proxyd",
    "mailctl",
    "sendmail",
];

/// Writes executable stand-ins for every binary into `dir` (for layout and unit checks that
/// need a program at each path, not a real daemon).
pub fn stub_binaries(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    for b in BINARIES {
        let p = dir.join(b);
        std::fs::write(&p, format!("#!/bin/sh\necho {b} stub\n"))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Runs `deploy/install.sh` with these `VAR=value` assignments.
pub fn install_sh(vars: &[(&str, &Path)]) -> Result<String, String> {
    let mut cmd = Command::new("sh");
    cmd.arg(workspace_root().join("deploy/install.sh"));
    for (k, v) in vars {
        cmd.arg(format!("{k}={}", v.display()));
    }
    run(&mut cmd)
}
