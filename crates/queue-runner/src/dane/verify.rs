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
}

impl DaneVerifier {
    pub fn new(records: Vec<Tlsa>, names: Vec<String>, provider: Arc<CryptoProvider>) -> Self {
        DaneVerifier {
            records,
            names,
            provider,
            matched: Mutex::new(None),
        }
    }

    /// The record that authenticated the server, e.g. `3 1 1`, once the handshake passed.
    pub fn matched(&self) -> Option<String> {
        self.matched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
