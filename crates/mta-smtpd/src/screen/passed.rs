//! Clients that recently passed the greeting test (postscreen's `postscreen_greet_ttl`): they
//! are greeted at once on their next connections, so a legitimate sender pays the delay once
//! a day rather than on every connection. In memory only (a restart tests everyone again),
//! bounded by `greet_cache_size`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct PassedClients {
    ttl: Duration,
    capacity: usize,
    /// Client address → when its pass expires.
    until: Mutex<HashMap<IpAddr, Instant>>,
}

impl PassedClients {
    pub fn new(ttl: Duration, capacity: usize) -> PassedClients {
        PassedClients {
            ttl,
            capacity,
            until: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` passed the test less than the TTL before `now`.
    pub fn contains(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).is_some_and(|until| now < *until)
    }

    /// Records a pass. When full, expired passes make room; if none has expired the pass is
    /// not recorded (the client is only tested again).
    pub fn insert(&self, ip: IpAddr, now: Instant) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let mut map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity && !map.contains_key(&ip) {
            map.retain(|_, until| now < *until);
            if map.len() >= self.capacity {
                return;
            }
        }
        map.insert(ip, now + self.ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_expire_and_the_cache_stays_bounded() {
        let p = PassedClients::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        let ip = |n: u8| IpAddr::from([192, 0, 2, n]);
        p.insert(ip(1), t0);
        assert!(p.contains(ip(1), t0 + Duration::from_secs(9)));
        assert!(!p.contains(ip(1), t0 + Duration::from_secs(10)));
        assert!(!p.contains(ip(2), t0));
        p.insert(ip(2), t0 + Duration::from_secs(5));
        p.insert(ip(3), t0 + Duration::from_secs(5));
        assert!(
            !p.contains(ip(3), t0 + Duration::from_secs(5)),
            "full, nothing expired"
        );
        p.insert(ip(3), t0 + Duration::from_secs(11));
        assert!(
            p.contains(ip(3), t0 + Duration::from_secs(11)),
            "the expired pass made room"
        );
        assert!(p.contains(ip(2), t0 + Duration::from_secs(11)));
        let off = PassedClients::new(Duration::ZERO, 2);
        off.insert(ip(1), t0);
        assert!(!off.contains(ip(1), t0));
    }
}
