//! proxyd, the front end of a multi-host installation: clients and the MX hosts'
//! queue-runners connect here; users are authenticated against the user database, each
//! user's sessions are routed to one mailbox backend and relayed there under the cluster
//! login (`ferrymail_net::cluster`).
//!
//! - [`route`]: which backend serves a user (rendezvous hashing, overrides, stickiness);
//!   [`health`] decides which backends take part, [`routes_file`] holds the overrides,
//!   [`sessions`] the open sessions per user.
//! - [`imap`], [`pop3`], [`managesieve`]: each protocol's dialogue before login, over the
//!   shared [`client`] side; [`backend`] logs in on the backend, [`relay`] then copies bytes.
//! - [`lmtp`]: the LMTP server for queue-runners, routing each recipient.
//! - [`control`]: the socket `mailctl proxy` talks to; [`metrics`]: proxyd's own counters.

pub mod backend;
pub mod client;
pub mod conn;
pub mod context;
pub mod control;
pub mod health;
pub mod imap;
pub mod lmtp;
pub mod managesieve;
pub mod metrics;
pub mod pop3;
pub mod relay;
pub mod route;
pub mod routes_file;
pub mod sessions;
