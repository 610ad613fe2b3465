//! Trust between the hosts of a cluster (`[cluster]`): the front end logs in to a mailbox
//! backend as the cluster login on behalf of a user it has already authenticated (SASL PLAIN
//! with that user as authorization identity, Dovecot's master-user scheme), and an MX host's
//! queue-runner proves itself the same way to the front end's LMTP. The secret only ever
//! travels inside TLS verified against `cluster.trust_anchors`, so a host is trusted for what
//! it knows, never for where it connects from.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ferrymail_config::Cluster;
use subtle::ConstantTimeEq;

use crate::sasl::Credentials;
use crate::tls::TlsError;

/// Shortest secret accepted: guessing it must be hopeless even without the login throttle.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster secret {path}: {reason}")]
    Secret { path: PathBuf, reason: String },
    #[error("cluster trust anchors: {0}")]
    Tls(#[from] TlsError),
}

/// What a login attempt is, seen from the cluster's side.
#[derive(Debug, PartialEq, Eq)]
pub enum ClusterLogin {
    /// Not the cluster login: check the password against the user database as usual.
    NotCluster,
    /// The cluster login with the right secret, acting for this user (`None`: for no user,
    /// as an LMTP client does).
    Accepted { acting_as: Option<String> },
    /// The cluster login with a wrong secret: a failed login like any other.
    Refused,
}

/// The loaded `[cluster]` secret and login. `Debug` never shows the secret.
#[derive(Clone)]
pub struct ClusterAuth {
    login: String,
    secret: Arc<[u8]>,
    anchors: Vec<PathBuf>,
}

impl std::fmt::Debug for ClusterAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAuth")
            .field("login", &self.login)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl ClusterAuth {
    /// `Ok(None)` when the host is not in a cluster (no `cluster.secret_file`).
    pub fn load(cluster: &Cluster) -> Result<Option<ClusterAuth>, ClusterError> {
        let Some(path) = &cluster.secret_file else {
            return Ok(None);
        };
        let secret = read_secret(path)?;
        Ok(Some(ClusterAuth {
            login: cluster.login.clone(),
            secret: secret.into(),
            anchors: cluster.trust_anchors.clone(),
        }))
    }

    /// The authentication identity that may act as anyone.
    pub fn login(&self) -> &str {
        &self.login
    }

    /// Classifies decoded SASL credentials. The secret is compared in constant time.
    pub fn check(&self, creds: &Credentials) -> ClusterLogin {
        if creds.authcid != self.login {
            return ClusterLogin::NotCluster;
        }
        if !bool::from(creds.password.as_slice().ct_eq(&self.secret)) {
            return ClusterLogin::Refused;
        }
        let acting_as = (!creds.authzid.is_empty()).then(|| creds.authzid.clone());
        ClusterLogin::Accepted { acting_as }
    }

    /// The base64 SASL PLAIN response that logs in as the cluster login acting for `user`
    /// (empty: for no one). Contains the secret: send it only inside verified TLS.
    pub fn plain_response(&self, user: &str) -> String {
        let mut msg = Vec::with_capacity(user.len() + self.login.len() + self.secret.len() + 2);
        msg.extend_from_slice(user.as_bytes());
        msg.push(0);
        msg.extend_from_slice(self.login.as_bytes());
        msg.push(0);
        msg.extend_from_slice(&self.secret);
        STANDARD.encode(msg)
    }

    /// The TLS client config for connections to other cluster hosts: only the cluster's CA
    /// is trusted.
    pub fn client_tls(&self) -> Result<Arc<rustls::ClientConfig>, ClusterError> {
        Ok(Arc::new(crate::tls_client::anchored_config(&self.anchors)?))
    }
}

fn read_secret(path: &Path) -> Result<Vec<u8>, ClusterError> {
    let bad = |reason: String| ClusterError::Secret {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.permissions().mode() & 0o007 != 0 {
        return Err(bad("readable by every user; chmod o-rwx".into()));
    }
    let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let secret = text.trim_ascii().to_vec();
    if secret.len() < MIN_SECRET_LEN || secret.iter().any(|&b| b == 0 || b == b'\n') {
        return Err(bad(format!(
            "must be one line of at least {MIN_SECRET_LEN} characters"
        )));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{Exchange, Mechanism, Step};

    fn auth(dir: &Path, mode: u32, text: &str) -> Result<Option<ClusterAuth>, ClusterError> {
        let path = dir.join("secret");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        ClusterAuth::load(&Cluster {
            secret_file: Some(path),
            ..Cluster::default()
        })
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_secret_file_must_be_private_and_long() {
        let dir = tempfile::tempdir().unwrap();
        assert!(auth(dir.path(), 0o644, SECRET).is_err());
        assert!(auth(dir.path(), 0o640, "short\n").is_err());
        assert!(auth(dir.path(), 0o640, &format!("{SECRET}\n"))
            .unwrap()
            .is_some());
        assert!(ClusterAuth::load(&Cluster::default()).unwrap().is_none());
    }

    #[test]
    fn the_front_ends_response_is_accepted_by_a_backend_exchange() {
        let dir = tempfile::tempdir().unwrap();
        let a = auth(dir.path(), 0o600, SECRET).unwrap().unwrap();
        let mut ex =
            Exchange::new(Mechanism::Plain, |s| s.to_lowercase()).with_master(Some(a.login()));
        let Ok(Step::Done(creds)) = ex.begin(Some(&a.plain_response("joe@example.org"))) else {
            panic!("exchange did not finish");
        };
        assert_eq!(
            a.check(&creds),
            ClusterLogin::Accepted {
                acting_as: Some("joe@example.org".into())
            }
        );
        let mut wrong = creds.clone();
        wrong.password = b"0123456789abcdef0123456789abcdeX".to_vec();
        assert_eq!(a.check(&wrong), ClusterLogin::Refused);
        wrong.authcid = "joe@example.org".into();
        assert_eq!(a.check(&wrong), ClusterLogin::NotCluster);
        let mut lmtp =
            Exchange::new(Mechanism::Plain, |s| s.to_lowercase()).with_master(Some(a.login()));
        let Ok(Step::Done(creds)) = lmtp.begin(Some(&a.plain_response(""))) else {
            panic!("exchange did not finish");
        };
        assert_eq!(a.check(&creds), ClusterLogin::Accepted { acting_as: None });
    }
}
