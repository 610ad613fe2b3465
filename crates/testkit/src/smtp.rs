//! A blocking SMTP/LMTP client that shows exactly what the server sent: each reply as its
//! code and lines, commands sent as raw bytes when a test wants to misbehave, and whole
//! SMTP or LMTP transactions.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use ferrymail_smtp::DotStuffer;

use crate::conn::Conn;

/// One (possibly multi-line) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code of the last line; 0 if it had none.
    pub code: u16,
    /// Every line without its line end, joined with `\n`.
    text: String,
}

impl Reply {
    /// The lines as the server sent them, without line ends.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split('\n')
    }

    /// The last line's text after the code and separator (`2.0.0 Ok: queued as …`).
    pub fn message(&self) -> &str {
        self.lines().last().and_then(|l| l.get(4..)).unwrap_or("")
    }

    /// Code and enhanced status code of the last line, e.g. `"250 2.1.5"` (for a reply
    /// without one, the code and the first word).
    pub fn status(&self) -> String {
        let last = self.lines().last().unwrap_or_default();
        last.split(' ').take(2).collect::<Vec<_>>().join(" ")
    }

    /// 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

/// The reply's text, so a test can use `starts_with`, `contains` and `lines` directly.
impl std::ops::Deref for Reply {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<&str> for Reply {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// A line-oriented SMTP (or LMTP) client.
pub struct SmtpClient {
    conn: Conn,
}

impl SmtpClient {
    /// Connects over TCP; the greeting is left for the test to read.
    pub fn connect(addr: SocketAddr) -> SmtpClient {
        SmtpClient {
            conn: Conn::open(addr),
        }
    }

    /// Connects to an LMTP server's Unix socket; the greeting is left for the test to read.
    pub fn connect_unix(path: &Path) -> SmtpClient {
        let conn = Conn::unix(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        SmtpClient { conn }
    }

    /// Over an existing connection.
    pub fn from_conn(conn: Conn) -> SmtpClient {
        SmtpClient { conn }
    }

    /// Trusts `config` for [`SmtpClient::starttls`] and [`SmtpClient::handshake`].
    pub fn with_tls(self, config: Arc<rustls::ClientConfig>) -> SmtpClient {
        SmtpClient {
            conn: self.conn.with_tls(config),
        }
    }

    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.conn.send(bytes)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// One full reply; an `UnexpectedEof` error if the server closed the connection first.
    pub fn try_reply(&mut self) -> io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let raw = self.conn.read_line()?;
            if raw.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed; reply so far: {lines:?}"),
                ));
            }
            let line = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                let code = lines
                    .last()
                    .and_then(|l| l.get(..3))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                return Ok(Reply {
                    code,
                    text: lines.join("\n"),
                });
            }
        }
    }

    pub fn reply(&mut self) -> Reply {
        self.try_reply()
            .unwrap_or_else(|e| panic!("reading a reply: {e}"))
    }

    /// Sends `line` and CRLF, and reads the reply.
    pub fn try_cmd(&mut self, line: &str) -> io::Result<Reply> {
        self.try_send(format!("{line}\r\n").as_bytes())?;
        self.try_reply()
    }

    pub fn cmd(&mut self, line: &str) -> Reply {
        self.try_cmd(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// Reads the 220 greeting and says `EHLO client.test`; returns the EHLO reply.
    pub fn hello(&mut self) -> Reply {
        let g = self.reply();
        assert!(g.starts_with("220 "), "greeting: {g}");
        self.cmd("EHLO client.test")
    }

    /// Runs the TLS handshake on the plain connection (after a 220 to STARTTLS, or at once
    /// on an implicit-TLS port).
    pub fn handshake(&mut self) {
        self.conn
            .start_tls()
            .unwrap_or_else(|e| panic!("TLS handshake: {e}"));
    }

    /// STARTTLS, expecting `220 2.0.0`, then the handshake.
    pub fn starttls(&mut self) {
        let r = self.cmd("STARTTLS");
        assert!(r.starts_with("220 2.0.0"), "{r}");
        self.handshake();
    }

    /// `AUTH PLAIN` with an initial response.
    pub fn auth_plain(&mut self, user: &str, pass: &str) -> Reply {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        self.cmd(&format!("AUTH PLAIN {b}"))
    }

    /// Whether the server has closed the connection (nothing more to read).
    pub fn closed(&mut self) -> bool {
        self.conn
            .at_eof()
            .unwrap_or_else(|e| panic!("waiting for the close: {e}"))
    }

    /// One transaction: MAIL, RCPT for each of `to` (each must get 250), DATA (354), then
    /// `data` as it is and the final dot; returns the reply to the data.
    pub fn send_message(&mut self, from: &str, to: &[&str], data: &[u8]) -> Reply {
        let r = self.cmd(&format!("MAIL FROM:<{from}>"));
        assert!(r.starts_with("250"), "MAIL: {r}");
        for t in to {
            let r = self.cmd(&format!("RCPT TO:<{t}>"));
            assert!(r.starts_with("250"), "RCPT {t}: {r}");
        }
        let r = self.cmd("DATA");
        assert!(r.starts_with("354"), "DATA: {r}");
        self.send(data);
        self.send(b".\r\n");
        self.reply()
    }

    /// One LMTP transaction (RFC 2033) after the greeting: LHLO, MAIL, RCPT for each of
    /// `rcpts`, then DATA with `msg` dot-stuffed if any recipient was accepted. Returns the
    /// RCPT replies and the per-recipient DATA replies (none when no recipient was accepted
    /// and DATA was refused).
    pub fn lmtp_deliver(
        &mut self,
        from: &str,
        rcpts: &[&str],
        msg: &[u8],
    ) -> (Vec<Reply>, Vec<Reply>) {
        self.lmtp_deliver_with(from, "", rcpts, msg)
    }

    /// [`SmtpClient::lmtp_deliver`] with MAIL parameters (e.g. ` XQUEUEID=…`).
    pub fn lmtp_deliver_with(
        &mut self,
        from: &str,
        mail_params: &str,
        rcpts: &[&str],
        msg: &[u8],
    ) -> (Vec<Reply>, Vec<Reply>) {
        assert_eq!(self.cmd("LHLO test.client").code, 250);
        let r = self.cmd(&format!("MAIL FROM:<{from}>{mail_params}"));
        assert_eq!(r.code, 250, "MAIL: {r}");
        let rr: Vec<Reply> = rcpts
            .iter()
            .map(|r| self.cmd(&format!("RCPT TO:<{r}>")))
            .collect();
        let accepted = rr.iter().filter(|r| r.code == 250).count();
        let data = self.cmd("DATA");
        if accepted == 0 {
            assert_eq!(data.code, 503, "DATA without recipients: {data}");
            return (rr, Vec::new());
        }
        assert_eq!(data.code, 354, "DATA: {data}");
        let mut wire = Vec::new();
        let mut st = DotStuffer::new();
        st.feed(msg, &mut wire);
        st.finish(&mut wire);
        self.send(&wire);
        let dr = (0..accepted).map(|_| self.reply()).collect();
        (rr, dr)
    }
}
