//! Sans-IO SMTP and LMTP protocol pieces shared by the programs that speak them.
//!
//! `mta-smtpd` (server) and `local-delivery` (LMTP server) parse commands with [`command`] and
//! read message data with [`data::DataDecoder`]; `queue-runner` (SMTP and LMTP client) parses
//! replies with [`reply::ReplyParser`] and sends data with [`data::DotStuffer`]. Every program
//! that looks into stored mail (queue-runner's bounces, local-delivery, imapd) finds the end of
//! its header section with [`message::header_end`]; [`dates`] writes the dates mail carries
//! (`Date:`, `Received:`, DSNs, mbox `From ` lines, IMAP); [`percent`] undoes the escapes of
//! mail URIs (`mailto:`, IMAP URLs). Everything here is a plain function or
//! state machine over bytes: no sockets, no clocks, so it can be unit tested and fuzzed, and
//! the daemons stay thin shells. It depends on nothing heavier than `thiserror`, so the setgid
//! `sendmail` can use it.

pub mod command;
pub mod data;
pub mod dates;
pub mod message;
pub mod percent;
pub mod reply;
pub mod xtext;

pub use command::{
    parse_command, Body, Command, MailParams, Notify, ParseError, Path, RcptParams, Ret,
};
pub use data::{DataDecoder, DataOutcome, DotStuffer, LineEndingPolicy};
pub use message::{header_end, HeaderEnd};
pub use reply::{EnhancedCode, Reply, ReplyParser};
