//! MTA-STS test fixtures: certificates for loopback hosts, and the policy host and the two
//! MX hosts (trusted and untrusted certificate) the MTA-STS and TLS-RPT tests deliver to.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{always, smtp_server_tls, FakeServer, TestEnv};

/// Writes a certificate and key for `names` under `dir` and returns the server config and
/// the certificate's path.
pub fn cert(
    dir: &Path,
    stem: &str,
    names: &[&str],
) -> (Arc<rustls::ServerConfig>, std::path::PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let (c, k) = ferrymail_net::tls::self_signed(&names).unwrap();
    let cp = dir.join(format!("{stem}.crt"));
    let kp = dir.join(format!("{stem}.key"));
    std::fs::write(&cp, c).unwrap();
    std::fs::write(&kp, k).unwrap();
    (
        ferrymail_net::tls::load_server_config(&cp, &kp).unwrap(),
        cp,
    )
}

/// The MX whose certificate the configuration trusts.
pub const GOOD_MX: [u8; 4] = [127, 0, 0, 3];
/// The policy host of every test domain.
pub const POLICY: [u8; 4] = [127, 0, 0, 4];
/// An MX (`mx.badcert.test`) whose certificate no configured authority signed.
pub const BAD_CERT_MX: [u8; 4] = [127, 0, 0, 5];

/// The servers of an MTA-STS test.
pub struct StsWorld {
    /// The trusted certificate, for further servers.
    pub trusted: Arc<rustls::ServerConfig>,
    pub good: FakeServer,
    pub bad: FakeServer,
    pub policy: ferrymail_testkit::https::PolicyServer,
}

/// Starts the MX at [`GOOD_MX`] and the policy host at [`POLICY`] (serving `policy_for`)
/// with one certificate for `names`, which `t`'s configuration trusts, and the MX at
/// [`BAD_CERT_MX`] with a certificate valid for its name but signed by no configured
/// authority; MX hosts listen on `smtp_port`, the policy host on `https`. `t`'s
/// configuration is changed to match but not saved: the caller edits it further.
pub fn sts_world(
    t: &mut TestEnv,
    smtp_port: u16,
    https: u16,
    names: &[&str],
    policy_for: fn(&str) -> Option<&'static str>,
) -> StsWorld {
    let dir = t.env.state_dir.join("test-ca");
    std::fs::create_dir_all(&dir).unwrap();
    let (trusted, ca) = cert(&dir, "trusted", names);
    let (untrusted, _) = cert(&dir, "untrusted", &["mx.badcert.test"]);
    let q = &mut t.env.config.queue;
    q.tls_trust_anchors = vec![ca];
    q.mta_sts.https_port = https;
    q.mta_sts.fetch_timeout = Duration::from_secs(3);
    let at = |ip: [u8; 4], port| SocketAddr::new(IpAddr::from(ip), port);
    let ext: &[&str] = &["PIPELINING"];
    StsWorld {
        trusted: trusted.clone(),
        good: smtp_server_tls(
            at(GOOD_MX, smtp_port),
            ext,
            Some(trusted.clone()),
            Arc::new(always),
        ),
        bad: smtp_server_tls(
            at(BAD_CERT_MX, smtp_port),
            ext,
            Some(untrusted),
            Arc::new(always),
        ),
        policy: ferrymail_testkit::https::policy_server(at(POLICY, https), trusted, move |h| {
            policy_for(h).map(str::to_owned)
        }),
    }
}
