//! The client side every protocol shares before and after its own login dialogue: reading
//! command lines under the login deadline, the TLS handshake (implicit or by STARTTLS, with
//! the plaintext input thrown away), and the hand-over to the backend once the user is
//! logged in there: register the session, pass on the backend's reply and whatever the
//! client pipelined after its login, then relay.

use std::time::Duration;

use ferrymail_managesieve::command::parse_sasl_response;
use ferrymail_managesieve::literal_at_end;
use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::sasl::{Credentials, Exchange, Step};
use ferrymail_net::server::ConnInfo;
use ferrymail_net::stream::MaybeTls;
use tokio::io::{AsyncBufRead, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::backend::Proto;
use crate::context::Context;
use crate::relay::{self, End};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    #[error("no TLS configured")]
    NoTls,
    #[error("login timeout")]
    Timeout,
    #[error("connection closed")]
    Closed,
    #[error("{0}")]
    Internal(&'static str),
}

/// Longest SASL response line.
const SASL_LINE: usize = 8 * 1024;

/// How a protocol frames SASL challenges and responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenges {
    /// `+ <base64>` and a response line (IMAP, POP3).
    Plus,
    /// `334 <base64>` and a response line (LMTP).
    Smtp,
    /// A quoted string, and a string (quoted or literal) in response (ManageSieve).
    Sieve,
}

/// The client connection before its session is handed over.
pub struct Client {
    pub s: BufReader<MaybeTls>,
    deadline: Instant,
}

impl Client {
    /// Wraps an accepted connection, with its TLS handshake first on implicit-TLS ports.
    pub async fn accept(
        ctx: &Context,
        tcp: TcpStream,
        info: &ConnInfo,
    ) -> Result<Client, ClientError> {
        let deadline = Instant::now() + ctx.config.proxy.login_timeout;
        let mut c = Client {
            s: BufReader::new(MaybeTls::Plain(tcp)),
            deadline,
        };
        if info.role.implicit_tls() {
            c.handshake(ctx).await?;
        }
        Ok(c)
    }

    /// Gives reads until `from_now` from now (LMTP: each command of a long-lived session).
    pub fn extend_deadline(&mut self, from_now: Duration) {
        self.deadline = Instant::now() + from_now;
    }

    pub fn is_tls(&self) -> bool {
        self.s.get_ref().is_tls()
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.s.get_mut().write_all(bytes).await?;
        self.s.get_mut().flush().await?;
        Ok(())
    }

