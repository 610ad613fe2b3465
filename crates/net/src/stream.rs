//! The one connection type of every protocol, server or client side: plain TCP, a Unix socket
//! (LMTP), or TLS over TCP — implicit, or upgraded in place by STARTTLS/STLS — so protocol code
//! holds one stream type whether the session began in plaintext or not, and every upgrade and
//! shutdown behaves the same.

use std::io;

use rustls_pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

pub enum MaybeTls {
    Plain(TcpStream),
    /// Server side (implicit TLS or after STARTTLS) or client side (after STARTTLS).
    Tls(Box<TlsStream<TcpStream>>),
    Unix(UnixStream),
    /// Only while an upgrade is in progress; a failed handshake leaves it here, and the
    /// session must then close.
    Upgrading,
}

impl MaybeTls {
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// "TLSv1.3 with cipher …", or None in plaintext.
    pub fn tls_description(&self) -> Option<String> {
        match self {
            MaybeTls::Tls(s) => Some(crate::tls::describe(s.get_ref().1)),
            _ => None,
        }
    }

    /// Runs the server's TLS handshake on a plaintext TCP stream. The caller must have
    /// discarded any bytes it had buffered from the plaintext phase (CVE-2011-0411): only the
    /// raw socket is handed to TLS here.
    pub async fn upgrade(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        let tcp = self.take_plain()?;
        let tls = acceptor.accept(tcp).await?;
        *self = MaybeTls::Tls(Box::new(TlsStream::Server(tls)));
        Ok(())
    }

    /// [`MaybeTls::upgrade`] within `limit` (a client that never completes the handshake must
    /// not hold the connection); false, with the reason logged, when it did not succeed.
    pub async fn accept_tls(&mut self, acceptor: &TlsAcceptor, limit: std::time::Duration) -> bool {
        match tokio::time::timeout(limit, self.upgrade(acceptor)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "TLS handshake failed");
                false
            }
            Err(_) => {
                tracing::info!("TLS handshake timed out");
                false
            }
        }
    }

    /// Runs the client's TLS handshake on a plaintext TCP stream, with the same rules as
    /// [`MaybeTls::upgrade`]: the caller refuses anything the server sent after its
    /// go-ahead, and a failed handshake leaves the stream lost.
    pub async fn upgrade_client(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> io::Result<()> {
        let tcp = self.take_plain()?;
        let tls = connector.connect(name, tcp).await?;
        *self = MaybeTls::Tls(Box::new(TlsStream::Client(tls)));
        Ok(())
    }

    /// The TCP socket of a plaintext stream, leaving [`MaybeTls::Upgrading`] in its place;
    /// any other stream is left as it was.
    fn take_plain(&mut self) -> io::Result<TcpStream> {
        match std::mem::replace(self, MaybeTls::Upgrading) {
            MaybeTls::Plain(tcp) => Ok(tcp),
            other => {
                let e = match other {
                    MaybeTls::Tls(_) => io::Error::other("TLS already active"),
                    _ => io::Error::other("TLS needs a plaintext TCP stream"),
                };
                *self = other;
                Err(e)
            }
        }
    }

    /// Waits until reading can make progress, so that an idle connection need not hold a
    /// read buffer: on a plain socket, until it is readable; on TLS at once, because
    /// rustls may already hold decrypted bytes the socket will never signal.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(tcp) => tcp.readable().await,
            MaybeTls::Unix(sock) => sock.readable().await,
            _ => Ok(()),
        }
    }
}

fn upgrading() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "stream lost in a TLS upgrade")
}

crate::forward_async_io! {
    MaybeTls {
        MaybeTls::Plain(s) => s,
        MaybeTls::Tls(s) => s,
        MaybeTls::Unix(s) => s,
    }
    // A stream lost in a failed upgrade has nothing left to shut down: closing it is done.
    lost MaybeTls::Upgrading => upgrading(), shutdown: Ok(())
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
