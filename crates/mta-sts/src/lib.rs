//! MTA-STS (RFC 8461) as both sides of ferrymail see it: queue-runner applies other domains'
//! policies when it delivers, `mailctl check` verifies the policy our own domain publishes.
//!
//! [`record`] parses the `_mta-sts.<domain>` TXT record (§3.1) and [`policy`] the policy
//! file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` (§3.2) and decides
//! whether an MX host is allowed by a policy (§4.1); both are sans-IO. [`fetch`] gets the
//! policy file over HTTPS. [`tlsrpt`] parses the TLS-RPT record (RFC 8460 §3) that a
//! domain publishes beside its policy.

pub mod fetch;
pub mod policy;
pub mod record;
pub mod tlsrpt;

pub use policy::{Mode, Policy, PolicyError, MAX_MAX_AGE, MAX_POLICY_BYTES};
pub use record::{parse_records, RecordError, StsRecord};
