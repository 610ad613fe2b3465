//! `mailctl status`: which daemons run, whether their sockets answer, how big the queue is, and
//! how much disk the spool and the mailboxes use.

use std::net::TcpStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ferrymail_config::{Config, Listener};
use serde_json::json;

use crate::dev::DAEMONS;

/// Processes whose name is one of our daemons, from /proc (pid, name).
fn running_daemons() -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim();
        // comm is truncated to 15 characters: "local-delivery" fits, as do the others.
        if DAEMONS.contains(&comm) {
            out.push((pid, comm.to_owned()));
        }
    }
    out.sort();
    out
}

fn probe_tcp(l: &Listener) -> bool {
    TcpStream::connect_timeout(&crate::doctor::probe_addr(l), Duration::from_secs(1)).is_ok()
}

fn probe_unix(p: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(p).is_ok()
}

fn count_files(dir: &Path) -> Option<u64> {
    Some(std::fs::read_dir(dir).ok()?.flatten().count() as u64)
}

/// Bytes used under `dir`, stopping after `limit` entries so status stays quick on huge stores.
fn disk_use(dir: &Path, limit: usize) -> (u64, bool) {
    let mut total = 0u64;
    let mut seen = 0usize;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            seen += 1;
            if seen > limit {
                return (total, true);
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    (total, false)
}

fn free_space(p: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(p).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

pub fn run(config_path: &Path, json_out: bool) -> ExitCode {
    let c = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailctl: {e}");
            return ExitCode::from(78);
        }
    };
    let procs = running_daemons();
    let listeners: Vec<(&str, &Listener)> = c
        .smtpd
        .listeners
        .iter()
        .map(|l| ("mta-smtpd", l))
        .chain(c.imapd.listeners.iter().map(|l| ("imapd", l)))
        .chain(c.pop3d.listeners.iter().map(|l| ("pop3d", l)))
        .chain(c.managesieve.listeners.iter().map(|l| ("managesieved", l)))
        .collect();
    let sockets = [
        ("local-delivery", "lmtp", c.lmtp_socket()),
        ("queue-runner", "control", c.control_socket()),
    ];
    let spool = &c.paths.spool_dir;
    let queue = count_files(&spool.join("queue"));
    let hold = count_files(&spool.join("hold"));
    let corrupt = count_files(&spool.join("corrupt"));
    let maildrop = count_files(&spool.join("maildrop"));
    let (spool_bytes, _) = disk_use(spool, 1_000_000);
    let (mail_bytes, mail_partial) = disk_use(&c.paths.mail_root, 1_000_000);

    let daemon_state: Vec<_> = DAEMONS
        .iter()
        .map(|d| {
            let pids: Vec<u32> = procs
                .iter()
                .filter(|(_, n)| n == d)
                .map(|(p, _)| *p)
                .collect();
            (*d, pids)
        })
        .collect();
    if json_out {
        let v = json!({
            "daemons": daemon_state.iter().map(|(d, pids)| json!({"name": d, "pids": pids})).collect::<Vec<_>>(),
            "listeners": listeners.iter().map(|(d, l)| json!({
                "daemon": d, "role": l.role.as_str(), "listen": l.listen.to_string(), "answers": probe_tcp(l)
            })).collect::<Vec<_>>(),
            "sockets": sockets.iter().map(|(d, n, p)| json!({
                "daemon": d, "name": n, "path": p.display().to_string(), "answers": probe_unix(p)
            })).collect::<Vec<_>>(),
            "queue": {"active": queue, "hold": hold, "corrupt": corrupt, "maildrop": maildrop},
            "disk": {
                "spool_bytes": spool_bytes, "spool_free_bytes": free_space(spool),
                "mail_bytes": mail_bytes, "mail_bytes_partial": mail_partial,
                "mail_free_bytes": free_space(&c.paths.mail_root),
            },
        });
        println!("{v}");
        return ExitCode::SUCCESS;
    }
    println!("daemons:");
    for (d, pids) in &daemon_state {
        if pids.is_empty() {
            println!("  {d:<15} not running");
        } else {
            let p: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
            println!("  {d:<15} running (pid {})", p.join(", "));
        }
    }
    println!("listeners:");
    for (d, l) in &listeners {
        let state = if probe_tcp(l) { "answers" } else { "no answer" };
        println!(
            "  {:<12} {:<22} {d:<10} {state}",
            l.role.as_str(),
            l.listen.to_string()
        );
    }
    for (d, n, p) in &sockets {
        let state = if probe_unix(p) {
            "answers"
        } else {
            "no answer"
        };
        println!("  {n:<12} {:<22} {d:<10} {state}", p.display());
    }
    let n = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_else(|| "?".into());
    println!(
        "queue: {} active, {} held, {} corrupt, {} in maildrop",
        n(queue),
        n(hold),
        n(corrupt),
        n(maildrop)
    );
    println!(
        "disk: spool {} used ({} free), mailboxes {}{} ({} free)",
        human(spool_bytes),
        free_space(spool).map(human).unwrap_or_else(|| "?".into()),
        human(mail_bytes),
        if mail_partial { "+" } else { "" },
        free_space(&c.paths.mail_root)
            .map(human)
            .unwrap_or_else(|| "?".into()),
    );
    ExitCode::SUCCESS
}
