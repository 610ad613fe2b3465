//! The per-login session child (`imapd --session-child`) that serves one login of a Unix
//! account as that account, started by the [`crate::spawner`]. Its stdin/stdout is a Unix
//! socket to imapd's main process, which relays the client's connection (TCP or TLS) to it
//! byte for byte; the first line on it is a [`SessionHeader`] from the main process.
//!
//! The child takes the account's uid, gid and groups from the spawner (never from the
//! header), switches to them before touching any file, then prepares the store, answers the
//! LOGIN/AUTHENTICATE itself and runs the ordinary authenticated session loop. It has no
//! index database: imapd's sled database belongs to the main process alone.

use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

use ferrymail_config::{Config, Role};
use ferrymail_net::cli::{EX_CONFIG, EX_UNAVAILABLE};
use ferrymail_net::limits::AuthThrottle;
use ferrymail_net::server::ConnInfo;
use ferrymail_net::ConnId;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::mailbox::Hub;
use crate::session::{self, Ctx};
use crate::spawner::{ChildSpec, SPEC_ENV};

/// Longest header line.
const MAX_HEADER: usize = 4096;

/// What the main process tells the child about the connection it relays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHeader {
    /// The tag of the LOGIN/AUTHENTICATE command the child answers.
    pub tag: String,
    /// The connection id of the main process's `conn` span, so one id follows the
    /// connection across both processes' logs.
    pub id: String,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub role: Role,
    pub tls: bool,
}

impl SessionHeader {
    /// The header as sent: one JSON line.
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// Reads the header line byte by byte: what follows it is the client's commands, which
/// must stay in the socket for the session.
fn read_header(input: &mut impl Read) -> Result<SessionHeader, String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Err("connection closed before the header".into()),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {
                if line.len() >= MAX_HEADER {
                    return Err("header too long".into());
                }
                line.push(byte[0]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    serde_json::from_slice(&line).map_err(|e| format!("bad header: {e}"))
}

/// The child's whole life; returns the exit code.
pub fn child_main(config: Config) -> i32 {
    let spec: ChildSpec = match std::env::var(SPEC_ENV)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "session child: no account given");
            return EX_CONFIG;
        }
    };
    // Before anything else: from here on every file is touched as the account.
    if let Err(e) = ferrymail_net::privdrop::become_account(spec.uid, spec.gid) {
        tracing::error!(user = %spec.login, uid = spec.uid, error = %e, "session child cannot become the account");
        return EX_UNAVAILABLE;
    }
    // Our own descriptor for the socket, read unbuffered: `Stdin` would buffer ahead and
    // swallow the client's pipelined commands that follow the header.
    let sock = match std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::os::unix::net::UnixStream::from)
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "session child: stdin is not usable");
            return EX_UNAVAILABLE;
        }
    };
    let header = match read_header(&mut &sock) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(user = %spec.login, error = %e, "session child: no header");
            return EX_UNAVAILABLE;
        }
    };
    if let Err(e) = sock.set_nonblocking(true) {
        tracing::error!(error = %e, "session child: cannot use the socket");
        return EX_UNAVAILABLE;
    }
    let span =
        tracing::info_span!("conn", id = %header.id, peer = %header.peer, role = %header.role);
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
            let limits = config.imapd.limits.clone();
            let ctx = Arc::new(Ctx {
                config: Arc::new(config),
                users: None,
                spawner: None,
                hub: Hub::new(None),
                tls: None,
                throttle: AuthThrottle::new(&limits),
                user_conns: Mutex::new(Default::default()),
                subscriptions_lock: Mutex::new(()),
                shutdown,
            });
            let info = ConnInfo {
                id: ConnId::next(),
                peer: header.peer,
                local: header.local,
                role: header.role,
                trusted: false,
            };
            session::run_relayed(ctx, info, sock, &header, spec.login, spec.maildir).await;
            0
        }
        .instrument(span),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_leaves_the_rest_unread() {
        let h = SessionHeader {
            tag: "a1".into(),
            id: "abcdefghjk".into(),
            peer: "127.0.0.1:5555".parse().unwrap(),
            local: "127.0.0.1:143".parse().unwrap(),
            role: Role::Imap,
            tls: true,
        };
        let mut bytes = h.to_line();
        bytes.extend_from_slice(b"a2 NOOP\r\n");
        let mut r = std::io::Cursor::new(bytes);
        assert_eq!(read_header(&mut r).unwrap(), h);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "a2 NOOP\r\n");
        assert!(read_header(&mut std::io::Cursor::new(b"{}".to_vec())).is_err());
    }
}
