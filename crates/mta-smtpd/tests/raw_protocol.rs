//! The real binary over raw TCP/TLS sockets: extensions, pipelining, BDAT, DSN, SMTPUTF8,
//! relay and recipient policy, smuggling and STARTTLS-injection attempts.

mod common;

use common::{data_files, tmp_files, without_received, PASS, USER};
use ferrymail_spool::{BodyType, Wake, WakeReceiver};

#[test]
fn ehlo_advertises_every_extension_and_auth_only_after_tls() {
    let s = common::start(|_| {});
    let mut c = s.smtp(s.env.ports.smtp);
    let ehlo = c.hello();
    let size = format!("SIZE {}", s.env.config.smtpd.max_message_size);
    for kw in [
        "PIPELINING",
        size.as_str(),
        "8BITMIME",
        "CHUNKING",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
        "DSN",
        "STARTTLS",
    ] {
        assert!(ehlo.lines().any(|l| &l[4..] == kw), "{kw} missing: {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert_eq!(c.auth_plain(USER, PASS).status(), "538 5.7.11");
    c.starttls();
    let ehlo = c.cmd("EHLO client.test");
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert_eq!(c.auth_plain(USER, PASS).status(), "235 2.7.0");
    assert_eq!(c.cmd("QUIT").status(), "221 2.0.0");
}

#[test]
fn helo_fallback_vrfy_expn_and_wake_up() {
    let s = common::start(|_| {});
    let wake = WakeReceiver::bind(s.env.config.wake_socket()).unwrap();
    let mut c = s.smtp(s.env.ports.smtp);
    c.reply();
    let r = c.cmd("HELO old.client.test");
    assert!(r.starts_with("250 ") && !r.contains("PIPELINING"), "{r}");
    assert_eq!(c.cmd("VRFY demo@example.test").status(), "252 2.5.2");
    assert_eq!(c.cmd("EXPN staff").status(), "502 5.5.1");
    // No ESMTP parameters after HELO.
    assert_eq!(
        c.cmd("MAIL FROM:<a@far.test> SIZE=10").status(),
        "555 5.5.4"
    );
    let r = c.send_message("a@far.test", &[USER], b"Subject: helo\r\n\r\nhi\r\n");
    assert_eq!(r.status(), "250 2.0.0");
    let q = s.queued();
    assert_eq!(q[0].0.client.protocol, "SMTP");
    assert_eq!(wake.recv().unwrap(), Wake::Queued(q[0].0.id));
}

#[test]
fn relay_denied_and_unknown_users_refused() {
    let s = common::start(|c| c.general.trusted_networks.clear());
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    assert_eq!(c.cmd("MAIL FROM:<spammer@far.test>").status(), "250 2.1.0");
    assert_eq!(c.cmd("RCPT TO:<victim@other.test>").status(), "554 5.7.1");
    assert_eq!(c.cmd("RCPT TO:<nobody@example.test>").status(), "550 5.1.1");
    assert_eq!(c.cmd("DATA").status(), "554 5.5.1");
    // Postmaster always works, with or without a domain.
    assert_eq!(c.cmd("RCPT TO:<Postmaster>").status(), "250 2.1.5");
    assert_eq!(
        c.cmd("RCPT TO:<postmaster@example.test>").status(),
        "250 2.1.5"
    );
    assert_eq!(c.cmd("RSET").status(), "250 2.0.0");
    // The same address relays once authenticated.
    c.starttls();
    c.cmd("EHLO client.test");
    assert_eq!(c.auth_plain(USER, PASS).status(), "235 2.7.0");
    // ...but only with its own sender address.
    assert_eq!(
        c.cmd("MAIL FROM:<other@example.test>").status(),
        "553 5.7.1"
    );
    let r = c.send_message(USER, &["victim@other.test"], b"hi\r\n");
    assert_eq!(r.status(), "250 2.0.0");
    let q = s.queued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0.recipients[0].address, "victim@other.test");
}

#[test]
fn pipelined_transactions_are_answered_in_order() {
    let s = common::start(|_| {});
    let mut c = s.smtp(s.env.ports.smtp);
    c.reply();
    c.send(
        b"EHLO client.test\r\n\
          MAIL FROM:<a@far.test>\r\n\
          RCPT TO:<demo@example.test>\r\n\
          RCPT TO:<nobody@example.test>\r\n\
          RCPT TO:<postmaster@example.test>\r\n\
          DATA\r\n\
          Subject: one\r\n\r\nfirst\r\n.\r\n\
          MAIL FROM:<b@far.test>\r\n\
          RCPT TO:<demo@example.test>\r\n\
          DATA\r\n\
          Subject: two\r\n\r\nsecond\r\n.\r\n\
          NOOP\r\n\
          QUIT\r\n",
    );
    let got: Vec<String> = (0..12).map(|_| c.reply().status()).collect();
    assert_eq!(
        got,
        [
            "250 PIPELINING", // last line of the EHLO reply
            "250 2.1.0",
            "250 2.1.5",
            "550 5.1.1",
            "250 2.1.5",
            "354 End",
            "250 2.0.0",
            "250 2.1.0",
            "250 2.1.5",
            "354 End",
            "250 2.0.0",
            "250 2.0.0",
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| if i == 0 {
            got[0].clone()
        } else {
            s.to_string()
        })
        .collect::<Vec<_>>()
    );
    assert_eq!(c.reply().status(), "221 2.0.0");
    let q = s.queued();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0].0.recipients.len(), 2);
    assert_eq!(without_received(&q[0].1), b"Subject: one\r\n\r\nfirst\r\n");
    assert_eq!(without_received(&q[1].1), b"Subject: two\r\n\r\nsecond\r\n");
}

