//! The real binary driven by a real SMTP client library (lettre, rustls with ring, trusting
//! only the environment's self-signed certificate): the three roles, AUTH, dot-stuffing.

mod common;

use common::{tmp_files, without_received, PASS, USER};
use ferrymail_testkit::Suite;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};

fn tls_params(s: &Suite) -> TlsParameters {
    let pem = std::fs::read(&s.env.config.tls.cert).unwrap();
    TlsParameters::builder("localhost".into())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(&pem).unwrap())
        .build_rustls()
        .unwrap()
}

fn transport(s: &Suite, port: u16, tls: Tls, creds: Option<(&str, &str)>) -> SmtpTransport {
    let mut b = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(port)
        .hello_name(ClientId::Domain("client.test".into()))
        .tls(tls)
        .timeout(Some(std::time::Duration::from_secs(20)));
    if let Some((u, p)) = creds {
        b = b
            .credentials(Credentials::new(u.into(), p.into()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    let _ = s;
    b.build()
}

fn message(from: &str, to: &str, body: &str) -> Message {
    Message::builder()
        .from(from.parse().unwrap())
        .to(to.parse().unwrap())
        .subject("lettre test")
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .unwrap()
}

#[test]
fn mx_plain_delivery_to_local_user_with_dot_stuffing_round_trip() {
    let s = common::start(|_| {});
    let t = transport(&s, s.env.ports.smtp, Tls::None, None);
    // Lines that start with dots must come out exactly as written.
    let body = ".leading dot\r\n..two dots\r\n.\r\nend\r\n";
    let msg = message("sender@far.test", USER, body);
    let formatted = msg.formatted();
    let resp = t.send(&msg).unwrap();
    let text = resp.message().collect::<Vec<_>>().join(" ");
    assert!(text.contains("queued as"), "{text}");

    let q = s.queued();
    assert_eq!(q.len(), 1, "{}", s.log("mta-smtpd"));
    let (env, bytes) = &q[0];
    assert!(
        text.contains(env.id.as_str()),
        "reply {text} names the queue id"
    );
    assert_eq!(env.sender.as_deref(), Some("sender@far.test"));
    assert_eq!(env.recipients.len(), 1);
    assert_eq!(env.recipients[0].address, USER);
    assert_eq!(env.client.protocol, "ESMTP");
    assert_eq!(env.client.helo.as_deref(), Some("client.test"));
    assert_eq!(env.client.auth_user, None);
    assert_eq!(
        env.source,
        ferrymail_spool::Source::Smtp { role: "mx".into() }
    );
    // lettre always ends the data with "\r\n.\r\n", even after a final CRLF of its own.
    let mut expected = formatted.clone();
    expected.extend_from_slice(b"\r\n");
    assert_eq!(without_received(bytes), &expected[..]);
    let header = String::from_utf8_lossy(&bytes[..bytes.len() - expected.len()]);
    assert!(
        header.contains("by mail.example.test (ferrymail) with ESMTP id"),
        "{header}"
    );
    assert!(header.contains(&format!("for <{USER}>")), "{header}");
    assert!(tmp_files(&s).is_empty());
}

#[test]
fn submission_starttls_auth_relays_and_records_the_login() {
    let s = common::start(|c| c.general.trusted_networks.clear());
    let t = transport(
        &s,
        s.env.ports.submission,
        Tls::Required(tls_params(&s)),
        Some(("other@example.test", "other-pass")),
    );
    t.send(&message(
        "other@example.test",
        "friend@elsewhere.test",
        "hello\r\n",
    ))
    .unwrap();
    let q = s.queued();
    assert_eq!(q.len(), 1, "{}", s.log("mta-smtpd"));
    let (env, bytes) = &q[0];
    assert_eq!(env.recipients[0].address, "friend@elsewhere.test");
    assert_eq!(env.client.auth_user.as_deref(), Some("other@example.test"));
    assert_eq!(env.client.protocol, "ESMTPSA");
    let tls = env.client.tls.as_deref().unwrap();
    assert!(tls.starts_with("TLSv1."), "{tls}");
    assert_eq!(
        env.source,
        ferrymail_spool::Source::Smtp {
            role: "submission".into()
        }
    );
    let text = String::from_utf8_lossy(bytes);
    assert!(
        text.contains("(authenticated sender: other@example.test)"),
        "{text}"
    );
    assert!(text.contains(&format!("(using {tls})")), "{text}");
    assert!(
        !text.contains("other-pass"),
        "the password must not reach the message"
    );
}

#[test]
fn submissions_implicit_tls_with_login_mechanism() {
    let s = common::start(|c| c.general.trusted_networks.clear());
    let t = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(s.env.ports.submissions)
        .tls(Tls::Wrapper(tls_params(&s)))
        .credentials(Credentials::new(USER.into(), PASS.into()))
        .authentication(vec![Mechanism::Login])
        .build();
    t.send(&message(USER, "friend@elsewhere.test", "via 465\r\n"))
        .unwrap();
    let q = s.queued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0.client.protocol, "ESMTPSA");
    assert_eq!(
        q[0].0.source,
        ferrymail_spool::Source::Smtp {
            role: "submissions".into()
        }
    );
}

#[test]
fn wrong_password_is_refused_and_nothing_is_queued() {
    let s = common::start(|c| c.general.trusted_networks.clear());
    for (user, pass) in [(USER, "wrong"), ("nobody@example.test", "x")] {
        let t = transport(
            &s,
            s.env.ports.submission,
            Tls::Required(tls_params(&s)),
            Some((user, pass)),
        );
        let err = t
            .send(&message(USER, "friend@elsewhere.test", "x\r\n"))
            .unwrap_err();
        assert!(err.is_permanent(), "{err}");
        assert_eq!(
            err.status().map(|c| c.to_string()),
            Some("535".into()),
            "{err}"
        );
    }
    assert!(s.queued().is_empty());
}

#[test]
fn submission_without_auth_is_refused() {
    let s = common::start(|_| {});
    let t = transport(
        &s,
        s.env.ports.submission,
        Tls::Required(tls_params(&s)),
        None,
    );
    let err = t.send(&message(USER, USER, "x\r\n")).unwrap_err();
    assert_eq!(
        err.status().map(|c| c.to_string()),
        Some("530".into()),
        "{err}"
    );
    assert!(s.queued().is_empty());
}
