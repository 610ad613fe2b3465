//! Mail authentication for ferrymail: DKIM signing on the way out, SPF/DKIM/DMARC/ARC
//! verification on the way in.
//!
//! Where it sits in the flow:
//!
//! * **Outbound** — queue-runner signs mail from authenticated users and local submissions
//!   (never mail merely relayed from outside) before remote delivery, with the key of the
//!   `From:` domain ([`Signer`]). Keys are PEM files named by `[dkim]` in the config;
//!   `mailctl dkim keygen` writes them and prints the DNS record ([`keys`]), and `mailctl check`
//!   verifies the published record matches ([`SigningKeyPair::check_record`]).
//! * **Inbound** — mta-smtpd, on the `mx` role, at the end of DATA removes forged
//!   `Authentication-Results:` fields carrying our authserv-id ([`strip_forged_results`]),
//!   verifies the message ([`Verifier::verify`]) and either refuses it (`550 5.7.1` when
//!   DMARC says reject and `mailauth.dmarc_enforce` is on) or prepends the one
//!   `Authentication-Results:` field ([`AuthResults::header`]).
//! * **Checking our own policy** — `mailctl check` asks whether the domain's SPF record allows
//!   this host's addresses ([`SpfChecker`]), with the same evaluator.
//!
//! The cryptography, canonicalisation and record parsing are the `mail-auth` crate's (with
//! `ring`, as rustls uses here); this crate adds keys from the config, DNS set-up with
//! timeouts, the A-R assembly and the disposition.
//!
//! # Calling it from mta-smtpd (mx role, end of DATA)
//!
//! ```ignore
//! // At start (and on SIGHUP): one shared verifier; it owns the resolver and its cache.
//! let verifier = config.mailauth.verify
//!     .then(|| ferrymail_mailauth::Verifier::from_config(&config)).transpose()?.map(Arc::new);
//! // At the end of DATA, before writing the spool file:
//! if let Some(v) = &verifier {
//!     let (clean, _removed) = ferrymail_mailauth::strip_forged_results(&data, v.authserv_id());
//!     let r = v.verify(&clean, peer.ip(), &helo, &mail_from /* "" for <> */).await;
//!     if r.reject {
//!         // reply REJECT_CODE (550) REJECT_ENHANCED (5.7.1) r.reject_text()
//!     } else {
//!         // spool: Received: + r.header + clean
//!     }
//! }
//! ```
//!
//! # Calling it from queue-runner (before remote delivery)
//!
//! ```ignore
//! // At start (and on SIGHUP): None when dkim.enabled = false; Err names a missing key file.
//! let signer = ferrymail_mailauth::Signer::from_config(&config)?;
//! // Per message from an authenticated user or a local submission (never relayed mail):
//! if let Some(s) = &signer {
//!     if let Some(sig) = s.sign_from(&message)? {   // the From domain's key, if we have one
//!         // send sig (a "DKIM-Signature: ...\r\n" field) followed by message
//!     }
//! }
//! ```

pub mod dns;
pub mod headers;
pub mod keys;
pub mod sign;
pub mod spf;
pub mod verify;

pub use dns::ResolverError;
pub use headers::{from_domain, strip_forged_results};
pub use keys::{generate, Algorithm, DkimRecord, KeyError, RecordMismatch, SigningKeyPair};
pub use sign::{SignError, Signer};
pub use spf::{is_spf_record, SpfChecker};
pub use verify::{
    AuthResults, DkimVerdict, Policy, Verdict, Verifier, VerifyOptions, REJECT_CODE,
    REJECT_ENHANCED,
};
