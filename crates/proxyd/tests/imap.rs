//! IMAP through proxyd to imapd: the pre-login dialogue, the login reaching the user's
//! mailbox (SELECT, FETCH, IDLE seeing a delivery), wrong passwords stopping at the front,
//! and the routing over two backends: the hashed one, `move`, and a backend that died.

mod common;

use std::time::Duration;

use common::{imap_login, imap_tls, message, placed, prepare, Front, PASS, USER};
use ferrymail_testkit::{wait_until, Conn, ImapClient, Suite};
use proxyd::control::Request;
use proxyd::route::{order, Candidate};

fn start() -> (Suite, Front) {
    let (mut s, front) = prepare();
    s.start("imapd");
    s.start("proxyd");
    (s, front)
}

/// Drops a message into the user's Maildir as local-delivery would.
fn deliver(s: &Suite, subject: &str) {
    let new = s.maildir(USER).join("new");
    std::fs::create_dir_all(&new).expect("new/");
    let tmp = s.maildir(USER).join("tmp").join(subject);
    std::fs::create_dir_all(tmp.parent().expect("tmp")).expect("tmp/");
    std::fs::write(&tmp, message(subject)).expect("message");
    std::fs::rename(&tmp, new.join(format!("1.{subject}.host"))).expect("into new/");
}

#[test]
fn a_login_through_the_front_end_reaches_the_users_mailbox() {
    let (s, front) = start();
    let mut c = ImapClient::greeted(Conn::open(s.addr(front.imap)).with_tls(s.tls())).unwrap();
    assert!(c.greeting.contains("STARTTLS"), "{}", c.greeting);
    assert!(c.greeting.contains("LOGINDISABLED"), "{}", c.greeting);
    let r = c.login(USER, PASS);
    assert_eq!(r.status(), "NO", "{}", r.all());
    assert!(c.cmd("STARTTLS").ok());
    c.conn().start_tls().unwrap();
    let r = c.cmd("CAPABILITY");
    assert!(
        r.has("AUTH=PLAIN") && !r.has("LOGINDISABLED"),
        "{}",
        r.all()
    );
    assert!(c.cmd("ID (\"name\" \"test\")").ok());
    deliver(&s, "first");
    let r = c.login(USER, PASS);
    // The backend's own answer, under this client's tag, with its logged-in capabilities.
    assert!(r.ok(), "{}", r.all());
    assert!(r.tagged.starts_with("a5 OK [CAPABILITY"), "{}", r.tagged);
    let r = c.cmd("SELECT INBOX");
    assert!(r.has("* 1 EXISTS"), "{}", r.all());
    let r = c.cmd("FETCH 1 (ENVELOPE)");
    assert!(r.has("\"first\""), "{}", r.all());
    c.send(b"i1 IDLE\r\n");
    assert!(c.line().starts_with('+'));
    deliver(&s, "second");
    let mut seen = String::new();
    for _ in 0..5 {
        seen = c.line();
        if seen.contains("EXISTS") {
            break;
        }
    }
    assert_eq!(seen, "* 2 EXISTS");
    c.send(b"DONE\r\n");
    assert!(c.read_until_tag("i1").ok());
    s.expect_logged(
        "proxyd",
        "proxied user=alice@example.test backend=b1 proto=imap",
    );
    assert!(c.cmd("LOGOUT").ok());
}

#[test]
fn implicit_tls_offers_the_logins_at_once() {
    let (s, front) = start();
    let mut c = ImapClient::connect_tls(s.addr(front.imaps), s.tls());
    assert!(c.greeting.contains("AUTH=PLAIN"), "{}", c.greeting);
    assert!(!c.greeting.contains("STARTTLS"), "{}", c.greeting);
    assert!(c.login(USER, PASS).ok());
    assert!(c.cmd("SELECT INBOX").ok());
}

#[test]
fn open_sessions_keep_the_user_on_their_backend_until_they_end() {
    let (s, front, _b2) = two_backends();
    let hashed = placed(&s).expect("a backend");
    let other = if hashed == "b1" { "b2" } else { "b1" };
    let first = imap_login(&s, &front);
    // An override written by hand (no `move`): the open session holds the user where it is.
    let path = s.env.config.proxy.routes_file.clone();
    std::fs::write(&path, format!("{USER} {other}\n")).unwrap();
    let r = common::control(
        &s,
        &Request::Moved {
            user: "nobody@example.test".into(),
        },
    );
    assert!(r.ok, "{r:?}");
    let w = common::control(&s, &Request::Where { user: USER.into() });
    let p = w.placement.expect("placement");
    assert_eq!(p.override_backend.as_deref(), Some(other));
    assert_eq!(p.backend.as_deref(), Some(hashed.as_str()), "{p:?}");
    assert_eq!(p.why, Some(proxyd::route::Why::Sticky));
    let second = imap_login(&s, &front);
    s.expect_logged("proxyd", &format!("backend={hashed} proto=imap why=Sticky"));
    drop((first, second));
    // Once they have ended, the override applies.
    assert!(wait_until(Duration::from_secs(5), || placed(&s).as_deref()
        == Some(other)));
}

