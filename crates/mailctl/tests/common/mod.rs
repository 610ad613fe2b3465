//! What the `mailctl check` tests share: a prepared environment for `a.test`, a zone in which
//! every check passes, running the doctor with a deadline, and reading its report.

#![allow(dead_code)] // each test file uses its own part

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_dev::{prepare, DevEnv, DevOptions, Ports};

pub const MAILCTL: &str = env!("CARGO_BIN_EXE_mailctl");

/// The host's public address in the test zone. Not loopback: resolvers answer 127/8 reverse
/// lookups with "localhost" themselves (RFC 6761). Nothing connects to it (--no-probe).
pub const HOST_IP: &str = "192.0.2.10";

/// Longer than the doctor can take against a DNS server that answers (its own limits are
/// seconds per question); reaching it means it hung.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(90);

pub fn good_zone() -> Zone {
    let lo: IpAddr = HOST_IP.parse().unwrap();
    let mut z = Zone::new();
    z.mx("a.test", 10, "mail.a.test")
        .a("mail.a.test", lo)
        .ptr(lo, "mail.a.test")
        .txt("a.test", "v=spf1 mx -all")
        .txt("a.test", "some-site-verification=xyz")
        .txt(
            "_dmarc.a.test",
            "v=DMARC1; p=reject; rua=mailto:postmaster@a.test",
        );
    z
}

pub fn setup() -> (tempfile::TempDir, DevEnv) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = DevOptions::new(dir.path().join("s"));
    o.domain = "a.test".into();
    o.ports = Ports::free();
    (dir, prepare(&o).unwrap())
}

/// What one `mailctl check` run left behind.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// `mailctl -c CONFIG check a.test --json --dns-server DNS ARGS…`, killed at the deadline.
pub fn run_check(env: &DevEnv, dns: &DnsServer, args: &[&str]) -> Run {
    run_check_at(env, dns.addr, "a.test", args)
}

/// `mailctl -c CONFIG check DOMAIN --json --dns-server DNS ARGS…`, killed at the deadline.
pub fn run_check_at(env: &DevEnv, dns: SocketAddr, domain: &str, args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(MAILCTL)
        .arg("-c")
        .arg(&env.config_path)
        .args(["check", domain, "--json", "--dns-server"])
        .arg(dns.to_string())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes while waiting: a large report must not block the child.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > CHECK_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mailctl check still running after {CHECK_DEADLINE:?}; stderr: {}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// The findings of a run that must have produced a report (exit 0 or 1, valid JSON).
pub fn findings(run: &Run) -> Vec<serde_json::Value> {
    assert!(
        matches!(run.code, Some(0 | 1)),
        "exit {:?}\nstdout: {}\nstderr: {}",
        run.code,
        run.stdout,
        run.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr));
    v.as_array().unwrap().clone()
}

/// `(exit code, findings)` of `mailctl check --no-probe`.
pub fn check(env: &DevEnv, dns: &DnsServer) -> (i32, Vec<serde_json::Value>) {
    let run = run_check(env, dns, &["--no-probe"]);
    let f = findings(&run);
    (run.code.unwrap_or(-1), f)
}

pub fn problems<'a>(findings: &'a [serde_json::Value], check: &str) -> Vec<&'a serde_json::Value> {
    findings
        .iter()
        .filter(|f| f["check"] == check && f["level"] != "ok")
        .collect()
}

/// The one finding of `check`, whatever its level.
pub fn finding<'a>(findings: &'a [serde_json::Value], check: &str) -> &'a serde_json::Value {
    let all: Vec<_> = findings.iter().filter(|f| f["check"] == check).collect();
    assert_eq!(all.len(), 1, "{check}: {findings:#?}");
    all[0]
}

/// The checks every report has, whatever the zone.
pub const ALWAYS: [&str; 4] = ["mx", "spf", "dmarc", "tls"];

pub fn assert_report(run: &Run, what: &str) -> Vec<serde_json::Value> {
    assert!(
        !run.stderr.contains("panicked"),
        "{what}: {}\n{}",
        run.stderr,
        run.stdout
    );
    let f = findings(run);
    for c in ALWAYS {
        assert!(
            f.iter().any(|x| x["check"] == c),
            "{what}: no {c} finding: {f:#?}"
        );
    }
    f
}

/// A zone that is good except for what `hostile` does to it.
pub fn zone_with(hostile: impl FnOnce(&mut Zone)) -> Zone {
    let mut z = good_zone();
    hostile(&mut z);
    z
}
