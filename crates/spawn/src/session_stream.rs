//! The bytes of an IMAP or POP3 session: the client's own TCP/TLS connection in the main
//! process, or in a session child the Unix socket over which the main process relays that
//! connection. One type, so a daemon's session loop runs unchanged in both.

use std::io;

use ferrymail_net::stream::MaybeTls;
use tokio::net::UnixStream;
use tokio_rustls::TlsAcceptor;

pub enum SessionStream {
    Net(MaybeTls),
    /// A session child's end of the socket to the main process, which holds the client's
    /// connection; `tls` says whether that connection is encrypted.
    Relayed {
        sock: UnixStream,
        tls: bool,
    },
}

impl SessionStream {
    pub fn is_tls(&self) -> bool {
        match self {
            SessionStream::Net(s) => s.is_tls(),
            SessionStream::Relayed { tls, .. } => *tls,
        }
    }

    pub fn tls_description(&self) -> Option<String> {
        match self {
            SessionStream::Net(s) => s.tls_description(),
            SessionStream::Relayed { .. } => None,
        }
    }

    /// STARTTLS/STLS; only possible on the client's own connection.
    pub async fn upgrade(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        match self {
            SessionStream::Net(s) => s.upgrade(acceptor).await,
            SessionStream::Relayed { .. } => {
                Err(io::Error::other("TLS is handled by the main process"))
            }
        }
    }

    /// Waits until reading can make progress (see [`MaybeTls::readable`]), so that a session
    /// waiting for its next command need not hold a read buffer meanwhile.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            SessionStream::Net(s) => s.readable().await,
            SessionStream::Relayed { sock, .. } => sock.readable().await,
        }
    }
}

ferrymail_net::forward_async_io! {
    SessionStream {
        SessionStream::Net(s) => s,
        SessionStream::Relayed { sock: s, .. } => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// Whether `readable` has finished after being polled once.
    async fn ready_now(w: &SessionStream) -> bool {
        tokio::select! {
            biased;
            r = w.readable() => {
                r.unwrap();
                true
            }
            _ = std::future::ready(()) => false,
        }
    }

    /// One command and its reply through the stream.
    async fn exchange(
        w: &mut SessionStream,
        peer: &mut (impl AsyncRead + AsyncWrite + Unpin),
        tag: &str,
    ) {
        let cmd = format!("{tag} NOOP\r\n");
        peer.write_all(cmd.as_bytes()).await.unwrap();
        w.readable().await.unwrap();
        // Larger than the command: a short read is what tells tokio the socket is drained.
        let mut buf = [0u8; 64];
        let n = w.read(&mut buf).await.unwrap();
        assert_eq!(buf.get(..n).unwrap(), cmd.as_bytes());
        let reply = format!("{tag} OK\r\n");
        w.write_all(reply.as_bytes()).await.unwrap();
        w.flush().await.unwrap();
        let mut back = vec![0u8; reply.len()];
        peer.read_exact(&mut back).await.unwrap();
        assert_eq!(back, reply.as_bytes());
    }

    /// A stream waiting for the next command is not readable until the peer sent one (what
    /// lets a session wait without a read buffer); then the command arrives whole.
    async fn idle_until_data(
        mut w: SessionStream,
        peer: &mut (impl AsyncRead + AsyncWrite + Unpin),
    ) {
        exchange(&mut w, peer, "a1").await;
        assert!(!ready_now(&w).await, "readable before the next command");
        exchange(&mut w, peer, "a2").await;
        assert!(!ready_now(&w).await, "readable before the next command");
    }

    #[tokio::test]
    async fn a_relayed_stream_waits_for_data_before_reading() {
        let (sock, mut peer) = UnixStream::pair().unwrap();
        let w = SessionStream::Relayed { sock, tls: true };
        assert!(w.is_tls());
        assert!(w.tls_description().is_none());
        idle_until_data(w, &mut peer).await;
    }

    #[tokio::test]
    async fn a_plaintext_stream_waits_for_data_before_reading() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let w = SessionStream::Net(MaybeTls::Plain(server));
        assert!(!w.is_tls());
        idle_until_data(w, &mut client).await;
    }
}
