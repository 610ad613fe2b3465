//! queue-runner: the scheduler at the centre of ferrymail's mail flow.
//!
//! mta-smtpd and sendmail put messages into the spool; queue-runner (the spool's owner) picks
//! them up on wake-up datagrams and periodic scans, and gets every recipient delivered: local
//! domains to local-delivery over LMTP on a Unix socket, other domains over SMTP to their MX
//! hosts (or a static relay). Temporary failures are retried with exponential back-off until
//! the queue lifetime runs out; permanent failures and expiries produce RFC 3464 bounces from
//! the null sender. The spool's envelopes are the source of truth; this daemon's sled database
//! ([`index`]) only says what is due when and is rebuilt from the spool if lost.
//!
//! The control-socket protocol `mailctl queue` speaks is the `ferrymail-queue-control` crate;
//! [`daemon`] serves it and [`runner`] answers its requests. [`metrics`] is what it exposes
//! on its `/metrics` listener.

pub mod daemon;
pub mod dane;
pub mod destination;
pub mod dns;
pub mod dsn;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod handoff;
pub mod index;
pub mod lmtp;
pub mod metrics;
pub mod mta_sts;
pub mod outcome;
pub mod remote;
pub mod requiretls;
pub mod runner;
pub mod session;
pub mod tls_events;
pub mod tls_plan;
pub mod tls_rpt;
pub mod wire;
