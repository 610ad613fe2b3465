//! A client's side of COMPRESS=DEFLATE (RFC 4978): raw DEFLATE both ways over the socket
//! of a logged-in test client, with the flush the test chooses.

use std::io::{Read, Write};
use std::net::TcpStream;

use ferrymail_testkit::ImapClient;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// The client's side of a compressed connection.
pub struct Deflated {
    pub sock: TcpStream,
    out: Compress,
    inp: Decompress,
    /// Decompressed bytes not yet consumed.
    plain: Vec<u8>,
}

impl Deflated {
    /// Sends COMPRESS DEFLATE on `c` (which must be logged in) and takes over its socket.
    pub fn start(c: &mut ImapClient) -> Deflated {
        let r = c.cmd("COMPRESS DEFLATE");
        assert!(r.ok(), "{}", r.all());
        let sock = c.conn().tcp_socket().and_then(|s| s.try_clone().ok());
        Deflated::new(sock.expect("a TCP connection"))
    }

    pub fn new(sock: TcpStream) -> Deflated {
        Deflated {
            sock,
            out: Compress::new(Compression::default(), false),
            inp: Decompress::new(false),
            plain: Vec::new(),
        }
    }

    /// `bytes` compressed and ended with `flush`, without sending.
    pub fn deflate(&mut self, bytes: &[u8], flush: FlushCompress) -> Vec<u8> {
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
    pub fn send(&mut self, bytes: &[u8], flush: FlushCompress, piece: usize) {
        let wire = self.deflate(bytes, flush);
        for p in wire.chunks(piece) {
            self.sock.write_all(p).unwrap();
            self.sock.flush().unwrap();
        }
    }

    /// Decompressed server output through the line tagged `tag`.
    pub fn until_tag(&mut self, tag: &str) -> String {
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