    /// The next line, terminator included; `None` for a line over `max` (already skipped).
    pub async fn line(&mut self, max: usize) -> Result<Option<Vec<u8>>, ClientError> {
        let mut buf = Vec::new();
        match tokio::time::timeout_at(self.deadline, read_line(&mut self.s, &mut buf, max)).await {
            Err(_) => Err(ClientError::Timeout),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(Line::Complete)) => Ok(Some(buf)),
            Ok(Ok(Line::TooLong)) => Ok(None),
            Ok(Ok(Line::Eof)) => Err(ClientError::Closed),
        }
    }

    /// Exactly `n` bytes (an IMAP literal).
    pub async fn exact(&mut self, n: usize) -> Result<Vec<u8>, ClientError> {
        let mut buf = vec![0; n];
        let read = tokio::io::AsyncReadExt::read_exact(&mut self.s, &mut buf);
        match tokio::time::timeout_at(self.deadline, read).await {
            Err(_) => Err(ClientError::Timeout),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(_)) => Ok(buf),
        }
    }

    /// Runs a SASL exchange to its end: `Ok(Err(reason))` when it failed or was cancelled.
    pub async fn sasl(
        &mut self,
        mut ex: Exchange,
        initial: Option<&str>,
        style: Challenges,
    ) -> Result<Result<Credentials, String>, ClientError> {
        let mut step = ex.begin(initial);
        loop {
            match step {
                Ok(Step::Done(creds)) => return Ok(Ok(creds)),
                Ok(Step::Challenge(ch)) => {
                    let response = match style {
                        Challenges::Plus | Challenges::Smtp => {
                            let prefix = if style == Challenges::Plus {
                                "+"
                            } else {
                                "334"
                            };
                            self.send(format!("{prefix} {ch}\r\n").as_bytes()).await?;
                            self.line(SASL_LINE).await?
                        }
                        Challenges::Sieve => {
                            let mut out = Vec::new();
                            ferrymail_managesieve::response::string(&mut out, ch.as_bytes());
                            out.extend_from_slice(b"\r\n");
                            self.send(&out).await?;
                            let frame = self.sieve_frame(SASL_LINE, SASL_LINE as u64).await?;
                            frame.and_then(|f| parse_sasl_response(&f).ok())
                        }
                    };
                    let Some(response) = response else {
                        return Ok(Err("response too long".into()));
                    };
                    step = ex.respond(&String::from_utf8_lossy(&response));
                }
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
    }

    /// One ManageSieve command with its literals; `None` when over the limits.
    pub async fn sieve_frame(
        &mut self,
        max_line: usize,
        max_literal: u64,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let mut frame = Vec::new();
        loop {
            let Some(line) = self.line(max_line).await? else {
                return Ok(None);
            };
            frame.extend_from_slice(&line);
            let Some(n) = literal_at_end(&line) else {
                return Ok(Some(frame));
            };
            if n > max_literal || frame.len() > max_line * 4 {
                return Ok(None);
            }
            let n = usize::try_from(n).map_err(|_| ClientError::Internal("literal size"))?;
            frame.extend_from_slice(&self.exact(n).await?);
        }
    }

    /// The server side of STARTTLS after the go-ahead was sent.
    pub async fn handshake(&mut self, ctx: &Context) -> Result<(), ClientError> {
        let acceptor = ctx.tls.as_ref().ok_or(ClientError::NoTls)?.acceptor();
        if !self.s.buffer().is_empty() {
            // CVE-2011-0411: nothing sent in plaintext may be read as if it came over TLS.
            tracing::warn!("discarding input pipelined before the TLS handshake");
            let n = self.s.buffer().len();
            std::pin::Pin::new(&mut self.s).consume(n);
        }
        let upgrade = self.s.get_mut().upgrade(&acceptor);
        match tokio::time::timeout_at(self.deadline, upgrade).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ClientError::Handshake(e)),
            Err(_) => Err(ClientError::Timeout),
        }
    }

    /// Opens the user's session on its backend and relays it: the backend's login reply
    /// (`reword` makes it the answer to the client's login) first, then anything the client
    /// sent after its login, then both ways. When no backend takes the session the client
    /// gets `unavailable` and the connection ends.
    pub async fn proxy(
        mut self,
        ctx: &Context,
        proto: Proto,
        user: &str,
        reword: impl FnOnce(Vec<u8>) -> Vec<u8>,
        unavailable: &[u8],
    ) -> Result<(), ClientError> {
        let protocol = proto.metric();
        let opened = match ctx.open(proto, user).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(user = %user, error = %e, "no backend for the session");
                return self.send(unavailable).await;
            }
        };
        let reply = reword(opened.conn.reply.clone());
        let key = ferrymail_users::login_key(user);
        let guard = ctx.sessions.register(&key, &opened.backend.name);
        let backend_name = opened.backend.name.as_str();
        tracing::info!(
            user = %user,
            backend = %backend_name,
            proto = %protocol.as_str(),
            why = ?opened.why,
            "proxied"
        );
        crate::metrics::proxied(protocol, backend_name);
        self.send(&reply).await?;
        let backend = opened.conn.stream;
        let early = backend.buffer().to_vec();
        if !early.is_empty() {
            self.send(&early).await?;
        }
        let pipelined = self.s.buffer().to_vec();
        let mut backend = backend.into_inner();
        if !pipelined.is_empty() {
            backend.write_all(&pipelined).await?;
            backend.flush().await?;
        }
        let client = self.s.into_inner();
        let idle: Duration = ctx.config.proxy.idle_timeout;
        let (result, end) = relay::relay(client, backend, idle, &guard, ctx.shutdown.clone()).await;
        match (result, end) {
            (Ok((up, down)), End::Closed) => {
                tracing::info!(user = %user, backend = %backend_name, up, down, "session ended")
            }
            (Ok(_), end) => {
                tracing::info!(user = %user, backend = %backend_name, ?end, "session closed")
            }
            (Err(e), _) => {
                tracing::info!(user = %user, backend = %backend_name, error = %e, "session ended")
            }
        }
        Ok(())
    }
}
