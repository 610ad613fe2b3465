//! The real binary over its Unix socket: per-recipient replies, byte-exact Maildir delivery
//! read back by Dovecot and Python, aliases with `:include:` and remote targets, loops,
//! quotas and bad input.

mod common;

use common::*;
use ferrymail_testkit::process::python;
use ferrymail_users::{PasswdFile, Quota};

const MSG: &[u8] = b"From: Sender <s@remote.test>\r\nTo: alice@example.test\r\nSubject: hello\r\nMessage-ID: <1@remote.test>\r\n\r\nLine one\r\n.leading dot\r\nFrom the start\r\n\r\nend\r\n";

fn set_quota(env: &TestEnv, login: &str, q: Quota) {
    let mut pf = PasswdFile::load(&env.env.config.userdb.passwd_file).unwrap();
    pf.set_quota(login, q).unwrap();
    pf.save().unwrap();
}

#[test]
fn multi_recipient_mixed_results_and_byte_exact_maildir() {
    let mut t = TestEnv::new();
    set_quota(
        &t,
        "carol@example.test",
        Quota {
            storage_bytes: None,
            messages: Some(1),
        },
    );
    // carol's one allowed message is already there.
    ferrymail_maildir::Maildir::create(t.maildir("carol"))
        .unwrap()
        .deliver(&[b"Subject: old\r\n\r\nx\r\n"], Default::default())
        .unwrap();
    t.start();
    let mut c = t.connect();
    let (rr, dr) = c.lmtp_deliver(
        "s@remote.test",
        &[
            "alice@example.test",
            "nobody@example.test",
            "carol@example.test",
            "bob@example.test",
        ],
        MSG,
    );
    assert_eq!(rr[0].code, 250);
    assert_eq!(rr[1].code, 550, "{:?}", rr[1]);
    assert!(rr[1].message().starts_with("5.1.1"));
    assert_eq!(rr[2].code, 250);
    assert_eq!(rr[3].code, 250);
    // One reply per accepted recipient, in RCPT order: alice, carol (over quota), bob.
    assert_eq!(dr.len(), 3, "{dr:?}");
    assert_eq!(dr[0].code, 250, "{}", t.log());
    assert_eq!(dr[1].code, 452, "{dr:?}");
    assert!(dr[1].message().starts_with("4.2.2"));
    assert_eq!(dr[2].code, 250);
    assert_eq!(c.cmd("QUIT").code, 221);

    let got = maildir_messages(&t.maildir("alice"));
    assert_eq!(
        got,
        vec![with_trace("s@remote.test", "alice@example.test", MSG)]
    );
    let got = maildir_messages(&t.maildir("bob"));
    assert_eq!(
        got,
        vec![with_trace("s@remote.test", "bob@example.test", MSG)]
    );
    assert_eq!(maildir_messages(&t.maildir("carol")).len(), 1);

    // Python's mailbox module reads the same bytes.
    let py = python(
        "import mailbox,sys\nmd=mailbox.Maildir(sys.argv[1],create=False)\nfor k in md.keys(): sys.stdout.buffer.write(md.get_bytes(k))",
        &[t.maildir("alice").to_str().unwrap()],
    );
    assert_eq!(
        py.as_bytes(),
        with_trace("s@remote.test", "alice@example.test", MSG)
    );
    // And Dovecot.
    let out = doveadm(
        &t,
        &t.maildir("alice"),
        &["mailbox", "status", "messages", "INBOX"],
    );
    assert_eq!(out.trim(), "INBOX messages=1");
    let out = doveadm(
        &t,
        &t.maildir("alice"),
        &["fetch", "hdr.delivered-to hdr.subject", "all"],
    );
    assert!(
        out.contains("hdr.delivered-to: alice@example.test"),
        "{out}"
    );
    assert!(out.contains("hdr.subject: hello"), "{out}");
}

