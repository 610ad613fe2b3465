//! A connection that may be upgraded to TLS in place (STARTTLS/STLS), so protocol code holds one
//! stream type whether the session began in plaintext or with implicit TLS.

use std::io;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

pub enum MaybeTls {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
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

    /// Runs the TLS handshake on a plaintext stream. The caller must have discarded any bytes
    /// it had buffered from the plaintext phase (CVE-2011-0411): only the raw socket is
    /// handed to TLS here.
    pub async fn upgrade(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        match std::mem::replace(self, MaybeTls::Upgrading) {
            MaybeTls::Plain(tcp) => {
                let tls = acceptor.accept(tcp).await?;
                *self = MaybeTls::Tls(Box::new(tls));
                Ok(())
            }
            other => {
                *self = other;
                Err(io::Error::other("TLS already active"))
            }
        }
    }

    /// Waits until reading can make progress, so that an idle connection need not hold a
    /// read buffer: on plaintext, until the socket is readable; on TLS at once, because
    /// rustls may already hold decrypted bytes the socket will never signal.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(tcp) => tcp.readable().await,
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
    }
    // A stream lost in a failed upgrade has nothing left to shut down.
    lost MaybeTls::Upgrading => upgrading(), shutdown: Ok(())
}
