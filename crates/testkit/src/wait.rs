//! Bounded polling, for conditions a daemon makes true some time after a test acts.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// Polls `cond` every 25 ms for at most `limit` (and once more at the end); whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    cond()
}

/// A port on `ip` that nothing listens on right now.
pub fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind(SocketAddr::new(ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
}
