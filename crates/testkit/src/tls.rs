//! TLS client settings for tests: trust exactly one environment's self-signed certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// A client config that trusts the certificates in the PEM file `cert` and nothing else.
pub fn trusting(cert: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(cert).unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
    for c in certs {
        let c = c.unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
        roots
            .add(c)
            .unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("TLS protocol versions: {e}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}
