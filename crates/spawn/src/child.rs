//! The start of a session child's life (`<daemon> --session-child`), the same for every
//! daemon: take the account from [`SPEC_ENV`], become it before touching any file, then read
//! the main process's one-line JSON header from the socket on stdin/stdout — unbuffered,
//! because what follows the header is the client's pipelined input, which belongs to the
//! session.

use std::future::Future;
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use ferrymail_config::Role;
use ferrymail_net::cli::{EX_CONFIG, EX_UNAVAILABLE};
use ferrymail_net::server::ConnInfo;
use ferrymail_net::signals::Shutdown;
use ferrymail_net::ConnId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::spawner::{ChildSpec, SPEC_ENV};

/// Longest header line.
pub const MAX_HEADER: usize = 4096;

/// Why a session child could not start its session.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("no account given: {0}")]
    NoSpec(String),
    #[error("cannot become uid {uid}: {source}")]
    Become {
        uid: u32,
        #[source]
        source: ferrymail_net::privdrop::PrivDropError,
    },
    #[error("stdin is not a usable socket: {0}")]
    Socket(std::io::Error),
    #[error("no header: {0}")]
    Header(#[from] HeaderError),
}

impl ChildError {
    /// The child's exit status for this failure (sysexits).
    pub fn exit_code(&self) -> i32 {
        match self {
            ChildError::NoSpec(_) => EX_CONFIG,
            _ => EX_UNAVAILABLE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("connection closed before the header")]
    Closed,
    #[error("header longer than {MAX_HEADER} bytes")]
    TooLong,
    #[error("reading the header: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad header: {0}")]
    Json(#[from] serde_json::Error),
}

/// The header as the main process sends it: one JSON line.
pub fn header_line<H: Serialize>(header: &H) -> Vec<u8> {
    let mut v = serde_json::to_vec(header).unwrap_or_default();
    v.push(b'\n');
    v
}

/// Reads the header line byte by byte: whatever follows it stays unread in `input`.
pub fn read_header<H: DeserializeOwned>(input: &mut impl Read) -> Result<H, HeaderError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Err(HeaderError::Closed),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {
                if line.len() >= MAX_HEADER {
                    return Err(HeaderError::TooLong);
                }
                line.push(byte[0]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(serde_json::from_slice(&line)?)
}

/// A session child ready to serve: running as the account, with the header read and the
/// socket (non-blocking, for tokio) positioned at the client's first byte after it.
#[derive(Debug)]
pub struct Accepted<H> {
    pub spec: ChildSpec,
    pub header: H,
    pub sock: UnixStream,
}

/// The child's start-up. Call first thing in `--session-child`, while single-threaded: the
/// uid switch must happen before any other thread exists and before any file is opened.
pub fn accept<H: DeserializeOwned>() -> Result<Accepted<H>, ChildError> {
    let spec: ChildSpec = std::env::var(SPEC_ENV)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
        .map_err(ChildError::NoSpec)?;
    ferrymail_net::privdrop::become_account(spec.uid, spec.gid).map_err(|source| {
        ChildError::Become {
            uid: spec.uid,
            source,
        }
    })?;
    // Our own descriptor for the socket: `Stdin` would buffer ahead and swallow the
    // client's pipelined commands that follow the header.
    let sock = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(UnixStream::from)
        .map_err(ChildError::Socket)?;
    let header = read_header(&mut &sock)?;
    sock.set_nonblocking(true).map_err(ChildError::Socket)?;
    Ok(Accepted { spec, header, sock })
}

/// What every daemon's header says about the relayed connection: enough for the child's
/// `conn` span and its [`ConnInfo`]. A daemon's header is this, or embeds it
/// (`#[serde(flatten)]`) next to what its protocol needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ConnHeader {
    /// The id of the main process's `conn` span, so one id follows the connection across
    /// both processes' logs.
    pub id: String,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub role: Role,
    /// Whether the client's connection (which stays in the main process) is encrypted.
    pub tls: bool,
}

impl ConnHeader {
    /// The header for the connection `info`, as the main process hands it off.
    pub fn new(info: &ConnInfo, tls: bool) -> ConnHeader {
        ConnHeader {
            id: info.id.to_string(),
            peer: info.peer,
            local: info.local,
            role: info.role,
            tls,
        }
    }
}

/// A daemon's header type: where its [`ConnHeader`] is.
pub trait RelayedConn: DeserializeOwned {
    fn conn(&self) -> &ConnHeader;
}

impl RelayedConn for ConnHeader {
    fn conn(&self) -> &ConnHeader {
        self
    }
}

/// A session child's session, ready for the daemon's own loop: inside the `conn` span, on
/// a tokio runtime, with SIGTERM handling installed.
pub struct Session<H> {
    pub spec: ChildSpec,
    pub header: H,
    pub sock: tokio::net::UnixStream,
    pub info: ConnInfo,
    pub shutdown: Shutdown,
}

/// A session child's whole life (`<daemon> --session-child`): [`accept`], then a
/// single-threaded runtime running `serve` inside a `conn` span. Returns the exit code:
/// `serve`'s, or a sysexits code when the start-up failed.
pub fn run<H, F, Fut>(serve: F) -> i32
where
    H: RelayedConn,
    F: FnOnce(Session<H>) -> Fut,
    Fut: Future<Output = i32>,
{
    // Becomes the account before anything else, then reads the header unbuffered (what
    // follows it is the client's pipelined input).
    let Accepted { spec, header, sock } = match accept::<H>() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "session child cannot start");
            return e.exit_code();
        }
    };
    let conn = header.conn();
    let span = tracing::info_span!("conn", id = %conn.id, peer = %conn.peer, role = %conn.role);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "session child: cannot start the runtime");
            return EX_UNAVAILABLE;
        }
    };
    runtime.block_on(
        async move {
            let sock = match tokio::net::UnixStream::from_std(sock) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "session child: cannot register the socket");
                    return EX_UNAVAILABLE;
                }
            };
            let (shutdown, _reload) = match ferrymail_net::signals::install() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "session child: cannot install signal handlers");
                    return EX_UNAVAILABLE;
                }
            };
            let conn = header.conn();
            let info = ConnInfo {
                id: ConnId::next(),
                peer: conn.peer,
                local: conn.local,
                role: conn.role,
                trusted: false,
            };
            serve(Session {
                spec,
                header,
                sock,
                info,
                shutdown,
            })
            .await
        }
        .instrument(span),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    struct H {
        id: String,
        tls: bool,
    }

    #[test]
    fn header_round_trip_leaves_the_rest_unread() {
        let h = H {
            id: "abcdefghjk".into(),
            tls: true,
        };
        let mut bytes = header_line(&h);
        bytes.extend_from_slice(b"STAT\r\nLIST\r\n");
        let mut r = std::io::Cursor::new(bytes);
        assert_eq!(read_header::<H>(&mut r).unwrap(), h);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "STAT\r\nLIST\r\n");
    }

    #[test]
    fn bad_headers_are_refused() {
        let bad = |b: &[u8]| read_header::<H>(&mut std::io::Cursor::new(b.to_vec()));
        assert!(matches!(bad(b"{}\n"), Err(HeaderError::Json(_))));
        assert!(matches!(bad(b"{\"id\":\"x\""), Err(HeaderError::Closed)));
        let long = vec![b'x'; MAX_HEADER + 10];
        assert!(matches!(bad(&long), Err(HeaderError::TooLong)));
    }
}
