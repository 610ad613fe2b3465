//! `ferrymail-imap-proto`: IMAP4rev1 (RFC 3501) and the extensions imapd announces, as plain
//! code over bytes — no sockets, no files, no async runtime — so every part of it is unit
//! tested and fuzzed on its own. imapd is the tokio shell and the Maildir-backed store around it.
//!
//! From the wire inwards:
//! - [`framing`]: assembles one command from its lines and literals under the size limits.
//! - [`parse`]: the command grammar, one module per command family, into [`command::Command`]
//!   over the values in [`types`].
//! - [`session`]: the state machine of one connection (not authenticated → authenticated →
//!   selected → logout): which command is allowed when, the selected mailbox's
//!   sequence-number view, which untagged updates may be sent when (RFC 3501 §5.5, §7), and
//!   \Recent ownership, over the [`session::Storage`] trait a mail store implements.
//! - [`response`]: typed responses, written by the one encoder in [`encode`] and read back by
//!   [`parse_response`] (tests and clients).
//! - [`list`]: LIST/LSUB semantics over a store's mailbox names.
//! - [`sort`]: SORT and THREAD orderings over the facts a store gives of each message.
//! - [`names`] and [`utf7`] (mailbox names on the wire) and [`date`] (IMAP date formats).
//! - `fuzzing` (feature `fuzzing`, and in tests): the entry points of the cargo-fuzz targets
//!   in `fuzz/`, whose corpora the unit tests run.

pub mod command;
pub mod date;
pub mod encode;
pub mod framing;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod list;
pub mod names;
pub mod parse;
pub mod parse_response;
pub mod response;
pub mod session;
pub mod sort;
pub mod types;
pub mod utf7;

pub use command::{AppendHead, Command};
pub use framing::{literal_marker, CollectError, Collected, CommandCollector};
pub use parse::{
    append_before_literal, append_in_progress, append_in_progress_with, is_atom_char,
    next_append_message, parse_command, parse_command_with, peek_tag, ErrorKind, ParseError,
};
pub use parse_response::{parse_all, parse_response, ResponseError};
pub use response::Response;
pub use types::*;
