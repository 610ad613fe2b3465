//! Mail clients nobody here wrote, against the real pop3d: Python's poplib (STLS on 110 and
//! implicit TLS on 995) and fetchmail (download and delete, like a user's cron job would).
//! A missing tool fails the test with a message naming the Debian package.

mod common;

use std::process::Command;

use common::{deliver, start, store, PASS, USER};
use ferrymail_testkit::process::required_tool;

const POPLIB_SCRIPT: &str = r#"
import json, poplib, ssl, sys
host, port110, port995, user, pw, cafile = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
out = {}
# 110 + STLS
p = poplib.POP3(host, int(port110), timeout=30)
out["capa_before"] = sorted(p.capa().keys())
p.stls(context=ctx)
out["capa_after"] = sorted(p.capa().keys())
p.user(user)
p.pass_(pw)
out["stat"] = list(p.stat())
out["uidl"] = [x.decode() for x in p.uidl()[1]]
resp, lines, octets = p.retr(1)
out["retr1"] = [l.decode() for l in lines]
resp, lines, octets = p.top(2, 0)
out["top2"] = [l.decode() for l in lines]
p.dele(1)
out["quit"] = p.quit().decode()
# 995, implicit TLS
p = poplib.POP3_SSL(host, int(port995), context=ctx, timeout=30)
p.user(user)
p.pass_(pw)
out["stat_995"] = list(p.stat())
out["list_995"] = [x.decode() for x in p.list()[1]]
p.quit()
print(json.dumps(out))
"#;

#[test]
fn python_poplib_fetches_mail() {
    required_tool("python3", "python3");
    let s = start(false);
    let e1 = deliver(&s, USER, b"Subject: first\n\n.dotted line\nbody one\n");
    let e2 = deliver(&s, USER, b"Subject: second\nX-Test: yes\n\nbody two\n");
    let out = Command::new("python3")
        .arg("-c")
        .arg(POPLIB_SCRIPT)
        .arg(s.env.listen_addr.to_string())
        .arg(s.env.ports.pop3.to_string())
        .arg(s.env.ports.pop3s.to_string())
        .arg(USER)
        .arg(PASS)
        // The dev certificate also names the listen address, which poplib checks.
        .arg(&s.env.config.tls.cert)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "poplib failed:\n{stderr}\n{stdout}");
    let json = stdout.trim();
    let has = |needle: &str| json.contains(needle);
    assert!(
        has(
            r#""capa_before": ["AUTH-RESP-CODE", "IMPLEMENTATION", "PIPELINING", "RESP-CODES", "STLS", "TOP", "UIDL"]"#
        ),
        "{json}"
    );
    assert!(has(r#""SASL""#) && has(r#""USER""#), "{json}");
    assert!(
        has(&format!(
            r#""uidl": ["1 {}", "2 {}"]"#,
            e1.base(),
            e2.base()
        )),
        "{json}"
    );
    // poplib undoes dot-stuffing: the line arrives as the sender wrote it.
    assert!(
        has(r#""retr1": ["Subject: first", "", ".dotted line", "body one"]"#),
        "{json}"
    );
    assert!(
        has(r#""top2": ["Subject: second", "X-Test: yes", ""]"#),
        "{json}"
    );
    assert!(has("1 messages deleted"), "{json}");
    assert!(has(r#""stat_995": [1, "#), "{json}");
    let left = store(&s, USER).list().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].base(), e2.base());
}

#[test]
fn fetchmail_downloads_and_deletes() {
    required_tool("fetchmail", "fetchmail");
    let s = start(false);
    let bodies = ["first", ".starts with a dot", "third"];
    for b in bodies {
        deliver(
            &s,
            USER,
            format!("From: x@example.org\nSubject: {b}\n\n{b}\n").as_bytes(),
        );
    }
    let work = tempfile::tempdir().unwrap();
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let rc = work.path().join("fetchmailrc");
    // The MDA writes each message to its own file; %F would be the sender, so use mktemp.
    let mda = format!(
        "/bin/sh -c 'cat > $(mktemp {}/msg.XXXXXX)'",
        out_dir.display()
    );
    std::fs::write(
        &rc,
        format!(
            "set no syslog\n\
             poll 127.0.0.1 service {port} protocol pop3 uidl\n\
             \tuser \"{USER}\" there with password \"{PASS}\" is \"tester\" here\n\
             \tssl sslproto TLS1.2+ sslcertck sslcertfile \"{cert}\" sslcommonname localhost\n\
             \tmda \"{mda}\" nokeep fetchall\n",
            port = s.env.ports.pop3s,
            cert = s.env.config.tls.cert.display(),
            mda = mda.replace('"', "\\\""),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("fetchmail")
        .args(["--nodetach", "--silent", "-f"])
        .arg(&rc)
        .arg("--idfile")
        .arg(work.path().join("fetchids"))
        .arg("--pidfile")
        .arg(work.path().join("fetchmail.pid"))
        .env("FETCHMAILHOME", work.path())
        .env("HOME", work.path())
        .output()
        .expect("run fetchmail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 0 = mail retrieved.
    assert_eq!(out.status.code(), Some(0), "fetchmail failed:\n{stderr}");
    let mut got: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    got.sort();
    assert_eq!(got.len(), 3, "{got:?}\n{stderr}");
    for b in bodies {
        assert!(
            got.iter().any(
                |m| m.contains(&format!("Subject: {b}\n")) && m.contains(&format!("\n\n{b}\n"))
            ),
            "{b} missing in {got:?}"
        );
    }
    assert!(
        store(&s, USER).list().unwrap().is_empty(),
        "nokeep deletes on the server"
    );
}
