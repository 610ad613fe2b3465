//! The real `sendmail` binary writes into maildrop/, and what it wrote is what queue-runner's
//! pickup accepts: envelope from flags and headers, headers completed, Bcc removed.

use std::process::{Command, Stdio};

use ferrymail_spool::PickupLimits;
use ferrymail_testkit::process::run_with_input;
use ferrymail_testkit::Suite;

const SENDMAIL: &str = env!("CARGO_BIN_EXE_sendmail");

/// An environment for the domain a.test; nothing started.
fn env() -> Suite {
    Suite::with(|o| o.domain = "a.test".into())
}

fn run(s: &Suite, args: &[&str], stdin: &[u8]) -> std::process::Output {
    run_with_input(
        Command::new(SENDMAIL)
            .arg("-C")
            .arg(&s.env.config_path)
            .args(args),
        stdin,
    )
}

/// What queue-runner's pickup makes of the maildrop: envelope and text of each message.
fn picked_up(s: &Suite) -> Vec<(ferrymail_spool::Envelope, String)> {
    for r in s.spool().pickup(&PickupLimits::default()) {
        r.unwrap();
    }
    s.queued()
        .into_iter()
        .map(|(e, bytes)| (e, String::from_utf8(bytes).unwrap()))
        .collect()
}

#[test]
fn dash_t_takes_recipients_from_headers_and_strips_bcc() {
    let s = env();
    let out = run(
        &s,
        &["-t", "-oi", "-f", "cron@a.test", "-F", "Cron Daemon"],
        b"To: joe@b.test\nBcc: secret@c.test\nSubject: nightly\n\nall good\n.\nstill body\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = picked_up(&s);
    assert_eq!(msgs.len(), 1);
    let (e, text) = &msgs[0];
    assert_eq!(e.sender.as_deref(), Some("cron@a.test"));
    let rcpts: Vec<&str> = e.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(rcpts, vec!["joe@b.test", "secret@c.test"]);
    assert!(matches!(e.source, ferrymail_spool::Source::Sendmail { .. }));
    assert!(
        text.contains("From: \"Cron Daemon\" <cron@a.test>\r\n"),
        "{text}"
    );
    assert!(text.contains("Message-ID: <"), "{text}");
    assert!(text.contains("Date: "), "{text}");
    assert!(
        !text.contains("secret@c.test"),
        "Bcc must be removed: {text}"
    );
    assert!(
        text.ends_with("\r\nall good\r\n.\r\nstill body\r\n"),
        "{text}"
    );
}

#[test]
fn bare_names_are_qualified_and_a_lone_dot_ends_input() {
    let s = env();
    let out = run(&s, &["root"], b"Subject: x\n\nfirst\n.\nnot sent\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = picked_up(&s);
    let (e, text) = &msgs[0];
    assert_eq!(e.recipients[0].address, "root@a.test");
    assert!(text.ends_with("\r\n\r\nfirst\r\n"), "{text}");
    assert!(e.sender.as_deref().is_some_and(|s| s.ends_with("@a.test")));
}

#[test]
fn bad_usage_exits_with_sysexits_codes() {
    let s = env();
    assert_eq!(
        run(&s, &[], b"x\n").status.code(),
        Some(64),
        "no recipients"
    );
    assert_eq!(run(&s, &["-Z"], b"").status.code(), Some(64));
    assert_eq!(run(&s, &["bad address@@x"], b"x\n").status.code(), Some(67));
    let out = Command::new(SENDMAIL)
        .args(["-C", "/nonexistent.toml", "x@y.test"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(picked_up(&s).is_empty(), "nothing may be queued on errors");
}

#[test]
fn smtp_on_stdin_queues_each_message() {
    let s = env();
    let out = run(
        &s,
        &["-bs"],
        b"EHLO local\r\nMAIL FROM:<u@a.test>\r\nRCPT TO:<joe@b.test>\r\nDATA\r\nSubject: s\r\n\r\n..dot\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<ann@b.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(stdout.matches("queued as").count(), 2, "{stdout}");
    assert!(stdout.ends_with("221 2.0.0 Bye\r\n"), "{stdout}");
    let msgs = picked_up(&s);
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().any(|(e, t)| e.sender.is_none() && t == "x\r\n"));
    assert!(msgs
        .iter()
        .any(|(e, t)| e.sender.as_deref() == Some("u@a.test") && t.ends_with("\r\n.dot\r\n")));
}

#[test]
fn newaliases_checks_the_aliases_file() {
    let s = env();
    let out = Command::new(SENDMAIL)
        .args(["-bi", "-C"])
        .arg(&s.env.config_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("aliases"), "{stdout}");
}
