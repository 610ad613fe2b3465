//! The per-login session child (`imapd --session-child`) that serves one login of a Unix
//! account as that account, started by the [`crate::spawner`]. Its stdin/stdout is a Unix
//! socket to imapd's main process, which relays the client's connection (TCP or TLS) to it
//! byte for byte; the first line on it is a [`SessionHeader`] from the main process.
//!
//! The child takes the account's uid, gid and groups from the spawner (never from the
//! header), switches to them before touching any file, then prepares the store, answers the
//! LOGIN/AUTHENTICATE itself and runs the ordinary authenticated session loop. It has no
//! index database: imapd's sled database belongs to the main process alone.

use std::sync::{Arc, Mutex};

use ferrymail_config::Config;
use ferrymail_net::auth_throttle::AuthThrottle;
use ferrymail_spawn::child::{ConnHeader, Session};
use serde::{Deserialize, Serialize};

use crate::mailbox::Hub;
use crate::session::{self, Ctx};

/// What the main process tells the child about the connection it relays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHeader {
    /// The tag of the LOGIN/AUTHENTICATE command the child answers.
    pub tag: String,
    #[serde(flatten)]
    pub conn: ConnHeader,
}

impl SessionHeader {
    /// The header as sent: one JSON line.
    pub fn to_line(&self) -> Vec<u8> {
        ferrymail_spawn::child::header_line(self)
    }
}

impl ferrymail_spawn::child::RelayedConn for SessionHeader {
    fn conn(&self) -> &ConnHeader {
        &self.conn
    }
}

/// The child's whole life; returns the exit code.
pub fn child_main(config: Config) -> i32 {
    ferrymail_spawn::child::run(|s: Session<SessionHeader>| async move {
        let limits = config.imapd.limits.clone();
        // One session per process: nothing to keep for a later one.
        let hub = Hub::new(None, 0);
        hub.poll_idle_every(config.imapd.idle_poll_interval);
        let ctx = Arc::new(Ctx {
            config: Arc::new(config),
            users: None,
            spawner: None,
            hub,
            tls: None,
            throttle: AuthThrottle::new(&limits),
            user_conns: Mutex::new(Default::default()),
            shutdown: s.shutdown,
        });
        session::run_relayed(ctx, s.info, s.sock, &s.header, s.spec.login, s.spec.maildir).await;
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_config::Role;
    use ferrymail_spawn::child::read_header;
    use std::io::Read;

    #[test]
    fn header_round_trip_leaves_the_rest_unread() {
        let h = SessionHeader {
            tag: "a1".into(),
            conn: ConnHeader {
                id: "abcdefghjk".into(),
                peer: "127.0.0.1:5555".parse().unwrap(),
                local: "127.0.0.1:143".parse().unwrap(),
                role: Role::Imap,
                tls: true,
            },
        };
        let mut bytes = h.to_line();
        bytes.extend_from_slice(b"a2 NOOP\r\n");
        let mut r = std::io::Cursor::new(bytes);
        assert_eq!(read_header::<SessionHeader>(&mut r).unwrap(), h);
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "a2 NOOP\r\n");
        assert!(read_header::<SessionHeader>(&mut std::io::Cursor::new(b"{}".to_vec())).is_err());
    }
}