#[test]
fn python_lmtp_client_and_pipelining() {
    let mut t = TestEnv::new();
    t.start();
    let sock = t.env.config.lmtp_socket();
    let out = python(
        r#"import smtplib,sys
c=smtplib.LMTP(sys.argv[1])
code,msg=c.ehlo_or_helo_if_needed() or (0,b"")
print("pipelining", c.has_extn("pipelining"), c.has_extn("enhancedstatuscodes"), c.has_extn("8bitmime"))
refused=c.sendmail("py@remote.test",["alice@example.test"],b"Subject: from python\r\n\r\nhi\r\n")
print("refused", refused)
c.quit()"#,
        &[sock.to_str().unwrap()],
    );
    assert!(out.contains("pipelining True True True"), "{out}");
    assert!(out.contains("refused {}"), "{out}");
    let got = maildir_messages(&t.maildir("alice"));
    assert_eq!(
        got,
        vec![with_trace(
            "py@remote.test",
            "alice@example.test",
            b"Subject: from python\r\n\r\nhi\r\n"
        )]
    );

    // Everything pipelined in one write: the answers still come in order.
    let mut c = t.connect();
    c.send(b"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().code, 354);
    c.send(b"Subject: p\r\n\r\nx\r\n.\r\nNOOP\r\n");
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().code, 250);
    assert_eq!(maildir_messages(&t.maildir("bob")).len(), 1);
    let bob = &maildir_messages(&t.maildir("bob"))[0];
    assert!(bob.starts_with(b"Return-Path: <>\r\nDelivered-To: bob@example.test\r\n"));
}

#[test]
fn smuggled_terminator_does_not_end_data() {
    let mut t = TestEnv::new();
    t.start();
    let mut c = t.connect();
    c.cmd("LHLO x");
    c.cmd("MAIL FROM:<a@remote.test>");
    c.cmd("RCPT TO:<alice@example.test>");
    assert_eq!(c.cmd("DATA").code, 354);
    c.send(b"Subject: s\r\n\r\nbody\n.\nMAIL FROM:<evil@x>\r\n.\r\n");
    assert_eq!(c.reply().code, 250);
    let got = maildir_messages(&t.maildir("alice"));
    assert_eq!(got.len(), 1);
    assert!(got[0].ends_with(b"body\r\n.\r\nMAIL FROM:<evil@x>\r\n"));
}

#[test]
fn aliases_includes_and_remote_targets() {
    let mut t = TestEnv::new();
    let list = t.write("lists/team.txt", "bob@example.test\ncarol\n");
    t.set_aliases(&format!(
        "team: alice, :include:{}\next: friend@remote.test, other@far.test, alice\n",
        list.display()
    ));
    t.start();
    let mut c = t.connect();
    let (rr, dr) = c.lmtp_deliver("s@remote.test", &["team@example.test"], MSG);
    assert_eq!(rr[0].code, 250);
    assert_eq!(dr[0].code, 250, "{}", t.log());
    for u in ["alice", "bob", "carol"] {
        assert_eq!(
            maildir_messages(&t.maildir(u)),
            vec![with_trace("s@remote.test", "team@example.test", MSG)],
            "{u}"
        );
    }
    assert!(t.requeued().is_empty());

    let (_, dr) = c.lmtp_deliver("s@remote.test", &["ext@example.test"], MSG);
    assert_eq!(dr[0].code, 250, "{}", t.log());
    assert_eq!(maildir_messages(&t.maildir("alice")).len(), 2);
    let q = t.requeued();
    assert_eq!(q.len(), 1, "one relay copy for both remote targets");
    let (rcpts, sender, msg) = &q[0];
    assert_eq!(
        rcpts,
        &vec![
            "friend@remote.test".to_string(),
            "other@far.test".to_string()
        ]
    );
    assert_eq!(sender.as_deref(), Some("s@remote.test"));
    let mut want = b"Delivered-To: ext@example.test\r\n".to_vec();
    want.extend_from_slice(MSG);
    assert_eq!(msg, &want);
}

#[test]
fn loop_refusal_nul_headerless_and_quota_bounce() {
    let mut t = TestEnv::new();
    set_quota(
        &t,
        "carol@example.test",
        Quota {
            storage_bytes: Some(100),
            messages: None,
        },
    );
    t.env.config.delivery.quota_action = ferrymail_config::QuotaAction::Bounce;
    t.start();
    let mut c = t.connect();
    let looped = b"Delivered-To: Alice@example.test\r\nSubject: loop\r\n\r\nx\r\n";
    let (_, dr) = c.lmtp_deliver(
        "s@remote.test",
        &["alice@example.test", "bob@example.test"],
        looped,
    );
    assert_eq!(dr[0].code, 554);
    assert!(dr[0].message().starts_with("5.4.6"), "{:?}", dr[0]);
    assert_eq!(
        dr[1].code, 250,
        "a Delivered-To for someone else is no loop"
    );

    let (_, dr) = c.lmtp_deliver(
        "s@remote.test",
        &["bob@example.test"],
        b"Subject: n\r\n\r\na\0b\r\n",
    );
    assert_eq!(dr[0].code, 554);
    assert!(dr[0].message().starts_with("5.6.0"));

    let (_, dr) = c.lmtp_deliver(
        "s@remote.test",
        &["alice@example.test"],
        b"no headers here\r\n",
    );
    assert_eq!(dr[0].code, 250);
    let got = maildir_messages(&t.maildir("alice"));
    assert_eq!(
        got,
        vec![b"Return-Path: <s@remote.test>\r\nDelivered-To: alice@example.test\r\n\r\nno headers here\r\n".to_vec()]
    );

    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(200));
    let (_, dr) = c.lmtp_deliver("s@remote.test", &["carol@example.test"], big.as_bytes());
    assert_eq!(dr[0].code, 552);
    assert!(dr[0].message().starts_with("5.2.2"));
    let (_, dr) = c.lmtp_deliver(
        "s@remote.test",
        &["carol@example.test"],
        b"S: s\r\n\r\nx\r\n",
    );
    assert_eq!(dr[0].code, 250, "a small message still fits");
}

