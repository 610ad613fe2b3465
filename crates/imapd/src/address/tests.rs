use super::*;

fn mb(name: Option<&str>, local: &str, domain: Option<&str>) -> Item {
    Item::Mailbox(Mailbox {
        name: name.map(str::to_owned),
        route: None,
        local: local.to_owned(),
        domain: domain.map(str::to_owned),
    })
}

#[test]
fn names_from_phrases_quotes_and_comments() {
    assert_eq!(
        parse_list(b"\"Real, Name\" <a@b.org>, Q. Public <q@p>"),
        vec![
            mb(Some("Real, Name"), "a", Some("b.org")),
            mb(Some("Q. Public"), "q", Some("p"))
        ]
    );
    assert_eq!(
        parse_list(b"user@domain (Real Name)"),
        vec![mb(Some("Real Name"), "user", Some("domain"))]
    );
    assert_eq!(
        parse_list(b"<user-from (comment)@ (comment) domain.org>"),
        vec![mb(None, "user-from", Some("domain.org"))]
    );
    assert_eq!(
        parse_list(b"undisclosed"),
        vec![mb(None, "undisclosed", None)]
    );
    assert_eq!(parse_list(b""), vec![]);
    assert_eq!(parse_list(b"  ,, "), vec![]);
}

#[test]
fn groups_open_and_close() {
    assert_eq!(
        parse_list(b"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;"),
        vec![
            Item::GroupStart("group".into()),
            mb(None, "g1", Some("d1.org")),
            mb(None, "g2", Some("d2.org")),
            Item::GroupEnd,
            Item::GroupStart("group2".into()),
            mb(None, "g3", Some("d3.org")),
            Item::GroupEnd,
        ]
    );
    assert_eq!(
        parse_list(b"group:;, group2: (foo) ;"),
        vec![
            Item::GroupStart("group".into()),
            Item::GroupEnd,
            Item::GroupStart("group2".into()),
            Item::GroupEnd,
        ]
    );
    // An unterminated group still ends.
    assert_eq!(
        parse_list(b"g: a@b"),
        vec![
            Item::GroupStart("g".into()),
            mb(None, "a", Some("b")),
            Item::GroupEnd
        ]
    );
}

#[test]
fn source_routes_are_kept() {
    assert_eq!(
        parse_list(b"<@route:user@domain>"),
        vec![Item::Mailbox(Mailbox {
            name: None,
            route: Some("@route".into()),
            local: "user".into(),
            domain: Some("domain".into()),
        })]
    );
    assert_eq!(
        parse_list(b"X <@a,@b:u@d>")
            .first()
            .and_then(|i| match i {
                Item::Mailbox(m) => m.route.clone(),
                _ => None,
            })
            .as_deref(),
        Some("@a,@b")
    );
}

#[test]
fn search_text_is_plain_and_decoded() {
    assert_eq!(
        search_text(b"user-from@domain.org (RealFrom)"),
        "RealFrom <user-from@domain.org>"
    );
    assert_eq!(
        search_text(b"<user-from (comment)@ (comment) domain.org>"),
        "user-from@domain.org"
    );
    assert_eq!(
        search_text(b"groupname: u1@d.org, u2@d.org;,\r\n  groupname2: u3@d.org;"),
        "groupname: u1@d.org, u2@d.org;, groupname2: u3@d.org;"
    );
    assert_eq!(
        search_text(b"=?utf-8?q?J=C3=B6rg?= <j@x>"),
        "J\u{f6}rg <j@x>"
    );
}

#[test]
fn hostile_input_is_bounded() {
    let deep = "(".repeat(100_000);
    assert!(parse_list(deep.as_bytes()).is_empty());
    let many = "a@b,".repeat(50_000);
    assert!(parse_list(many.as_bytes()).len() <= MAX_TOKENS);
    assert_eq!(
        parse_list(b"<<<>>>@@::;;"),
        parse_list(b"<<<>>>@@::;;"),
        "terminates"
    );
}
