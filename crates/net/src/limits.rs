//! Connection admission and login back-off, shared by every listening daemon so the same limits
//! mean the same thing on SMTP, POP3 and IMAP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrymail_config::{canonical_ip, ConnLimits};
use tokio::sync::Semaphore;

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManyConnections,
    TooManyFromAddress,
}

/// Counts live connections in total and per client address.
#[derive(Clone)]
pub struct ConnLimiter {
    inner: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_ip: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Held for the life of a connection; dropping it frees the slot.
pub struct ConnGuard {
    limiter: ConnLimiter,
    ip: IpAddr,
    counted_per_ip: bool,
}

impl ConnLimiter {
    pub fn new(limits: &ConnLimits) -> Self {
        ConnLimiter {
            inner: Arc::new(Mutex::new(Counts::default())),
            max_total: limits.max_connections,
            max_per_ip: limits.max_connections_per_ip,
        }
    }

    /// Admits a connection from `ip`; `exempt` clients (trusted networks) skip the per-address
    /// limit but still count toward the total, which protects the process itself.
    pub fn admit(&self, ip: IpAddr, exempt: bool) -> Result<ConnGuard, Refusal> {
        let ip = canonical_ip(ip);
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        if !exempt {
            let n = c.per_ip.get(&ip).copied().unwrap_or(0);
            if n >= self.max_per_ip {
                return Err(Refusal::TooManyFromAddress);
            }
            c.per_ip.insert(ip, n + 1);
        }
        c.total += 1;
        Ok(ConnGuard {
            limiter: self.clone(),
            ip,
            counted_per_ip: !exempt,
        })
    }

    pub fn active(&self) -> usize {
        self.inner.lock().map(|c| c.total).unwrap_or(0)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self.limiter.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if self.counted_per_ip {
            if let Some(n) = c.per_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    c.per_ip.remove(&self.ip);
                }
            }
        }
    }
}

/// Remembers failed logins per client address across connections, so a password-guessing
/// client gains nothing by reconnecting: each failure doubles the delay before the next answer.
///
/// It also runs the password checks themselves ([`AuthThrottle::check_password`]): at most
/// `max_concurrent_password_checks` at once, in arrival order, and one at a time per client
/// address, because each check burns tens of milliseconds of CPU by design and a flood of
/// bad logins must not take every core away from the good ones.
#[derive(Clone)]
pub struct AuthThrottle {
    inner: Arc<Mutex<HashMap<IpAddr, Failures>>>,
    base: Duration,
    max: Duration,
    forget_after: Duration,
    checks: Arc<Semaphore>,
    per_address: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
}

/// One address's turn at checking a password; the last one out removes the address's entry,
/// so the map holds only addresses with a check running or waiting.
struct AddressTurn {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    sem: Arc<Semaphore>,
    ip: IpAddr,
    map: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
}

