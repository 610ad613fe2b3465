//! The DNS wire format of the test server: reading a question, building the answer, CNAME
//! chasing within the zone, and truncation (TC) when an answer is too large for UDP.

use super::{Rdata, Zone};

/// How the query came in, which decides the largest answer we may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    Udp,
    Tcp,
}

/// Longest CNAME chain followed inside the zone, as resolvers bound theirs.
const MAX_CHAIN: usize = 8;

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

pub(super) fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = label.as_bytes();
        let bytes = bytes.get(..63).unwrap_or(bytes);
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// The UDP payload size the query allows: 512, or more when it carries an EDNS OPT record
/// (RFC 6891) as its first additional record.
fn udp_limit(q: &[u8], question_end: usize) -> usize {
    let arcount = u16::from_be_bytes([q[10], q[11]]);
    let opt = q.get(question_end..question_end + 5);
    match opt {
        Some([0, 0, 41, hi, lo]) if arcount >= 1 => {
            usize::from(u16::from_be_bytes([*hi, *lo])).max(512)
        }
        _ => 512,
    }
}

fn rdata(rd: &Rdata) -> Vec<u8> {
    let mut data = Vec::new();
    match rd {
        Rdata::A(ip) => data.extend_from_slice(&ip.octets()),
        Rdata::Aaaa(ip) => data.extend_from_slice(&ip.octets()),
        Rdata::Mx(pref, host) => {
            data.extend_from_slice(&pref.to_be_bytes());
            write_name(&mut data, host);
        }
        Rdata::Ptr(host) | Rdata::Cname(host) => write_name(&mut data, host),
        Rdata::Txt(text) => {
            for chunk in text.as_bytes().chunks(255) {
                data.push(chunk.len() as u8);
                data.extend_from_slice(chunk);
            }
            if text.is_empty() {
                data.push(0);
            }
        }
        Rdata::Tlsa(usage, selector, matching, assoc) => {
            data.extend_from_slice(&[*usage, *selector, *matching]);
            data.extend_from_slice(assoc);
        }
        Rdata::TxtRaw(strings) => {
            for s in strings {
                let s = s.get(..255).unwrap_or(s);
                data.push(s.len() as u8);
                data.extend_from_slice(s);
            }
        }
    }
    data
}

/// The records answering `qtype` for `name`: CNAMEs on the way (followed while their targets
/// are in the zone), then the records of the type at the end of the chain.
fn collect<'z>(zone: &'z Zone, name: &str, qtype: u16) -> Vec<(String, &'z Rdata)> {
    let mut out = Vec::new();
    let mut owner = name.to_owned();
    let mut visited = vec![owner.clone()];
    loop {
        let Some(records) = zone.records.get(&owner) else {
            return out;
        };
        let cname = records.iter().find(|d| matches!(d, Rdata::Cname(_)));
        match cname {
            Some(rd @ Rdata::Cname(target)) if qtype != 5 => {
                out.push((owner.clone(), rd));
                if visited.contains(target) || visited.len() > MAX_CHAIN {
                    return out;
                }
                visited.push(target.clone());
                owner = target.clone();
            }
            _ => {
                out.extend(
                    records
                        .iter()
                        .filter(|d| d.qtype() == qtype)
                        .map(|d| (owner.clone(), d)),
                );
                return out;
            }
        }
    }
}

