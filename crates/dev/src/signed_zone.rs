//! A DNSSEC-signed test DNS on loopback, served by Knot DNS (Debian `knot`): the tests of
//! DANE need signatures made by a real signer, not by the code under test.
//!
//! The zone is the root, so the test's trust anchor is the only one and every name of the
//! test is below it; Knot signs it at start (ECDSA P-256, NSEC). Zones delegated from it are
//! served by the same Knot: an unsigned one validates as insecure, as an unsigned domain on
//! the internet does; a signed one under a wrong DS record is bogus. [`SignedDns::start`] waits until the root's DNSKEY answers and
//! writes it as the trust anchor file (`queue.dnssec_trust_anchors`).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the daemon and the query tool.
const KNOTD: &str = "/usr/sbin/knotd";
const KDIG: &str = "/usr/bin/kdig";

/// A zone delegated from the test root. A signed child gets no DS record in the root from
/// here: the caller adds one (a wrong one makes the child bogus) or none (then it is
/// insecure, as an unsigned one).
pub struct ChildZone<'a> {
    pub name: &'a str,
    /// Zone-file lines, absolute names.
    pub lines: &'a str,
    pub signed: bool,
}

pub struct SignedDns {
    pub addr: SocketAddr,
    /// The root's key-signing key as a DNSKEY record, for `queue.dnssec_trust_anchors`.
    pub trust_anchor: PathBuf,
    child: Child,
}

impl Drop for SignedDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why the signed DNS cannot run here (the caller prints `SKIP: …`).
pub fn unavailable() -> Option<String> {
    for tool in [KNOTD, KDIG] {
        if !Path::new(tool).exists() {
            return Some(format!(
                "{tool} not found (Debian packages knot, knot-dnsutils)"
            ));
        }
    }
    None
}

impl SignedDns {
    /// Serves `root` (zone-file lines of the root zone, absolute names; signed) and each
    /// child zone delegated from it, from files under `dir`.
    pub fn start(dir: &Path, root: &str, children: &[ChildZone<'_>]) -> io::Result<SignedDns> {
        std::fs::create_dir_all(dir.join("db"))?;
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let d = dir.display();
        let mut conf = format!(
            "server:\n    listen: {addr_k}\n    rundir: {d}\n\
             database:\n    storage: {d}/db\n\
             policy:\n  - id: test\n    algorithm: ecdsap256sha256\n    nsec3: off\n\
             template:\n  - id: default\n    storage: {d}\n\
             zone:\n  - domain: .\n    file: root.zone\n    dnssec-signing: on\n    dnssec-policy: test\n",
            addr_k = format_args!("127.0.0.1@{port}"),
        );
        let soa = |zone: &str| {
            format!("{zone} 3600 SOA ns.root. hostmaster.root. 1 3600 600 86400 300\n")
        };
        let delegations: String = children
            .iter()
            .map(|c| format!("{}. 3600 NS ns.root.\n", c.name))
            .collect();
        std::fs::write(
            dir.join("root.zone"),
            format!(
                "{}. 3600 NS ns.root.\nns.root. 3600 A 127.0.0.1\n{delegations}{root}\n",
                soa(".")
            ),
        )?;
        for (i, c) in children.iter().enumerate() {
            let file = format!("child{i}.zone");
            let name = c.name;
            std::fs::write(
                dir.join(&file),
                format!(
                    "{}{name}. 3600 NS ns.root.\n{}\n",
                    soa(&format!("{name}.")),
                    c.lines
                ),
            )?;
            conf.push_str(&format!("  - domain: {name}.\n    file: {file}\n"));
            if c.signed {
                conf.push_str("    dnssec-signing: on\n    dnssec-policy: test\n");
            }
        }
        let conf_path = dir.join("knot.conf");
        std::fs::write(&conf_path, conf)?;
        let log = std::fs::File::create(dir.join("knotd.log"))?;
        let child = Command::new(KNOTD)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut dns = SignedDns {
            addr,
            trust_anchor: dir.join("root.key"),
            child,
        };
        let key = dns.wait_for_ksk(Duration::from_secs(20))?;
        std::fs::write(&dns.trust_anchor, format!(". 3600 IN DNSKEY {key}\n"))?;
        Ok(dns)
    }

    /// The root's KSK (`257 3 13 …`) once Knot serves the signed zone.
    fn wait_for_ksk(&mut self, limit: Duration) -> io::Result<String> {
        let start = Instant::now();
        loop {
            let out = Command::new(KDIG)
                .arg(format!("@{}", self.addr.ip()))
                .arg("-p")
                .arg(self.addr.port().to_string())
                .args([".", "DNSKEY", "+short", "+time=1", "+retry=0"])
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            if let Some(k) = text.lines().find(|l| l.starts_with("257 ")) {
                return Ok(k.trim().to_owned());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("knotd exited: {status}")));
            }
            if start.elapsed() > limit {
                return Err(io::Error::other("knotd did not serve a signed root zone"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A port free for both UDP and TCP on 127.0.0.1.
fn free_port() -> io::Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no port free for both UDP and TCP"))
}
