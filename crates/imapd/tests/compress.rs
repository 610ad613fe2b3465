//! COMPRESS=DEFLATE (RFC 4978) against the real binary, driven like the clients that use it:
//! raw DEFLATE both ways, the client ending its writes with partial flushes (Thunderbird,
//! K-9) or sync flushes (iOS), in small pieces, with a command pipelined behind COMPRESS.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{login, message, PASS, USER};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// The client's side of a compressed connection.
struct Deflated {
    sock: TcpStream,
    out: Compress,
    inp: Decompress,
    /// Decompressed bytes not yet consumed.
    plain: Vec<u8>,
}

impl Deflated {
    fn new(sock: TcpStream) -> Deflated {
        Deflated {
            sock,
            out: Compress::new(Compression::default(), false),
            inp: Decompress::new(false),
            plain: Vec::new(),
        }
    }

    /// `bytes` compressed and ended with `flush`, without sending.
    fn deflate(&mut self, bytes: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut wire = Vec::with_capacity(bytes.len() + 1024);
        let mut rest = bytes;
        loop {
            if wire.len() == wire.capacity() {
                wire.reserve(16 * 1024);
            }
            let before = self.out.total_in();
            self.out.compress_vec(rest, &mut wire, flush).unwrap();
            rest = &rest[(self.out.total_in() - before) as usize..];
            if rest.is_empty() && wire.len() < wire.capacity() {
                return wire;
            }
        }
    }

    /// Sends `bytes` compressed, in pieces of `piece` bytes on the wire.
    fn send(&mut self, bytes: &[u8], flush: FlushCompress, piece: usize) {
        let wire = self.deflate(bytes, flush);
        for p in wire.chunks(piece) {
            self.sock.write_all(p).unwrap();
            self.sock.flush().unwrap();
        }
    }

    /// Decompressed server output through the line tagged `tag`.
    fn until_tag(&mut self, tag: &str) -> String {
        let end = format!("{tag} ");
        loop {
            let text = String::from_utf8_lossy(&self.plain).into_owned();
            if let Some(at) = text
                .match_indices("\r\n")
                .map(|(i, _)| i + 2)
                .find(|&i| text[i..].starts_with(&end) && text[i..].contains("\r\n"))
                .or_else(|| text.starts_with(&end).then_some(0))
            {
                let line_end = at + text[at..].find("\r\n").unwrap() + 2;
                if text[at..].contains("\r\n") {
                    self.plain.drain(..line_end);
                    return text[..line_end].to_owned();
                }
            }
            let mut raw = [0u8; 4096];
            let n = self
                .sock
                .read(&mut raw)
                .unwrap_or_else(|e| panic!("waiting for {tag}: {e}; so far: {text}"));
            assert!(n > 0, "connection closed; so far: {text}");
            let mut rest = &raw[..n];
            while !rest.is_empty() {
                self.plain.reserve(64 * 1024);
                let before = self.inp.total_in();
                self.inp
                    .decompress_vec(rest, &mut self.plain, FlushDecompress::None)
                    .unwrap();
                rest = &rest[(self.inp.total_in() - before) as usize..];
            }
        }
    }
}

#[test]
fn compress_deflate_with_partial_and_sync_flushes() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let r = c.cmd("CAPABILITY");
    assert!(r.all().contains("COMPRESS=DEFLATE"), "{}", r.all());

    let sock = c.conn().tcp_socket().unwrap().try_clone().unwrap();
    let mut z = Deflated::new(sock);
    // COMPRESS with the first compressed command right behind it in the same write.
    let mut first = b"z1 COMPRESS DEFLATE\r\n".to_vec();
    first.extend(z.deflate(b"z2 SELECT INBOX\r\n", FlushCompress::Partial));
    z.sock.write_all(&first).unwrap();
    let mut plain = Vec::new();
    loop {
        let mut b = [0u8; 1];
        z.sock.read_exact(&mut b).unwrap();
        plain.push(b[0]);
        if plain.ends_with(b"\r\n") {
            break;
        }
    }
    let ok = String::from_utf8_lossy(&plain).into_owned();
    assert!(ok.starts_with("z1 OK"), "{ok}");
    let r = z.until_tag("z2");
    assert!(r.contains("z2 OK [READ-WRITE]"), "{r}");

    // A large APPEND literal, then the same bytes fetched back; each client flush style.
    let body: String = (0..4000)
        .map(|i| format!("line {i} of the body\r\n"))
        .collect();
    let msg = message("compressed", &body);
    let mut append = format!("z3 APPEND INBOX {{{}+}}\r\n", msg.len()).into_bytes();
    append.extend_from_slice(&msg);
    append.extend_from_slice(b"\r\n");
    z.send(&append, FlushCompress::Partial, 333);
    let r = z.until_tag("z3");
    assert!(
        r.contains("* 1 EXISTS") && r.contains("z3 OK [APPENDUID"),
        "{r}"
    );

    z.send(b"z4 NOOP\r\n", FlushCompress::Sync, 3);
    let r = z.until_tag("z4");
    assert!(r.contains("z4 OK"), "{r}");

    z.send(b"z5 FETCH 1 BODY.PEEK[]\r\n", FlushCompress::Sync, 5);
    let r = z.until_tag("z5");
    let literal = format!("BODY[] {{{}}}\r\n", msg.len());
    let at = r.find(&literal).unwrap_or_else(|| panic!("{r}")) + literal.len();
    assert_eq!(&r.as_bytes()[at..at + msg.len()], &msg[..]);

    z.send(b"z6 COMPRESS DEFLATE\r\n", FlushCompress::Partial, 64);
    let r = z.until_tag("z6");
    assert!(r.contains("z6 NO [COMPRESSIONACTIVE]"), "{r}");

    z.send(b"z7 LOGOUT\r\n", FlushCompress::Sync, 64);
    let r = z.until_tag("z7");
    assert!(r.contains("* BYE") && r.contains("z7 OK"), "{r}");
}
