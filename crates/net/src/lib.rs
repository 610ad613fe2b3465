//! The process runtime every ferrymail network daemon shares.
//!
//! A daemon's `main.rs` is meant to be a short sequence of calls into this crate: parse the common
//! command line ([`cli::DaemonArgs`]), load the config, start logging ([`logging`]), take its
//! listening sockets from systemd or bind them ([`listeners`]), load TLS ([`tls`]), drop root
//! ([`privdrop`]), then hand each accepted connection to its protocol code through [`server`],
//! which applies the connection limits ([`limits`]) and the SIGTERM/SIGHUP behaviour
//! ([`signals`]). [`stream`] is the plain-or-TLS stream that makes STARTTLS an in-place upgrade
//! ([`forward`] writes the I/O delegation of such stream enums once),
//! [`lines`] reads protocol lines with an enforced length limit, and [`sasl`] decodes the
//! PLAIN and LOGIN exchanges that SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE share.

pub mod cli;
pub mod dns;
pub mod forward;
pub mod ids;
pub mod limits;
pub mod lines;
pub mod listeners;
pub mod logging;
pub mod notify;
pub mod privdrop;
pub mod sasl;
pub mod server;
pub mod signals;
pub mod stream;
pub mod tls;

pub use ids::ConnId;
