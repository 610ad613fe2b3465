//! The cluster login (`[cluster]`): the front end, holding the cluster secret, logs in after
//! STARTTLS with `AUTHENTICATE "PLAIN"` as any existing user without that user's password and
//! sees that user's scripts; nobody else gains that right, and without `[cluster]` the login
//! is an unknown user.

mod common;

use base64::Engine;
use common::{Client, PASS, USER};
use ferrymail_net::cluster::ClusterAuth;
use ferrymail_testkit::Suite;

fn start(in_cluster: bool) -> (Suite, ClusterAuth) {
    let mut s = Suite::new(&[(USER, PASS), ("ann@example.test", "ann-pw")]);
    s.join_cluster();
    let auth = ClusterAuth::load(&s.env.config.cluster)
        .expect("cluster secret")
        .expect("in a cluster");
    s.edit_config(|c| {
        c.managesieve.limits.auth_failure_delay = std::time::Duration::from_millis(20);
        if !in_cluster {
            c.cluster = Default::default();
        }
    });
    s.start("managesieved");
    (s, auth)
}

fn authenticate(c: &mut Client, ir: &str) -> String {
    c.cmd(&format!("AUTHENTICATE \"PLAIN\" \"{ir}\"\r\n"))
}

fn over_tls(s: &Suite) -> Client {
    let (mut c, _) = Client::connect(s);
    c.starttls();
    c
}

#[test]
fn the_cluster_login_sees_the_users_scripts() {
    let (s, auth) = start(true);
    let (mut own, _) = Client::connect(&s);
    own.login();
    assert!(own.put("mine", "keep;\r\n").starts_with("OK"));

    let mut c = over_tls(&s);
    let r = authenticate(&mut c, &auth.plain_response(USER));
    assert!(r.starts_with("OK"), "{r}\n{}", s.log("managesieved"));
    let r = c.cmd("LISTSCRIPTS\r\n");
    assert!(r.contains("\"mine\""), "{r}");
    s.expect_logged("managesieved", "via=\"cluster\"");
}

#[test]
fn a_wrong_secret_or_a_plain_user_acting_as_another_fails() {
    let (s, auth) = start(true);
    let b64 = |t: String| base64::engine::general_purpose::STANDARD.encode(t);
    let mut c = over_tls(&s);
    let wrong = b64(format!("{USER}\0{}\0{}", auth.login(), "x".repeat(40)));
    let r = authenticate(&mut c, &wrong);
    assert!(r.starts_with("NO"), "{r}");
    s.expect_logged("managesieved", "cluster login refused");
    let mut c = over_tls(&s);
    let other = b64(format!("ann@example.test\0{USER}\0{PASS}"));
    let r = authenticate(&mut c, &other);
    assert!(r.starts_with("NO"), "{r}");
}

#[test]
fn without_a_cluster_the_cluster_login_is_an_unknown_user() {
    let (s, auth) = start(false);
    let mut c = over_tls(&s);
    let r = authenticate(&mut c, &auth.plain_response(USER));
    assert!(r.starts_with("NO"), "{r}");
    let r = authenticate(&mut c, &auth.plain_response(""));
    assert!(r.starts_with("NO"), "{r}");
    s.expect_logged("managesieved", "unknown user");
}
