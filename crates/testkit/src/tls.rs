//! TLS for tests: a client config that trusts exactly one environment's self-signed
//! certificate, and a certificate's key digest computed by openssl (independently of the code
//! under test) for the DANE TLSA records tests publish.

use std::path::Path;
use std::process::Command;
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

/// The SHA-256 of the PEM certificate's SubjectPublicKeyInfo in hex (TLSA selector 1,
/// matching type 1), as `openssl` computes it; `None` when openssl cannot (the caller skips).
pub fn openssl_spki_sha256(cert_pem: &Path) -> Option<String> {
    let sh = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r",
        cert_pem.display()
    );
    let out = Command::new("sh").arg("-c").arg(sh).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let hex = text.get(..64)?;
    (out.status.success() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_owned())
}
