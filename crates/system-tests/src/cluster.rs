//! The multi-host installation of the design, built from real daemons: hosts of one mail
//! domain in network namespaces (or all in one place), each a dev environment of its own with
//! the cluster's shared certificate, secret and user database, and only the daemons of its
//! role. What the roles are and how they are wired is the test's; this module makes a host
//! and starts, kills and stops its daemons where they belong.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferrymail_config::{Listener, Role};
use ferrymail_dev::Ports;
use ferrymail_testkit::Suite;

use crate::netns::Place;

/// The mail domain every host serves.
pub const DOMAIN: &str = "cluster.test";

/// How long a daemon may take to answer after it was started.
const READY: Duration = Duration::from_secs(30);

/// The address `last` in the cluster's network 10.77.0.0/24.
pub fn addr(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, last)
}

/// One certificate for every host name of the cluster (and `localhost` and the addresses),
/// written to `dir`: it is each host's `[tls]` certificate and the cluster's only trust
/// anchor.
pub fn shared_certificate(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), String> {
    let (cert, key) =
        ferrymail_net::tls::self_signed(names).map_err(|e| format!("certificate: {e}"))?;
    let (cert_path, key_path) = (dir.join("cluster-cert.pem"), dir.join("cluster-key.pem"));
    std::fs::write(&cert_path, cert).map_err(|e| format!("{}: {e}", cert_path.display()))?;
    std::fs::write(&key_path, key).map_err(|e| format!("{}: {e}", key_path.display()))?;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    Ok((cert_path, key_path))
}

/// One host: its dev environment (`<role>.cluster.test` on `ip`) and where it runs.
pub struct Host {
    pub role: String,
    pub s: Suite,
    /// Where the host's daemons run: its network, the root mount namespace.
    pub place: Place,
}

impl Host {
    /// A host named `<role>.cluster.test` listening on `ip` with `ports`, knowing `users`,
    /// with the shared certificate and the cluster secret; no daemon started, and every
    /// listener not on `ip` removed by the caller's `edit`.
    pub fn new(
        role: &str,
        place: Place,
        ip: IpAddr,
        ports: Ports,
        users: &[(String, String)],
        cert: &(PathBuf, PathBuf),
    ) -> Host {
        let mut s = Suite::with(|o| {
            o.domain = DOMAIN.into();
            o.users = users.to_vec();
            o.listen_addr = ip;
            o.ports = ports;
        });
        for (from, to) in [
            (&cert.0, &s.env.config.tls.cert),
            (&cert.1, &s.env.config.tls.key),
        ] {
            std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
        }
        // The cluster's trust anchor is the shared certificate the host now serves.
        s.join_cluster();
        let hostname = format!("{role}.{DOMAIN}");
        s.edit_config(|c| {
            c.general.hostname = hostname;
            c.general.trusted_networks = vec![format!("{ip}/32").parse().expect("a /32 network")];
            for l in [
                &mut c.imapd.limits,
                &mut c.pop3d.limits,
                &mut c.proxy.limits,
            ] {
                l.auth_failure_delay = Duration::from_millis(20);
            }
        });
        Host {
            role: role.to_owned(),
            s,
            place,
        }
    }

    /// The host's address.
    pub fn ip(&self) -> IpAddr {
        self.s.env.listen_addr
    }

    pub fn name(&self) -> String {
        format!("{}.{DOMAIN}", self.role)
    }

    /// Starts the workspace daemon `name` in the host's place and waits (from there) until
    /// it answers.
    pub fn start(&mut self, name: &str) {
        let place = self.place.clone();
        let prefix = place.net_only_prefix();
        self.s.start_prefixed(&prefix, name, |env| {
            place.run(|| env.wait_ready(name, READY))
        });
    }

    /// Starts each daemon in turn.
    pub fn start_all(&mut self, names: &[&str]) {
        for n in names {
            self.start(n);
        }
    }

    /// SIGKILL to each daemon named (a crashed host).
    pub fn kill(&mut self, names: &[&str]) {
        for n in names {
            self.s.kill(n);
        }
    }

    /// SIGTERM to each daemon named, waiting for each to exit (a host shut down cleanly).
    pub fn stop(&mut self, names: &[&str]) {
        for n in names {
            let status = self.s.stop(n);
            assert!(status.success(), "{n} of {} exited {status}", self.role);
        }
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        format!("===== host {} =====\n{}", self.role, self.s.logs())
    }
}

/// A listener of `role` on `ip:port`.
pub fn listener(role: Role, ip: IpAddr, port: u16) -> Listener {
    Listener {
        role,
        listen: SocketAddr::new(ip, port),
        name: None,
    }
}
