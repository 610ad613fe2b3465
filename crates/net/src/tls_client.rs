//! The TLS client that verifies certificates: the system's CA roots plus configured extra
//! trust anchors (`queue.tls_trust_anchors`). queue-runner uses it towards MX and MTA-STS
//! policy hosts, `mailctl check` to fetch our own MTA-STS policy as senders would.

use std::path::PathBuf;
use std::sync::Arc;

use crate::tls::{load_certs, TlsError};

/// A client config with safe protocol versions and the ring provider that trusts the system
/// roots and the certificates in the PEM files `extra_anchors`.
pub fn verifying_config(extra_anchors: &[PathBuf]) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "loading system CA certificates");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, "system CA certificates loaded");
    config_with_roots(roots, extra_anchors)
}

/// A client config that trusts only the certificates in `anchors`: for peers the public PKI
/// knows nothing about, the hosts of a cluster (`cluster.trust_anchors`).
pub fn anchored_config(anchors: &[PathBuf]) -> Result<rustls::ClientConfig, TlsError> {
    config_with_roots(rustls::RootCertStore::empty(), anchors)
}

fn config_with_roots(
    mut roots: rustls::RootCertStore,
    extra_anchors: &[PathBuf],
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    for path in extra_anchors {
        for cert in load_certs(path)? {
            roots.add(cert).map_err(|e| TlsError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