#[test]
fn missing_maildir_is_temporary_when_not_created() {
    let mut t = TestEnv::new();
    t.env.config.delivery.create_maildirs = false;
    t.start();
    let mut c = t.connect();
    let (_, dr) = c.lmtp_deliver("s@remote.test", &["alice@example.test"], MSG);
    assert_eq!(dr[0].code, 450, "{dr:?}");
    assert!(dr[0].message().starts_with("4.2.0"));
    ferrymail_maildir::Maildir::create(t.maildir("alice")).unwrap();
    let (_, dr) = c.lmtp_deliver("s@remote.test", &["alice@example.test"], MSG);
    assert_eq!(dr[0].code, 250);
    assert_eq!(maildir_messages(&t.maildir("alice")).len(), 1);
}

#[test]
fn unwritable_maildir_is_temporary() {
    if is_root() {
        // root ignores permission bits, so this case cannot be made to happen.
        ferrymail_testkit::skip!("root ignores permission bits; runs as a non-root user");
    }
    let mut t = TestEnv::new();
    t.start();
    let md = ferrymail_maildir::Maildir::create(t.maildir("alice")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        md.path().join("tmp"),
        std::fs::Permissions::from_mode(0o500),
    )
    .unwrap();
    let mut c = t.connect();
    let (_, dr) = c.lmtp_deliver("s@remote.test", &["alice@example.test"], MSG);
    assert_eq!(dr[0].code, 450, "{dr:?}");
}

/// queue-runner names the queue id; a re-sent delivery (queue-runner died before recording the
/// 250) is acknowledged without a second copy, even across a kill -9 of local-delivery.
#[test]
fn a_resent_queue_id_is_not_delivered_twice() {
    let mut t = TestEnv::new();
    t.start();
    let both = ["alice@example.test", "bob@example.test"];
    let mut c = t.connect();
    let (_, dr) = c.lmtp_deliver_with("s@remote.test", " XQUEUEID=0QUEUEID1", &both, MSG);
    assert!(dr.iter().all(|r| r.code == 250), "{dr:?}");
    drop(c);
    t.kill("local-delivery");
    t.start();
    let mut c = t.connect();
    let (_, dr) = c.lmtp_deliver_with(
        "s@remote.test",
        " XQUEUEID=0QUEUEID1",
        &[
            "alice@example.test",
            "carol@example.test",
            "bob@example.test",
        ],
        MSG,
    );
    assert_eq!(dr.len(), 3, "{dr:?}");
    assert!(dr.iter().all(|r| r.code == 250), "{dr:?}");
    assert!(dr[0].message().contains("already delivered"), "{dr:?}");
    assert!(!dr[1].message().contains("already delivered"), "{dr:?}");
    assert!(dr[2].message().contains("already delivered"), "{dr:?}");
    // Another queue id, and a transaction without one, are new deliveries.
    let (_, dr) = c.lmtp_deliver_with("s@remote.test", " XQUEUEID=0QUEUEID2", &both[..1], MSG);
    assert_eq!(dr[0].code, 250);
    let (_, dr) = c.lmtp_deliver("s@remote.test", &both[..1], MSG);
    assert_eq!(dr[0].code, 250);
    assert_eq!(maildir_messages(&t.maildir("alice")).len(), 3);
    assert_eq!(maildir_messages(&t.maildir("bob")).len(), 1);
    assert_eq!(maildir_messages(&t.maildir("carol")).len(), 1);
    assert!(
        t.log().contains("status=\"duplicate\"") || t.log().contains("status=duplicate"),
        "{}",
        t.log()
    );
}

