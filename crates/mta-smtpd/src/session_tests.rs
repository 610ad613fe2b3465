use super::*;
use crate::policy::tests::policy;

#[path = "session_rate_tests.rs"]
mod rate;

#[path = "session_requiretls_tests.rs"]
mod requiretls;

fn cfg(role: Role) -> SessionConfig {
    SessionConfig {
        hostname: "mx.a.test".into(),
        role,
        max_message_size: 1000,
        max_recipients: 2,
        max_command_line: 512,
        max_text_line: 1000,
        max_errors: 10,
        max_auth_failures: 2,
        vrfy: false,
        tls_available: true,
        normalize_bare_line_endings: false,
    }
}

fn session_with(c: SessionConfig, trusted: bool, plaintext_auth_ok: bool) -> Session {
    let implicit = (c.role == Role::Submissions).then(|| "TLSv1.3".to_string());
    Session::new(
        Arc::new(c),
        Arc::new(policy(true)),
        ClientFacts {
            addr: "192.0.2.7".parse().unwrap(),
            trusted,
            plaintext_auth_ok,
        },
        implicit,
    )
}

fn mx() -> Session {
    session_with(cfg(Role::Mx), false, false)
}

/// The replies' wire text, joined.
fn replies(out: &[Output]) -> String {
    let mut v = Vec::new();
    for o in out {
        if let Output::Reply(r) = o {
            r.write_to(&mut v);
        }
    }
    String::from_utf8(v).unwrap()
}

fn say(s: &mut Session, line: &str) -> String {
    let out = s.on_line(format!("{line}\r\n").as_bytes());
    replies(&out)
}

fn code(s: &mut Session, line: &str) -> String {
    let r = say(s, line);
    let last = r.lines().last().unwrap_or_default();
    last.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

fn full_ok_outcome() -> DataOutcome {
    DataOutcome {
        size: 10,
        ..DataOutcome::default()
    }
}

/// Runs DATA up to the commit and returns the envelope.
fn deliver(s: &mut Session) -> Envelope {
    let out = s.on_line(b"DATA\r\n");
    assert!(replies(&out).starts_with("354 "));
    assert!(matches!(out.last(), Some(Output::ReceiveData)));
    let out = s.data_received(&full_ok_outcome(), true);
    let [Output::Commit(env)] = <[Output; 1]>::try_from(out).unwrap() else {
        panic!("expected commit")
    };
    *env
}

#[test]
fn mx_accepts_mail_for_local_user_and_queues_envelope() {
    let mut s = mx();
    let ehlo = say(&mut s, "EHLO client.test");
    for kw in [
        "PIPELINING",
        "SIZE 1000",
        "8BITMIME",
        "CHUNKING",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
        "DSN",
        "STARTTLS",
    ] {
        assert!(ehlo.contains(kw), "{kw} missing from {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "AUTH offered before TLS: {ehlo}");
    assert_eq!(
        code(
            &mut s,
            "MAIL FROM:<x@b.test> RET=HDRS ENVID=e1 BODY=8BITMIME"
        ),
        "250 2.1.0"
    );
    assert_eq!(
        code(
            &mut s,
            "RCPT TO:<joe@a.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;joe@a.test"
        ),
        "250 2.1.5"
    );
    let env = deliver(&mut s);
    assert_eq!(env.sender.as_deref(), Some("x@b.test"));
    assert_eq!(env.recipients.len(), 1);
    assert_eq!(env.recipients[0].address, "joe@a.test");
    assert!(env.recipients[0].notify.success && env.recipients[0].notify.failure);
    assert_eq!(
        env.recipients[0].orcpt.as_deref(),
        Some("rfc822;joe@a.test")
    );
    assert_eq!(env.dsn.ret, Some(ferrymail_spool::Ret::Hdrs));
    assert_eq!(env.dsn.envid.as_deref(), Some("e1"));
    assert_eq!(env.body, BodyType::EightBitMime);
    assert_eq!(env.client.protocol, "ESMTP");
    assert_eq!(env.client.helo.as_deref(), Some("client.test"));
    assert_eq!(env.source, Source::Smtp { role: "mx".into() });
    let id = QueueId::generate();
    let r = replies(&s.committed(Ok(id)));
    assert_eq!(r, format!("250 2.0.0 Ok: queued as {id}\r\n"));
    // The transaction is over: a new one can start.
    assert_eq!(code(&mut s, "MAIL FROM:<>"), "250 2.1.0");
}

#[test]
fn sequence_errors_have_enhanced_codes() {
    let mut c = cfg(Role::Mx);
    c.max_errors = 10;
    let mut s = session_with(c, false, false);
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), "503 5.5.1");
    assert_eq!(code(&mut s, "HELO c"), "250 mx.a.test");
    assert_eq!(code(&mut s, "RCPT TO:<joe@a.test>"), "503 5.5.1");
    assert_eq!(code(&mut s, "DATA"), "503 5.5.1");
    assert_eq!(code(&mut s, "FOO"), "500 5.5.1");
    // Extensions need EHLO.
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test> SIZE=10"), "555 5.5.4");
    // The LMTP-only queue id is never taken from an SMTP client.
    assert!(code(&mut s, "EHLO c").starts_with("250"));
    assert_eq!(
        code(&mut s, "MAIL FROM:<a@b.test> XQUEUEID=ABC"),
        "555 5.5.4"
    );
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), "250 2.1.0");
}

