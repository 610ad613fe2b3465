//! `ferrymail-spawn`: serving a Unix account's login in a child process running as that
//! account (Dovecot's model), shared by `imapd` and `pop3d`.
//!
//! Role in the flow: a daemon reading mailboxes runs as `vmail`, which cannot read a classic
//! Unix account's `~/Maildir` (0700, owned by the account). Started as root with
//! `userdb.unix_accounts` on, the daemon starts a small privileged [`Spawner`] (a re-exec of
//! its own binary with [`SPAWNER_FLAG`], parsed by [`SessionFlags`]) before dropping privileges. After a Unix account's
//! password checked out, the main process asks the spawner for a session child
//! ([`Spawner::open_session`]); the spawner decides from its own user database
//! ([`check_request`]; mbox accounts only for a daemon that serves them, [`MboxPolicy`],
//! which pop3d does and imapd does not) and re-executes the binary with [`CHILD_FLAG`], the socket as
//! stdin/stdout. The child calls [`child::run`] (become the account, read the one-line
//! header unbuffered, start a runtime in the connection's `conn` span) and serves the
//! session over a [`session_stream::SessionStream`]; the main process keeps the client's TCP/TLS connection and
//! copies bytes between it and the child ([`relay::relay`]).
//!
//! Nothing here knows a mail protocol: what a header carries beyond [`child::ConnHeader`],
//! the child's session and the reply for a child that died silently are the daemon's.

pub mod child;
pub mod cli;
pub mod relay;
pub mod session_stream;
pub mod spawner;

pub use cli::SessionFlags;
pub use spawner::{
    check_request, check_request_with, spawner_main, spawner_main_with, ChildSpec, MailboxKind,
    MboxPolicy, Refusal, SpawnError, Spawner, CHILD_FLAG, SPAWNER_FLAG, SPEC_ENV,
};
