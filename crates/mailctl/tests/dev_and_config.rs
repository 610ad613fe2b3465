//! Drives the real `mailctl` binary: `dev` prepares a working state directory and supervises the
//! daemons; `config check` accepts good configs and names the file, key and reason of bad ones.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferrymail_testkit::free_port;
use ferrymail_testkit::process::success;

const MAILCTL: &str = env!("CARGO_BIN_EXE_mailctl");

/// `mailctl -c <config> config check <extra…>`.
fn config_check(config: &Path, extra: &[&str]) -> Output {
    Command::new(MAILCTL)
        .arg("-c")
        .arg(config)
        .args(["config", "check"])
        .args(extra)
        .output()
        .unwrap()
}

fn port_args() -> Vec<String> {
    [
        "--smtp-port",
        "--submission-port",
        "--submissions-port",
        "--imap-port",
        "--imaps-port",
        "--pop3-port",
        "--pop3s-port",
        "--managesieve-port",
    ]
    .iter()
    .flat_map(|flag| {
        [
            flag.to_string(),
            free_port(IpAddr::from([127, 0, 0, 1])).to_string(),
        ]
    })
    .collect()
}

#[test]
fn dev_prepare_writes_a_config_that_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("dev");
    let out = Command::new(MAILCTL)
        .args(["dev", "--prepare-only", "--domain", "a.test"])
        .args([
            "--user",
            "joe@a.test:secret1",
            "--user",
            "joe@b.test:secret2",
        ])
        .arg("--state-dir")
        .arg(&state)
        .args(port_args())
        .output()
        .unwrap();
    let stdout = success(&out);
    assert!(stdout.contains("joe@a.test / secret1"), "{stdout}");
    assert!(stdout.contains("joe@b.test / secret2"), "{stdout}");

    let config = state.join("ferrymail.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("\"a.test\"") && text.contains("\"b.test\""),
        "{text}"
    );
    let passwd = std::fs::read_to_string(state.join("passwd")).unwrap();
    assert!(
        passwd.contains("joe@a.test:{ARGON2ID}$argon2id$"),
        "{passwd}"
    );
    assert!(
        passwd.contains("joe@b.test:{ARGON2ID}$argon2id$"),
        "{passwd}"
    );
    assert!(!passwd.contains("secret"), "plaintext password written");
    assert!(state.join("spool/queue").is_dir());
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(state.join("tls/key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o077, 0, "private key readable by others");

    let check = config_check(&config, &[]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{stdout}");
    assert!(stdout.contains("configuration ok"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");

    // A second run keeps existing users and certificate (mail and logins survive restarts).
    let cert_before = std::fs::read(state.join("tls/cert.pem")).unwrap();
    let again = Command::new(MAILCTL)
        .args([
            "dev",
            "--prepare-only",
            "--domain",
            "a.test",
            "--user",
            "joe@a.test:other",
        ])
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(
        std::fs::read(state.join("tls/cert.pem")).unwrap(),
        cert_before
    );
    let passwd_after = std::fs::read_to_string(state.join("passwd")).unwrap();
    assert_eq!(passwd_after, passwd, "existing users must not be rewritten");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn config_check_reports_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    write(&cfg, "[smtpd]\nmax_recipients = 100\nmax_recipents = 5\n");
    let out = config_check(&cfg, &[]);
    assert_eq!(out.status.code(), Some(78));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bad.toml"), "{stdout}");
    assert!(stdout.contains("line 3"), "{stdout}");
    assert!(stdout.contains("max_recipents"), "{stdout}");

    write(&cfg, "[smtpd]\nmax_command_line = 80\n");
    let out = config_check(&cfg, &["--json"]);
    assert_eq!(out.status.code(), Some(78));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let errors = v["errors"].as_array().unwrap();
    assert!(errors
        .iter()
        .any(|e| e.as_str().unwrap().contains("smtpd.max_command_line")));

    let missing = Command::new(MAILCTL)
        .args(["-c", "/nonexistent/ferrymail.toml", "config", "check"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&missing.stdout).contains("/nonexistent/ferrymail.toml"));
}

#[test]
fn config_check_warns_about_bad_userdb_lines() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("dev");
    let out = Command::new(MAILCTL)
        .args(["dev", "--prepare-only"])
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success());
    let passwd = state.join("passwd");
    let mut text = std::fs::read_to_string(&passwd).unwrap();
    text.push_str("broken line without fields\n");
    write(&passwd, &text);
    let out = config_check(&state.join("ferrymail.toml"), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "a bad user line is a warning, not fatal: {stdout}"
    );
    assert!(stdout.contains("warning:"), "{stdout}");
    assert!(stdout.contains("passwd"), "{stdout}");
}

/// `mailctl dev` starts every daemon binary that exists, reports each one's state, and stops all
/// of them cleanly on Ctrl-C (SIGINT).
#[test]
fn dev_starts_and_stops_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(MAILCTL)
        .arg("dev")
        .arg("--state-dir")
        .arg(dir.path().join("dev"))
        .args(port_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut supervising = false;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                supervising |= line.contains("Press Ctrl-C");
                seen.push(line);
                if supervising {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let all = seen.join("\n");
    for daemon in [
        "mta-smtpd",
        "queue-runner",
        "local-delivery",
        "imapd",
        "pop3d",
        "managesieved",
    ] {
        assert!(
            seen.iter().any(|l| l.contains(daemon)),
            "{daemon} not reported:\n{all}"
        );
    }
    if supervising {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let stop_deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < stop_deadline,
                "mailctl dev did not stop:\n{all}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let rest: Vec<String> = rx.try_iter().collect();
        assert!(status.success(), "{all}\n{}", rest.join("\n"));
        assert!(
            !rest.iter().any(|l| l.contains("killed")),
            "{}",
            rest.join("\n")
        );
    } else {
        // Nothing could run: every daemon must have said why, and the exit must be a failure.
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(all.contains("not built"), "{all}");
    }
}

/// A daemon that exits at start is reported as failed, with its exit status and the log file
/// holding what it said; a missing binary is reported as not built.
#[test]
fn dev_reports_daemons_that_fail_to_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // pop3d is left out: not built.
    for (name, code) in [
        ("local-delivery", 69),
        ("queue-runner", 78),
        ("mta-smtpd", 1),
        ("imapd", 69),
    ] {
        let path = bin.join(name);
        write(
            &path,
            &format!("#!/bin/sh\necho \"{name}: cannot bind\" >&2\nexit {code}\n"),
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let state = dir.path().join("dev");
    let mut child = Command::new(MAILCTL)
        .arg("dev")
        .arg("--state-dir")
        .arg(&state)
        .arg("--bin-dir")
        .arg(&bin)
        .args(port_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "mailctl dev did not give up");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(!status.success(), "{out}");
    for (name, code) in [
        ("local-delivery", 69),
        ("queue-runner", 78),
        ("mta-smtpd", 1),
        ("imapd", 69),
    ] {
        let log = state.join("log").join(format!("{name}.log"));
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} not reported:\n{out}"));
        assert!(
            line.contains(&format!("failed to start: exit status: {code}")),
            "{line}"
        );
        assert!(line.contains(&log.display().to_string()), "{line}");
        let logged = std::fs::read_to_string(&log).unwrap();
        assert_eq!(logged, format!("{name}: cannot bind\n"));
    }
    assert!(out.contains("pop3d") && out.contains("not built"), "{out}");
    assert!(!out.contains("not implemented"), "{out}");
}
