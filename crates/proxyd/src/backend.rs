//! The client side towards a backend: connect, read the greeting, STARTTLS (STLS for POP3)
//! verified against the cluster's trust anchors for the backend's `tls_name`, then SASL PLAIN
//! as the cluster login acting for the user. What comes back is the logged-in stream and the
//! backend's success reply, which the protocol passes on to its client.

use std::time::Duration;

use ferrymail_config::ProxyBackend;
use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::stream::MaybeTls;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::context::Context;

/// The whole login on a backend (connect to authenticated) must end within this.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest line read from a backend before the login completes.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Imap,
    Pop3,
    ManageSieve,
    Lmtp,
}

impl Proto {
    /// The protocol's label in metrics and logs.
    pub fn metric(self) -> ferrymail_metrics::conn::Protocol {
        use ferrymail_metrics::conn::Protocol;
        match self {
            Proto::Imap => Protocol::Imap,
            Proto::Pop3 => Protocol::Pop3,
            Proto::ManageSieve => Protocol::ManageSieve,
            Proto::Lmtp => Protocol::Lmtp,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("connection refused: {0}")]
    Refused(std::io::Error),
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("bad tls_name `{0}`")]
    TlsName(String),
    #[error("unexpected reply: {0}")]
    Protocol(String),
    #[error("the cluster login was refused: {0}")]
    LoginRefused(String),
}

/// A backend connection logged in as the user (or, for LMTP, as the cluster itself).
pub struct LoggedIn {
    pub stream: BufReader<MaybeTls>,
    /// The backend's reply to the login, each line with its CRLF; for IMAP the tagged line
    /// without its tag.
    pub reply: Vec<u8>,
}

/// Logs in on `b` for `user` (LMTP: `user` is ignored, the cluster acts for nobody).
pub async fn login(
    ctx: &Context,
    b: &ProxyBackend,
    proto: Proto,
    user: &str,
) -> Result<LoggedIn, BackendError> {
    tokio::time::timeout(LOGIN_TIMEOUT, login_inner(ctx, b, proto, user))
        .await
        .unwrap_or(Err(BackendError::Timeout))
}

async fn login_inner(
    ctx: &Context,
    b: &ProxyBackend,
    proto: Proto,
    user: &str,
) -> Result<LoggedIn, BackendError> {
    let port = match proto {
        Proto::Imap => b.imap,
        Proto::Pop3 => b.pop3,
        Proto::ManageSieve => b.managesieve,
        Proto::Lmtp => b.lmtp,
    };
    let tcp = TcpStream::connect((b.address.as_str(), port))
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => BackendError::Refused(e),
            _ => BackendError::Connect(e),
        })?;
    let _ = tcp.set_nodelay(true);
    let mut s = BufReader::new(MaybeTls::Plain(tcp));
    let mut c = Conversation { s: &mut s };
    match proto {
        Proto::Imap => {
            c.expect(|l| l.starts_with(b"* OK")).await?;
            c.send(b"P1 STARTTLS\r\n").await?;
            c.tagged(b"P1 ").await?;
        }
        Proto::Pop3 => {
            c.expect(|l| l.starts_with(b"+OK")).await?;
            c.send(b"STLS\r\n").await?;
            c.expect(|l| l.starts_with(b"+OK")).await?;
        }
        Proto::ManageSieve => {
            c.sieve_ok().await?;
            c.send(b"STARTTLS\r\n").await?;
            c.sieve_ok().await?;
        }
        Proto::Lmtp => {
            c.expect(|l| l.starts_with(b"220")).await?;
            c.send(b"LHLO proxyd\r\n").await?;
            c.smtp_reply(b"250").await?;
            c.send(b"STARTTLS\r\n").await?;
            c.smtp_reply(b"220").await?;
        }
    }
    starttls(ctx, b, &mut s).await?;
    let mut c = Conversation { s: &mut s };
    let reply = match proto {
        Proto::Imap => {
            let ir = ctx.cluster.plain_response(user);
            c.send(format!("P2 AUTHENTICATE PLAIN {ir}\r\n").as_bytes())
                .await?;
            c.tagged(b"P2 ").await?
        }
        Proto::Pop3 => {
            let ir = ctx.cluster.plain_response(user);
            c.send(format!("AUTH PLAIN {ir}\r\n").as_bytes()).await?;
            c.login_line(|l| l.starts_with(b"+OK")).await?
        }
        Proto::ManageSieve => {
            // After STARTTLS the server announces its capabilities again (RFC 5804 §2.2).
            c.sieve_ok().await?;
            let ir = ctx.cluster.plain_response(user);
            c.send(format!("AUTHENTICATE \"PLAIN\" \"{ir}\"\r\n").as_bytes())
                .await?;
            c.login_line(|l| l.starts_with(b"OK")).await?
        }
        Proto::Lmtp => {
            c.send(b"LHLO proxyd\r\n").await?;
            c.smtp_reply(b"250").await?;
            let ir = ctx.cluster.plain_response("");
            c.send(format!("AUTH PLAIN {ir}\r\n").as_bytes()).await?;
            c.login_line(|l| l.starts_with(b"235")).await?
        }
    };
    Ok(LoggedIn { stream: s, reply })
}