/// Builds the response to one query packet (None for garbage).
pub(super) fn answer(zone: &Zone, q: &[u8], transport: Transport) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([q[4], q[5]]);
    if qdcount != 1 {
        return None;
    }
    let (name, pos) = read_name(q, 12)?;
    let qtype = u16::from_be_bytes([*q.get(pos)?, *q.get(pos + 1)?]);
    let question = q.get(12..pos + 4)?;
    let servfail = zone.servfail.contains(&name);
    let answers = collect(zone, &name, qtype);
    let rcode: u8 = if servfail {
        2
    } else if !zone.records.contains_key(&name) {
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
    let header_and_question = out.len();
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
    for (owner, rd) in answers {
        if owner == name {
            out.extend_from_slice(&[0xC0, 0x0C]);
        } else {
            write_name(&mut out, &owner);
        }
        out.extend_from_slice(&rd.qtype().to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&60u32.to_be_bytes());
        let mut data = rdata(rd);
        // Only a zone built to be hostile gets here; the cut record is garbage, as intended.
        data.truncate(usize::from(u16::MAX));
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    let limit = match transport {
        Transport::Udp => udp_limit(q, pos + 4),
        Transport::Tcp => usize::from(u16::MAX),
    };
    if out.len() > limit {
        // RFC 1035 §4.1.1 / RFC 7766: say TC and send no records; the client asks over TCP.
        out.truncate(header_and_question);
        out[2] |= 0x02;
        out[6..12].fill(0);
    }
    Some(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::dns::reverse_name;

    pub(in crate::dns) fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        write_name(&mut q, name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    fn udp(z: &Zone, q: &[u8]) -> Vec<u8> {
        answer(z, q, Transport::Udp).unwrap()
    }

    fn ancount(r: &[u8]) -> u16 {
        u16::from_be_bytes([r[6], r[7]])
    }

    #[test]
    fn answers_nxdomain_nodata_and_records() {
        let mut z = Zone::new();
        z.mx("b.test", 10, "mx.b.test")
            .a("mx.b.test", "127.0.0.1".parse().unwrap());
        let r = udp(&z, &query("B.test", 15));
        assert_eq!(r[3] & 0x0f, 0);
        assert_eq!(ancount(&r), 1);
        let r = udp(&z, &query("b.test", 1));
        assert_eq!((r[3] & 0x0f, ancount(&r)), (0, 0));
        let r = udp(&z, &query("nope.test", 1));
        assert_eq!(r[3] & 0x0f, 3);
        assert!(answer(&z, b"short", Transport::Udp).is_none());
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
        assert_eq!(nscount(&udp(&z, &query("nope.test", 1))), 0);
        z.negative_caching(30);
        let r = udp(&z, &query("nope.test", 1));
        assert_eq!((r[3] & 0x0f, nscount(&r)), (3, 1));
        // The SOA's last field is the negative TTL.
        assert_eq!(r[r.len() - 4..], 30u32.to_be_bytes());
        let nodata = udp(&z, &query("b.test", 16));
        assert_eq!((nodata[3] & 0x0f, nscount(&nodata)), (0, 1));
        let a = udp(&z, &query("b.test", 1));
        assert_eq!(nscount(&a), 0);
    }

    #[test]
    fn raw_txt_strings_go_out_byte_for_byte() {
        let mut z = Zone::new();
        z.txt_raw(
            "t.test",
            vec![b"v=spf\xff".to_vec(), Vec::new(), vec![b'x'; 300]],
        );
        let r = udp(&z, &query("t.test", 16));
        let q = query("t.test", 16);
        // Answer: pointer (2), type, class, ttl (8), rdlength (2), then the strings.
        let rdata = &r[q.len() + 12..];
        let mut want = vec![6u8];
        want.extend_from_slice(b"v=spf\xff");
        want.push(0);
        want.push(255);
        want.extend(std::iter::repeat_n(b'x', 255));
        assert_eq!(
            u16::from_be_bytes([r[q.len() + 10], r[q.len() + 11]]) as usize,
            want.len()
        );
        assert_eq!(rdata, &want[..]);
    }

    #[test]
    fn cname_chains_are_followed_and_loops_cut() {
        let mut z = Zone::new();
        z.cname("alias.test", "real.test")
            .a("real.test", "192.0.2.1".parse().unwrap())
            .cname("loop1.test", "loop2.test")
            .cname("loop2.test", "loop1.test");
        let r = udp(&z, &query("alias.test", 1));
        assert_eq!(ancount(&r), 2);
        let r = udp(&z, &query("loop1.test", 16));
        assert_eq!((r[3] & 0x0f, ancount(&r)), (0, 2));
        // Asking for the CNAME itself does not chase it.
        assert_eq!(ancount(&udp(&z, &query("alias.test", 5))), 1);
    }

    #[test]
    fn answers_too_large_for_udp_are_truncated_but_whole_over_tcp() {
        let mut z = Zone::new();
        for i in 0..100u8 {
            z.a("many.test", std::net::IpAddr::from([192, 0, 2, i]));
        }
        let q = query("many.test", 1);
        let r = udp(&z, &q);
        assert_eq!((r[2] & 0x02, ancount(&r), r.len()), (0x02, 0, q.len()));
        let r = answer(&z, &q, Transport::Tcp).unwrap();
        assert_eq!((r[2] & 0x02, ancount(&r)), (0, 100));
        // An EDNS OPT record offering 4096 bytes lets the 1.6 kB answer through on UDP.
        let mut q = q;
        q[11] = 1;
        q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ancount(&udp(&z, &q)), 100);
    }
}
