//! Starts every implemented daemon from the sockets its units describe (LISTEN_FDS the way
//! systemd passes them), restarts each in turn while SMTP and IMAP load runs, and checks that
//! no message answered 250 was lost and no client saw more than a retryable error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrymail_dev::{target_bin, DevEnv};
use ferrymail_system_tests::activation::{Activated, BoundSocket, Launcher};
use ferrymail_system_tests::load::{self, Tally};
use ferrymail_system_tests::units::{self, Listen, ServiceSpec};
use ferrymail_system_tests::{require_tool, workspace_root};
use ferrymail_testkit::Suite;

/// systemd's TimeoutStopSec in the units.
const STOP_TIMEOUT: Duration = Duration::from_secs(45);
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Start order: consumers of a socket after its owner, as the units' sockets make irrelevant
/// under systemd but a harness without a backlog-holding manager still prefers.
const ORDER: [&str; 6] = [
    "ferrymail-delivery.service",
    "ferrymail-queue.service",
    "ferrymail-smtpd.service",
    "ferrymail-imapd.service",
    "ferrymail-pop3d.service",
    "ferrymail-managesieved.service",
];

/// An environment whose load can log in over plain loopback connections.
fn env() -> Suite {
    let mut s = Suite::new(&[]);
    s.edit_config(|c| {
        c.imapd.limits.plaintext_auth_on_loopback = true;
        c.pop3d.limits.plaintext_auth_on_loopback = true;
    });
    s
}

fn services() -> Vec<ServiceSpec> {
    let units = units::load_dir(&workspace_root().join("systemd")).unwrap();
    let mut s = units::services(&units).unwrap();
    // The front end needs a cluster and backends of its own (crates/proxyd/tests run it).
    s.retain(|s| s.name() != "ferrymail-proxyd.service");
    s.sort_by_key(|s| ORDER.iter().position(|o| *o == s.name()).unwrap_or(99));
    assert_eq!(
        s.iter().map(|s| s.name()).collect::<Vec<_>>(),
        ORDER.to_vec(),
        "the services in systemd/ changed: update this test"
    );
    s
}

fn binary(spec: &ServiceSpec) -> std::path::PathBuf {
    let bin = target_bin(&spec.binary);
    assert!(
        bin.is_file(),
        "{} is not built ({}): run `cargo build --workspace` (or `cargo test --workspace`) first",
        spec.binary,
        bin.display()
    );
    bin
}

/// Binds every socket of every service (what `sockets.target` does) and returns launchers.
fn launchers(env: &DevEnv, dir: &std::path::Path) -> Vec<Launcher> {
    services()
        .into_iter()
        .map(|spec| {
            let sockets = spec
                .sockets
                .iter()
                .map(|s| BoundSocket::bind(s, &env.config, env.listen_addr, false).unwrap())
                .collect();
            let short = spec.name().trim_end_matches(".service").to_owned();
            Launcher {
                bin: binary(&spec),
                config_path: env.config_path.clone(),
                sockets,
                log: dir.join(format!("{short}.log")),
                notify_path: dir.join(format!("{short}.notify")),
                wrapper: Vec::new(),
                service: spec,
            }
        })
        .collect()
}

/// Starts every daemon from its sockets; each must reach READY=1.
fn start_all(launchers: &[Launcher]) -> HashMap<String, Activated> {
    let mut running = HashMap::new();
    for l in launchers {
        running.insert(l.service.name().to_owned(), l.start(START_TIMEOUT).unwrap());
    }
    running
}

fn unix_paths(l: &Launcher, env: &DevEnv) -> Vec<std::path::PathBuf> {
    l.service
        .sockets
        .iter()
        .filter_map(
            |s| match ferrymail_system_tests::activation::test_address(s, &env.config) {
                Ok(Listen::UnixStream(p)) | Ok(Listen::UnixDatagram(p)) => Some(p),
                _ => None,
            },
        )
        .collect()
}

