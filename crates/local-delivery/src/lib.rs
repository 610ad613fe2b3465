//! `local-delivery`, the MDA: the last step of the flow. queue-runner hands it local mail over
//! LMTP (RFC 2033) on a Unix socket; it resolves each recipient through the user database
//! (aliases, `:include:`, virtual users, Unix accounts), applies `.forward` and the user's
//! Sieve script, and writes Maildir (via `ferrymail-maildir`) or mbox, answering 250 per
//! recipient only once the write is durable. Remote alias targets, forwards and redirects go
//! back into the queue through the spool's maildrop. Mailboxes are written as
//! `delivery.user` (virtual) or as the Unix account itself (a per-delivery helper process);
//! never as root.
//!
//! Other hosts of a cluster may deliver over TCP (`delivery.lmtp_listen`) once they have
//! passed [`tcp_gate`]: STARTTLS, then AUTH as the cluster login.
//!
//! The protocol ([`session`]), the Sieve language (the `ferrymail-sieve` crate), message inspection
//! ([`message`]; [`spam`] for a milter's verdict) and mbox encoding ([`mbox`]) are sans-IO or plain synchronous code; [`server`]
//! is the thin tokio layer; [`metrics`] is what its `/metrics` listener shows. [`sieve_env`]
//! runs the site's and the user's scripts; [`vacation`] and [`reject`] are the sans-IO rules
//! and texts of the replies Sieve sends, [`tracking`] their per-user memory.

pub mod deliver;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod header_edit;
pub mod helper;
pub mod mbox;
pub mod message;
pub mod metrics;
pub mod recent;
pub mod reject;
pub mod requeue;
pub mod router;
pub mod server;
pub mod session;
pub mod sieve_env;
pub mod sieve_flags;
pub mod sieve_view;
pub mod spam;
pub mod tcp_gate;
pub mod tracking;
pub mod vacation;
