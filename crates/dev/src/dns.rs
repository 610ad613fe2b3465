//! A tiny authoritative DNS server on loopback for tests: MX, A, AAAA, TXT and PTR records
//! from an in-memory zone, over UDP. Enough for resolvers (hickory) to do MX lookups, SPF/DMARC
//! TXT lookups and reverse lookups against test domains without any real DNS.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// One resource record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx(u16, String),
    Txt(String),
    Ptr(String),
}

impl Rdata {
    fn qtype(&self) -> u16 {
        match self {
            Rdata::A(_) => 1,
            Rdata::Mx(..) => 15,
            Rdata::Txt(_) => 16,
            Rdata::Ptr(_) => 12,
            Rdata::Aaaa(_) => 28,
        }
    }
}

/// The zone data: names are case-insensitive, stored without the trailing dot.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    records: HashMap<String, Vec<Rdata>>,
    /// Names answered with SERVFAIL (to test temporary DNS errors).
    servfail: Vec<String>,
    /// When set, NXDOMAIN and empty answers carry an SOA with this minimum TTL, as real
    /// servers' do, so resolvers cache the negative answer (RFC 2308). Off by default.
    negative_ttl: Option<u32>,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    pub fn add(&mut self, name: &str, data: Rdata) -> &mut Zone {
        self.records.entry(norm(name)).or_default().push(data);
        self
    }

    pub fn a(&mut self, name: &str, ip: IpAddr) -> &mut Zone {
        match ip {
            IpAddr::V4(v4) => self.add(name, Rdata::A(v4)),
            IpAddr::V6(v6) => self.add(name, Rdata::Aaaa(v6)),
        }
    }

    pub fn mx(&mut self, name: &str, pref: u16, host: &str) -> &mut Zone {
        self.add(name, Rdata::Mx(pref, norm(host)))
    }

    pub fn txt(&mut self, name: &str, text: &str) -> &mut Zone {
        self.add(name, Rdata::Txt(text.to_owned()))
    }

    /// A PTR record for `ip` (the reverse name is built for you).
    pub fn ptr(&mut self, ip: IpAddr, host: &str) -> &mut Zone {
        self.add(&reverse_name(ip), Rdata::Ptr(norm(host)))
    }

    pub fn servfail(&mut self, name: &str) -> &mut Zone {
        self.servfail.push(norm(name));
        self
    }

    /// Makes negative answers cacheable for `ttl` seconds (an SOA in the authority section).
    pub fn negative_caching(&mut self, ttl: u32) -> &mut Zone {
        self.negative_ttl = Some(ttl);
        self
    }

    pub fn remove(&mut self, name: &str) -> &mut Zone {
        self.records.remove(&norm(name));
        self
    }
}

/// `1.2.0.192.in-addr.arpa` / nibble form for IPv6.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// A running server; stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    zone: Arc<RwLock<Zone>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `zone` on an ephemeral UDP port of 127.0.0.1.
    pub fn start(zone: Zone) -> std::io::Result<DnsServer> {
        DnsServer::start_on(zone, UdpSocket::bind("127.0.0.1:0")?)
    }

    /// Serves `zone` on a socket the caller bound: another address or port 53, or a socket
    /// created inside a network namespace (a socket stays in the namespace it was made in,
    /// whichever thread serves it).
    pub fn start_on(zone: Zone, sock: UdpSocket) -> std::io::Result<DnsServer> {
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = sock.local_addr()?;
        let zone = Arc::new(RwLock::new(zone));
        let stop = Arc::new(AtomicBool::new(false));
        let (z, s) = (zone.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let zone = z.read().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(reply) = answer(&zone, &buf[..n]) {
                    let _ = sock.send_to(&reply, peer);
                }
            }
        });
        Ok(DnsServer {
            addr,
            zone,
            stop,
            thread: Some(thread),
        })
    }

    /// Changes the zone while running.
    pub fn update(&self, f: impl FnOnce(&mut Zone)) {
        f(&mut self.zone.write().unwrap_or_else(|p| p.into_inner()));
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None; // queries never use compression in the question
        }
        let label = msg.get(pos..pos + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += len;
    }
    Some((labels.join("."), pos))
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
}