#[test]
fn restart_each_daemon_under_load_loses_nothing() {
    let suite = env();
    let (env, dir) = (&suite.env, suite.dir());
    let launchers = launchers(env, dir);
    let mut running = start_all(&launchers);
    assert!(
        running.contains_key("ferrymail-smtpd.service"),
        "mta-smtpd must run for this test"
    );
    let exercised: Vec<String> = ORDER
        .iter()
        .filter(|s| running.contains_key(**s))
        .map(|s| s.to_string())
        .collect();
    eprintln!("exercised: {exercised:?}");

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (login, password) = env.users[0].clone();
    let mut threads = Vec::new();
    for n in 0..2 {
        let (addr, rcpt, t, s) = (
            env.addr(env.ports.smtp),
            login.clone(),
            tally.clone(),
            stop.clone(),
        );
        let smtp = load::SmtpLoad {
            addr,
            rcpt,
            prefix: format!("t{n}"),
            count: 400,
            max_attempts: 20,
            pace: Duration::from_millis(20),
        };
        threads.push(std::thread::spawn(move || smtp.run(&s, &t)));
    }
    if running.contains_key("ferrymail-imapd.service") {
        let (addr, l, p, t, s) = (
            env.addr(env.ports.imap),
            login.clone(),
            password.clone(),
            tally.clone(),
            stop.clone(),
        );
        threads.push(std::thread::spawn(move || {
            load::imap_load(addr, l, p, 5000, Duration::from_millis(20), s, t)
        }));
    }
    let accepted = || tally.lock().map(|t| t.accepted.len()).unwrap_or(0);
    assert!(
        load::wait_until(Duration::from_secs(30), || accepted() >= 5),
        "no mail accepted before the restarts"
    );

    let mut notify_problems = Vec::new();
    for l in &launchers {
        let name = l.service.name().to_owned();
        let Some(mut a) = running.remove(&name) else {
            continue;
        };
        // `systemctl reload` works whatever the daemon says (v252 only sends SIGHUP), but
        // RELOADING=1/READY=1 lets the manager know when the reload is done.
        if let Err(e) = a.reload(Duration::from_secs(10)) {
            assert!(a.is_running(), "{e}");
            notify_problems.push(e);
        }
        let before = accepted();
        let (status, notes) = a.stop(STOP_TIMEOUT).unwrap();
        if !status.success() {
            notify_problems.push(format!("{name} exited {status} on SIGTERM"));
        }
        if !notes.iter().any(|n| n == "STOPPING=1") {
            notify_problems.push(format!("{name} sent no STOPPING=1"));
        }
        running.insert(name.clone(), l.start(START_TIMEOUT).unwrap());
        assert!(
            load::wait_until(Duration::from_secs(60), || accepted() >= before + 3),
            "SMTP made no progress after restarting {name}"
        );
        eprintln!("restarted {name}: {} accepted so far", accepted());
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }

    let t = tally.lock().unwrap();
    eprintln!(
        "load: {} accepted, {} retryable events, {} IMAP sessions",
        t.accepted.len(),
        t.retryable.len(),
        t.imap_sessions
    );
    let mut kinds = std::collections::BTreeMap::new();
    for r in &t.retryable {
        *kinds.entry(r.as_str()).or_insert(0usize) += 1;
    }
    eprintln!("retryable events by kind: {kinds:#?}");
    assert!(
        t.fatal.is_empty(),
        "clients saw non-retryable errors: {:?}",
        t.fatal
    );
    assert!(
        t.abandoned.is_empty(),
        "messages never accepted: {:?}",
        t.abandoned
    );
    if running.contains_key("ferrymail-imapd.service") {
        assert!(t.imap_sessions > 0, "no IMAP session completed");
    }

    // Nothing answered 250 may be lost: with the whole chain running every message must
    // reach the mailbox; otherwise it must still be in the spool.
    let store = env.config.paths.mail_root.clone();
    let chain = ["ferrymail-queue.service", "ferrymail-delivery.service"]
        .iter()
        .all(|s| running.contains_key(*s));
    let missing = |t: &Tally| -> Vec<(String, String)> {
        let delivered = load::tokens_in_store(&store);
        t.accepted
            .iter()
            .filter(|(token, qid)| {
                if delivered.contains(token) {
                    return false;
                }
                chain
                    || !["queue", "hold"]
                        .iter()
                        .any(|d| env.config.paths.spool_dir.join(d).join(qid).is_file())
            })
            .cloned()
            .collect()
    };
    let mut lost = missing(&t);
    if chain {
        load::wait_until(Duration::from_secs(120), || {
            lost = missing(&t);
            lost.is_empty()
        });
    }
    let logs: String = launchers
        .iter()
        .map(|l| {
            format!(
                "--- {}\n{}",
                l.service.name(),
                std::fs::read_to_string(&l.log).unwrap_or_default()
            )
        })
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} accepted messages lost (delivery chain running: {chain}): {:?}\n{}",
        lost.len(),
        t.accepted.len(),
        lost.iter().take(10).collect::<Vec<_>>(),
        logs.chars()
            .rev()
            .take(20000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
    eprintln!(
        "all {} accepted messages accounted for ({})",
        t.accepted.len(),
        if chain {
            "delivered to the Maildir"
        } else {
            "in the mailbox or the spool"
        }
    );
    assert!(
        notify_problems.is_empty(),
        "SIGHUP/SIGTERM/sd_notify problems (what the units rely on): {notify_problems:#?}"
    );
}

