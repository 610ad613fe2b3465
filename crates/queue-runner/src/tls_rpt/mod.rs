//! SMTP TLS Reporting (RFC 8460): what happened to each TLS session towards another domain,
//! and the daily aggregate report each such domain may ask for.
//!
//! [`model`] names the results (the RFC's result types and policy types); [`store`] is the
//! [`Recorder`] the delivery code feeds, one append-only file per UTC day under
//! `<state_dir>/tls-rpt/`; [`record`] (shared with `mailctl check`) parses the `_smtp._tls`
//! TXT record and [`report`]
//! builds the JSON report and the message carrying it, both sans-IO; [`send`] is the daily
//! task that looks up where each domain wants its report and queues it ([`post`] for
//! `https:` addresses); [`hook`] holds the
//! calls made from delivery.

pub mod day;
pub mod hook;
pub mod model;
pub mod post;
pub mod report;
pub mod send;
pub mod store;

pub use ferrymail_mta_sts::tlsrpt as record;
pub use model::{FailureDetail, Outcome, PolicyDesc, PolicyKind, ResultType};
pub use store::Recorder;
