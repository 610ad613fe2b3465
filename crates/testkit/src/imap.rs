//! A blocking IMAP client: tagged commands, responses read through their tagged line with
//! literals inlined, APPEND with a synchronising literal.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::conn::Conn;

/// Everything the server answered to one command.
#[derive(Debug, Clone)]
pub struct Response {
    /// Untagged and continuation lines, each with its literals inline.
    pub untagged: Vec<String>,
    pub tagged: String,
}

impl Response {
    pub fn ok(&self) -> bool {
        self.status() == "OK"
    }

    /// `OK`, `NO` or `BAD` of the tagged line.
    pub fn status(&self) -> &str {
        self.tagged.split(' ').nth(1).unwrap_or("")
    }

    pub fn has(&self, needle: &str) -> bool {
        self.untagged.iter().any(|l| l.contains(needle))
    }

    pub fn find(&self, needle: &str) -> Option<&String> {
        self.untagged.iter().find(|l| l.contains(needle))
    }

    /// The whole response, for failure messages.
    pub fn all(&self) -> String {
        let mut s = self.untagged.join("\n");
        s.push('\n');
        s.push_str(&self.tagged);
        s
    }
}

pub struct ImapClient {
    conn: Conn,
    n: u32,
    /// The server's first line.
    pub greeting: String,
}

impl ImapClient {
    /// Connects over TCP and reads the greeting.
    pub fn connect(addr: SocketAddr) -> ImapClient {
        ImapClient::greeted(Conn::open(addr))
            .unwrap_or_else(|e| panic!("greeting from {addr}: {e}"))
    }

    /// Connects to an implicit-TLS port and reads the greeting.
    pub fn connect_tls(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> ImapClient {
        ImapClient::greeted(Conn::open_tls(addr, tls))
            .unwrap_or_else(|e| panic!("greeting from {addr}: {e}"))
    }

    /// Over an existing connection, reading the greeting.
    pub fn greeted(conn: Conn) -> io::Result<ImapClient> {
        let mut c = ImapClient {
            conn,
            n: 0,
            greeting: String::new(),
        };
        c.greeting = c.try_line()?;
        Ok(c)
    }

    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// One logical response line without CRLF, literals read and inlined (after a CRLF);
    /// an `UnexpectedEof` error if the connection closes first.
    pub fn try_line(&mut self) -> io::Result<String> {
        let mut out = Vec::new();
        loop {
            let l = self.conn.read_line()?;
            if l.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed; so far: {}",
                        String::from_utf8_lossy(&out)
                    ),
                ));
            }
            let l = l.strip_suffix(b"\r\n").unwrap_or(&l);
            out.extend_from_slice(l);
            if let Some(size) = literal_size(l) {
                let literal = self.conn.read_exact_bytes(size)?;
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&literal);
                continue;
            }
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
    }

    pub fn line(&mut self) -> String {
        self.try_line().unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.conn.send(raw).unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// The next tag of this client's sequence (`a1`, `a2`, …).
    pub fn next_tag(&mut self) -> String {
        self.n += 1;
        format!("a{}", self.n)
    }

    /// Sends `text` under the next tag and reads through its tagged response.
    pub fn cmd(&mut self, text: &str) -> Response {
        let tag = self.next_tag();
        self.send(format!("{tag} {text}\r\n").as_bytes());
        self.read_until_tag(&tag)
    }

    /// Lines up to and including the one tagged `tag`.
    pub fn try_read_until_tag(&mut self, tag: &str) -> io::Result<Response> {
        let prefix = format!("{tag} ");
        let mut untagged = Vec::new();
        loop {
            let l = self.try_line()?;
            if l.starts_with(&prefix) {
                return Ok(Response {
                    untagged,
                    tagged: l,
                });
            }
            untagged.push(l);
        }
    }

    pub fn read_until_tag(&mut self, tag: &str) -> Response {
        self.try_read_until_tag(tag)
            .unwrap_or_else(|e| panic!("waiting for {tag}: {e}"))
    }

    /// `LOGIN` with both arguments quoted.
    pub fn login(&mut self, user: &str, pass: &str) -> Response {
        self.cmd(&format!("LOGIN \"{user}\" \"{pass}\""))
    }

    /// APPEND with a synchronising literal, checking the continuation request.
    pub fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> Response {
        let tag = self.next_tag();
        self.send(format!("{tag} APPEND {mailbox} ({flags}) {{{}}}\r\n", msg.len()).as_bytes());
        let cont = self.line();
        assert!(cont.starts_with("+ "), "expected continuation, got {cont}");
        self.send(msg);
        self.send(b"\r\n");
        self.read_until_tag(&tag)
    }
}

/// The size of a literal announced at the end of a line (`{12}`), if any.
fn literal_size(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::literal_size;

    #[test]
    fn literal_sizes_are_read_only_from_the_end_of_a_line() {
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {42}"), Some(42));
        assert_eq!(literal_size(b"* OK {not a size}"), None);
        assert_eq!(literal_size(b"* OK {3} trailing"), None);
    }
}
