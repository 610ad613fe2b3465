//! The process runtime every ferrymail network daemon shares.
//!
//! A daemon's `main.rs` describes the daemon as a [`startup::Service`] and hands it to
//! [`startup::main`], which runs the start-up every daemon shares: the common command line
//! ([`cli::DaemonArgs`]), the config, logging ([`logging`], with journald priorities from
//! [`journal`]), its listening sockets from systemd or bound ([`listeners`]), TLS ([`tls`]), the
//! privilege drop ([`privdrop`]), the SIGTERM/SIGHUP behaviour ([`signals`], [`notify`]) and the
//! exit status of every kind of failure ([`exit`]). [`server`] is the accept loop that applies
//! the connection limits ([`limits`]); [`auth_throttle`] runs the password checks of every
//! protocol and the back-off after failed ones. [`stream`] is the plain-or-TLS stream that
//! makes STARTTLS an in-place upgrade ([`forward`] writes the I/O delegation of such stream
//! enums once), [`metrics`] serves Prometheus' `/metrics` where the config asks for it,
//! [`lines`] reads protocol lines with an enforced length limit, and [`sasl`] decodes the
//! PLAIN and LOGIN exchanges that SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE share; [`dns`]
//! builds every resolver ([`dnssec`] the validating one), [`dnsbl`] asks DNS block- and
//! allowlists about an address and [`tlsa`] matches certificates against DANE TLSA records.
//! [`tls_client`] is the client config that verifies certificates against the system roots
//! and configured trust anchors, [`https`] the one-request HTTPS client over it.

pub mod auth_throttle;
pub mod cli;
pub mod cluster;
pub mod dns;
pub mod dnsbl;
pub mod dnssec;
pub mod exit;
pub mod forward;
pub mod https;
pub mod ids;
pub mod journal;
pub mod limits;
pub mod lines;
pub mod listeners;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod privdrop;
pub mod rdns;
pub mod sasl;
pub mod server;
pub mod signals;
pub mod startup;
pub mod stream;
pub mod tls;
pub mod tls_client;
pub mod tlsa;

pub use ids::ConnId;
