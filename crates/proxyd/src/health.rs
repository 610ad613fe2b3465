//! Whether each backend takes part in the routing: checked every `health_interval` by
//! connecting to its IMAP port and reading the greeting. It goes down after
//! `health_failures` failed checks in a row, or at once when a connection to it is refused
//! (by a check or by a login being routed there), and comes back after one good check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrymail_config::ProxyBackend;
use ferrymail_net::signals::Shutdown;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpStream;

/// Longest a check may take (connect and greeting).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    up: bool,
    failures: u32,
    /// When `up` last changed (or proxyd started).
    since: SystemTime,
}

/// One backend's state as [`Health::snapshot`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub up: bool,
    /// Failed checks in a row.
    pub failures: u32,
    /// Unix seconds of the last change between up and down.
    pub since: u64,
}

/// How a check or a connection attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Timed out, reset, or no greeting: counts toward `health_failures`.
    Failed,
    /// Connection refused: nothing listens there.
    Refused,
}

/// The health of every backend, shared by the checker and the router.
#[derive(Clone)]
pub struct Health {
    states: Arc<Mutex<HashMap<String, State>>>,
    failures_down: u32,
}

impl Health {
    /// Every backend starts up: the first round of checks follows at once.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, failures_down: u32) -> Health {
        let since = SystemTime::now();
        let states = names
            .into_iter()
            .map(|n| {
                let s = State {
                    up: true,
                    failures: 0,
                    since,
                };
                (n.to_owned(), s)
            })
            .collect();
        Health {
            states: Arc::new(Mutex::new(states)),
            failures_down: failures_down.max(1),
        }
    }

    /// Each update is one assignment: a panic cannot leave a state half-made.
    fn locked(&self) -> MutexGuard<'_, HashMap<String, State>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_up(&self, name: &str) -> bool {
        self.locked().get(name).is_some_and(|s| s.up)
    }

    /// Applies one result; returns the new state when it changed (`Some(true)`: back up).
    pub fn record(&self, name: &str, outcome: Outcome) -> Option<bool> {
        let mut map = self.locked();
        let s = map.get_mut(name)?;
        let was = s.up;
        match outcome {
            Outcome::Ok => {
                s.up = true;
                s.failures = 0;
            }
            Outcome::Failed => {
                s.failures = s.failures.saturating_add(1);
                if s.failures >= self.failures_down {
                    s.up = false;
                }
            }
            Outcome::Refused => {
                s.failures = s.failures.saturating_add(1).max(self.failures_down);
                s.up = false;
            }
        }
        if s.up == was {
            return None;
        }
        s.since = SystemTime::now();
        Some(s.up)
    }

    /// The state of the backend `name`, if it is one.
    pub fn snapshot(&self, name: &str) -> Option<Snapshot> {
        self.locked().get(name).map(|s| Snapshot {
            up: s.up,
            failures: s.failures,
            since: s
                .since
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        })
    }
}

/// Logs a change of state the way every caller of [`Health::record`] should.
pub fn note(health: &Health, name: &str, outcome: Outcome) {
    match health.record(name, outcome) {
        Some(true) => tracing::info!(backend = %name, "backend up"),
        Some(false) => {
            tracing::warn!(backend = %name, ?outcome, "backend down");
            crate::metrics::backend_down(name);
        }
        None => {}
    }
}

/// Checks every backend each `interval` until shutdown.
pub async fn run(
    health: Health,
    backends: Vec<ProxyBackend>,
    interval: Duration,
    mut shutdown: Shutdown,
) {
    loop {
        for b in &backends {
            let outcome = check(&b.address, b.imap).await;
            note(&health, &b.name, outcome);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait() => return,
        }
    }
}

/// One check: connect and read an IMAP `* OK` greeting.
pub async fn check(address: &str, port: u16) -> Outcome {
    let attempt = async {
        let tcp = match TcpStream::connect((address, port)).await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Outcome::Refused,
            Err(_) => return Outcome::Failed,
        };
        let mut line = String::new();
        let mut r = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(tcp, 4096));
        match r.read_line(&mut line).await {
            Ok(_) if line.starts_with("* OK") => Outcome::Ok,
            _ => Outcome::Failed,
        }
    };
    tokio::time::timeout(CHECK_TIMEOUT, attempt)
        .await
        .unwrap_or(Outcome::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_the_failures_in_a_row_or_at_once_when_refused_up_after_one_success() {
        let h = Health::new(["b1", "b2"], 2);
        assert!(h.is_up("b1"));
        assert_eq!(h.record("b1", Outcome::Failed), None);
        assert!(h.is_up("b1"));
        assert_eq!(h.record("b1", Outcome::Failed), Some(false));
        assert!(!h.is_up("b1"));
        assert_eq!(h.record("b1", Outcome::Ok), Some(true));
        // A success in between starts the count again.
        h.record("b1", Outcome::Failed);
        h.record("b1", Outcome::Ok);
        h.record("b1", Outcome::Failed);
        assert!(h.is_up("b1"));
        assert_eq!(h.record("b2", Outcome::Refused), Some(false));
        assert!(!h.is_up("b2"));
        let b2 = h.snapshot("b2").unwrap();
        assert_eq!((b2.up, b2.failures), (false, 2));
        assert!(b2.since > 0);
        assert!(!h.is_up("unknown"));
    }

    #[tokio::test]
    async fn a_check_tells_a_greeting_from_a_refusal() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut s, b"* OK ready\r\n").await;
            }
        });
        assert_eq!(check("127.0.0.1", port).await, Outcome::Ok);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(check("127.0.0.1", dead).await, Outcome::Refused);
    }
}
