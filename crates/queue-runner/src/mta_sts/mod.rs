//! MTA-STS (RFC 8461): a receiving domain's declaration that its MX hosts all offer
//! STARTTLS with a certificate valid for their names, so a sender may refuse to deliver in
//! clear or to an unlisted host.
//!
//! The record and policy parsers and the policy fetch are `ferrymail_mta_sts`'s (shared with
//! `mailctl check`); here are the cache, the discovery for a delivery and the enforcement.

pub mod cache;
pub mod enforce;
pub mod service;

pub use ferrymail_mta_sts::{fetch, policy, record};
pub use ferrymail_mta_sts::{parse_records, Mode, Policy, PolicyError, RecordError, StsRecord};
pub use ferrymail_mta_sts::{MAX_MAX_AGE, MAX_POLICY_BYTES};
