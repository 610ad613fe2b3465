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
//! (lock, list, sizes, deletion), and [`connection`] is the thin tokio layer joining them.

pub mod connection;
#[doc(hidden)]
pub mod fuzzing;
pub mod maildrop;
pub mod parser;
pub mod session;
pub mod transfer;