/// Builds the response to one query packet (None for garbage).
fn answer(zone: &Zone, q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([q[4], q[5]]);
    if qdcount != 1 {
        return None;
    }
    let (name, pos) = read_name(q, 12)?;
    let qtype = u16::from_be_bytes([*q.get(pos)?, *q.get(pos + 1)?]);
    let question = &q[12..pos + 4];
    let servfail = zone.servfail.contains(&name);
    let records = zone.records.get(&name);
    let answers: Vec<&Rdata> = records
        .map(|r| r.iter().filter(|d| d.qtype() == qtype).collect())
        .unwrap_or_default();
    let rcode: u8 = if servfail {
        2
    } else if records.is_none() {
        3 // NXDOMAIN
    } else {
        0
    };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&q[0..2]);
    // QR, opcode from query, AA, RD copied; RA set.
    out.push(0x80 | (q[2] & 0x78) | 0x04 | (q[2] & 0x01));
    out.push(0x80 | rcode);
    out.extend_from_slice(&1u16.to_be_bytes());
    let an = if rcode == 0 { answers.len() as u16 } else { 0 };
    let soa_ttl = zone.negative_ttl.filter(|_| !servfail && an == 0);
    out.extend_from_slice(&an.to_be_bytes());
    out.extend_from_slice(&u16::from(soa_ttl.is_some()).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(question);
    if let Some(ttl) = soa_ttl {
        // The root's SOA: an ancestor of every name, all a resolver needs for the TTL.
        out.push(0);
        out.extend_from_slice(&6u16.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        let mut data = Vec::new();
        write_name(&mut data, "ns.invalid");
        write_name(&mut data, "hostmaster.invalid");
        for v in [1u32, 3600, 600, 86400, ttl] {
            data.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    if rcode != 0 {
        return Some(out);
    }
    for rd in answers {
        out.extend_from_slice(&[0xC0, 0x0C]);
        out.extend_from_slice(&rd.qtype().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        let mut data = Vec::new();
        match rd {
            Rdata::A(ip) => data.extend_from_slice(&ip.octets()),
            Rdata::Aaaa(ip) => data.extend_from_slice(&ip.octets()),
            Rdata::Mx(pref, host) => {
                data.extend_from_slice(&pref.to_be_bytes());
                write_name(&mut data, host);
            }
            Rdata::Ptr(host) => write_name(&mut data, host),
            Rdata::Txt(text) => {
                for chunk in text.as_bytes().chunks(255) {
                    data.push(chunk.len() as u8);
                    data.extend_from_slice(chunk);
                }
                if text.is_empty() {
                    data.push(0);
                }
            }
        }
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        write_name(&mut q, name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn answers_nxdomain_nodata_and_records() {
        let mut z = Zone::new();
        z.mx("b.test", 10, "mx.b.test")
            .a("mx.b.test", "127.0.0.1".parse().unwrap());
        let r = answer(&z, &query("B.test", 15)).unwrap();
        assert_eq!(r[3] & 0x0f, 0);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        let r = answer(&z, &query("b.test", 1)).unwrap();
        assert_eq!((r[3] & 0x0f, u16::from_be_bytes([r[6], r[7]])), (0, 0));
        let r = answer(&z, &query("nope.test", 1)).unwrap();
        assert_eq!(r[3] & 0x0f, 3);
        assert!(answer(&z, b"short").is_none());
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
    }

    #[test]
    fn negative_answers_carry_an_soa_only_when_asked() {
        let mut z = Zone::new();
        z.a("b.test", "127.0.0.1".parse().unwrap());
        let nscount = |r: &[u8]| u16::from_be_bytes([r[8], r[9]]);
        assert_eq!(nscount(&answer(&z, &query("nope.test", 1)).unwrap()), 0);
        z.negative_caching(30);
        let r = answer(&z, &query("nope.test", 1)).unwrap();
        assert_eq!((r[3] & 0x0f, nscount(&r)), (3, 1));
        // The SOA's last field is the negative TTL.
        assert_eq!(r[r.len() - 4..], 30u32.to_be_bytes());
        let nodata = answer(&z, &query("b.test", 16)).unwrap();
        assert_eq!((nodata[3] & 0x0f, nscount(&nodata)), (0, 1));
        let a = answer(&z, &query("b.test", 1)).unwrap();
        assert_eq!(nscount(&a), 0);
    }

    #[test]
    fn serves_on_a_socket_the_caller_bound() {
        let mut z = Zone::new();
        z.mx("b.test", 10, "mx.b.test");
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = DnsServer::start_on(z, sock).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.send_to(&query("b.test", 15), server.addr).unwrap();
        let mut buf = [0u8; 512];
        let n = client.recv(&mut buf).unwrap();
        let r = &buf[..n];
        assert_eq!(r[..2], [0x12, 0x34]);
        assert_eq!((r[3] & 0x0f, u16::from_be_bytes([r[6], r[7]])), (0, 1));
    }
}
