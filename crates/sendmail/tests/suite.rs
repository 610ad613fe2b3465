//! The whole local path: an unprivileged user runs `sendmail -t` (and Debian's `mail` from
//! mailutils, configured to use our sendmail); queue-runner picks the message up from maildrop
//! and local-delivery puts it into the recipient's Maildir.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrymail_dev::{prepare, target_bin, wait_for_unix, Daemon, DevEnv, DevOptions, Ports};

const SENDMAIL: &str = env!("CARGO_BIN_EXE_sendmail");

fn suite() -> (tempfile::TempDir, DevEnv, Vec<Daemon>) {
    let dir = tempfile::tempdir().unwrap();
    // Others must be able to reach the config, the maildrop and the wake-up socket.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut o = DevOptions::new(dir.path().join("s"));
    o.domain = "a.test".into();
    o.users = vec![("joe@a.test".into(), "pw".into())];
    o.ports = Ports::free();
    let env = prepare(&o).unwrap();
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for bin in ["local-delivery", "queue-runner"] {
        assert!(
            target_bin(bin).exists(),
            "{bin} is not built: run `cargo build --workspace` (the README's test command does)"
        );
    }
    let ld = Daemon::spawn(&target_bin("local-delivery"), &env).unwrap();
    assert!(
        wait_for_unix(&env.config.lmtp_socket(), Duration::from_secs(20)),
        "{}",
        ld.log(&env)
    );
    let qr = Daemon::spawn(&target_bin("queue-runner"), &env).unwrap();
    assert!(
        wait_for_unix(&env.config.control_socket(), Duration::from_secs(20)),
        "{}",
        qr.log(&env)
    );
    (dir, env, vec![ld, qr])
}

fn inbox_messages(env: &DevEnv) -> Vec<String> {
    let new = env.config.paths.mail_root.join("a.test/joe/Maildir/new");
    let cur = env.config.paths.mail_root.join("a.test/joe/Maildir/cur");
    let mut out = Vec::new();
    for d in [new, cur] {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

fn wait_for_mail(env: &DevEnv, marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(m) = inbox_messages(env).into_iter().find(|m| m.contains(marker)) {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("`{marker}` never arrived in joe's Maildir");
}

/// Runs `cmd` as `nobody` when we are root (CI), else as ourselves (already unprivileged).
fn as_unprivileged(program: &Path, args: &[&str]) -> Command {
    if nix::unistd::Uid::effective().is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(program)
            .args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

#[test]
fn unprivileged_sendmail_t_delivers_through_the_suite() {
    let (_d, env, _daemons) = suite();
    let config = env.config_path.to_str().unwrap().to_owned();
    let mut child = as_unprivileged(Path::new(SENDMAIL), &["-C", &config, "-t"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"To: joe@a.test\nSubject: cron output\n\nbody from an unprivileged user\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = wait_for_mail(&env, "body from an unprivileged user");
    assert!(m.contains("Subject: cron output"), "{m}");
    assert!(m.contains("Delivered-To: joe@a.test"), "{m}");
    if nix::unistd::Uid::effective().is_root() {
        assert!(
            m.contains("Return-Path: <nobody@"),
            "sender is the submitting user: {m}"
        );
    }
}

#[test]
fn debian_mail_command_sends_through_our_sendmail() {
    let mail = Path::new("/usr/bin/mail.mailutils");
    assert!(
        mail.exists(),
        "Debian's mailutils is not installed (apt-get install mailutils; .ci/packages lists it)"
    );
    let (_d, env, _daemons) = suite();
    // mailutils' `mail` runs the sendmail program named by its `sendmail` variable; a tiny
    // wrapper passes our config, as a packaged install's /usr/sbin/sendmail finds it itself.
    let wrapper = env.state_dir.join("sendmail-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {SENDMAIL} -C {} \"$@\"\n",
            env.config_path.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let set = format!("set sendmail=sendmail://{}", wrapper.display());
    let mut child = as_unprivileged(mail, &["-E", &set, "-s", "from mailutils", "joe@a.test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"written with mail(1)\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let m = wait_for_mail(&env, "written with mail(1)");
    assert!(m.contains("Subject: from mailutils"), "{m}");
}
