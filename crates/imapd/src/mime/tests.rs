use super::*;

#[test]
fn crlf_conversion() {
    assert_eq!(to_crlf(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
    assert_eq!(to_crlf(b"\n".to_vec()), b"\r\n");
    let already = b"x\r\ny\r\n".to_vec();
    assert_eq!(to_crlf(already.clone()), already);
}

fn section(parts: &[u32], text: Option<SectionText>) -> Section {
    Section {
        parts: parts.to_vec(),
        text,
    }
}

#[test]
fn section_numbering_with_nested_message() {
    let msg = to_crlf(
        b"Subject: outer\n\
Content-Type: multipart/mixed; boundary=X\n\
\n\
preamble\n\
--X\n\
\n\
part one\n\
--X\n\
Content-Type: message/rfc822\n\
\n\
Subject: inner\n\
\n\
inner body\n\
--X--\n\
epilogue\n"
            .to_vec(),
    );
    let root = parse(&msg);
    let get = |p: &[u32], t: Option<SectionText>| {
        section_bytes(&msg, &root, &section(p, t)).map(|b| String::from_utf8(b).unwrap())
    };
    assert_eq!(get(&[1], None).as_deref(), Some("part one"));
    assert_eq!(get(&[1, 1], None).as_deref(), Some("part one"));
    assert_eq!(get(&[2, 1], None).as_deref(), Some("inner body"));
    assert_eq!(get(&[2, 1, 1], None), None);
    assert_eq!(
        get(&[2], Some(SectionText::Header)).as_deref(),
        Some("Subject: inner\r\n\r\n")
    );
    assert_eq!(
        get(&[2], Some(SectionText::Text)).as_deref(),
        Some("inner body")
    );
    assert_eq!(
        get(&[2], Some(SectionText::Mime)).as_deref(),
        Some("Content-Type: message/rfc822\r\n\r\n")
    );
    assert_eq!(get(&[1], Some(SectionText::Header)), None);
    assert_eq!(get(&[3], None), None);
    assert_eq!(get(&[0], None), None);
    assert!(get(&[], Some(SectionText::Text))
        .unwrap()
        .starts_with("preamble\r\n--X"));
    assert_eq!(
        get(
            &[],
            Some(SectionText::HeaderFields {
                not: false,
                fields: vec!["subject".into()]
            })
        )
        .as_deref(),
        Some("Subject: outer\r\n\r\n")
    );
}

/// The bytes of `BODY[parts.text]` of `msg` as a string.
fn fetch_section(msg: &[u8], parts: &[u32], text: Option<SectionText>) -> Option<String> {
    let root = parse(msg);
    section_bytes(msg, &root, &section(parts, text)).map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn message_rfc822_body_is_part_one_of_its_message() {
    let msg = to_crlf(
        b"From: outer@example.org\n\
Content-Type: message/rfc822\n\
\n\
From: mid@example.org\n\
Content-Type: message/rfc822\n\
\n\
From: sub@example.org\n\
Subject: submsg\n\
\n\
Hello world\n"
            .to_vec(),
    );
    let get = |p: &[u32], t| fetch_section(&msg, p, t);
    let mid = "From: mid@example.org\r\nContent-Type: message/rfc822\r\n\r\n";
    let sub = "From: sub@example.org\r\nSubject: submsg\r\n\r\n";
    let mid_whole = format!("{mid}{sub}Hello world\r\n");
    let sub_whole = format!("{sub}Hello world\r\n");
    assert_eq!(get(&[], Some(SectionText::Text)), Some(mid_whole.clone()));
    assert_eq!(get(&[1], None), Some(mid_whole));
    assert_eq!(get(&[1], Some(SectionText::Header)).as_deref(), Some(mid));
    assert_eq!(get(&[1], Some(SectionText::Text)), Some(sub_whole.clone()));
    assert_eq!(get(&[1, 1], None), Some(sub_whole));
    assert_eq!(
        get(&[1, 1], Some(SectionText::Header)).as_deref(),
        Some(sub)
    );
    assert_eq!(
        get(&[1, 1], Some(SectionText::Text)).as_deref(),
        Some("Hello world\r\n")
    );
    assert_eq!(get(&[1, 1, 1], None).as_deref(), Some("Hello world\r\n"));
    assert_eq!(get(&[1, 1, 1, 1], None), None);
    assert_eq!(get(&[2], None), None);
    assert_eq!(
        get(
            &[1],
            Some(SectionText::HeaderFields {
                not: true,
                fields: vec!["content-type".into()]
            })
        )
        .as_deref(),
        Some("From: mid@example.org\r\n\r\n")
    );
}

#[test]
fn message_rfc822_holding_a_digest() {
    let msg = to_crlf(
        b"Content-Type: message/rfc822\n\
\n\
Subject: digest\n\
Content-Type: multipart/digest; boundary=\"foo\"\n\
\n\
prologue\n\
\n\
--foo \n\
\n\
From: m1@example.com\n\
\n\
m1 body\n\
\n\
--foo\n\
X-Mime: m2 header\n\
\n\
From: m2@example.com\n\
\n\
m2 body\n\
\n\
--foo--\n"
            .to_vec(),
    );
    let get = |p: &[u32], t| fetch_section(&msg, p, t);
    assert!(get(&[1], None).unwrap().starts_with("Subject: digest\r\n"));
    assert!(get(&[1], Some(SectionText::Text))
        .unwrap()
        .starts_with("prologue\r\n"));
    assert_eq!(
        get(&[1, 1], None).as_deref(),
        Some("From: m1@example.com\r\n\r\nm1 body\r\n")
    );
    assert_eq!(
        get(&[1, 1], Some(SectionText::Mime)).as_deref(),
        Some("\r\n")
    );
    assert_eq!(
        get(&[1, 1], Some(SectionText::Header)).as_deref(),
        Some("From: m1@example.com\r\n\r\n")
    );
    assert_eq!(
        get(&[1, 2], Some(SectionText::Mime)).as_deref(),
        Some("X-Mime: m2 header\r\n\r\n")
    );
    assert_eq!(
        get(&[1, 2], Some(SectionText::Text)).as_deref(),
        Some("m2 body\r\n")
    );
    assert_eq!(get(&[1, 2, 1], None).as_deref(), Some("m2 body\r\n"));
    assert_eq!(get(&[1, 3], None), None);
}

#[test]
fn folded_headers_are_filtered_whole() {
    let hdr = b"A: 1\r\nB: 2\r\n  continued\r\nC: 3\r\n\r\n";
    assert_eq!(
        filter_headers(hdr, &["b".into()], false),
        b"B: 2\r\n  continued\r\n\r\n"
    );
    assert_eq!(
        filter_headers(hdr, &["b".into()], true),
        b"A: 1\r\nC: 3\r\n\r\n"
    );
}

#[test]
fn params_keep_order_and_unquote() {
    assert_eq!(
        parse_params(" b=\"x;y\"; A=1 ; bad; =v; c=\"q\\\"z\""),
        vec![
            ("b".to_owned(), "x;y".to_owned()),
            ("a".to_owned(), "1".to_owned()),
            ("c".to_owned(), "q\"z".to_owned())
        ]
    );
    assert!(parse_content_type(";;;===").is_none());
    assert!(parse_content_type("text").is_none());
    let (t, s, p) = parse_content_type("Text/HTML; charset=utf-8").unwrap();
    assert_eq!((t.as_str(), s.as_str(), p.len()), ("text", "html", 1));
}

#[test]
fn hostile_nesting_is_bounded() {
    let mut msg = Vec::new();
    for i in 0..200 {
        msg.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    msg.extend_from_slice(b"\r\nleaf\r\n");
    let root = parse(&msg);
    let out = body_structure(&msg, &root, true)
        .encode()
        .as_bytes()
        .to_vec();
    assert!(out.len() < 100_000);
    let depth = out.iter().take_while(|&&b| b == b'(').count();
    assert!(depth <= MAX_DEPTH + 2, "{depth}");
}

/// A bounded, deterministic mutation run over the sample messages (what the `mime_structure`
/// cargo-fuzz target does without limits): no input may panic the MIME code.
#[test]
fn mutated_messages_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("eml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let mut rng = ferrymail_imap_proto::fuzzing::Mutator::new(0x9E37_79B9_7F4A_7C15);
    for round in 0..2000 {
        let d = rng.mutate(&seeds, round, b"{}()[]<>\"\\*%:;=.,+- \r\n-0123456789");
        let (_, msg) = crate::fetch::compute_cached(d.clone(), 0);
        let root = parse(&msg);
        for parts in [vec![], vec![1], vec![2, 1], vec![1, 1, 1]] {
            for text in [
                None,
                Some(SectionText::Header),
                Some(SectionText::Text),
                Some(SectionText::Mime),
            ] {
                let _ = section_bytes(&msg, &root, &section(&parts, text));
            }
        }
        let _ = crate::search::header_facts(&msg);
    }
}

fn envelope_of(hdr: &[u8]) -> String {
    let out = envelope(&to_crlf(hdr.to_vec()))
        .encode()
        .as_bytes()
        .to_vec();
    String::from_utf8(out).unwrap()
}

#[test]
fn envelope_groups_routes_and_defaults() {
    assert_eq!(
        envelope_of(
            b"From: user@domain (Real Name)\n\
To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\n\
Cc: group:;, group2: (foo) ;\n\n"
        ),
        "(NIL NIL ((\"Real Name\" NIL \"user\" \"domain\")) \
((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) \
((NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")(NIL NIL NIL NIL)\
(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")(NIL NIL NIL NIL)) \
((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) \
NIL NIL NIL)"
    );
    assert_eq!(
        envelope_of(b"From: <@route:user@domain>\nSender: \nReply-To: \n\n"),
        "(NIL NIL ((NIL \"@route\" \"user\" \"domain\")) ((NIL \"@route\" \"user\" \"domain\")) \
((NIL \"@route\" \"user\" \"domain\")) NIL NIL NIL NIL NIL)"
    );
}
