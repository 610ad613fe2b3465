//! `mta-smtpd`: the SMTP server for MX (25), submission (587) and submissions (465). It is the
//! first stop of a message: it decides at RCPT time whether mail is accepted (local recipient
//! exists, or the client may relay), streams accepted messages into the spool, answers
//! `250 … queued as <qid>` only once the spool commit is durable, and then wakes queue-runner.
//! Nothing is delivered from here.
//!
//! Layers: [`session`] is the sans-IO protocol state machine (with [`policy`] for relay,
//! recipient and sender decisions, [`rate`] for the submission rate limits, [`received`] for the trace header and [`replies`] for every
//! reply code); [`conn`] is the thin tokio shell around one session, with [`sink`] for the
//! blocking spool writes, [`screen`] for the `mx` role's defenses (DNS lists, greeting test,
//! greylisting) and [`milter`] for the mail filters; [`server`] wires it all to the
//! listeners; [`metrics`] counts what
//! became of each message; `fuzzing` (feature
//! `fuzzing`) drives the session from arbitrary bytes for the fuzz target and its corpus tests.

pub mod complete;
pub mod conn;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod metrics;
pub mod milter;
pub mod policy;
pub mod rate;
pub mod received;
pub mod replies;
pub mod screen;
pub mod server;
pub mod session;
pub mod sink;
