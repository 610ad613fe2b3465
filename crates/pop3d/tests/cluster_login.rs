//! The cluster login (`[cluster]`): the front end, holding the cluster secret, logs in after
//! STLS with `AUTH PLAIN` as any existing user without that user's password; USER/PASS never
//! takes it, nobody else gains that right, and without `[cluster]` it is an unknown user.

mod common;

use common::{deliver, stls, PASS, USER};
use ferrymail_net::cluster::ClusterAuth;
use ferrymail_testkit::Suite;

fn start(in_cluster: bool) -> (Suite, ClusterAuth) {
    let mut srv = Suite::new(&[(USER, PASS), ("ann@example.test", "ann-pw")]);
    srv.join_cluster();
    let auth = ClusterAuth::load(&srv.env.config.cluster)
        .expect("cluster secret")
        .expect("in a cluster");
    srv.edit_config(|c| {
        c.pop3d.limits.auth_failure_delay = std::time::Duration::from_millis(20);
        if !in_cluster {
            c.cluster = Default::default();
        }
    });
    srv.start("pop3d");
    (srv, auth)
}

fn b64(s: &str) -> String {
    ferrymail_net::sasl::encode(s.as_bytes())
}

#[test]
fn the_cluster_login_opens_the_users_maildrop() {
    let (srv, auth) = start(true);
    deliver(&srv, USER, b"Subject: for-joe\r\n\r\nhi\r\n");
    let mut c = stls(&srv);
    let r = c.cmd(&format!("AUTH PLAIN {}", auth.plain_response(USER)));
    assert!(
        r.starts_with("+OK Logged in, maildrop has 1 messages"),
        "{r}\n{}",
        srv.log("pop3d")
    );
    let (status, body) = c.multi("RETR 1");
    assert!(status.starts_with("+OK"), "{status}");
    assert!(String::from_utf8_lossy(&body).contains("for-joe"));
    srv.expect_logged("pop3d", "via=\"cluster\"");
}

#[test]
fn a_wrong_secret_user_pass_or_a_plain_user_acting_as_another_fails() {
    let (srv, auth) = start(true);
    let mut c = stls(&srv);
    let wrong = b64(&format!("{USER}\0{}\0{}", auth.login(), "x".repeat(40)));
    let r = c.cmd(&format!("AUTH PLAIN {wrong}"));
    assert!(r.starts_with("-ERR"), "{r}");
    srv.expect_logged("pop3d", "cluster login refused");

    let secret =
        std::fs::read_to_string(srv.env.config.cluster.secret_file.as_ref().unwrap()).unwrap();
    let mut c = stls(&srv);
    let r = c.login(auth.login(), &secret);
    assert!(r.starts_with("-ERR"), "{r}");

    let mut c = stls(&srv);
    let other = b64(&format!("ann@example.test\0{USER}\0{PASS}"));
    let r = c.cmd(&format!("AUTH PLAIN {other}"));
    assert!(r.starts_with("-ERR [AUTH] Not authorized"), "{r}");
}

#[test]
fn without_a_cluster_the_cluster_login_is_an_unknown_user() {
    let (srv, auth) = start(false);
    let mut c = stls(&srv);
    let r = c.cmd(&format!("AUTH PLAIN {}", auth.plain_response(USER)));
    assert!(r.starts_with("-ERR"), "{r}");
    let r = c.cmd(&format!("AUTH PLAIN {}", auth.plain_response("")));
    assert!(r.starts_with("-ERR"), "{r}");
    srv.expect_logged("pop3d", "unknown user");
}
