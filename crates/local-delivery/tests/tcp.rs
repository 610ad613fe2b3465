//! LMTP over TCP (`delivery.lmtp_listen`) for the other hosts of a cluster: STARTTLS, then
//! AUTH PLAIN as the cluster login, before any transaction; without them nothing is accepted.

mod common;

use std::net::SocketAddr;

use common::{maildir_messages, TestEnv, DOMAIN};
use ferrymail_net::cluster::ClusterAuth;
use ferrymail_testkit::SmtpClient;

/// local-delivery in a one-host cluster listening on a free loopback port; that address and
/// the secret as a peer holds it.
fn start() -> (TestEnv, SocketAddr, ClusterAuth) {
    let mut env = TestEnv::new();
    env.join_cluster();
    let ip = "127.0.0.1".parse().unwrap();
    let addr = SocketAddr::new(ip, ferrymail_testkit::free_port(ip));
    env.env.config.delivery.lmtp_listen = vec![addr];
    env.start();
    let auth = ClusterAuth::load(&env.env.config.cluster)
        .expect("cluster secret")
        .expect("in a cluster");
    (env, addr, auth)
}

fn connect(env: &TestEnv, addr: SocketAddr) -> SmtpClient {
    let mut c = SmtpClient::connect(addr).with_tls(env.tls());
    let g = c.reply();
    assert!(g.starts_with("220 "), "{g}");
    c
}

const MSG: &[u8] = b"Subject: over tcp\r\n\r\nhello\r\n";

#[test]
fn without_tls_no_auth_is_offered_and_mail_is_refused() {
    let (env, addr, _) = start();
    let mut c = connect(&env, addr);
    let lhlo = c.cmd("LHLO mx1.test");
    assert!(lhlo.lines().any(|l| &l[4..] == "STARTTLS"), "{lhlo}");
    assert!(!lhlo.lines().any(|l| l[4..].starts_with("AUTH")), "{lhlo}");
    let r = c.cmd("AUTH PLAIN AGEAYg==");
    assert_eq!(r.code, 530, "{r}");
    let r = c.cmd("MAIL FROM:<a@example.org>");
    assert!(r.starts_with("530 5.7.0"), "{r}");
    // After TLS, still nothing before AUTH.
    c.starttls();
    let lhlo = c.cmd("LHLO mx1.test");
    assert!(lhlo.lines().any(|l| &l[4..] == "AUTH PLAIN"), "{lhlo}");
    assert!(!lhlo.lines().any(|l| &l[4..] == "STARTTLS"), "{lhlo}");
    let r = c.cmd("MAIL FROM:<a@example.org>");
    assert!(r.starts_with("530 5.7.0"), "{r}");
    // The Unix socket is as it always was.
    let mut u = env.connect();
    let (rr, dr) = u.lmtp_deliver("a@example.org", &[&format!("bob@{DOMAIN}")], MSG);
    assert_eq!((rr[0].code, dr[0].code), (250, 250));
}

#[test]
fn the_cluster_login_over_tls_delivers() {
    let (env, addr, auth) = start();
    let mut c = connect(&env, addr);
    assert_eq!(c.cmd("LHLO mx1.test").code, 250);
    c.starttls();
    assert_eq!(c.cmd("LHLO mx1.test").code, 250);
    let r = c.cmd(&format!("AUTH PLAIN {}", auth.plain_response("")));
    assert!(r.starts_with("235 2.7.0"), "{r}");
    let (rr, dr) = c.lmtp_deliver("a@example.org", &[&format!("alice@{DOMAIN}")], MSG);
    assert_eq!(rr[0].code, 250, "{}", rr[0]);
    assert_eq!(dr[0].code, 250, "{}", dr[0]);
    let stored = maildir_messages(&env.maildir("alice"));
    assert_eq!(stored.len(), 1);
    assert!(String::from_utf8_lossy(&stored[0]).contains("hello"));
}

#[test]
fn a_wrong_secret_or_a_user_login_is_refused_535() {
    let (env, addr, auth) = start();
    let mut c = connect(&env, addr);
    c.cmd("LHLO mx1.test");
    c.starttls();
    c.cmd("LHLO mx1.test");
    let b64 = |s: String| ferrymail_net::sasl::encode(s.as_bytes());
    let wrong = b64(format!("\0{}\0{}", auth.login(), "y".repeat(40)));
    let r = c.cmd(&format!("AUTH PLAIN {wrong}"));
    assert!(r.starts_with("535 5.7.8"), "{r}");
    let user = b64(format!("\0alice@{DOMAIN}\0secret"));
    let r = c.cmd(&format!("AUTH PLAIN {user}"));
    assert!(r.starts_with("535 5.7.8"), "{r}");
    let r = c.cmd("MAIL FROM:<a@example.org>");
    assert!(r.starts_with("530 5.7.0"), "{r}");
    env.expect_logged("local-delivery", "cluster login refused");
}
