//! The certificate check of a DANE connection (RFC 7672 §3): the chain the server presents
//! must match one of the host's usable TLSA records.
//!
//! - DANE-EE (3): the leaf certificate (or its public key) matches; names and dates are not
//!   checked (§3.1.1: the record is the authentication).
//! - DANE-TA (2): a certificate of the presented chain matches and is made the only trust
//!   anchor; the chain from it to the leaf must then validate for one of the reference names
//!   (§3.2.2: the MX host name, the next-hop domain).
//!
//! The record that matched is kept for the delivery's log line.

use std::sync::{Arc, Mutex};

use ferrymail_net::tlsa::{Tlsa, DANE_EE, DANE_TA};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

#[derive(Debug)]
pub struct DaneVerifier {
    records: Vec<Tlsa>,
    /// Reference identifiers for DANE-TA, most specific first.
    names: Vec<String>,
    provider: Arc<CryptoProvider>,
    matched: Mutex<Option<String>>,
    /// Whether a certificate was checked and matched no record.
    rejected: std::sync::atomic::AtomicBool,
}

impl DaneVerifier {
    pub fn new(records: Vec<Tlsa>, names: Vec<String>, provider: Arc<CryptoProvider>) -> Self {
        DaneVerifier {
            records,
            names,
            provider,
            matched: Mutex::new(None),
            rejected: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The record that authenticated the server, e.g. `3 1 1`, once the handshake passed.
    pub fn matched(&self) -> Option<String> {
        self.matched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The usable TLSA records the certificate must match.
    pub fn records(&self) -> &[Tlsa] {
        &self.records
    }

    /// Whether the server's certificate was refused (rather than the handshake failing
    /// for another reason).
    pub fn rejected(&self) -> bool {
        self.rejected.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn note(&self, t: &Tlsa, what: &str) {
        *self.matched.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(format!("{} {} {} {what}", t.usage, t.selector, t.matching));
    }

    /// DANE-TA: `anchor` made the only root, the chain validated for a reference name.
    fn chain_valid(
        &self,
        anchor: &CertificateDer<'_>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> bool {
        let mut roots = RootCertStore::empty();
        if roots.add(anchor.clone().into_owned()).is_err() {
            return false;
        }
        let Ok(webpki) =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
        else {
            return false;
        };
        self.names.iter().any(|n| {
            ServerName::try_from(n.as_str()).is_ok_and(|name| {
                webpki
                    .verify_server_cert(end_entity, intermediates, &name, &[], now)
                    .is_ok()
            })
        })
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(t) = self
            .records
            .iter()
            .find(|t| t.usage == DANE_EE && t.matches(end_entity))
        {
            self.note(t, "leaf");
            return Ok(ServerCertVerified::assertion());
        }
        for t in self.records.iter().filter(|t| t.usage == DANE_TA) {
            for ca in intermediates.iter().filter(|c| t.matches(c)) {
                if self.chain_valid(ca, end_entity, intermediates, now) {
                    self.note(t, "trust anchor");
                    return Ok(ServerCertVerified::assertion());
                }
            }
        }
        self.rejected
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_net::tlsa::{association, CERT, SHA2_256, SPKI};

    struct Chain {
        leaf: CertificateDer<'static>,
        ca: CertificateDer<'static>,
    }

    /// A CA and a leaf for `name` it signed.
    fn chain(name: &str) -> Chain {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        Chain {
            leaf: leaf.der().clone(),
            ca: ca.der().clone(),
        }
    }

    fn record(usage: u8, selector: u8, cert: &CertificateDer<'_>) -> Tlsa {
        Tlsa {
            usage,
            selector,
            matching: SHA2_256,
            data: association(cert, selector, SHA2_256).unwrap(),
        }
    }

    fn verifier(records: Vec<Tlsa>, names: &[&str]) -> DaneVerifier {
        DaneVerifier::new(
            records,
            names.iter().map(|n| n.to_string()).collect(),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
    }

    fn check(v: &DaneVerifier, c: &Chain, intermediates: &[CertificateDer<'_>]) -> bool {
        let name = ServerName::try_from("ignored.test").unwrap();
        v.verify_server_cert(&c.leaf, intermediates, &name, &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn dane_ee_matches_the_leaf_whatever_its_name() {
        let c = chain("somewhere.else");
        let v = verifier(vec![record(DANE_EE, SPKI, &c.leaf)], &["mx.a.test"]);
        assert!(check(&v, &c, &[]));
        assert_eq!(v.matched().as_deref(), Some("3 1 1 leaf"));
        assert!(!v.rejected());
        let v = verifier(vec![record(DANE_EE, CERT, &c.leaf)], &["mx.a.test"]);
        assert!(check(&v, &c, std::slice::from_ref(&c.ca)));
    }

    #[test]
    fn another_key_is_refused() {
        let (c, other) = (chain("mx.a.test"), chain("mx.a.test"));
        let v = verifier(
            vec![
                record(DANE_EE, SPKI, &other.leaf),
                record(DANE_TA, SPKI, &other.ca),
            ],
            &["mx.a.test"],
        );
        assert!(!check(&v, &c, std::slice::from_ref(&c.ca)));
        assert!(v.rejected());
        assert_eq!(v.matched(), None);
    }

    #[test]
    fn dane_ta_needs_the_anchor_in_the_chain_and_a_reference_name() {
        let c = chain("mx.a.test");
        let ta = || vec![record(DANE_TA, SPKI, &c.ca)];
        let v = verifier(ta(), &["mx.a.test", "a.test"]);
        assert!(check(&v, &c, std::slice::from_ref(&c.ca)));
        assert_eq!(v.matched().as_deref(), Some("2 1 1 trust anchor"));
        // The next-hop domain is a reference name too.
        let c2 = chain("a.test");
        let v = verifier(
            vec![record(DANE_TA, CERT, &c2.ca)],
            &["mx.a.test", "a.test"],
        );
        assert!(check(&v, &c2, std::slice::from_ref(&c2.ca)));
        // The anchor must be presented.
        let v = verifier(ta(), &["mx.a.test"]);
        assert!(!check(&v, &c, &[]));
        // The leaf must name the MX host (or the domain).
        let v = verifier(ta(), &["mx.b.test", "b.test"]);
        assert!(!check(&v, &c, std::slice::from_ref(&c.ca)));
        // A leaf the anchor did not sign fails even with the anchor presented.
        let stranger = chain("mx.a.test");
        let v = verifier(ta(), &["mx.a.test"]);
        assert!(!check(&v, &stranger, std::slice::from_ref(&c.ca)));
    }

    #[test]
    fn a_ta_record_does_not_match_the_leaf_as_anchor() {
        let c = chain("mx.a.test");
        // `2 x x` for the leaf's own key: the leaf is not a trust anchor.
        let v = verifier(vec![record(DANE_TA, SPKI, &c.leaf)], &["mx.a.test"]);
        assert!(!check(&v, &c, std::slice::from_ref(&c.ca)));
    }
}
