//! The byte stream under every test client: TCP, a Unix socket, or TLS over TCP (from the
//! first byte or after a STARTTLS-style upgrade), with read/write timeouts and a buffer so
//! replies can be read line by line or as literals of a given size.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

/// How long a client waits for the server before a read or write fails. Generous: a test
/// fails on a wrong answer, not on a slow machine; a hung server still ends the test.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The name the dev environment's certificate is checked against.
const SERVER_NAME: &str = "localhost";

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
    /// Only while the TCP stream is being moved into TLS.
    Gone,
}

/// A client connection that reads by lines or by byte counts.
pub struct Conn {
    stream: Stream,
    /// Bytes read from the server but not consumed yet.
    pending: Vec<u8>,
    /// What [`Conn::start_tls`] trusts.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Conn {
    /// Connects over TCP with [`TIMEOUT`] for reads and writes, each write sent at once (as
    /// mail clients do: without it a message's final dot waits for the server's delayed ACK of
    /// the data before it, 40 ms per transaction).
    pub fn tcp(addr: SocketAddr) -> io::Result<Conn> {
        let s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        Ok(Conn::from_tcp(s))
    }

    /// [`Conn::tcp`], failing the test if the server cannot be reached.
    pub fn open(addr: SocketAddr) -> Conn {
        Conn::tcp(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"))
    }

    /// Connects to an implicit-TLS port and runs the handshake trusting `tls`, failing the
    /// test if either does not work.
    pub fn open_tls(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Conn {
        let mut conn = Conn::open(addr).with_tls(tls);
        conn.start_tls()
            .unwrap_or_else(|e| panic!("TLS to {addr}: {e}"));
        conn
    }

    /// Wraps a connected stream as it is (its timeouts are the caller's).
    pub fn from_tcp(s: TcpStream) -> Conn {
        Conn::new(Stream::Tcp(s))
    }

    /// Connects to a Unix stream socket with [`TIMEOUT`] for reads and writes.
    pub fn unix(path: &Path) -> io::Result<Conn> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        Ok(Conn::new(Stream::Unix(s)))
    }

    fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            pending: Vec::new(),
            tls: None,
        }
    }

    /// Sets what a later [`Conn::start_tls`] trusts.
    pub fn with_tls(mut self, config: Arc<rustls::ClientConfig>) -> Conn {
        self.tls = Some(config);
        self
    }

    /// Runs the TLS handshake now: at once on an implicit-TLS port, or after the server
    /// agreed to STARTTLS/STLS. Anything the server sent before the handshake is an error
    /// (it would be plaintext injected into the TLS session).
    pub fn start_tls(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "server sent data before TLS: {:?}",
                    String::from_utf8_lossy(&self.pending)
                ),
            ));
        }
        let config = self.tls.clone().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no TLS config for this client")
        })?;
        let Stream::Tcp(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS needs a plain TCP connection",
            ));
        };
        let name = ServerName::try_from(SERVER_NAME).map_err(io::Error::other)?;
        let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        self.stream = Stream::Tls(Box::new(s));
        Ok(())
    }

    /// Whether the connection runs TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The TCP socket underneath (plain or TLS), for timeouts and socket options.
    pub fn tcp_socket(&self) -> Option<&TcpStream> {
        match &self.stream {
            Stream::Tcp(s) => Some(s),
            Stream::Tls(s) => Some(&s.sock),
            _ => None,
        }
    }

    /// Changes the read timeout (`None` waits for ever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match &self.stream {
            Stream::Unix(s) => s.set_read_timeout(timeout),
            _ => self
                .tcp_socket()
                .map_or(Ok(()), |s| s.set_read_timeout(timeout)),
        }
    }

    /// Writes all of `bytes` and flushes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)?;
        self.flush()
    }

    /// Closes both directions of the connection (a client vanishing mid-command).
    pub fn shutdown(&self) -> io::Result<()> {
        match &self.stream {
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            _ => self
                .tcp_socket()
                .map_or(Ok(()), |s| s.shutdown(Shutdown::Both)),
        }
    }

    /// One line with its line end; empty at the end of the stream. A stream cut off without
    /// TLS close_notify, or reset, counts as ended; a timeout is an error.
    pub fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let rest = self.pending.split_off(i + 1);
                return Ok(std::mem::replace(&mut self.pending, rest));
            }
            if self.fill()? == 0 {
                return Ok(std::mem::take(&mut self.pending));
            }
        }
    }

    /// Exactly `n` bytes (an IMAP literal); an error if the stream ends first.
    pub fn read_exact_bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.pending.len() < n {
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        let rest = self.pending.split_off(n);
        Ok(std::mem::replace(&mut self.pending, rest))
    }

    /// Whether the server has closed the connection, reading (and discarding) at most what
    /// one read returns; a timeout is an error, not a close.
    pub fn at_eof(&mut self) -> io::Result<bool> {
        if !self.pending.is_empty() {
            return Ok(false);
        }
        Ok(self.fill()? == 0)
    }

    /// Reads once into `pending`; 0 at the end of the stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut buf = [0u8; 8192];
        let n = match self.stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if ended(&e) => 0,
            Err(e) => return Err(e),
        };
        self.pending.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// Errors that mean the peer is gone rather than slow.
fn ended(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Gone => Ok(0),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stream {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Gone => Ok(()),
        }
    }
}
