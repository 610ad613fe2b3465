//! `imapd`: the IMAP4rev1 server (143 with STARTTLS, 993 with implicit TLS) over users'
//! Maildirs — where mail clients read what `local-delivery` wrote.
//!
//! The protocol itself — framing, grammar, the session state machine, responses and their
//! encoding — is `ferrymail-imap-proto`; this crate is the daemon around it:
//! - [`session`]: the tokio shell of one connection over [`conn`] (buffers allocated only
//!   while bytes are in flight): reads commands, runs the state machine on the blocking pool
//!   while streaming its output, and does the I/O it asks for (password checks, STARTTLS,
//!   SASL, IDLE). An APPEND literal over 256 KiB is not collected: it is streamed into the
//!   target mailbox's `tmp/` and committed with its UID at the end, so memory per APPEND is a
//!   few chunks whatever the message size.
//! - [`store`]: the state machine's `Storage` over a user's Maildir++ store, and the one
//!   mapping of store errors to protocol failures.
//! - [`fetch`], [`mime`], [`address`] and [`search`] (sans-IO): FETCH items from a message,
//!   its MIME structure, ENVELOPE and BODYSTRUCTURE as typed values, address lists, SEARCH
//!   keys evaluated over one message.
//! - [`mailbox`]: open mailboxes shared by all sessions of the process (in-process change
//!   notification; other writers seen by rescans and, during IDLE, inotify), \Recent
//!   ownership, over `ferrymail-maildir`; [`subscriptions`] is the subscriptions file.
//!
//! Who serves a login: virtual users are served in the main process, as `imapd.user`. Unix
//! accounts (`userdb.unix_accounts`, mail in `~/Maildir`) are served, when imapd was started
//! as root, by a per-login child process running as the account (Dovecot's model): the
//! [`spawner`] (a re-exec of this binary that keeps root) starts a [`child`] after the main
//! process checked the password, and the main process relays the client's connection to it
//! over a Unix socket ([`ferrymail_spawn::session_stream::SessionStream::Relayed`]). Without
//! root there is no spawner and Unix accounts are served in-process (development), with a
//! warning at start-up.
//!
//! Storage decision: the Maildir is the source of truth (flags in the `:2,` suffix, Maildir++
//! folders, `/` shown as the separator). UIDs live in a per-mailbox `ferrymail-uidlist` file
//! ([`uidlist`]) next to the messages — UIDVALIDITY, UIDNEXT and uid → base name — so UIDs
//! survive losing imapd's state directory, and UIDVALIDITY only changes if that file is
//! lost or corrupt (a new list's UIDVALIDITY is above every one issued before in the user's
//! store, [`uidlist::next_uidvalidity`]); several processes (session children) may assign
//! UIDs in one mailbox, so that happens under an `flock` ([`uidlist::UidLock`]). Keyword names are kept in Dovecot's
//! `dovecot-keywords` format and given letters under the same lock; subscriptions change
//! under a lock of their own ([`subscriptions::update_subscriptions`]). The cache of sizes, ENVELOPE and BODYSTRUCTURE is in memory per
//! open mailbox (a message file is parsed at most once while any session has its mailbox
//! open) in front of imapd's own sled database in `state_dir/imapd/` ([`index`]), which
//! persists it across restarts (the main process only; session children have no index). sled
//! is only a cache: deleting it costs re-parsing, never a UID.

pub mod address;
pub mod child;
pub mod conn;
pub mod deflate;
pub mod fetch;
pub mod index;
pub mod mailbox;
pub mod metadata;
pub mod mime;
pub mod modseq;
pub mod preview;
pub mod search;
pub mod session;
pub mod sort;
pub mod spawner;
pub mod store;
pub mod subscriptions;
pub mod uidlist;
