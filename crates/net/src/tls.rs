//! TLS server configuration from PEM files, swappable at run time (SIGHUP) without dropping
//! connections: sessions already running keep the config they started with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("certificate generation: {0}")]
    Generate(String),
}

/// Builds a server config with safe protocol versions (TLS 1.2 and 1.3) and the ring provider.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    server_config(certs, key)
}

pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    // Mail clients reconnect often; resumption saves them a full handshake.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    Ok(Arc::new(config))
}

/// Every certificate of a PEM file; a file without any is an error.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: path.to_owned(),
            reason: "no certificate found".into(),
        });
    }
    Ok(certs)
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// The current TLS config of a daemon, reloadable from its files.
#[derive(Clone)]
pub struct TlsStore {
    current: Arc<ArcSwap<ServerConfig>>,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsStore {
    pub fn load(cert: &Path, key: &Path) -> Result<TlsStore, TlsError> {
        let config = load_server_config(cert, key)?;
        Ok(TlsStore {
            current: Arc::new(ArcSwap::new(config)),
            cert: cert.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Re-reads the files; on failure the old config stays in force (an admin's half-copied
    /// certificate must not take the server's TLS down).
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = load_server_config(&self.cert, &self.key)?;
        self.current.store(config);
        Ok(())
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }
}

/// "TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384" — what goes into `Received:` headers and logs.
pub fn describe(conn: &rustls::CommonState) -> String {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(v) => format!("{v:?}"),
        None => "TLS".to_owned(),
    };
    match conn.negotiated_cipher_suite() {
        Some(s) => format!("{version} with cipher {:?}", s.suite()),
        None => version,
    }
}

/// A self-signed certificate and key (PEM) for `names` — for `mailctl dev` and tests only.
pub fn self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    let ck = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_self_signed_and_reload_keeps_old_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(&["localhost".into()]).unwrap();
        let cp = dir.path().join("cert.pem");
        let kp = dir.path().join("key.pem");
        std::fs::write(&cp, cert).unwrap();
        std::fs::write(&kp, key).unwrap();
        let store = TlsStore::load(&cp, &kp).unwrap();
        std::fs::write(&cp, b"garbage").unwrap();
        let err = store.reload().unwrap_err();
        assert!(err.to_string().contains("cert.pem"), "{err}");
        let _still_usable = store.acceptor();
    }

    #[test]
    fn missing_key_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(&["localhost".into()]).unwrap();
        let cp = dir.path().join("cert.pem");
        std::fs::write(&cp, cert).unwrap();
        let err = load_server_config(&cp, &dir.path().join("nokey.pem")).unwrap_err();
        assert!(err.to_string().contains("nokey.pem"), "{err}");
    }
}
