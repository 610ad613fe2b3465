//! Greeting, login, syntax errors and which command is allowed in which state.

use super::*;

fn caps(r: &Response) -> Vec<String> {
    match r {
        Response::Status(Status {
            code: Some(Code::Capability(c)),
            ..
        }) => c.clone(),
        other => panic!("no capabilities: {other:?}"),
    }
}

#[test]
fn greeting_announces_what_the_connection_allows() {
    let store = MemoryStore::new();
    let plain = Client::new(&store, policy(false, false));
    let greeting = plain.session.greeting();
    assert_eq!(
        parse_all(&greeting.to_bytes()).unwrap(),
        vec![greeting.clone()]
    );
    let c = caps(&greeting);
    for want in [
        "IMAP4rev1",
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "STARTTLS",
        "LOGINDISABLED",
    ] {
        assert!(c.iter().any(|x| x == want), "{want} in {c:?}");
    }
    assert!(!c.iter().any(|x| x.starts_with("AUTH=")));

    let tls = Client::new(&store, policy(true, false));
    let c = caps(&tls.session.greeting());
    assert!(c.contains(&"AUTH=PLAIN".to_owned()));
    assert!(!c.iter().any(|x| x == "STARTTLS" || x == "LOGINDISABLED"));
}

#[test]
fn login_needs_tls_unless_plaintext_is_allowed() {
    let store = MemoryStore::new();
    let mut c = Client::new(&store, policy(false, false));
    let r = c.run("a1 LOGIN joe secret");
    assert_eq!(last(&r).kind, Kind::No);
    assert_eq!(code(&r), Some(Code::PrivacyRequired));
    assert_eq!(c.action, Action::Continue);
    assert!(!c.session.is_authenticated());
    let r = c.run("a2 AUTHENTICATE PLAIN");
    assert_eq!(code(&r), Some(Code::PrivacyRequired));

    // After STARTTLS the same LOGIN goes to the shell for checking.
    let r = c.run("a3 STARTTLS");
    assert_eq!(last(&r).kind, Kind::Ok);
    assert_eq!(c.action, Action::StartTls);
    c.session.tls_started();
    let mut out = Output::new();
    let action = c.session.handle(b"a4 LOGIN joe \"se cret\"", &mut out);
    assert!(out.is_empty(), "nothing is said before the check");
    assert_eq!(
        action,
        Action::Login {
            tag: "a4".into(),
            user: "joe".into(),
            password: b"se cret".to_vec()
        }
    );
    c.session.logged_in("a4", store.session(), &mut out);
    let r = responses(&mut out);
    assert_eq!(r.len(), 1);
    assert_eq!(last(&r).tag.as_deref(), Some("a4"));
    let after = caps(&r[0]);
    assert!(after.contains(&"IMAP4rev1".to_owned()));
    assert!(!after
        .iter()
        .any(|x| x.starts_with("AUTH=") || x == "STARTTLS"));
    assert!(c.session.is_authenticated());

    // Plaintext allowed (loopback): LOGIN goes straight to the check.
    let mut p = Client::new(&store, policy(false, true));
    let r = p.run("b1 LOGIN joe secret");
    assert_eq!(last(&r).kind, Kind::Ok);
    assert!(p.session.is_authenticated());
}

#[test]
fn repeated_login_failures_end_the_session() {
    let store = MemoryStore::new();
    let mut s: Session<MemorySession> = Session::new(policy(true, false));
    let mut out = Output::new();
    assert!(matches!(
        s.handle(b"a1 LOGIN joe bad", &mut out),
        Action::Login { .. }
    ));
    let first = s.login_failed("a1", Code::AuthenticationFailed, "Bad login", &mut out);
    assert_eq!(first, Action::Continue);
    let r = responses(&mut out);
    assert_eq!(code(&r), Some(Code::AuthenticationFailed));
    s.handle(b"a2 LOGIN joe bad", &mut out);
    let second = s.login_failed("a2", Code::AuthenticationFailed, "Bad login", &mut out);
    assert_eq!(second, Action::Close);
    let r = responses(&mut out);
    assert_eq!(
        r[0],
        Response::no("a2", Some(Code::AuthenticationFailed), "Bad login")
    );
    assert!(matches!(
        &r[1],
        Response::Status(Status {
            tag: None,
            kind: Kind::Bye,
            ..
        })
    ));
    drop(store);
}

