use super::*;
use ferrymail_net::sasl;

fn cfg(plaintext: bool) -> SessionConfig {
    SessionConfig {
        stls_available: true,
        plaintext_login_ok: plaintext,
        max_auth_failures: 3,
        master_login: None,
    }
}

/// The login action for `user` with `password`, acting for no one else.
fn login(user: &str, password: &[u8]) -> Action {
    Action::Login(sasl::Credentials {
        authzid: String::new(),
        authcid: user.into(),
        password: password.to_vec(),
    })
}

fn text(step: &Step) -> String {
    String::from_utf8(step.reply.clone()).unwrap()
}

fn msgs() -> Vec<MessageInfo> {
    crate::fuzzing::sample()
}

fn logged_in() -> Session {
    let mut s = Session::new(cfg(false), true);
    assert_eq!(text(&s.line(b"USER joe\r\n")), "+OK Send your password\r\n");
    let step = s.line(b"PASS secret word\r\n");
    assert_eq!(step.action, login("joe", b"secret word"));
    let step = s.login_finished(LoginResult::Ok(msgs()));
    assert_eq!(
        text(&step),
        "+OK Logged in, maildrop has 2 messages (34 octets)\r\n"
    );
    s
}

#[test]
fn no_passwords_before_tls_and_capa_hides_login() {
    let mut s = Session::new(cfg(false), false);
    let capa = text(&s.line(b"CAPA\r\n"));
    assert!(capa.contains("\r\nSTLS\r\n"), "{capa}");
    assert!(!capa.contains("USER"), "{capa}");
    assert!(!capa.contains("SASL"), "{capa}");
    for cmd in [
        &b"USER joe\r\n"[..],
        b"PASS x\r\n",
        b"AUTH PLAIN AGpvZQB4\r\n",
    ] {
        let step = s.line(cmd);
        assert!(text(&step).starts_with("-ERR [AUTH] "), "{}", text(&step));
        assert_eq!(step.action, Action::None);
    }
    assert!(text(&s.line(b"STAT\r\n")).starts_with("-ERR Command not valid"));
    let step = s.line(b"STLS\r\n");
    assert_eq!(step.action, Action::StartTls);
    s.tls_started();
    let capa = text(&s.line(b"CAPA\r\n"));
    assert!(
        capa.contains("\r\nUSER\r\n") && capa.contains("SASL PLAIN"),
        "{capa}"
    );
    assert!(!capa.contains("STLS"), "{capa}");
    assert!(text(&s.line(b"STLS\r\n")).starts_with("-ERR"));
}

#[test]
fn loopback_plaintext_when_configured() {
    let mut s = Session::new(cfg(true), false);
    assert!(text(&s.line(b"CAPA\r\n")).contains("\r\nUSER\r\n"));
    assert!(text(&s.line(b"USER joe\r\n")).starts_with("+OK"));
}

#[test]
fn transaction_commands() {
    let mut s = logged_in();
    assert_eq!(text(&s.line(b"STAT\r\n")), "+OK 2 34\r\n");
    assert_eq!(
        text(&s.line(b"LIST\r\n")),
        "+OK 2 messages (34 octets)\r\n1 12\r\n2 22\r\n.\r\n"
    );
    assert_eq!(text(&s.line(b"LIST 2\r\n")), "+OK 2 22\r\n");
    assert_eq!(
        text(&s.line(b"UIDL\r\n")),
        "+OK Unique-ID listing follows\r\n1 100.M1P1Q1.h,S=10,W=12\r\n2 101.M1P1Q2.h,S=20,W=22\r\n.\r\n"
    );
    assert!(text(&s.line(b"LIST 3\r\n")).starts_with("-ERR No such message"));
    let step = s.line(b"RETR 2\r\n");
    assert_eq!(
        step.action,
        Action::Send {
            index: 1,
            top: None,
            mark_seen: true,
            ok_line: "+OK 22 octets\r\n".into()
        }
    );
    let step = s.line(b"TOP 1 5\r\n");
    assert!(matches!(
        step.action,
        Action::Send {
            index: 0,
            top: Some(5),
            mark_seen: false,
            ..
        }
    ));
    assert_eq!(text(&s.line(b"DELE 1\r\n")), "+OK Message 1 deleted\r\n");
    assert!(text(&s.line(b"DELE 1\r\n")).starts_with("-ERR Message 1 is deleted"));
    assert!(text(&s.line(b"RETR 1\r\n")).starts_with("-ERR Message 1 is deleted"));
    assert_eq!(text(&s.line(b"STAT\r\n")), "+OK 1 22\r\n");
    assert_eq!(
        text(&s.line(b"LIST\r\n")),
        "+OK 1 messages (22 octets)\r\n2 22\r\n.\r\n"
    );
    assert!(text(&s.line(b"RSET\r\n")).starts_with("+OK"));
    assert_eq!(text(&s.line(b"STAT\r\n")), "+OK 2 34\r\n");
    assert_eq!(text(&s.line(b"NOOP\r\n")), "+OK\r\n");
    assert!(text(&s.line(b"USER x\r\n")).starts_with("-ERR"));
    assert!(text(&s.line(b"FOO\r\n")).starts_with("-ERR Unknown command"));
    assert!(text(&s.line(b"RETR abc\r\n")).starts_with("-ERR RETR: invalid message number"));
    s.line(b"DELE 2\r\n");
    let step = s.line(b"QUIT\r\n");
    assert_eq!(step.action, Action::Update { delete: vec![1] });
    let step = s.update_finished(1, 0);
    assert_eq!(step.action, Action::Close);
    assert!(text(&step).starts_with("+OK"));
    assert!(s.is_closed());
}