#[test]
fn too_many_errors_closes_with_421() {
    let mut s = mx();
    for _ in 0..9 {
        assert!(say(&mut s, "BOGUS").starts_with("500 "));
    }
    let out = s.on_line(b"BOGUS\r\n");
    assert!(replies(&out).contains("421 4.7.0"));
    assert!(matches!(out.last(), Some(Output::Close)));
    assert!(s.is_closed());
}

#[test]
fn relay_denied_for_anonymous_allowed_for_trusted() {
    let mut s = mx();
    say(&mut s, "EHLO c");
    say(&mut s, "MAIL FROM:<a@b.test>");
    assert_eq!(code(&mut s, "RCPT TO:<x@elsewhere.test>"), "554 5.7.1");
    assert_eq!(code(&mut s, "RCPT TO:<nobody@a.test>"), "550 5.1.1");
    assert_eq!(code(&mut s, "DATA"), "554 5.5.1");

    let mut t = session_with(cfg(Role::Mx), true, false);
    say(&mut t, "EHLO c");
    say(&mut t, "MAIL FROM:<a@b.test>");
    assert_eq!(code(&mut t, "RCPT TO:<x@elsewhere.test>"), "250 2.1.5");
}

#[test]
fn recipient_limit_and_duplicates() {
    let mut s = session_with(cfg(Role::Mx), true, false);
    say(&mut s, "EHLO c");
    say(&mut s, "MAIL FROM:<a@b.test>");
    assert_eq!(code(&mut s, "RCPT TO:<joe@a.test>"), "250 2.1.5");
    assert_eq!(code(&mut s, "RCPT TO:<JOE@a.test>"), "250 2.1.5");
    assert_eq!(code(&mut s, "RCPT TO:<x@c.test>"), "250 2.1.5");
    assert_eq!(code(&mut s, "RCPT TO:<y@c.test>"), "452 4.5.3");
    let env = deliver(&mut s);
    assert_eq!(env.recipients.len(), 2);
}

#[test]
fn size_limits_at_mail_and_in_data() {
    let mut s = mx();
    say(&mut s, "EHLO c");
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test> SIZE=1001"), "552 5.3.4");
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test> SIZE=1000"), "250 2.1.0");
    say(&mut s, "RCPT TO:<joe@a.test>");
    s.on_line(b"DATA\r\n");
    let out = s.data_received(
        &DataOutcome {
            size: 5000,
            too_big: true,
            ..DataOutcome::default()
        },
        true,
    );
    assert!(matches!(out.first(), Some(Output::AbortMessage)));
    assert!(replies(&out).starts_with("552 5.3.4"));
}

