//! A tiny authoritative DNS server on loopback for tests: MX, A, AAAA, TXT, PTR and CNAME
//! records from an in-memory zone, over UDP and TCP. Enough for resolvers (hickory) to do MX
//! lookups, SPF/DMARC TXT lookups and reverse lookups against test domains without any real
//! DNS, and to be fed hostile data: TXT strings of any bytes, CNAME loops, answers too large
//! for UDP (truncated, then served over TCP). The wire format is in [`wire`].

mod wire;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
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
    /// Text, cut into character-strings of 255 bytes on the wire.
    Txt(String),
    /// The character-strings exactly as given: any bytes, empty ones, any split. A string
    /// longer than 255 bytes is cut to 255 (the wire cannot say more).
    TxtRaw(Vec<Vec<u8>>),
    Ptr(String),
    /// An alias: every question for the name is answered with it, and with the target's
    /// records when the target is in the zone (chains followed up to 8 links, loops cut).
    Cname(String),
    /// A TLSA record (RFC 6698): usage, selector, matching type, association data.
    Tlsa(u8, u8, u8, Vec<u8>),
}

impl Rdata {
    fn qtype(&self) -> u16 {
        match self {
            Rdata::A(_) => 1,
            Rdata::Cname(_) => 5,
            Rdata::Mx(..) => 15,
            Rdata::Txt(_) | Rdata::TxtRaw(_) => 16,
            Rdata::Ptr(_) => 12,
            Rdata::Aaaa(_) => 28,
            Rdata::Tlsa(..) => 52,
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

    /// A TXT record made of these character-strings, byte for byte.
    pub fn txt_raw(&mut self, name: &str, strings: Vec<Vec<u8>>) -> &mut Zone {
        self.add(name, Rdata::TxtRaw(strings))
    }

    /// A TLSA record in presentation form fields: `tlsa("_25._tcp.mx.a.test", 3, 1, 1, &digest)`.
    pub fn tlsa(
        &mut self,
        name: &str,
        usage: u8,
        selector: u8,
        matching: u8,
        data: &[u8],
    ) -> &mut Zone {
        self.add(name, Rdata::Tlsa(usage, selector, matching, data.to_vec()))
    }

    /// `name` is an alias of `target`.
    pub fn cname(&mut self, name: &str, target: &str) -> &mut Zone {
        self.add(name, Rdata::Cname(norm(target)))
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
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `zone` on an ephemeral port of 127.0.0.1, over UDP and TCP (the same port
    /// number, where resolvers retry truncated answers).
    pub fn start(zone: Zone) -> std::io::Result<DnsServer> {
        let mut last_err = None;
        // The UDP port is chosen by the kernel; its TCP twin may be taken, so try a few.
        for _ in 0..20 {
            let udp = UdpSocket::bind("127.0.0.1:0")?;
            match TcpListener::bind(udp.local_addr()?) {
                Ok(tcp) => return DnsServer::serve(zone, udp, Some(tcp)),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("no free port")))
    }

    /// Serves `zone` over UDP only, on a socket the caller bound: another address or port 53,
    /// or a socket created inside a network namespace (a socket stays in the namespace it was
    /// made in, whichever thread serves it). Answers too large for UDP come back truncated.
    pub fn start_on(zone: Zone, sock: UdpSocket) -> std::io::Result<DnsServer> {
        DnsServer::serve(zone, sock, None)
    }

    fn serve(zone: Zone, sock: UdpSocket, tcp: Option<TcpListener>) -> std::io::Result<DnsServer> {
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = sock.local_addr()?;
        let zone = Arc::new(RwLock::new(zone));
        let stop = Arc::new(AtomicBool::new(false));
        let (z, s) = (zone.clone(), stop.clone());
        let mut threads = vec![std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let zone = z.read().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(reply) = wire::answer(&zone, &buf[..n], wire::Transport::Udp) {
                    let _ = sock.send_to(&reply, peer);
                }
            }
        })];
        if let Some(tcp) = tcp {
            tcp.set_nonblocking(true)?;
            let (z, s) = (zone.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    match tcp.accept() {
                        Ok((conn, _)) => {
                            let z = z.clone();
                            std::thread::spawn(move || serve_tcp(conn, &z));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }));
        }
        Ok(DnsServer {
            addr,
            zone,
            stop,
            threads,
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
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One TCP connection: length-prefixed queries and answers (RFC 1035 §4.2.2) until the client
/// closes or goes quiet.
fn serve_tcp(mut conn: TcpStream, zone: &RwLock<Zone>) {
    if conn.set_nonblocking(false).is_err()
        || conn.set_read_timeout(Some(Duration::from_secs(2))).is_err()
    {
        return;
    }
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if conn.read_exact(&mut q).is_err() {
            return;
        }
        let zone = zone.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(reply) = wire::answer(&zone, &q, wire::Transport::Tcp) else {
            return;
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            return;
        };
        if conn.write_all(&n.to_be_bytes()).is_err() || conn.write_all(&reply).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wire::tests::query;
    use super::*;

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

    #[test]
    fn answers_over_tcp_on_the_same_port() {
        let mut z = Zone::new();
        for i in 0..200u8 {
            z.a("many.test", IpAddr::from([192, 0, 2, i]));
        }
        let server = DnsServer::start(z).unwrap();
        let mut conn = TcpStream::connect(server.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for _ in 0..2 {
            let q = query("many.test", 1);
            conn.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
            conn.write_all(&q).unwrap();
            let mut len = [0u8; 2];
            conn.read_exact(&mut len).unwrap();
            let mut r = vec![0u8; usize::from(u16::from_be_bytes(len))];
            conn.read_exact(&mut r).unwrap();
            assert_eq!(u16::from_be_bytes([r[6], r[7]]), 200);
        }
    }
}
