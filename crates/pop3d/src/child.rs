//! The per-login session child (`pop3d --session-child`): serves one login of a Unix
//! account as that account, started by the shared spawner (`ferrymail_spawn`) after the
//! main process checked the password. Its stdin/stdout is a Unix socket to the main
//! process, which relays the client's connection (TCP or TLS) byte for byte; the first line
//! on it is a [`RelayHeader`].
//!
//! The account (uid, gid, Maildir) comes from the spawner, never from the header; the child
//! switches to it before touching any file, then opens the maildrop — the Maildir, or the
//! mbox file for `userdb.unix_mailbox = "mbox"` (its in-use lock is a `flock`, see
//! [`crate::maildrop`] and [`crate::mboxdrop`], which excludes sessions in other processes
//! too; for an mbox also the dot-lock + fcntl lock every mbox writer honours), answers
//! the PASS/AUTH and runs the TRANSACTION and UPDATE states with pop3d's own timeouts.

use std::sync::Arc;

use ferrymail_config::Config;
use ferrymail_net::auth_throttle::AuthThrottle;
use ferrymail_spawn::child::Session;

use crate::connection::{self, Context, RelayHeader};
use crate::maildrop::{LockTable, SizeCache};

/// The child's whole life; returns the exit code.
pub fn child_main(config: Config) -> i32 {
    ferrymail_spawn::child::run(|s: Session<RelayHeader>| async move {
        let limits = config.pop3d.limits.clone();
        let mailbox = s.spec.mailbox();
        let ctx = Context {
            config: Arc::new(config),
            userdb: None,
            tls: None,
            throttle: AuthThrottle::new(&limits),
            locks: LockTable::new(),
            sizes: SizeCache::default(),
            spawner: None,
            shutdown: s.shutdown,
        };
        connection::serve_relayed(&ctx, &s.info, s.sock, s.header.tls, s.spec.login, mailbox).await;
        0
    })
}
