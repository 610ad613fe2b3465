//! REQUIRETLS (RFC 8689) on the receiving side: offered only under TLS, refused without it,
//! and carried into the spool envelope.

use super::*;

fn ehlo_offers_requiretls(s: &mut Session) -> bool {
    say(s, "EHLO client.test")
        .lines()
        .any(|l| l.get(4..) == Some("REQUIRETLS"))
}

#[test]
fn offered_only_after_starttls_and_recorded_in_the_envelope() {
    let mut s = mx();
    assert!(!ehlo_offers_requiretls(&mut s));
    assert_eq!(
        code(&mut s, "MAIL FROM:<x@b.test> REQUIRETLS"),
        "530 5.7.10"
    );
    let out = s.on_line(b"STARTTLS\r\n");
    assert!(matches!(out.last(), Some(Output::StartTls)));
    s.tls_started("TLSv1.3 with cipher X".into());
    assert!(ehlo_offers_requiretls(&mut s));
    assert_eq!(code(&mut s, "MAIL FROM:<x@b.test> REQUIRETLS"), "250 2.1.0");
    assert_eq!(code(&mut s, "RCPT TO:<joe@a.test>"), "250 2.1.5");
    assert!(deliver(&mut s).require_tls);
    s.committed(Ok(QueueId::generate()));
    // Without the parameter, even under TLS, the message does not require it.
    assert_eq!(code(&mut s, "MAIL FROM:<x@b.test>"), "250 2.1.0");
    assert_eq!(code(&mut s, "RCPT TO:<joe@a.test>"), "250 2.1.5");
    assert!(!deliver(&mut s).require_tls);
}

#[test]
fn every_role_offers_it_under_tls_only() {
    for role in [Role::Mx, Role::Submission, Role::Submissions] {
        let mut s = session_with(cfg(role), false, false);
        let implicit = role == Role::Submissions;
        assert_eq!(ehlo_offers_requiretls(&mut s), implicit, "{role:?}");
        if !implicit {
            s.on_line(b"STARTTLS\r\n");
            s.tls_started("TLSv1.3".into());
            assert!(ehlo_offers_requiretls(&mut s), "{role:?}");
        }
    }
}
