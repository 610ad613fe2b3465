//! ENVELOPE and BODY/BODYSTRUCTURE: RFC 3501's examples, address groups, and every body
//! kind with and without extension data.

use super::*;

fn terry() -> Address {
    Address {
        name: b("Terry Gray"),
        adl: None,
        mailbox: b("gray"),
        host: b("cac.washington.edu"),
    }
}

fn addr(mailbox: Option<&str>, host: Option<&str>) -> Address {
    Address {
        name: None,
        adl: None,
        mailbox: mailbox.and_then(b),
        host: host.and_then(b),
    }
}

/// RFC 3501 §8's example message.
fn rfc_envelope() -> Envelope {
    Envelope {
        date: b("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"),
        subject: b("IMAP4rev1 WG mtg summary and minutes"),
        from: vec![terry()],
        sender: vec![terry()],
        reply_to: vec![terry()],
        to: vec![addr(Some("imap"), Some("cac.washington.edu"))],
        cc: vec![
            addr(Some("minutes"), Some("CNRI.Reston.VA.US")),
            Address {
                name: b("John Klensin"),
                adl: None,
                mailbox: b("KLENSIN"),
                host: b("MIT.EDU"),
            },
        ],
        bcc: vec![],
        in_reply_to: None,
        message_id: b("<B27397-0100000@cac.washington.edu>"),
    }
}

const RFC_ENVELOPE: &str = "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\")";

#[test]
fn envelopes() {
    let e = rfc_envelope().encode();
    assert_eq!(String::from_utf8_lossy(e.as_bytes()), RFC_ENVELOPE);
    fetch(FetchItem::Envelope(e), &format!("ENVELOPE {RFC_ENVELOPE}"));
    // Groups (RFC 3501 §7.4.2): a start with the group name and no host, an end of NILs.
    let groups = Envelope {
        to: vec![addr(Some("undisclosed-recipients"), None), addr(None, None)],
        cc: vec![
            addr(Some("team"), None),
            addr(Some("a"), Some("example.test")),
            addr(None, None),
        ],
        subject: b("line\r\nbreak"),
        ..Envelope::default()
    };
    let wire = "(NIL {11}\r\nline\r\nbreak NIL NIL NIL ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"example.test\")(NIL NIL NIL NIL)) NIL NIL NIL)";
    let e = groups.encode();
    assert_eq!(String::from_utf8_lossy(e.as_bytes()), wire);
    fetch(FetchItem::Envelope(e), &format!("ENVELOPE {wire}"));
}

fn text_part(params: &[(&str, &str)], size: u64, lines: u64) -> BodyStructure {
    BodyStructure::Single {
        media_type: "TEXT".into(),
        subtype: "PLAIN".into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        id: None,
        description: None,
        encoding: "7BIT".into(),
        size,
        kind: SingleKind::Text { lines },
        ext: None,
    }
}

#[test]
fn body_structures() {
    // RFC 3501 §7.4.2's examples.
    let text = text_part(&[("CHARSET", "US-ASCII")], 3028, 92);
    let wire = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92)";
    assert_eq!(String::from_utf8_lossy(text.encode().as_bytes()), wire);
    fetch(FetchItem::Body(text.encode()), &format!("BODY {wire}"));

    let diff = BodyStructure::Single {
        media_type: "TEXT".into(),
        subtype: "PLAIN".into(),
        params: vec![
            ("CHARSET".into(), "US-ASCII".into()),
            ("NAME".into(), "cc.diff".into()),
        ],
        id: b("<960723163407.20117h@cac.washington.edu>"),
        description: b("Compiler diff"),
        encoding: "BASE64".into(),
        size: 4554,
        kind: SingleKind::Text { lines: 73 },
        ext: None,
    };
    let multi = BodyStructure::Multi {
        parts: vec![text_part(&[("CHARSET", "US-ASCII")], 1152, 23), diff],
        subtype: "MIXED".into(),
        ext: None,
    };
    let wire = "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") \"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) \"MIXED\")";
    assert_eq!(String::from_utf8_lossy(multi.encode().as_bytes()), wire);
    fetch(FetchItem::Body(multi.encode()), &format!("BODY {wire}"));

    // A basic part with extension data: MD5, disposition, one language, location.
    let attachment = BodyStructure::Single {
        media_type: "application".into(),
        subtype: "octet-stream".into(),
        params: vec![],
        id: None,
        description: None,
        encoding: "base64".into(),
        size: 10,
        kind: SingleKind::Basic,
        ext: Some(Extension {
            md5: b("Q2hlY2s="),
            disposition: Some((
                "attachment".into(),
                vec![("filename".into(), "a.bin".into())],
            )),
            language: strs(&["en"]),
            location: None,
        }),
    };
    let att_wire = "(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 10 \"Q2hlY2s=\" (\"attachment\" (\"filename\" \"a.bin\")) \"en\" NIL)";
    assert_eq!(
        String::from_utf8_lossy(attachment.encode().as_bytes()),
        att_wire
    );

    // message/rfc822: the inner envelope, structure and lines.
    let message = BodyStructure::Single {
        media_type: "MESSAGE".into(),
        subtype: "RFC822".into(),
        params: vec![],
        id: None,
        description: None,
        encoding: "7BIT".into(),
        size: 342,
        kind: SingleKind::Message {
            envelope: Box::new(Envelope::default()),
            body: Box::new(text_part(&[], 20, 2)),
            lines: 12,
        },
        ext: None,
    };
    let msg_wire = "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 342 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 20 2) 12)";
    assert_eq!(
        String::from_utf8_lossy(message.encode().as_bytes()),
        msg_wire
    );

    // A multipart BODYSTRUCTURE: parameters, then disposition, languages, location.
    let structure = BodyStructure::Multi {
        parts: vec![attachment, message],
        subtype: "mixed".into(),
        ext: Some((
            vec![("boundary".into(), "x".into())],
            Extension {
                md5: None,
                disposition: None,
                language: strs(&["en", "de"]),
                location: b("http://example.test/"),
            },
        )),
    };
    let wire = format!(
        "({att_wire}{msg_wire} \"mixed\" (\"boundary\" \"x\") NIL (\"en\" \"de\") \"http://example.test/\")"
    );
    assert_eq!(String::from_utf8_lossy(structure.encode().as_bytes()), wire);
    fetch(
        FetchItem::BodyStructure(structure.encode()),
        &format!("BODYSTRUCTURE {wire}"),
    );
}

/// Several items in one FETCH, literals in the middle, and the whole read back.
#[test]
fn a_full_fetch_round_trips() {
    let r = Response::Data(Data::Fetch {
        seq: 12,
        items: vec![
            FetchItem::Uid(7),
            FetchItem::Flags(vec![Flag::Seen, Flag::Keyword("$Work".into())]),
            FetchItem::Envelope(rfc_envelope().encode()),
            FetchItem::Rfc822(b"a\r\n\r\nb)".to_vec()),
            FetchItem::BodyStructure(text_part(&[], 1, 1).encode()),
            FetchItem::Rfc822Size(5),
        ],
    });
    let bytes = r.to_bytes();
    assert_eq!(parse_response(&bytes), Ok((r, bytes.len())));
}
