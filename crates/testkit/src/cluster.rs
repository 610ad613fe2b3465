//! A dev environment made a one-host cluster (`[cluster]`): a private secret file and the
//! environment's own certificate as the only trust anchor, so a test can be both the front
//! end (or MX host) and the backend it logs in to.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::Suite;

/// A secret of the length `[cluster]` asks for; the tests' own, never a real one.
const SECRET: &str = "test-cluster-secret-0123456789abcdef";

impl Suite {
    /// Writes the cluster secret (mode 0600) and sets `[cluster]` in the config for daemons
    /// started after this; returns the secret file.
    pub fn join_cluster(&mut self) -> PathBuf {
        let path = self.dir().join("cluster-secret");
        std::fs::write(&path, SECRET).unwrap_or_else(|e| panic!("cluster secret: {e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("cluster secret: {e}"));
        let secret = path.clone();
        self.edit_config(|c| {
            c.cluster.secret_file = Some(secret);
            c.cluster.trust_anchors = vec![c.tls.cert.clone()];
        });
        path
    }
}