impl Drop for AddressTurn {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // Two references: ours and the map's. Anyone else holds a clone while waiting.
        if Arc::strong_count(&self.sem) <= 2 {
            m.remove(&self.ip);
        }
    }
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl AuthThrottle {
    pub fn new(limits: &ConnLimits) -> Self {
        AuthThrottle {
            inner: Arc::new(Mutex::new(HashMap::new())),
            base: limits.auth_failure_delay,
            max: Duration::from_secs(60),
            forget_after: Duration::from_secs(15 * 60),
            checks: Arc::new(Semaphore::new(
                match limits.max_concurrent_password_checks {
                    0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                    n => n,
                },
            )),
            per_address: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Runs `check` (a password verification) on the blocking pool once a slot is free: first
    /// this address's turn (skipped when `exempt`, e.g. a trusted webmail host), then one of
    /// the global slots. `None` if the check panicked.
    pub async fn check_password<T: Send + 'static>(
        &self,
        ip: IpAddr,
        exempt: bool,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let ip = canonical_ip(ip);
        let turn = if exempt {
            None
        } else {
            let sem = self
                .per_address
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(ip)
                .or_insert_with(|| Arc::new(Semaphore::new(1)))
                .clone();
            Some(AddressTurn {
                permit: sem.clone().acquire_owned().await.ok(),
                sem,
                ip,
                map: self.per_address.clone(),
            })
        };
        let slot = self.checks.clone().acquire_owned().await.ok();
        let r = tokio::task::spawn_blocking(check).await.ok();
        drop(slot);
        drop(turn);
        r
    }

    /// Records a failure and returns how long to wait before answering it.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let ip = canonical_ip(ip);
        let now = Instant::now();
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 100_000 {
            // Bound memory under a distributed attack: forget the oldest half of the world.
            let forget = self.forget_after;
            m.retain(|_, f| now.duration_since(f.last) < forget / 2);
        }
        let f = m.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(f.last) > self.forget_after {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        self.delay_for(f.count)
    }

    /// A success forgets the address's history.
    pub fn succeeded(&self, ip: IpAddr) {
        let ip = canonical_ip(ip);
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }

    /// The delay owed before even trying a login from `ip` (its recent failures).
    pub fn pending_delay(&self, ip: IpAddr) -> Duration {
        let ip = canonical_ip(ip);
        let m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(&ip) {
            Some(f) if f.last.elapsed() < self.forget_after => {
                self.delay_for(f.count.saturating_sub(1))
            }
            _ => Duration::ZERO,
        }
    }

    fn delay_for(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> ConnLimits {
        ConnLimits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..ConnLimits::default()
        }
    }

    #[test]
    fn per_ip_and_total_limits_apply_and_release() {
        let l = ConnLimiter::new(&limits(3, 2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let g1 = l.admit(a, false).unwrap();
        let _g2 = l.admit(a, false).unwrap();
        assert_eq!(l.admit(a, false).err(), Some(Refusal::TooManyFromAddress));
        let _g3 = l.admit(b, false).unwrap();
        assert_eq!(l.admit(b, false).err(), Some(Refusal::TooManyConnections));
        drop(g1);
        assert_eq!(l.active(), 2);
        assert!(l.admit(a, false).is_ok());
    }

    #[test]
    fn exempt_clients_skip_per_ip_limit_only() {
        let l = ConnLimiter::new(&limits(3, 1));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let _a = l.admit(lo, true).unwrap();
        let _b = l.admit(lo, true).unwrap();
        let _c = l.admit(lo, true).unwrap();
        assert_eq!(l.admit(lo, true).err(), Some(Refusal::TooManyConnections));
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let l = ConnLimiter::new(&limits(10, 1));
        let _a = l.admit("192.0.2.9".parse().unwrap(), false).unwrap();
        assert_eq!(
            l.admit("::ffff:192.0.2.9".parse().unwrap(), false).err(),
            Some(Refusal::TooManyFromAddress)
        );
    }

    /// Runs `n` checks per address concurrently and returns the most that ever ran at once,
    /// overall and for one address.
    async fn peak(t: &AuthThrottle, addrs: &[&str], n: usize, exempt: bool) -> (usize, usize) {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let per = Arc::new(Mutex::new(HashMap::<String, (usize, usize)>::new()));
        let mut tasks = Vec::new();
        for a in addrs {
            for _ in 0..n {
                let (t, now, most, per, a) = (
                    t.clone(),
                    now.clone(),
                    most.clone(),
                    per.clone(),
                    a.to_string(),
                );
                tasks.push(tokio::spawn(async move {
                    let ip: IpAddr = a.parse().unwrap();
                    t.check_password(ip, exempt, move || {
                        most.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                        {
                            let mut m = per.lock().unwrap();
                            let e = m.entry(a.clone()).or_default();
                            e.0 += 1;
                            e.1 = e.1.max(e.0);
                        }
                        std::thread::sleep(Duration::from_millis(15));
                        per.lock().unwrap().get_mut(&a).unwrap().0 -= 1;
                        now.fetch_sub(1, SeqCst);
                    })
                    .await
                    .unwrap()
                }));
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        let per_most = per.lock().unwrap().values().map(|v| v.1).max().unwrap();
        (most.load(SeqCst), per_most)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn password_checks_are_bounded_globally_and_per_address() {
        let t = AuthThrottle::new(&ConnLimits {
            max_concurrent_password_checks: 3,
            ..ConnLimits::default()
        });
        let addrs = [
            "192.0.2.1",
            "192.0.2.2",
            "192.0.2.3",
            "192.0.2.4",
            "192.0.2.5",
        ];
        let (all, one) = peak(&t, &addrs, 4, false).await;
        assert!((2..=3).contains(&all), "{all} at once");
        assert_eq!(one, 1, "one check at a time per address");
        // An exempt (trusted) address may use every global slot, never more.
        let (all, one) = peak(&t, &addrs[..1], 8, true).await;
        assert_eq!(one, all);
        assert!((2..=3).contains(&all), "{all}");
        // Nothing is left behind for addresses that are done.
        assert!(t.per_address.lock().unwrap().is_empty());
    }

    #[test]
    fn auth_delay_doubles_and_resets_on_success() {
        let t = AuthThrottle::new(&ConnLimits {
            auth_failure_delay: Duration::from_millis(100),
            ..ConnLimits::default()
        });
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(t.pending_delay(ip), Duration::ZERO);
        assert_eq!(t.failed(ip), Duration::from_millis(100));
        assert_eq!(t.failed(ip), Duration::from_millis(200));
        assert_eq!(t.failed(ip), Duration::from_millis(400));
        assert_eq!(t.pending_delay(ip), Duration::from_millis(200));
        for _ in 0..40 {
            t.failed(ip);
        }
        assert_eq!(t.failed(ip), Duration::from_secs(60));
        t.succeeded(ip);
        assert_eq!(t.pending_delay(ip), Duration::ZERO);
    }
}