#[test]
fn sigterm_exits_zero() {
    let mut t = TestEnv::new();
    t.start();
    let st = t.stop("local-delivery");
    assert!(st.success(), "{st:?}");
}

#[test]
fn recipient_that_vanished_before_data_is_refused_for_that_recipient_only() {
    let mut t = TestEnv::new();
    t.start();
    let mut c = t.connect();
    c.cmd("LHLO x");
    c.cmd("MAIL FROM:<s@remote.test>");
    assert_eq!(c.cmd("RCPT TO:<carol@example.test>").code, 250);
    assert_eq!(c.cmd("RCPT TO:<bob@example.test>").code, 250);
    let mut pf = PasswdFile::load(&t.env.config.userdb.passwd_file).unwrap();
    pf.remove("carol@example.test").unwrap();
    pf.save().unwrap();
    // The user database notices changed files at most once a second.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(c.cmd("DATA").code, 354);
    c.send(b"Subject: v\r\n\r\nx\r\n.\r\n");
    let carol = c.reply();
    let bob = c.reply();
    assert_eq!(carol.code, 550, "{carol:?}");
    assert!(carol.message().starts_with("5.1.1"));
    assert_eq!(bob.code, 250);
    assert!(maildir_messages(&t.maildir("carol")).is_empty());
}

#[test]
fn third_party_lmtp_clients_postfix_smtp_source_and_swaks() {
    let mut t = TestEnv::new();
    t.start();
    let sock = t.env.config.lmtp_socket();
    // Postfix's load generator speaking LMTP: 6 messages over 2 parallel sessions.
    let out = std::process::Command::new("smtp-source")
        .args(["-L", "-m", "6", "-s", "2", "-l", "2000"])
        .args(["-f", "src@remote.test", "-t", "alice@example.test"])
        .arg(format!("unix:{}", sock.display()))
        .output()
        .expect("smtp-source is needed for this test (Debian package postfix)");
    assert!(
        out.status.success(),
        "smtp-source: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = maildir_messages(&t.maildir("alice"));
    assert_eq!(got.len(), 6, "{}", t.log());
    assert!(got.iter().all(|m| m
        .starts_with(b"Return-Path: <src@remote.test>\r\nDelivered-To: alice@example.test\r\n")));

    // swaks, with two recipients of which one is unknown.
    let out = std::process::Command::new("swaks")
        .arg("--socket")
        .arg(&sock)
        .args(["--protocol", "LMTP", "--from", "sw@remote.test"])
        .args(["--to", "bob@example.test,nosuch@example.test"])
        .args(["--header", "Subject: from swaks", "--body", "swaks body"])
        .output()
        .expect("swaks is needed for this test (Debian package swaks)");
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(transcript.contains("<** 550 5.1.1"), "{transcript}");
    let bob = maildir_messages(&t.maildir("bob"));
    assert_eq!(bob.len(), 1, "{transcript}");
    let text = String::from_utf8_lossy(&bob[0]);
    assert!(text.starts_with("Return-Path: <sw@remote.test>\r\nDelivered-To: bob@example.test\r\n"));
    assert!(text.contains("Subject: from swaks") && text.contains("swaks body"));
}

#[test]
fn alias_file_and_pipe_targets_only_when_enabled() {
    for enabled in [false, true] {
        let mut t = TestEnv::new();
        let file = t.state().join("archive.mbox");
        let piped = t.state().join("piped.txt");
        t.set_aliases(&format!(
            "archive: {}\npiper: \"|cat > {}\"\n",
            file.display(),
            piped.display()
        ));
        t.env.config.delivery.allow_forward_commands = enabled;
        t.start();
        let mut c = t.connect();
        let (rr, dr) = c.lmtp_deliver(
            "s@remote.test",
            &["archive@example.test", "piper@example.test"],
            MSG,
        );
        assert!(rr.iter().all(|r| r.code == 250), "{rr:?}");
        if enabled {
            assert!(dr.iter().all(|r| r.code == 250), "{dr:?} {}", t.log());
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(text.starts_with("From s@remote.test "));
            assert!(text.contains("Delivered-To: archive@example.test\n"));
            assert_eq!(
                std::fs::read(&piped).unwrap(),
                with_trace("s@remote.test", "piper@example.test", MSG)
            );
        } else {
            for r in &dr {
                assert_eq!(r.code, 550, "{dr:?}");
                assert!(r.message().starts_with("5.7.1"));
            }
            assert!(!file.exists() && !piped.exists());
        }
    }
}