#[test]
fn transaction_commands_need_login() {
    let mut s = Session::new(cfg(true), false);
    for cmd in [
        "STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 1", "RSET", "NOOP",
    ] {
        let reply = text(&s.line(format!("{cmd}\r\n").as_bytes()));
        assert!(reply.starts_with("-ERR"), "{cmd}: {reply}");
    }
    let step = s.line(b"QUIT\r\n");
    assert_eq!(step.action, Action::Close);
}

#[test]
fn failures_are_counted_and_close_the_connection() {
    let mut s = Session::new(cfg(true), false);
    for i in 1..=3 {
        s.line(b"USER joe\r\n");
        assert!(matches!(s.line(b"PASS bad\r\n").action, Action::Login(_)));
        let step = s.login_finished(LoginResult::BadCredentials);
        assert!(text(&step).starts_with("-ERR [AUTH] Authentication failed"));
        assert_eq!(step.action == Action::Close, i == 3, "attempt {i}");
    }
}

#[test]
fn in_use_and_pass_without_user() {
    let mut s = Session::new(cfg(true), false);
    assert!(text(&s.line(b"PASS x\r\n")).starts_with("-ERR"));
    s.line(b"USER joe\r\n");
    s.line(b"PASS x\r\n");
    let step = s.login_finished(LoginResult::InUse);
    assert!(text(&step).starts_with("-ERR [IN-USE] "));
    assert_eq!(step.action, Action::None);
    assert!(!s.is_authenticated());
}

#[test]
fn sasl_plain_with_and_without_initial_response() {
    let mut s = Session::new(cfg(false), true);
    let ir = sasl::encode(b"\0joe@a.test\0pw");
    let step = s.line(format!("AUTH PLAIN {ir}\r\n").as_bytes());
    assert_eq!(step.action, login("joe@a.test", b"pw"));
    s.login_finished(LoginResult::BadCredentials);
    assert_eq!(text(&s.line(b"AUTH PLAIN\r\n")), "+ \r\n");
    let step = s.line(format!("{ir}\r\n").as_bytes());
    assert!(matches!(step.action, Action::Login(_)));
    s.login_finished(LoginResult::BadCredentials);
    assert_eq!(text(&s.line(b"AUTH PLAIN\r\n")), "+ \r\n");
    assert!(text(&s.line(b"*\r\n")).starts_with("-ERR"));
    // The session is usable again after a cancelled exchange.
    assert!(text(&s.line(b"NOOP\r\n")).starts_with("-ERR"));
    let other = sasl::encode(b"admin\0joe@a.test\0pw");
    assert!(text(&s.line(b"AUTH CRAM-MD5\r\n")).starts_with("-ERR"));
    // Acting as another user is refused before any password check, and counts as the
    // third failure.
    let step = s.line(format!("AUTH PLAIN {other}\r\n").as_bytes());
    assert_eq!(
        text(&step),
        "-ERR [AUTH] Not authorized to act as another user\r\n\
         -ERR [AUTH] Too many failures, closing\r\n"
    );
    assert_eq!(step.action, Action::Close);
}

#[test]
fn sasl_login() {
    let mut s = Session::new(cfg(false), true);
    assert_eq!(text(&s.line(b"AUTH LOGIN\r\n")), "+ VXNlcm5hbWU6\r\n");
    assert_eq!(
        text(&s.line(format!("{}\r\n", sasl::encode(b"joe")).as_bytes())),
        "+ UGFzc3dvcmQ6\r\n"
    );
    let step = s.line(format!("{}\r\n", sasl::encode(b"pw")).as_bytes());
    assert_eq!(step.action, login("joe", b"pw"));
}

#[test]
fn uidl_values_follow_rfc_1939() {
    assert_eq!(
        uidl_for_base("1700000000.M1P2Q3.host,S=1,W=2"),
        "1700000000.M1P2Q3.host,S=1,W=2"
    );
    let long = format!("1700000000.M1P2Q3.{},S=1,W=2", "h".repeat(80));
    let u = uidl_for_base(&long);
    assert_eq!(u, uidl_for_base(&long), "stable");
    assert!(u.len() <= 70 && u.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert_ne!(u, uidl_for_base(&format!("{long}x")));
    assert_ne!(uidl_for_base("a b"), "a b");
}

/// Inputs that once found bugs or cover each branch; the same files seed the fuzzer
/// (fuzz/corpus/session/).
#[test]
fn fuzz_corpus_inputs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/session");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        crate::fuzzing::drive(&data);
        n += 1;
    }
    assert!(n >= 5, "corpus at {} has {n} inputs", dir.display());
}

#[test]
fn a_handed_off_session_answers_the_login_then_serves_the_transaction() {
    let mut s = Session::handed_off(cfg(false), false);
    // Nothing is served before the maildrop outcome arrives.
    assert_eq!(text(&s.line(b"STAT\r\n")), format!("{NOT_NOW}\r\n"));
    let step = s.login_finished(LoginResult::Ok(msgs()));
    assert_eq!(
        text(&step),
        "+OK Logged in, maildrop has 2 messages (34 octets)\r\n"
    );
    assert!(s.is_authenticated());
    assert_eq!(text(&s.line(b"STAT\r\n")), "+OK 2 34\r\n");

    let mut busy = Session::handed_off(cfg(false), true);
    let step = busy.login_finished(LoginResult::InUse);
    assert!(text(&step).starts_with("-ERR [IN-USE] "), "{}", text(&step));
    assert!(!busy.is_authenticated());
}
