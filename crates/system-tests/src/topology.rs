//! The multi-host design's topology, brought up whole: on one Lan (10.77.0.0/24, the users'
//! clients at .1 and DNS at .2 in the wan namespace) three storage nodes g1..g3 (.11-.13) with
//! the replica-3 volume, two mailbox backends b1, b2 (.21, .22: imapd, pop3d, managesieved,
//! local-delivery with a TCP LMTP listener; the mail root on their own mount of the volume),
//! the front end (.30: proxyd) and two MX hosts mx1, mx2 (.31, .32: mta-smtpd and queue-runner,
//! delivering to the front end over LMTP and handing their queues to each other on a clean
//! stop), two MX records of equal preference, one certificate
//! and one cluster secret for all. Torn down on drop, hosts first, the namespaces last.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrymail_config::{ClusterPeer, ProxyBackend, Role};
use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_dev::{built_bin, wait_for_tcp, Ports};
use ferrymail_testkit::suite::quick_queue;

use crate::cluster::{addr, listener, shared_certificate, Host, DOMAIN};
use crate::gluster::{self, Gluster};
use crate::netns::Lan;

/// A mailbox backend's daemons, in start order.
pub const BACKEND_DAEMONS: [&str; 4] = ["local-delivery", "imapd", "pop3d", "managesieved"];

/// An MX host's daemons, in start order.
pub const MX_DAEMONS: [&str; 2] = ["queue-runner", "mta-smtpd"];

/// Every host and its last address byte.
const ROLES: [(&str, u8); 8] = [
    ("g1", 11),
    ("g2", 12),
    ("g3", 13),
    ("b1", 21),
    ("b2", 22),
    ("front", 30),
    ("mx1", 31),
    ("mx2", 32),
];

/// The running installation. Fields drop in this order: daemons, storage, DNS, namespaces.
pub struct Topology {
    pub backends: Vec<Host>,
    pub front: Host,
    pub mxs: Vec<Host>,
    pub gluster: Gluster,
    pub dns: DnsServer,
    pub lan: Lan,
    /// Trusts the cluster's certificate, for the users' clients.
    pub tls: Arc<rustls::ClientConfig>,
    /// Time from the first namespace to the last daemon answering.
    pub bring_up: Duration,
    _dir: tempfile::TempDir,
}

