//! Connection admission, shared by every listening daemon so the same limits mean the same thing
//! on SMTP, POP3 and IMAP (login back-off is [`crate::auth_throttle`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ferrymail_config::{canonical_ip, ConnLimits};

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
}
