//! The client side every protocol shares before and after its own login dialogue: reading
//! command lines under the login deadline, the TLS handshake (implicit or by STARTTLS, with
//! the plaintext input thrown away), and the hand-over to the backend once the user is
//! logged in there: register the session, pass on the backend's reply and whatever the
//! client pipelined after its login, then relay.

use std::time::Duration;

use ferrymail_metrics::conn::Protocol;
use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::server::ConnInfo;
use ferrymail_net::stream::MaybeTls;
use tokio::io::{AsyncBufRead, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::context::{Context, Opened};
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

    /// Relays the logged-in session: `reply` (the backend's login answer, reworded for
    /// the client) first, then anything the client sent after its login, then both ways.
    pub async fn hand_over(
        mut self,
        ctx: &Context,
        protocol: Protocol,
        user: &str,
        opened: Opened<'_>,
        reply: &[u8],
    ) -> Result<(), ClientError> {
        let key = ferrymail_users::login_key(user);
        let guard = ctx.sessions.register(&key, &opened.backend.name);
        let backend_name = opened.backend.name.as_str();
        tracing::info!(
            user,
            backend = backend_name,
            proto = protocol.as_str(),
            why = ?opened.why,
            "proxied"
        );
        crate::metrics::proxied(protocol, backend_name);
        self.send(reply).await?;
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
                tracing::info!(user, backend = backend_name, up, down, "session ended")
            }
            (Ok(_), end) => tracing::info!(user, backend = backend_name, ?end, "session closed"),
            (Err(e), _) => {
                tracing::info!(user, backend = backend_name, error = %e, "session ended")
            }
        }
        Ok(())
    }
}
