//! A blocking POP3 client that keeps responses byte-exact: status lines with their CRLF,
//! multi-line bodies as sent (dot-stuffed, through the terminating `.` line).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::conn::Conn;

pub struct Pop3Client {
    conn: Conn,
    /// The server's first line, with its CRLF.
    pub greeting: String,
}

impl Pop3Client {
    /// Connects over TCP and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Pop3Client {
        Pop3Client::greeted(Conn::open(addr))
            .unwrap_or_else(|e| panic!("greeting from {addr}: {e}"))
    }

    /// Connects to an implicit-TLS port and reads the greeting.
    pub fn connect_tls(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Pop3Client {
        Pop3Client::greeted(Conn::open_tls(addr, tls))
            .unwrap_or_else(|e| panic!("greeting from {addr}: {e}"))
    }

    /// Over an existing connection, reading the greeting (empty if the server closed the
    /// connection without one).
    pub fn greeted(conn: Conn) -> io::Result<Pop3Client> {
        let mut c = Pop3Client {
            conn,
            greeting: String::new(),
        };
        c.greeting = match c.try_line() {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => String::new(),
            r => r?,
        };
        Ok(c)
    }

    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.conn.send(raw).unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// One response line with its CRLF; an `UnexpectedEof` error at the end of the stream.
    pub fn try_line(&mut self) -> io::Result<String> {
        let raw = self.conn.read_line()?;
        if raw.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        String::from_utf8(raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// One response line with its CRLF; empty at the end of the stream.
    pub fn line(&mut self) -> String {
        match self.try_line() {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => String::new(),
            r => r.unwrap_or_else(|e| panic!("reading a line: {e}")),
        }
    }

    /// Sends `text` and CRLF; returns the status line.
    pub fn cmd(&mut self, text: &str) -> String {
        self.send(format!("{text}\r\n").as_bytes());
        self.line()
    }

    /// The raw body of a multi-line response, through the terminating `.` CRLF.
    pub fn body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let l = self
                .conn
                .read_line()
                .unwrap_or_else(|e| panic!("reading a multi-line response: {e}"));
            assert!(!l.is_empty(), "EOF inside a multi-line response");
            out.extend_from_slice(&l);
            if l == b".\r\n" {
                return out;
            }
        }
    }

    /// Sends a command expecting `+OK` and a multi-line body; returns (status line, body).
    pub fn multi(&mut self, text: &str) -> (String, Vec<u8>) {
        let status = self.cmd(text);
        assert!(status.starts_with("+OK"), "{text}: {status}");
        let body = self.body();
        (status, body)
    }

    /// USER (which must get +OK) then PASS; returns the answer to PASS.
    pub fn login(&mut self, user: &str, pass: &str) -> String {
        let r = self.cmd(&format!("USER {user}"));
        assert!(r.starts_with("+OK"), "USER: {r}");
        self.cmd(&format!("PASS {pass}"))
    }

    /// STLS; on `+OK`, the TLS handshake. Returns the answer to STLS.
    pub fn stls(&mut self) -> String {
        let r = self.cmd("STLS");
        if r.starts_with("+OK") {
            self.conn
                .start_tls()
                .unwrap_or_else(|e| panic!("TLS handshake after STLS: {e}"));
        }
        r
    }

    /// Whether the server has closed the connection.
    pub fn is_eof(&mut self) -> bool {
        self.conn
            .at_eof()
            .unwrap_or_else(|e| panic!("waiting for the close: {e}"))
    }
}

/// The content of a multi-line body as [`Pop3Client::body`] returns it: the terminator
/// removed and each line's byte-stuffed leading dot taken off (RFC 1939 §3).
pub fn unstuff(body: &[u8]) -> Vec<u8> {
    let body = body.strip_suffix(b".\r\n").unwrap_or(body);
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unstuff;

    #[test]
    fn unstuffing_removes_one_leading_dot_and_the_terminator() {
        assert_eq!(unstuff(b"a\r\n..b\r\n..\r\n.\r\n"), b"a\r\n.b\r\n.\r\n");
    }
}
