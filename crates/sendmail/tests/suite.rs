//! The whole local path: an unprivileged user runs `sendmail -t` (and Debian's `mail` from
//! mailutils, configured to use our sendmail); queue-runner picks the message up from maildrop
//! and local-delivery puts it into the recipient's Maildir.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ferrymail_testkit::process::run_with_input;
use ferrymail_testkit::{wait_until, Suite};

const SENDMAIL: &str = env!("CARGO_BIN_EXE_sendmail");

/// a.test with the user joe, local-delivery and queue-runner running.
fn suite() -> Suite {
    let mut s = Suite::with(|o| {
        o.domain = "a.test".into();
        o.users = vec![("joe@a.test".into(), "pw".into())];
    });
    // Others must be able to reach the config, the maildrop and the wake-up socket.
    for dir in [s.dir(), s.env.state_dir.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    s.start("local-delivery");
    s.start("queue-runner");
    s
}

fn inbox_messages(s: &Suite) -> Vec<String> {
    let mut out = Vec::new();
    for d in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(s.maildir("joe@a.test").join(d)) {
            for e in rd.flatten() {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

fn wait_for_mail(s: &Suite, marker: &str) -> String {
    let mut found = None;
    wait_until(Duration::from_secs(30), || {
        found = inbox_messages(s).into_iter().find(|m| m.contains(marker));
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("`{marker}` never arrived in joe's Maildir"))
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
    let s = suite();
    let config = s.env.config_path.to_str().unwrap().to_owned();
    let out = run_with_input(
        &mut as_unprivileged(Path::new(SENDMAIL), &["-C", &config, "-t"]),
        b"To: joe@a.test\nSubject: cron output\n\nbody from an unprivileged user\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = wait_for_mail(&s, "body from an unprivileged user");
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
    let s = suite();
    // mailutils' `mail` runs the sendmail program named by its `sendmail` variable; a tiny
    // wrapper passes our config, as a packaged install's /usr/sbin/sendmail finds it itself.
    let wrapper = s.env.state_dir.join("sendmail-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {SENDMAIL} -C {} \"$@\"\n",
            s.env.config_path.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let set = format!("set sendmail=sendmail://{}", wrapper.display());
    let out = run_with_input(
        &mut as_unprivileged(mail, &["-E", &set, "-s", "from mailutils", "joe@a.test"]),
        b"written with mail(1)\n",
    );
    assert!(
        out.status.success(),
        "{}",
        ferrymail_testkit::process::all_output(&out)
    );
    let m = wait_for_mail(&s, "written with mail(1)");
    assert!(m.contains("Subject: from mailutils"), "{m}");
}
