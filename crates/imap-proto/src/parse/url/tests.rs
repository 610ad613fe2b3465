use super::*;
use crate::types::SectionText;

fn url(mailbox: Option<&str>, uidvalidity: Option<u32>, uid: u32) -> MessageUrl {
    MessageUrl {
        user: None,
        mailbox: mailbox.map(str::to_owned),
        uidvalidity,
        uid,
        section: None,
        partial: None,
    }
}

#[test]
fn rfc4469_examples() {
    // RFC 4469 §5's URLs.
    assert_eq!(
        message_url("/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER"),
        Some(MessageUrl {
            section: Some(Section {
                parts: vec![],
                text: Some(SectionText::Header)
            }),
            ..url(Some("Drafts"), Some(385_759_045), 20)
        })
    );
    assert_eq!(
        message_url("/Drafts;UIDVALIDITY=385759045/;UID=30"),
        Some(url(Some("Drafts"), Some(385_759_045), 30))
    );
    assert_eq!(
        message_url("/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME"),
        Some(MessageUrl {
            section: Some(Section {
                parts: vec![1],
                text: Some(SectionText::Mime)
            }),
            ..url(Some("Drafts"), Some(385_759_045), 20)
        })
    );
}

#[test]
fn absolute_relative_and_partial() {
    assert_eq!(
        message_url("imap://fred%40example.com;AUTH=*@mail.example.com/My%20Box/;uid=7"),
        Some(MessageUrl {
            user: Some("fred@example.com".into()),
            ..url(Some("My Box"), None, 7)
        })
    );
    // Relative to the selected mailbox.
    assert_eq!(message_url(";UID=3"), Some(url(None, None, 3)));
    assert_eq!(
        message_url("/INBOX/;uid=2/;partial=100000.1"),
        Some(MessageUrl {
            partial: Some((100_000, 1)),
            ..url(Some("INBOX"), None, 2)
        })
    );
    assert_eq!(
        message_url("/INBOX/;UID=2/;SECTION=2.1/;PARTIAL=5").and_then(|u| u.section.zip(u.partial)),
        Some((
            Section {
                parts: vec![2, 1],
                text: None
            },
            (5, u32::MAX)
        ))
    );
}

#[test]
fn what_names_no_message() {
    for bad in [
        "",
        "/",
        "/INBOX",
        "/INBOX/",
        "/INBOX/;UID=0",
        "/INBOX/;UID=x",
        "/INBOX;UIDVALIDITY=/;UID=1",
        "/INBOX/;UID=1/;SECTION=BOGUS",
        "/INBOX/;UID=1/;PARTIAL=1.2/;SECTION=1",
        "/INBOX/;UID=1/;FOO=1",
        "/IN%ZZBOX/;UID=1",
        "imap://host",
        "INBOX/;UID=1",
    ] {
        assert_eq!(message_url(bad), None, "{bad}");
    }
}
