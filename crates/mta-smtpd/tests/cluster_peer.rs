//! Another host of the cluster relays through mta-smtpd as the cluster login (`[cluster]`),
//! over STARTTLS with `AUTH PLAIN`: trusted to relay like `trusted_networks`, but no user. A
//! wrong secret is a failed AUTH; without `[cluster]` the login is an unknown user.

mod common;

use ferrymail_net::cluster::ClusterAuth;
use ferrymail_testkit::{SmtpClient, Suite};

fn start(in_cluster: bool) -> (Suite, ClusterAuth) {
    let mut s = Suite::new(&[(common::USER, common::PASS)]);
    s.join_cluster();
    let auth = ClusterAuth::load(&s.env.config.cluster)
        .expect("cluster secret")
        .expect("in a cluster");
    s.edit_config(|c| {
        c.smtpd.client_name_timeout = std::time::Duration::ZERO;
        // Loopback is trusted by default: the peer must earn its trust here.
        c.general.trusted_networks.clear();
        if !in_cluster {
            c.cluster = Default::default();
        }
    });
    s.start("mta-smtpd");
    (s, auth)
}

fn over_tls(s: &Suite) -> SmtpClient {
    let mut c = s.smtp(s.env.ports.smtp);
    c.hello();
    c.starttls();
    assert_eq!(c.cmd("EHLO mx2.cluster.test").code, 250);
    c
}

#[test]
fn a_cluster_peer_may_relay_and_is_recorded_as_no_user() {
    let (s, auth) = start(true);
    let mut c = over_tls(&s);
    assert_eq!(c.cmd("MAIL FROM:<someone@example.org>").code, 250);
    assert_eq!(c.cmd("RCPT TO:<far@elsewhere.test>").status(), "554 5.7.1");
    assert_eq!(c.cmd("RSET").code, 250);
    let r = c.cmd(&format!("AUTH PLAIN {}", auth.plain_response("")));
    assert_eq!(r.status(), "235 2.7.0", "{r}\n{}", s.log("mta-smtpd"));
    let r = c.send_message(
        "someone@example.org",
        &["far@elsewhere.test"],
        b"Subject: handed over\r\n\r\nbody\r\n",
    );
    assert_eq!(r.status(), "250 2.0.0", "{r}");
    let queued = s.queued();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0.recipients[0].address, "far@elsewhere.test");
    assert_eq!(queued[0].0.client.auth_user, None);
    s.expect_logged("mta-smtpd", "cluster peer authenticated");
}

#[test]
fn a_wrong_secret_fails_and_relaying_stays_closed() {
    let (s, auth) = start(true);
    let mut c = over_tls(&s);
    let wrong =
        ferrymail_net::sasl::encode(format!("\0{}\0{}", auth.login(), "z".repeat(40)).as_bytes());
    assert_eq!(c.cmd(&format!("AUTH PLAIN {wrong}")).status(), "535 5.7.8");
    assert_eq!(c.cmd("MAIL FROM:<someone@example.org>").code, 250);
    assert_eq!(c.cmd("RCPT TO:<far@elsewhere.test>").status(), "554 5.7.1");
    s.expect_logged("mta-smtpd", "cluster login refused");
}

#[test]
fn without_a_cluster_the_cluster_login_is_an_unknown_user() {
    let (s, auth) = start(false);
    let mut c = over_tls(&s);
    let r = c.cmd(&format!("AUTH PLAIN {}", auth.plain_response("")));
    assert_eq!(r.status(), "535 5.7.8", "{r}");
    s.expect_logged("mta-smtpd", "unknown user");
}