#[test]
fn bare_line_endings_rejected_or_normalized() {
    let bare = DataOutcome {
        bare_line_ending: true,
        ..DataOutcome::default()
    };
    let mut s = mx();
    say(&mut s, "EHLO c");
    say(&mut s, "MAIL FROM:<a@b.test>");
    say(&mut s, "RCPT TO:<joe@a.test>");
    s.on_line(b"DATA\r\n");
    assert!(replies(&s.data_received(&bare, true)).starts_with("554 5.6.11"));

    let mut c = cfg(Role::Mx);
    c.normalize_bare_line_endings = true;
    let mut n = session_with(c, false, false);
    assert_eq!(
        n.line_ending_policy(),
        ferrymail_smtp::LineEndingPolicy::Normalize
    );
    say(&mut n, "EHLO c");
    say(&mut n, "MAIL FROM:<a@b.test>");
    say(&mut n, "RCPT TO:<joe@a.test>");
    n.on_line(b"DATA\r\n");
    assert!(matches!(
        n.data_received(&bare, true).as_slice(),
        [Output::Commit(_)]
    ));
}

#[test]
fn spool_failure_is_452_4_3_1() {
    let mut s = mx();
    say(&mut s, "EHLO c");
    say(&mut s, "MAIL FROM:<a@b.test>");
    say(&mut s, "RCPT TO:<joe@a.test>");
    s.on_line(b"DATA\r\n");
    let out = s.data_received(&full_ok_outcome(), false);
    assert!(matches!(out.first(), Some(Output::AbortMessage)));
    assert_eq!(
        replies(&out),
        "452 4.3.1 Error: insufficient system storage\r\n"
    );
    // Commit failure is the same answer.
    say(&mut s, "MAIL FROM:<a@b.test>");
    say(&mut s, "RCPT TO:<joe@a.test>");
    deliver(&mut s);
    assert!(replies(&s.committed(Err(()))).starts_with("452 4.3.1"));
}

