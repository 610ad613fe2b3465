//! DANE for outbound SMTP (RFC 7672): an MX host that publishes DNSSEC-validated TLSA records
//! at `_<port>._tcp.<host>` is reached only over TLS, with a certificate those records match;
//! never in plaintext, never with another certificate.
//!
//! [`lookup`] asks the validating resolver (and checks, now and then, that validation works
//! at all on this machine); [`verify`] is the rustls certificate check against the records.
//! Which policy applies to which host is decided in `crate::tls_plan`.

pub mod lookup;
pub mod verify;

pub use lookup::{Dane, TlsaAnswer};
pub use verify::DaneVerifier;

use std::sync::LazyLock;

use ferrymail_metrics::{Counter, Family, Gauge, Labels};

static AVAILABLE: LazyLock<Gauge> = LazyLock::new(|| {
    ferrymail_metrics::gauge(
        "queue_dnssec_available",
        "1 while DNSSEC validation works with the configured resolver (DANE on), 0 when not",
    )
});

static EVENTS: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(|| {
    ferrymail_metrics::counter_family(
        "queue_dane",
        "DANE decisions and results: verified, mismatch (certificate matches no TLSA record), lookup-failed (bogus or unanswered TLSA/MX lookup), required-missing (dane-only destination without usable TLSA records)",
    )
});

const EVENT_NAMES: [&str; 4] = ["verified", "mismatch", "lookup-failed", "required-missing"];

/// Registers the series at zero.
pub fn register() {
    for e in EVENT_NAMES {
        EVENTS.get_or_create_owned(&[("result", e)]);
    }
    LazyLock::force(&AVAILABLE);
}

/// Counts one DANE event (one of the names in the counter's help).
pub fn count(event: &'static str) {
    EVENTS.get_or_create_owned(&[("result", event)]).inc();
}

fn set_available(ok: bool) {
    AVAILABLE.set(i64::from(ok));
}
