//! A real ManageSieve client, sieve-connect (Debian package `sieve-connect`), against
//! managesieved: upload, activate, list, refuse to delete the active script, deactivate,
//! delete; and in between, a delivery through the real local-delivery (LMTP) shows the
//! uploaded script at work.

use std::path::Path;
use std::process::{Command, Output};

use ferrymail_testkit::{SmtpClient, Suite};

const USER: &str = "sue@example.test";
const PASS: &str = "sieve pass";

const SCRIPT: &str = "require [\"fileinto\"];\r\n\
                      if header :contains \"subject\" \"[filtered]\" {\r\n\
                      \x20   fileinto \"Filtered\";\r\n\
                      }\r\n";

/// Runs sieve-connect with `args`, the password on file descriptor 3.
fn run(bin: &Path, s: &Suite, dir: &Path, args: &[&str]) -> Output {
    let pw = dir.join("password");
    std::fs::write(&pw, PASS).expect("password file");
    let port = s.env.ports.managesieve.to_string();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("exec \"$0\" \"$@\" 3<\"$PWFILE\"")
        .arg(bin)
        .args(["--server", "127.0.0.1", "--port", &port, "--user", USER])
        .args(["--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN"])
        .args(args)
        .env("PWFILE", &pw);
    cmd.output().expect("sieve-connect runs")
}

fn ok(out: &Output, what: &str, s: &Suite) -> String {
    let text = ferrymail_testkit::process::all_output(out);
    assert!(
        out.status.success(),
        "sieve-connect {what} failed: {text}\n{}",
        s.log("managesieved")
    );
    text
}

fn deliver(s: &Suite, subject: &str) {
    let mut c = SmtpClient::connect_unix(&s.env.config.lmtp_socket());
    assert_eq!(c.reply().code, 220);
    let msg = format!("From: a@remote.test\r\nSubject: {subject}\r\n\r\nbody\r\n");
    let (_, dr) = c.lmtp_deliver("a@remote.test", &[USER], msg.as_bytes());
    assert_eq!(dr[0].code, 250, "{dr:?}");
}

fn messages(dir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .filter_map(|d| std::fs::read_dir(dir.join(d)).ok())
        .map(|rd| rd.count())
        .sum()
}

#[test]
fn sieve_connect_manages_the_script_that_local_delivery_runs() {
    let Some(bin) = ferrymail_testkit::process::find_tool("sieve-connect") else {
        ferrymail_testkit::skip::report(
            "sieve-connect is not installed (Debian package `sieve-connect`)",
        );
        return;
    };
    let mut s = Suite::new(&[(USER, PASS)]);
    s.edit_config(|c| c.delivery.sieve_script = ".dovecot.sieve".into());
    s.start("local-delivery");
    s.start("managesieved");
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("filter.sieve");
    std::fs::write(&local, SCRIPT).expect("script file");
    let local = local.to_str().expect("UTF-8 path");

    let up = ["--upload", "--localsieve", local, "--remotesieve", "filter"];
    ok(&run(&bin, &s, dir.path(), &up), "--upload", &s);
    let act = ["--activate", "--remotesieve", "filter"];
    ok(&run(&bin, &s, dir.path(), &act), "--activate", &s);
    let listed = ok(&run(&bin, &s, dir.path(), &["--list"]), "--list", &s);
    // sieve-connect prints the server's lines: `"filter" ACTIVE`.
    let line = listed
        .lines()
        .find(|l| l.contains("filter"))
        .unwrap_or_else(|| panic!("filter not listed: {listed}"));
    assert!(line.to_ascii_uppercase().contains("ACTIVE"), "{listed}");

    let maildir = s.maildir(USER);
    deliver(&s, "[filtered] news");
    deliver(&s, "hello");
    assert_eq!(messages(&maildir.join(".Filtered")), 1, "{}", s.logs());
    assert_eq!(messages(&maildir), 1, "{}", s.logs());

    let del = ["--delete", "--remotesieve", "filter"];
    let refused = run(&bin, &s, dir.path(), &del);
    let home = maildir.parent().expect("sieve home").to_owned();
    assert!(
        home.join("sieve/filter.sieve").exists(),
        "the active script was deleted"
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(said.contains("active"), "{said}");
    ok(
        &run(&bin, &s, dir.path(), &["--deactivate"]),
        "--deactivate",
        &s,
    );
    assert!(std::fs::symlink_metadata(home.join(".dovecot.sieve")).is_err());
    ok(&run(&bin, &s, dir.path(), &del), "--delete", &s);
    assert!(!home.join("sieve/filter.sieve").exists());
    let listed = ok(&run(&bin, &s, dir.path(), &["--list"]), "--list", &s);
    assert!(!listed.contains("filter"), "{listed}");
}