/// A daemon that binds its own socket instead of taking systemd's breaks under the units
/// (ProtectSystem=strict makes /run/ferrymail read-only to it) and loses the socket's
/// activation and backlog.
#[test]
fn daemons_adopt_every_socket_systemd_passes() {
    let suite = env();
    let (env, dir) = (&suite.env, suite.dir());
    let launchers = launchers(env, dir);
    let inodes: Vec<Vec<(std::path::PathBuf, Option<u64>)>> = launchers
        .iter()
        .map(|l| {
            unix_paths(l, env)
                .into_iter()
                .map(|p| {
                    let ino = BoundSocket::path_inode(&p);
                    (p, ino)
                })
                .collect()
        })
        .collect();
    let running = start_all(&launchers);
    let mut problems = Vec::new();
    for (l, paths) in launchers.iter().zip(&inodes) {
        let Some(a) = running.get(l.service.name()) else {
            continue;
        };
        for (p, ino) in paths {
            if BoundSocket::path_inode(p) != *ino {
                problems.push(format!(
                    "{} replaced the socket systemd passed at {} with its own",
                    l.service.name(),
                    p.display()
                ));
            }
        }
        let log = a.log_text();
        if log.contains("systemd passed a socket") || log.contains("no listener uses") {
            problems.push(format!(
                "{} left a passed socket unused: {log}",
                l.service.name()
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The same daemons under Debian's own `systemd-socket-activate`, which execs the daemon on
/// the first connection with the sockets and names systemd would pass.
#[test]
fn systemd_socket_activate_starts_each_daemon() {
    let tool = require_tool("systemd-socket-activate", "systemd").unwrap();
    let suite = env();
    let (env, dir) = (&suite.env, suite.dir());
    let mut exercised = Vec::new();
    for spec in services() {
        let bin = binary(&spec);
        // Probe first: a daemon that is not implemented yet exits 69 at once.
        let probe = std::process::Command::new(&bin)
            .arg("--check-config")
            .arg("-c")
            .arg(&env.config_path)
            .output()
            .unwrap();
        assert!(
            probe.status.success(),
            "{}: --check-config failed",
            spec.binary
        );
        // Stream sockets only: the tool applies --datagram to every socket at once.
        let streams: Vec<_> = spec
            .sockets
            .iter()
            .filter(|s| !matches!(s.listen, Listen::UnixDatagram(_)))
            .collect();
        let mut cmd = std::process::Command::new(&tool);
        let mut targets = Vec::new();
        for s in &streams {
            let addr = ferrymail_system_tests::activation::test_address(s, &env.config).unwrap();
            let arg = match &addr {
                Listen::TcpPort(p) => format!("{}:{p}", env.listen_addr),
                Listen::UnixStream(p) => p.display().to_string(),
                Listen::UnixDatagram(_) => unreachable!(),
            };
            cmd.arg("-l").arg(&arg);
            targets.push(addr);
        }
        let names: Vec<&str> = streams.iter().map(|s| s.fd_name.as_str()).collect();
        let log_path = dir.join(format!("{}.sa.log", spec.binary));
        cmd.arg(format!("--fdname={}", names.join(":")))
            .arg(&bin)
            .arg("-c")
            .arg(&env.config_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap());
        let _daemon = Owned(cmd.spawn().unwrap());
        // The tool listens first, then execs the daemon on the first connection.
        let greeting = match &targets[0] {
            Listen::TcpPort(p) => {
                assert!(ferrymail_dev::wait_for_tcp(
                    env.addr(*p),
                    Duration::from_secs(10)
                ));
                read_greeting_tcp(env.addr(*p))
            }
            Listen::UnixStream(p) => {
                assert!(ferrymail_dev::wait_for_unix(p, Duration::from_secs(10)));
                read_greeting_unix(p)
            }
            Listen::UnixDatagram(_) => unreachable!(),
        };
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let greeting = greeting.unwrap_or_else(|e| panic!("{}: {e}\n{log}", spec.binary));
        let expected = match spec.binary.as_str() {
            "mta-smtpd" | "local-delivery" => "220",
            "imapd" => "* OK",
            "pop3d" => "+OK",
            "managesieved" => "\"IMPLEMENTATION\"",
            // The control socket answers requests, it sends no greeting.
            _ => "",
        };
        assert!(
            greeting.starts_with(expected),
            "{}: greeting {greeting:?}\n{log}",
            spec.binary
        );
        exercised.push(spec.binary.clone());
    }
    eprintln!("exercised under systemd-socket-activate: {exercised:?}");
    assert!(exercised.iter().any(|b| b == "mta-smtpd"));
}

/// A child that is stopped (SIGTERM, then SIGKILL) when dropped.
struct Owned(std::process::Child);

impl Owned {
    /// The exit code if it exits within `timeout`.
    fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(s)) = self.0.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if self.exit_code(Duration::from_secs(5)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn read_greeting_tcp(addr: std::net::SocketAddr) -> Result<String, String> {
    let s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    read_greeting(s)
}

fn read_greeting_unix(p: &std::path::Path) -> Result<String, String> {
    let s = std::os::unix::net::UnixStream::connect(p).map_err(|e| e.to_string())?;
    read_greeting(s)
}

/// The first line, or "" when the server sends nothing within a few seconds but keeps the
/// connection open (the queue control socket waits for a request).
fn read_greeting<S: std::io::Read + AsTimeout>(mut s: S) -> Result<String, String> {
    s.timeout(Duration::from_secs(5));
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match s.read(&mut byte) {
            Ok(0) => return Err(format!("closed after {:?}", String::from_utf8_lossy(&buf))),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => buf.push(byte[0]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&buf).trim_end().to_owned())
}

trait AsTimeout {
    fn timeout(&mut self, d: Duration);
}

impl AsTimeout for std::net::TcpStream {
    fn timeout(&mut self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
    }
}

impl AsTimeout for std::os::unix::net::UnixStream {
    fn timeout(&mut self, d: Duration) {
        let _ = self.set_read_timeout(Some(d));
    }
}