impl Topology {
    /// Brings everything up for `users` (`(login, password)`, the same on every host). `Err`
    /// is a reason to skip (not root, no FUSE or GlusterFS, no namespaces); a host that does
    /// not come up panics with the logs. Every daemon binary must be built.
    pub fn start(users: &[(String, String)]) -> Result<Topology, String> {
        if let Some(reason) = gluster::unavailable() {
            return Err(reason);
        }
        for d in BACKEND_DAEMONS.iter().chain(&MX_DAEMONS).chain(&["proxyd"]) {
            if let Err(e) = built_bin(d) {
                panic!("{e}");
            }
        }
        let started = Instant::now();
        let plan: Vec<_> = ROLES.iter().map(|(r, last)| (*r, addr(*last))).collect();
        let lan = Lan::create_named(&[addr(1), addr(2)], &plan)
            .map_err(|e| format!("network namespaces unavailable: {e}"))?;
        let lan_host = |role: &str| lan.host(role).expect("every role has a host").clone();
        let ip = |role: &str| lan_host(role).ip;

        let mut zone = Zone::new();
        zone.mx(DOMAIN, 10, &format!("mx1.{DOMAIN}"))
            .mx(DOMAIN, 10, &format!("mx2.{DOMAIN}"));
        for (role, _) in ROLES {
            zone.a(&format!("{role}.{DOMAIN}"), ip(role));
        }
        let dns_addr = SocketAddr::new(IpAddr::V4(addr(2)), 53);
        let sock = lan
            .wan
            .run(|| UdpSocket::bind(dns_addr))
            .map_err(|e| format!("DNS on {dns_addr}: {e}"))?;
        let dns = DnsServer::start_on(zone, sock).map_err(|e| format!("DNS: {e}"))?;

        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let mut names: Vec<String> = ROLES
            .iter()
            .flat_map(|(r, _)| [format!("{r}.{DOMAIN}"), ip(r).to_string()])
            .collect();
        names.push("localhost".into());
        let cert = shared_certificate(dir.path(), &names)?;
        let tls = ferrymail_testkit::tls::trusting(&cert.0);

        let nodes: Vec<_> = ["g1", "g2", "g3"].iter().map(|r| lan_host(r)).collect();
        let mut g =
            Gluster::start(&nodes, &dir.path().join("gluster")).unwrap_or_else(|e| panic!("{e}"));
        let host = |role: &str| {
            let h = lan_host(role);
            Host::new(role, h.place, h.ip, Ports::standard(), users, &cert)
        };

        let mut backends = Vec::new();
        for (role, server) in [("b1", "g1"), ("b2", "g2")] {
            let mount = dir.path().join(format!("store-{role}"));
            g.mount(&lan_host(role).place, ip(server), &mount)
                .unwrap_or_else(|e| panic!("{e}"));
            let mut b = host(role);
            let lmtp = SocketAddr::new(ip(role), 24);
            b.s.edit_config(|c| {
                c.paths.mail_root = mount.clone();
                c.delivery.lmtp_listen = vec![lmtp];
            });
            b.start_all(&BACKEND_DAEMONS);
            assert!(
                b.place.run(|| wait_for_tcp(lmtp, Duration::from_secs(10))),
                "local-delivery does not listen on delivery.lmtp_listen {lmtp}\n{}",
                b.logs()
            );
            backends.push(b);
        }

        let mut front = host("front");
        let fip = ip("front");
        front.s.edit_config(|c| {
            c.proxy.listeners = vec![
                listener(Role::Imap, fip, 143),
                listener(Role::Pop3, fip, 110),
                listener(Role::Managesieve, fip, 4190),
                listener(Role::Lmtp, fip, 24),
            ];
            c.proxy.backends = ["b1", "b2"]
                .iter()
                .map(|r| ProxyBackend {
                    name: (*r).into(),
                    address: ip(r).to_string(),
                    tls_name: format!("{r}.{DOMAIN}"),
                    imap: 143,
                    pop3: 110,
                    managesieve: 4190,
                    lmtp: 24,
                })
                .collect();
            c.proxy.health_interval = Duration::from_millis(500);
            c.proxy.health_failures = 1;
        });
        front.start("proxyd");

        let mut mxs = Vec::new();
        for (role, peer) in [("mx1", "mx2"), ("mx2", "mx1")] {
            let mut m = host(role);
            m.s.edit_config(|c| {
                quick_queue(c, dns.addr, 25);
                c.queue.lmtp_server = Some(ClusterPeer {
                    address: SocketAddr::new(fip, 24),
                    tls_name: format!("front.{DOMAIN}"),
                });
                // A clean stop hands what is still queued to the other MX host.
                c.queue.handoff_relay = Some(ClusterPeer {
                    address: SocketAddr::new(ip(peer), 25),
                    tls_name: format!("{peer}.{DOMAIN}"),
                });
                c.queue.handoff_timeout = Duration::from_secs(20);
            });
            m.start_all(&MX_DAEMONS);
            mxs.push(m);
        }
        Ok(Topology {
            backends,
            front,
            mxs,
            gluster: g,
            dns,
            lan,
            tls,
            bring_up: started.elapsed(),
            _dir: dir,
        })
    }

    /// The address of host `role`.
    pub fn ip(&self, role: &str) -> IpAddr {
        self.lan
            .host(role)
            .map(|h| h.ip)
            .unwrap_or_else(|| panic!("no host {role}"))
    }

    /// Every mail host's daemon logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out: String = self
            .backends
            .iter()
            .chain(&self.mxs)
            .map(Host::logs)
            .collect();
        out.push_str(&self.front.logs());
        out
    }

    /// Where a storage node keeps its brick.
    pub fn brick(&self, node: usize) -> PathBuf {
        self.gluster.nodes[node].brick()
    }
}