#[test]
fn submission_requires_starttls_then_auth() {
    let mut s = session_with(cfg(Role::Submission), false, false);
    let ehlo = say(&mut s, "EHLO c");
    assert!(ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"));
    assert_eq!(code(&mut s, "MAIL FROM:<joe@a.test>"), "530 5.7.0");
    assert_eq!(
        code(&mut s, "AUTH PLAIN AGpvZUBhLnRlc3QAc2VjcmV0"),
        "538 5.7.11"
    );
    let out = s.on_line(b"STARTTLS\r\n");
    assert!(replies(&out).starts_with("220 2.0.0"));
    assert!(matches!(out.last(), Some(Output::StartTls)));
    s.tls_started("TLSv1.3 with cipher X".into());
    // RFC 3207: the earlier EHLO is forgotten.
    assert_eq!(code(&mut s, "MAIL FROM:<joe@a.test>"), "503 5.5.1");
    let ehlo = say(&mut s, "EHLO c");
    assert!(ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"));
    assert_eq!(code(&mut s, "MAIL FROM:<joe@a.test>"), "530 5.7.0");
    let out = s.on_line(b"AUTH PLAIN AGpvZUBhLnRlc3QAc2VjcmV0\r\n");
    let [Output::Authenticate(c)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(c.authcid, "joe@a.test");
    assert_eq!(c.password, b"secret");
    assert_eq!(
        replies(&s.auth_result(Ok("joe@a.test".into()))),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(
        code(&mut s, "AUTH PLAIN AGpvZUBhLnRlc3QAc2VjcmV0"),
        "503 5.5.1"
    );
    // Sender must be owned by the login.
    assert_eq!(code(&mut s, "MAIL FROM:<boss@a.test>"), "553 5.7.1");
    assert_eq!(code(&mut s, "MAIL FROM:<sales@a.test>"), "250 2.1.0");
    assert_eq!(code(&mut s, "RCPT TO:<x@elsewhere.test>"), "250 2.1.5");
    let env = deliver(&mut s);
    assert_eq!(env.client.protocol, "ESMTPSA");
    assert_eq!(env.client.auth_user.as_deref(), Some("joe@a.test"));
    assert_eq!(env.client.tls.as_deref(), Some("TLSv1.3 with cipher X"));
    assert_eq!(
        env.source,
        Source::Smtp {
            role: "submission".into()
        }
    );
}

#[test]
fn auth_login_and_failures() {
    let mut s = session_with(cfg(Role::Submissions), false, false);
    say(&mut s, "EHLO c");
    assert_eq!(say(&mut s, "AUTH LOGIN"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(s.line_limit(), 12_288);
    assert_eq!(say(&mut s, "am9lQGEudGVzdA=="), "334 UGFzc3dvcmQ6\r\n");
    let out = s.on_line(b"d3Jvbmc=\r\n");
    let [Output::Authenticate(c)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(c.password, b"wrong");
    assert_eq!(
        replies(&s.auth_result(Err(()))),
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    // Cancel and garbage.
    assert_eq!(say(&mut s, "AUTH PLAIN"), "334 \r\n");
    assert_eq!(code(&mut s, "*"), "501 5.0.0");
    assert_eq!(say(&mut s, "AUTH PLAIN"), "334 \r\n");
    assert!(replies(&s.on_line_too_long()).starts_with("500 5.5.6"));
    assert_eq!(code(&mut s, "AUTH PLAIN !!!"), "501 5.5.2");
    assert_eq!(code(&mut s, "AUTH CRAM-MD5"), "504 5.5.4");
    // A different authzid is refused before any password check and counts as a failure:
    // the second failure closes.
    let out = s.on_line(b"AUTH PLAIN Ym9zc0BhLnRlc3QAam9lQGEudGVzdABzZWNyZXQ=\r\n");
    let r = replies(&out);
    assert!(
        r.starts_with("535 5.7.8 Not authorized to act as another user") && r.contains("421 4.7.0"),
        "{r}"
    );
    assert!(matches!(out.last(), Some(Output::Close)));
}

#[test]
fn plaintext_auth_only_when_allowed_on_loopback() {
    let mut s = session_with(cfg(Role::Mx), false, true);
    assert!(say(&mut s, "EHLO c").contains("AUTH PLAIN LOGIN"));
    assert!(matches!(
        s.on_line(b"AUTH PLAIN AGpvZUBhLnRlc3QAc2VjcmV0\r\n")
            .as_slice(),
        [Output::Authenticate(_)]
    ));
}

#[test]
fn smtputf8_addresses_need_the_parameter() {
    let mut s = mx();
    say(&mut s, "EHLO c");
    assert_eq!(code(&mut s, "MAIL FROM:<jörg@b.test>"), "553 5.6.7");
    assert_eq!(
        code(&mut s, "MAIL FROM:<jörg@b.test> SMTPUTF8"),
        "250 2.1.0"
    );
    say(&mut s, "RCPT TO:<joe@a.test>");
    assert!(deliver(&mut s).smtputf8);
}

#[test]
fn bdat_chunks_and_limits() {
    let mut s = mx();
    say(&mut s, "EHLO c");
    // BDAT without a transaction: the chunk is read and thrown away.
    let out = s.on_line(b"BDAT 5\r\n");
    assert!(matches!(
        out.as_slice(),
        [Output::ReceiveChunk {
            size: 5,
            keep: false
        }]
    ));
    assert!(replies(&s.chunk_received(true)).starts_with("503 5.5.1"));

    say(&mut s, "MAIL FROM:<a@b.test> BODY=BINARYMIME");
    say(&mut s, "RCPT TO:<joe@a.test>");
    assert_eq!(code(&mut s, "DATA"), "503 5.5.1");
    let out = s.on_line(b"BDAT 600\r\n");
    assert!(matches!(
        out.as_slice(),
        [Output::ReceiveChunk {
            size: 600,
            keep: true
        }]
    ));
    assert_eq!(
        replies(&s.chunk_received(true)),
        "250 2.0.0 Ok: 600 octets received\r\n"
    );
    let out = s.on_line(b"BDAT 100 LAST\r\n");
    assert!(matches!(
        out.as_slice(),
        [Output::ReceiveChunk { keep: true, .. }]
    ));
    let [Output::Commit(env)] = <[Output; 1]>::try_from(s.chunk_received(true)).unwrap() else {
        panic!()
    };
    assert_eq!(env.body, BodyType::BinaryMime);
    s.committed(Ok(QueueId::generate()));

    // Over the size limit: refused, and the rest of the transaction too.
    say(&mut s, "MAIL FROM:<a@b.test>");
    say(&mut s, "RCPT TO:<joe@a.test>");
    s.on_line(b"BDAT 900\r\n");
    s.chunk_received(true);
    let out = s.on_line(b"BDAT 200\r\n");
    assert!(matches!(
        out.as_slice(),
        [Output::ReceiveChunk { keep: false, .. }]
    ));
    assert!(replies(&s.chunk_received(true)).starts_with("552 5.3.4"));
    s.on_line(b"BDAT 0 LAST\r\n");
    let out = s.chunk_received(true);
    assert!(matches!(out.first(), Some(Output::AbortMessage)));
    assert!(replies(&out).starts_with("552 5.3.4"));
    // Next transaction is clean.
    assert_eq!(code(&mut s, "MAIL FROM:<a@b.test>"), "250 2.1.0");
}

#[test]
fn vrfy_expn_help_noop_rset_quit() {
    let mut s = mx();
    assert_eq!(code(&mut s, "VRFY joe@a.test"), "252 2.5.2");
    assert_eq!(code(&mut s, "EXPN staff"), "502 5.5.1");
    assert_eq!(code(&mut s, "HELP"), "214 2.0.0");
    assert_eq!(code(&mut s, "NOOP"), "250 2.0.0");
    assert_eq!(code(&mut s, "RSET"), "250 2.0.0");
    let mut c = cfg(Role::Mx);
    c.vrfy = true;
    let mut v = session_with(c, false, false);
    assert_eq!(code(&mut v, "VRFY joe@a.test"), "250 2.1.5");
    assert_eq!(code(&mut v, "VRFY nobody@a.test"), "550 5.1.1");
    let out = s.on_line(b"QUIT\r\n");
    assert_eq!(replies(&out), "221 2.0.0 Bye\r\n");
    assert!(matches!(out.last(), Some(Output::Close)));
}

#[test]
fn long_lines_and_garbage() {
    let mut s = mx();
    assert!(replies(&s.on_line_too_long()).starts_with("500 5.5.2"));
    assert!(say(&mut s, "HELO a\0b").starts_with("501 5.5.4"));
    assert!(replies(&s.on_line(b"\xff\xfe\r\n")).starts_with("500 5.5.2"));
}

#[test]
fn received_header_names_single_recipient_only() {
    let mut s = session_with(cfg(Role::Mx), true, false);
    say(&mut s, "EHLO client.test");
    say(&mut s, "MAIL FROM:<a@b.test>");
    say(&mut s, "RCPT TO:<joe@a.test>");
    let h = s.received_header("ID1", 0);
    assert!(h.contains("for <joe@a.test>"), "{h}");
    assert!(h.contains("with ESMTP id ID1"), "{h}");
    say(&mut s, "RCPT TO:<x@c.test>");
    assert!(!s.received_header("ID1", 0).contains("for <"));
}

#[test]
fn fuzz_corpus_replays_without_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/session");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        crate::fuzzing::run(&data);
        n += 1;
    }
    assert!(n >= 5, "corpus at {} has only {n} inputs", dir.display());
}

#[test]
fn fuzz_harness_queues_a_full_session() {
    // flags 0 = mx role: a complete transaction with a dot-stuffed body.
    let mut input = vec![0u8];
    input.extend_from_slice(
        b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<joe@a.test>\r\nDATA\r\nHi\r\n..dot\r\n.\r\nQUIT\r\n",
    );
    let t = crate::fuzzing::run(&input);
    assert_eq!(t.queued.len(), 1);
    let body = String::from_utf8_lossy(&t.queued[0].1).into_owned();
    assert!(body.starts_with("Received: from c ([192.0.2.1])"), "{body}");
    assert!(body.ends_with("\r\nHi\r\n.dot\r\n"), "{body}");
    assert!(String::from_utf8_lossy(&t.replies).ends_with("221 2.0.0 Bye\r\n"));
}

/// The milter check an accepted command asks for.
fn milter_check(out: &[Output]) -> (MilterStage, u16) {
    match out.first() {
        Some(Output::Milter { stage, accepted }) => (*stage, accepted.code),
        other => panic!("expected a milter check, got {other:?}"),
    }
}

#[test]
fn milter_refusals_undo_the_command_they_refused() {
    let mut s = mx();
    s.enable_milter_checks();
    assert_eq!(
        milter_check(&s.on_line(b"EHLO c.test\r\n")),
        (MilterStage::Helo, 250)
    );
    // A refused HELO leaves the name, as Postfix does.
    s.milter_refused(MilterStage::Helo);
    assert_eq!(
        milter_check(&s.on_line(b"MAIL FROM:<a@far.test>\r\n")),
        (MilterStage::Mail, 250)
    );
    s.milter_refused(MilterStage::Mail);
    assert!(!s.in_transaction());
    s.on_line(b"MAIL FROM:<a@far.test>\r\n");
    let out = s.on_line(b"RCPT TO:<joe@a.test>\r\n");
    assert_eq!(milter_check(&out), (MilterStage::Rcpt { added: true }, 250));
    s.milter_refused(MilterStage::Rcpt { added: true });
    assert_eq!(code(&mut s, "DATA"), "554 5.5.1");
    // Taken back out, the recipient is new again; refusing a repetition keeps the first.
    let out = s.on_line(b"RCPT TO:<joe@a.test>\r\n");
    assert_eq!(milter_check(&out), (MilterStage::Rcpt { added: true }, 250));
    let out = s.on_line(b"RCPT TO:<JOE@a.test>\r\n");
    assert_eq!(
        milter_check(&out),
        (MilterStage::Rcpt { added: false }, 250)
    );
    s.milter_refused(MilterStage::Rcpt { added: false });
    let out = s.on_line(b"DATA\r\n");
    assert_eq!(milter_check(&out), (MilterStage::Data, 354));
    assert!(matches!(out.last(), Some(Output::ReceiveData)));
    // A refused DATA leaves the transaction and takes commands again.
    s.milter_refused(MilterStage::Data);
    assert!(s.in_transaction());
    assert_eq!(code(&mut s, "RSET"), "250 2.0.0");
}

#[test]
fn a_cluster_peer_relays_as_a_trusted_client_not_as_a_user() {
    let mut s = mx();
    let out = s.on_line(b"STARTTLS\r\n");
    assert!(
        replies(&out).starts_with("220 "),
        "no STARTTLS before EHLO?"
    );
    s.tls_started("TLSv1.3".into());
    say(&mut s, "EHLO mx2.cluster.test");
    // Relaying is refused until the peer proves itself.
    assert_eq!(code(&mut s, "MAIL FROM:<boss@a.test>"), "250 2.1.0");
    assert_eq!(code(&mut s, "RCPT TO:<x@elsewhere.test>"), "554 5.7.1");
    assert_eq!(code(&mut s, "RSET"), "250 2.0.0");
    let out = s.on_line(b"AUTH PLAIN AGZlcnJ5bWFpbC1jbHVzdGVyAHNlY3JldA==\r\n");
    assert!(
        matches!(out.as_slice(), [Output::Authenticate(_)]),
        "{out:?}"
    );
    assert!(replies(&s.cluster_peer_result(true)).starts_with("235 2.7.0"));
    let ehlo = say(&mut s, "EHLO mx2.cluster.test");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    // Any sender (it relays others' mail), any recipient, and no user is recorded.
    assert_eq!(code(&mut s, "MAIL FROM:<boss@a.test>"), "250 2.1.0");
    assert_eq!(code(&mut s, "RCPT TO:<x@elsewhere.test>"), "250 2.1.5");
    let env = deliver(&mut s);
    assert_eq!(env.client.auth_user, None);
}
