//! `pop3d`: the POP3 server of ferrymail (RFC 1939 with CAPA, STLS and SASL PLAIN/LOGIN).
//!
//! Role in the flow: the last hop of a message. local-delivery has written it into the
//! user's Maildir; pop3d lets a mail client download it (110 with STLS, 995 with implicit
//! TLS), marks it seen as IMAP expects, and removes it only when the client ends the session
//! with QUIT. The Maildir stays the source of truth, so imapd, doveadm or mutt read the same
//! store, and a message's UIDL is its Maildir base name, the identity imapd also uses.
//!
//! Layout: [`parser`] and [`session`] are the sans-IO protocol core (fuzzed), [`transfer`]
//! turns file bytes into RETR/TOP responses, [`maildrop`] is the blocking Maildir side
//! (lock, list, sizes, deletion), [`mboxdrop`] the same over a classic mbox file, and
//! [`connection`] is the thin tokio layer joining them.
//!
//! mbox: a Unix account with `userdb.unix_mailbox = "mbox"` (mail in `/var/mail/<user>`,
//! written by local-delivery) is served too, by its session child: the mbox is locked
//! (dot-lock + fcntl, the locks local-delivery takes, from `ferrymail_maildir::mbox`) for the
//! whole session, so deliveries meanwhile are deferred and retried; DELE'd messages are cut
//! out of the file in place at QUIT. imapd does not serve mbox accounts.
//!
//! Who serves a login: virtual users are served in the main process, as `pop3d.user`. Unix
//! accounts (`userdb.unix_accounts`, mail in `~/Maildir`, typically 0700 and the account's)
//! are served, when pop3d was started as root, by a per-login child process running as the
//! account (Dovecot's model, the mechanism shared with imapd in `ferrymail-spawn`): the
//! spawner (a re-exec of this binary that keeps root) starts a [`child`] after the main
//! process checked the password; the child opens the maildrop, answers the PASS/AUTH itself
//! (`+OK`, or `-ERR [IN-USE]` and close) and serves TRANSACTION/UPDATE, while the main
//! process relays the client's connection to it (TLS stays in the main process). If the
//! spawner is gone, Unix logins get `-ERR [SYS/TEMP]`. Without root there is no spawner and
//! Unix accounts are served in-process, with a warning at start-up (development).

pub mod child;
pub mod connection;
#[doc(hidden)]
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod maildrop;
pub mod mboxdrop;
pub mod parser;
pub mod session;
pub mod transfer;