#[test]
fn size_limit_enforced_at_mail_and_during_data() {
    let s = common::start(|c| c.smtpd.max_message_size = 10_000);
    let mut c = s.smtp(s.env.ports.smtp);
    let ehlo = c.hello();
    assert!(ehlo.contains("SIZE 10000"), "{ehlo}");
    assert_eq!(
        c.cmd("MAIL FROM:<a@far.test> SIZE=10001").status(),
        "552 5.3.4"
    );
    let mut big = Vec::new();
    for _ in 0..300 {
        big.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    let r = c.send_message("a@far.test", &[USER], &big);
    assert_eq!(r.status(), "552 5.3.4");
    // The session goes on, and nothing of the refused message stays behind.
    let r = c.send_message("a@far.test", &[USER], b"small\r\n");
    assert_eq!(r.status(), "250 2.0.0");
    assert_eq!(s.queued().len(), 1);
    assert!(tmp_files(&s).is_empty());
    assert_eq!(data_files(&s), 1);
}

#[test]
fn bdat_chunking_binarymime_dsn_and_smtputf8_reach_the_envelope() {
    let s = common::start(|_| {});
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    let mut pipelined =
        "MAIL FROM:<jörg@far.test> BODY=BINARYMIME SMTPUTF8 RET=HDRS ENVID=abc+2Bdef\r\n\
         RCPT TO:<demo@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;demo+40example.test\r\n\
         BDAT 10\r\nSubject: xBDAT 7 LAST\r\n"
            .as_bytes()
            .to_vec();
    // Binary content: NUL, a high byte and a bare CR are all fine in a BDAT chunk.
    pipelined.extend_from_slice(b"\r\n\0\xff\r\r\n");
    c.send(&pipelined);
    let got: Vec<String> = (0..4).map(|_| c.reply().status()).collect();
    assert_eq!(got, ["250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0"]);
    let q = s.queued();
    let (env, bytes) = &q[0];
    assert_eq!(without_received(bytes), b"Subject: x\r\n\0\xff\r\r\n");
    assert_eq!(env.sender.as_deref(), Some("jörg@far.test"));
    assert!(env.smtputf8);
    assert_eq!(env.body, BodyType::BinaryMime);
    assert_eq!(env.dsn.ret, Some(ferrymail_spool::Ret::Hdrs));
    assert_eq!(env.dsn.envid.as_deref(), Some("abc+def"));
    let r = &env.recipients[0];
    assert!(r.notify.success && r.notify.delay && !r.notify.failure);
    assert_eq!(r.orcpt.as_deref(), Some("rfc822;demo@example.test"));
    // 8BITMIME over DATA.
    let mail = c.cmd("MAIL FROM:<a@far.test> BODY=8BITMIME");
    assert_eq!(mail.status(), "250 2.1.0");
    c.cmd("RCPT TO:<demo@example.test>");
    c.cmd("DATA");
    c.send("Subject: ü\r\n\r\nÄÖÜ\r\n.\r\n".as_bytes());
    assert_eq!(c.reply().status(), "250 2.0.0");
    let q = s.queued();
    assert_eq!(q[1].0.body, BodyType::EightBitMime);
    assert_eq!(
        without_received(&q[1].1),
        "Subject: ü\r\n\r\nÄÖÜ\r\n".as_bytes()
    );
    // Non-ASCII without SMTPUTF8 is refused.
    assert_eq!(c.cmd("MAIL FROM:<jörg@far.test>").status(), "553 5.6.7");
}

/// SMTP smuggling (CVE-2023-51764/5/6): `<LF>.<LF>`, `<LF>.<CRLF>`, `<CR>.<CR>` must never
/// end the data, so the "second message" can never be queued.
#[test]
fn smuggling_attempts_are_rejected() {
    let s = common::start(|_| {});
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    for ending in [&b"\n.\n"[..], b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\r.\r\n"] {
        c.cmd("MAIL FROM:<a@far.test>");
        c.cmd("RCPT TO:<demo@example.test>");
        assert_eq!(c.cmd("DATA").status(), "354 End");
        let mut data = b"Subject: outer\r\n\r\nbody".to_vec();
        data.extend_from_slice(ending);
        data.extend_from_slice(
            b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n",
        );
        c.send(&data);
        // One reply for the whole thing: the inner commands were data.
        let r = c.reply();
        assert_eq!(r.status(), "554 5.6.11", "ending {ending:?}: {r}");
        assert_eq!(
            c.cmd("NOOP").status(),
            "250 2.0.0",
            "in step after {ending:?}"
        );
    }
    assert!(s.queued().is_empty());
    assert!(tmp_files(&s).is_empty());
}

#[test]
fn smuggling_with_normalize_policy_keeps_it_one_message() {
    let s = common::start(|c| c.smtpd.bare_lf = ferrymail_config::BareLinePolicy::Normalize);
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    let r = c.send_message(
        "a@far.test",
        &[USER],
        b"Subject: outer\r\n\r\nbody\n.\nMAIL FROM:<ceo@example.test>\r\n",
    );
    assert_eq!(r.status(), "250 2.0.0");
    assert_eq!(c.cmd("NOOP").status(), "250 2.0.0");
    let q = s.queued();
    assert_eq!(q.len(), 1);
    // The bare LFs became CRLF; the lone dot is message content (a relay dot-stuffs it).
    assert_eq!(
        without_received(&q[0].1),
        b"Subject: outer\r\n\r\nbody\r\n.\r\nMAIL FROM:<ceo@example.test>\r\n"
    );
}

/// CVE-2011-0411: commands pipelined after STARTTLS in plaintext must be thrown away.
#[test]
fn starttls_injection_is_discarded() {
    let s = common::start(|_| {});
    let mut c = s.smtp(s.env.ports.submission);
    c.hello();
    c.send(b"STARTTLS\r\nNOOP\r\nMAIL FROM:<evil@far.test>\r\n");
    assert_eq!(c.reply().status(), "220 2.0.0");
    c.handshake();
    // The first reply over TLS answers our EHLO, not the injected NOOP.
    let r = c.cmd("EHLO client.test");
    assert!(r.starts_with("250-"), "{r}");
    assert!(r.contains("AUTH PLAIN LOGIN"), "{r}");
    // And the session state was reset: no transaction from the injected MAIL.
    assert_eq!(c.auth_plain(USER, PASS).status(), "235 2.7.0");
    assert_eq!(c.cmd("RCPT TO:<demo@example.test>").status(), "503 5.5.1");
    assert!(s
        .log("mta-smtpd")
        .contains("discarding plaintext sent after STARTTLS"));
}

#[test]
fn starttls_resets_session_and_records_tls() {
    let s = common::start(|_| {});
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    c.starttls();
    // EHLO must be repeated after STARTTLS (RFC 3207 §4.2).
    assert_eq!(c.cmd("MAIL FROM:<a@far.test>").status(), "503 5.5.1");
    c.cmd("EHLO client.test");
    assert_eq!(c.cmd("STARTTLS").status(), "503 5.5.1");
    let r = c.send_message("a@far.test", &[USER], b"x\r\n");
    assert_eq!(r.status(), "250 2.0.0");
    let q = s.queued();
    assert_eq!(q[0].0.client.protocol, "ESMTPS");
    assert!(q[0].0.client.tls.as_deref().unwrap().starts_with("TLSv1."));
}

#[test]
fn submissions_requires_auth_and_answers_every_auth_error_alike() {
    let s = common::start(|c| c.general.trusted_networks.clear());
    let mut c = s.smtp_tls(s.env.ports.submissions);
    let ehlo = c.hello();
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert_eq!(c.cmd("MAIL FROM:<demo@example.test>").status(), "530 5.7.0");
    let wrong = c.auth_plain(USER, "nope");
    assert_eq!(wrong.status(), "535 5.7.8");
    let mut d = s.smtp_tls(s.env.ports.submissions);
    d.hello();
    let unknown = d.auth_plain("ghost@example.test", "nope");
    assert_eq!(
        wrong, unknown,
        "unknown user and wrong password look the same"
    );
}