async fn starttls(
    ctx: &Context,
    b: &ProxyBackend,
    s: &mut BufReader<MaybeTls>,
) -> Result<(), BackendError> {
    if !s.buffer().is_empty() {
        // Bytes sent before the handshake must not be read as if they came over TLS.
        return Err(BackendError::Protocol(
            "data pipelined after STARTTLS".into(),
        ));
    }
    let name = ServerName::try_from(b.tls_name.clone())
        .map_err(|_| BackendError::TlsName(b.tls_name.clone()))?;
    s.get_mut()
        .upgrade_client(&ctx.connector, name)
        .await
        .map_err(BackendError::Tls)
}

struct Conversation<'a> {
    s: &'a mut BufReader<MaybeTls>,
}

impl Conversation<'_> {
    async fn send(&mut self, bytes: &[u8]) -> Result<(), BackendError> {
        self.s.get_mut().write_all(bytes).await?;
        self.s.get_mut().flush().await?;
        Ok(())
    }

    async fn line(&mut self) -> Result<Vec<u8>, BackendError> {
        let mut buf = Vec::new();
        match read_line(self.s, &mut buf, MAX_LINE).await? {
            Line::Complete => Ok(buf),
            Line::TooLong => Err(BackendError::Protocol("line too long".into())),
            Line::Eof => Err(BackendError::Protocol("connection closed".into())),
        }
    }

    async fn expect(&mut self, ok: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, BackendError> {
        let l = self.line().await?;
        if ok(&l) {
            Ok(l)
        } else {
            Err(BackendError::Protocol(shown(&l)))
        }
    }

    /// The answer to the cluster login: a refusal is told apart from other trouble.
    async fn login_line(&mut self, ok: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, BackendError> {
        let l = self.line().await?;
        if ok(&l) {
            Ok(l)
        } else {
            Err(BackendError::LoginRefused(shown(&l)))
        }
    }

    /// Untagged lines up to the tagged one, which must be OK; returns the untagged lines
    /// and the tagged one with its tag removed.
    async fn tagged(&mut self, tag: &[u8]) -> Result<Vec<u8>, BackendError> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await?;
            if let Some(rest) = l.strip_prefix(tag) {
                if rest.starts_with(b"OK") {
                    out.extend_from_slice(rest);
                    return Ok(out);
                }
                return Err(BackendError::LoginRefused(shown(&l)));
            }
            if l.starts_with(b"* BYE") {
                return Err(BackendError::Protocol(shown(&l)));
            }
            out.extend_from_slice(&l);
        }
    }

    /// ManageSieve: capability lines up to `OK`.
    async fn sieve_ok(&mut self) -> Result<(), BackendError> {
        loop {
            let l = self.line().await?;
            if l.starts_with(b"OK") {
                return Ok(());
            }
            if l.starts_with(b"NO") || l.starts_with(b"BYE") {
                return Err(BackendError::Protocol(shown(&l)));
            }
        }
    }

    /// An SMTP-style reply (continuation lines `250-`), which must have `code`.
    async fn smtp_reply(&mut self, code: &[u8]) -> Result<(), BackendError> {
        loop {
            let l = self.line().await?;
            if !l.starts_with(code) {
                return Err(BackendError::Protocol(shown(&l)));
            }
            if l.get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    }
}

/// A reply line for a log message.
pub fn shown(line: &[u8]) -> String {
    String::from_utf8_lossy(ferrymail_net::lines::strip_eol(line)).into_owned()
}
