//! The administrator's overrides (`proxy.routes_file`): one `user backend-name` per line,
//! `#` comments and blank lines ignored. `mailctl proxy move`/`unmove` rewrite it (atomically);
//! proxyd re-reads it when it changes, and at once when told to over the control socket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ferrymail_net::signals::Shutdown;

/// How often proxyd looks whether the file changed.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}: expected `user backend`")]
    Syntax { path: PathBuf, line: usize },
}

/// Overrides by user login key.
pub type Overrides = BTreeMap<String, String>;

/// Parses the file's text; `login_key` normalises the user names as the user database does.
pub fn parse(
    text: &str,
    path: &Path,
    login_key: fn(&str) -> String,
) -> Result<Overrides, RoutesError> {
    let mut out = Overrides::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(user), Some(backend), None) => {
                out.insert(login_key(user), backend.to_owned());
            }
            _ => {
                return Err(RoutesError::Syntax {
                    path: path.to_owned(),
                    line: i + 1,
                })
            }
        }
    }
    Ok(out)
}

/// Reads the file; a missing file is no overrides.
pub fn read(path: &Path, login_key: fn(&str) -> String) -> Result<Overrides, RoutesError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path, login_key),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Overrides::new()),
        Err(source) => Err(RoutesError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replaces the file with `routes` (atomically, mode 0644).
pub fn write(path: &Path, routes: &Overrides) -> Result<(), RoutesError> {
    let mut text = String::from("# user backend (written by `mailctl proxy move`)\n");
    for (user, backend) in routes {
        text.push_str(&format!("{user} {backend}\n"));
    }
    ferrymail_fsutil::write_atomic(path, text.as_bytes(), 0o644).map_err(|source| RoutesError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The overrides proxyd routes by, reloaded when the file changes.
#[derive(Clone)]
pub struct Routes {
    path: PathBuf,
    login_key: fn(&str) -> String,
    current: Arc<RwLock<(Overrides, Option<SystemTime>)>>,
}

impl Routes {
    pub fn new(path: PathBuf, login_key: fn(&str) -> String) -> Routes {
        let routes = Routes {
            path,
            login_key,
            current: Arc::new(RwLock::new((Overrides::new(), None))),
        };
        routes.reload();
        routes
    }

    pub fn get(&self, user_key: &str) -> Option<String> {
        let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
        cur.0.get(user_key).cloned()
    }

    /// Re-reads the file; a file that does not parse leaves the previous overrides in force.
    pub fn reload(&self) {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        match read(&self.path, self.login_key) {
            Ok(o) => {
                tracing::info!(path = %self.path.display(), overrides = o.len(), "routes loaded");
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = (o, mtime);
            }
            Err(e) => {
                tracing::error!(error = %e, "routes file not loaded; keeping the previous routes")
            }
        }
    }

    /// Re-reads the file whenever its modification time changes, until shutdown.
    pub async fn watch(self, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(WATCH_INTERVAL) => {}
                _ = shutdown.wait() => return,
            }
            let mtime = std::fs::metadata(&self.path)
                .and_then(|m| m.modified())
                .ok();
            let seen = self.current.read().unwrap_or_else(|p| p.into_inner()).1;
            if mtime != seen {
                self.reload();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_write_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes");
        let lower = |s: &str| s.to_lowercase();
        let text = "# comment\n\nJoe@Example.org b2  # moved\nann@example.org b1\n";
        let o = parse(text, &path, lower).unwrap();
        assert_eq!(o.get("joe@example.org").map(String::as_str), Some("b2"));
        assert_eq!(o.len(), 2);
        assert!(matches!(
            parse("joe\n", &path, lower),
            Err(RoutesError::Syntax { line: 1, .. })
        ));
        let routes = Routes::new(path.clone(), lower);
        assert_eq!(routes.get("joe@example.org"), None);
        write(&path, &o).unwrap();
        assert_eq!(read(&path, lower).unwrap(), o);
        routes.reload();
        assert_eq!(routes.get("joe@example.org").as_deref(), Some("b2"));
        // A broken file keeps what was loaded.
        std::fs::write(&path, "nonsense here too\n").unwrap();
        routes.reload();
        assert_eq!(routes.get("ann@example.org").as_deref(), Some("b1"));
    }
}
