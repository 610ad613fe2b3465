//! What ferrymail's integration tests share, so each mechanism exists once: a [`Suite`] of
//! real daemons started from a `ferrymail_dev` environment, blocking line-oriented clients for
//! SMTP/LMTP, IMAP and POP3 (plain, implicit TLS, STARTTLS) over one [`Conn`], a TLS config
//! that trusts the environment's certificate and openssl's digest of a certificate key
//! ([`tls`]), an HTTPS server for MTA-STS policy files ([`https`]), bounded polling, helper
//! programs, a one-host cluster's secret ([`cluster`]), a daemon's `/metrics` read with an
//! independent parser ([`metrics`]), two views of one shared file system standing for two
//! hosts ([`shared_mounts`]), and one way to report a skipped test ([`skip!`],
//! [`skip_unless_root`]).

pub mod cluster;
pub mod conn;
pub mod https;
pub mod imap;
pub mod metrics;
pub mod pop3;
pub mod process;
pub mod shared_mounts;
pub mod skip;
pub mod smtp;
pub mod suite;
pub mod tls;
pub mod wait;

pub use conn::Conn;
pub use imap::{ImapClient, Response};
pub use pop3::Pop3Client;
pub use shared_mounts::shared_mounts;
pub use skip::skip_unless_root;
pub use smtp::{Reply, SmtpClient};
pub use suite::{Suite, DAEMONS};
pub use wait::{free_port, wait_until};