#[test]
fn syntax_errors() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    // An empty line has no tag: the BAD is untagged.
    let r = c.run("");
    assert_eq!(r.len(), 1);
    assert!(matches!(
        &r[0],
        Response::Status(Status {
            tag: None,
            kind: Kind::Bad,
            ..
        })
    ));
    let r = c.run("a1 FROBNICATE");
    assert_eq!(r.len(), 1);
    assert_eq!(
        (last(&r).tag.as_deref(), last(&r).kind),
        (Some("a1"), Kind::Bad)
    );
    // RFC 3501 §6.4.4: an unknown charset is NO [BADCHARSET], decided before the state.
    let r = c.run("a2 SEARCH CHARSET KOI8-R ALL");
    assert_eq!(last(&r).kind, Kind::No);
    assert!(matches!(code(&r), Some(Code::BadCharset(_))));
    let r = c.run("a3 NOOP extra");
    assert_eq!(last(&r).kind, Kind::Bad);
}

#[test]
fn commands_in_the_wrong_state_are_refused() {
    let store = MemoryStore::new();
    let mut c = Client::new(&store, policy(true, false));
    for cmd in [
        "a1 SELECT INBOX",
        "a2 LIST \"\" *",
        "a3 FETCH 1 FLAGS",
        "a4 EXPUNGE",
    ] {
        let r = c.run(cmd);
        assert_eq!(r.len(), 1, "{cmd}");
        assert_eq!(last(&r).kind, Kind::Bad, "{cmd}");
    }
    for cmd in ["b1 CAPABILITY", "b2 NOOP", "b3 ID NIL"] {
        assert_eq!(last(&c.run(cmd)).kind, Kind::Ok, "{cmd}");
    }
    c.run("c1 LOGIN joe pw");
    assert!(c.session.is_authenticated());
    for cmd in [
        "c2 LOGIN joe pw",
        "c3 STARTTLS",
        "c4 FETCH 1 FLAGS",
        "c5 CLOSE",
        "c6 STORE 1 +FLAGS \\Seen",
    ] {
        let r = c.run(cmd);
        assert_eq!(last(&r).kind, Kind::Bad, "{cmd}");
    }
    for cmd in [
        "d1 NAMESPACE",
        "d2 ENABLE IDLE",
        "d3 STATUS INBOX (MESSAGES)",
    ] {
        assert_eq!(last(&c.run(cmd)).kind, Kind::Ok, "{cmd}");
    }
}

#[test]
fn select_and_examine_replies() {
    let store = MemoryStore::new();
    for n in 1..=3 {
        store.deliver("INBOX", &message(n)).unwrap();
    }
    store.set_flags(
        "INBOX",
        1,
        crate::session::FlagSet {
            system: crate::session::FlagSet::SEEN,
            keywords: 0,
        },
    );
    let mut c = Client::logged_in(&store);
    let r = c.run("a1 SELECT inbox");
    assert_eq!(code(&r), Some(Code::ReadWrite));
    let d = data(&r);
    assert!(matches!(&d[0], Data::Flags(f) if f.len() == 5));
    assert_eq!(&d[1..], &[Data::Exists(3), Data::Recent(3)]);
    let codes = untagged_ok_codes(&r);
    assert_eq!(codes[0], Code::Unseen(2));
    assert!(matches!(codes[1], Code::UidValidity(v) if v > 0));
    assert_eq!(codes[2], Code::UidNext(4));
    assert!(
        matches!(&codes[3], Code::PermanentFlags(f) if f.contains(&Flag::Extension("*".into())))
    );

    let mut e = Client::logged_in(&store);
    let r = e.run("b1 EXAMINE INBOX");
    assert_eq!(code(&r), Some(Code::ReadOnly));
    assert!(untagged_ok_codes(&r).contains(&Code::PermanentFlags(vec![])));
    assert_eq!(
        last(&e.run("b2 STORE 1 +FLAGS (\\Flagged)")).code,
        Some(Code::ReadOnly)
    );
    assert_eq!(last(&e.run("b3 EXPUNGE")).code, Some(Code::ReadOnly));

    // A failed SELECT leaves nothing selected.
    let r = c.run("a2 SELECT Nowhere");
    assert_eq!(
        (last(&r).kind, code(&r)),
        (Kind::No, Some(Code::Nonexistent))
    );
    assert_eq!(last(&c.run("a3 FETCH 1 FLAGS")).kind, Kind::Bad);
}
