//! The cluster login (`[cluster]`): the front end, holding the cluster secret, logs in over
//! STARTTLS with `AUTHENTICATE PLAIN` as any existing user without that user's password;
//! nobody else gains that right, and without `[cluster]` the login is just an unknown user.

mod common;

use common::{message, PASS, USER};
use ferrymail_net::cluster::ClusterAuth;
use ferrymail_testkit::{ImapClient, Suite};

/// imapd started in a one-host cluster; the secret as the front end holds it.
fn start_in_cluster() -> (Suite, ClusterAuth) {
    let mut srv = common::prepare(false);
    srv.join_cluster();
    srv.start("imapd");
    let auth = ClusterAuth::load(&srv.env.config.cluster)
        .expect("cluster secret")
        .expect("in a cluster");
    (srv, auth)
}

/// A connection after STARTTLS, as a front end makes it.
fn over_tls(srv: &Suite) -> ImapClient {
    let conn = ferrymail_testkit::Conn::open(srv.addr(srv.env.ports.imap)).with_tls(srv.tls());
    let mut c = ImapClient::greeted(conn).expect("greeting");
    assert!(c.cmd("STARTTLS").ok());
    c.conn().start_tls().expect("TLS handshake");
    c
}

#[test]
fn the_cluster_login_opens_the_users_mailbox() {
    let (srv, auth) = start_in_cluster();
    let mut own = over_tls(&srv);
    assert!(own.login(USER, PASS).ok());
    assert!(own.append("INBOX", "", &message("for-alice", "hi")).ok());

    let mut c = over_tls(&srv);
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {}", auth.plain_response(USER)));
    assert!(r.ok(), "{}\n{}", r.all(), srv.log("imapd"));
    let r = c.cmd("SELECT INBOX");
    assert!(r.has("* 1 EXISTS"), "{}", r.all());
    let r = c.cmd("FETCH 1 (ENVELOPE)");
    assert!(r.has("\"for-alice\""), "{}", r.all());
    srv.expect_logged("imapd", "via=\"cluster\"");
}

#[test]
fn a_wrong_secret_or_a_plain_user_acting_as_another_fails() {
    let (srv, auth) = start_in_cluster();
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let mut c = over_tls(&srv);
    let wrong = b64(&format!("{USER}\0{}\0{}", auth.login(), "x".repeat(40)));
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {wrong}"));
    assert_eq!(r.status(), "NO", "{}", r.all());
    srv.expect_logged("imapd", "cluster login refused");
    // The right secret through LOGIN names no user to act for.
    let secret =
        std::fs::read_to_string(srv.env.config.cluster.secret_file.as_ref().unwrap()).unwrap();
    let mut c = over_tls(&srv);
    let r = c.login(auth.login(), &secret);
    assert_eq!(r.status(), "NO", "{}", r.all());
    // A normal user with the right password still may not act as another user.
    let other = b64(&format!("bob@example.test\0{USER}\0{PASS}"));
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {other}"));
    assert_eq!(r.status(), "NO", "{}", r.all());
    // The cluster login acting for someone who does not exist.
    let mut c = over_tls(&srv);
    let r = c.cmd(&format!(
        "AUTHENTICATE PLAIN {}",
        auth.plain_response("nobody@example.test")
    ));
    assert_eq!(r.status(), "NO", "{}", r.all());
}

#[test]
fn without_a_cluster_the_cluster_login_is_an_unknown_user() {
    let mut srv = common::prepare(false);
    srv.join_cluster();
    let auth = ClusterAuth::load(&srv.env.config.cluster)
        .expect("cluster secret")
        .expect("in a cluster");
    srv.edit_config(|c| c.cluster = Default::default());
    srv.start("imapd");
    let mut c = over_tls(&srv);
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {}", auth.plain_response(USER)));
    assert_eq!(r.status(), "NO", "{}", r.all());
    // For itself, with the right secret: the user database does not know it.
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {}", auth.plain_response("")));
    assert_eq!(r.status(), "NO", "{}", r.all());
    srv.expect_logged("imapd", "unknown user");
}

#[test]
fn an_unsafe_secret_file_stops_the_start_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    let mut srv = common::prepare(false);
    let secret = srv.join_cluster();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bin = ferrymail_dev::built_bin("imapd").expect("imapd built");
    let out = std::process::Command::new(bin)
        .arg("--config")
        .arg(&srv.env.config_path)
        .output()
        .expect("imapd runs");
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let text = ferrymail_testkit::process::all_output(&out) + &srv.log("imapd");
    assert!(text.contains(&secret.display().to_string()), "{text}");
}