#[test]
fn commands_pipelined_after_the_login_reach_the_backend() {
    let (s, front) = start();
    let mut c = imap_tls(&s, &front);
    c.send(
        format!(
            "p1 LOGIN {USER} {{{}+}}\r\n{PASS}\r\np2 SELECT INBOX\r\n",
            PASS.len()
        )
        .as_bytes(),
    );
    assert!(c.read_until_tag("p1").ok());
    let r = c.read_until_tag("p2");
    assert!(r.ok(), "{}", r.all());
}

#[test]
fn a_wrong_password_is_refused_at_the_front_without_a_backend_login() {
    let (s, front) = start();
    let mut c = imap_tls(&s, &front);
    let r = c.login(USER, "wrong");
    assert_eq!(r.status(), "NO", "{}", r.all());
    assert!(r.tagged.contains("AUTHENTICATIONFAILED"), "{}", r.tagged);
    s.expect_logged("proxyd", "login failed");
    assert!(!s.log("proxyd").contains("proxied"));
    assert!(!s.log("imapd").contains("cluster"), "{}", s.log("imapd"));
    // AUTHENTICATE PLAIN with SASL-IR then works on the same connection.
    use base64::Engine;
    let ir = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASS}"));
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {ir}"));
    assert!(r.ok(), "{}", r.all());
    assert!(c.cmd("SELECT INBOX").ok());
}

#[test]
fn two_backends_hashing_move_and_a_backend_that_dies() {
    let (mut s, front, b2) = two_backends();
    let both = [
        Candidate {
            name: "b1",
            healthy: true,
        },
        Candidate {
            name: "b2",
            healthy: true,
        },
    ];
    let hashed = order(&ferrymail_users::login_key(USER), &both, None, None)[0].0;
    let other = if hashed == "b1" { "b2" } else { "b1" };
    assert_eq!(placed(&s).as_deref(), Some(hashed));
    let mut first = imap_login(&s, &front);
    assert!(first.cmd("SELECT INBOX").ok());
    s.expect_logged("proxyd", &format!("backend={hashed} proto=imap"));
    let w = common::control(&s, &Request::Where { user: USER.into() });
    assert_eq!(w.placement.as_ref().map(|p| p.sessions), Some(1), "{w:?}");

    // move: the override is written, the open session closed, the next one goes there.
    let out = mailctl(&s, &["proxy", "move", USER, other]);
    assert!(out.contains("1 session(s) closed"), "{out}");
    first
        .conn()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(first.try_line().is_err(), "the moved session stayed open");
    assert!(wait_until(Duration::from_secs(5), || placed(&s).as_deref()
        == Some(other)));
    let out = mailctl(&s, &["proxy", "where", USER]);
    assert!(
        out.contains(&format!("{USER}: {other} (override)")),
        "{out}"
    );
    let mut moved = imap_login(&s, &front);
    assert!(moved.cmd("SELECT INBOX").ok());
    s.expect_logged("proxyd", &format!("backend={other} proto=imap"));
    drop(moved);

    // The override's backend dies: the next login goes to the one left.
    if other == "b2" {
        drop(b2);
    } else {
        s.kill("imapd");
    }
    let mut after = imap_login(&s, &front);
    assert!(after.cmd("SELECT INBOX").ok());
    s.expect_logged("proxyd", &format!("backend={hashed} proto=imap"));
    let st = common::control(&s, &Request::Backends);
    let dead = st.backends.iter().find(|b| b.name == other).unwrap();
    assert!(!dead.up, "{st:?}");
    let out = mailctl(&s, &["proxy", "backends"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with(other) && l.contains(" down ")),
        "{out}"
    );
    let out = mailctl(&s, &["proxy", "unmove", USER]);
    assert!(out.contains("override removed"), "{out}");
    let routes = std::fs::read_to_string(&s.env.config.proxy.routes_file).unwrap();
    assert!(!routes.contains(USER), "{routes}");
}

/// imapd (`b1`) and a second imapd (`b2`, returned) over one mail root, proxyd in front.
fn two_backends() -> (Suite, Front, ferrymail_dev::Daemon) {
    let (mut s, front) = prepare();
    s.start("imapd");
    let (b2, b2_port) = common::second_imapd(&s);
    let ports = s.env.ports;
    s.edit_config(|c| {
        c.proxy.backends = vec![
            common::backend("b1", ports.imap, ports.pop3, ports.managesieve),
            common::backend("b2", b2_port, ports.pop3, ports.managesieve),
        ];
    });
    s.start("proxyd");
    (s, front, b2)
}

/// `mailctl -c <config> args…`, which must succeed; its output.
fn mailctl(s: &Suite, args: &[&str]) -> String {
    let bin = ferrymail_dev::built_bin("mailctl").unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(bin)
        .arg("-c")
        .arg(&s.env.config_path)
        .args(args)
        .output()
        .expect("mailctl");
    ferrymail_testkit::process::success(&out)
}
