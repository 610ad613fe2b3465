//! Submission rate limits (`[smtpd.rate]`): how many messages and recipients an authenticated
//! login, and the client address it submits from, may have accepted in any sliding hour. One
//! [`RateLimiter`] is shared by every connection of the process.
//!
//! Each tracked key keeps per-minute buckets of the last hour (only the minutes that saw mail)
//! and what open transactions hold. A transaction holds its message from MAIL and each recipient
//! from its RCPT 250 ([`Reservation`]), so parallel sessions of one login cannot together
//! overshoot; the holding becomes a count only when the message is queued
//! ([`Reservation::commit`]), and dropping the reservation (RSET, a refused or failed message,
//! a disconnect) gives it back: a transaction that does not end in a queued message costs
//! nothing. The clock is passed in, so every rule here is tested without waiting an hour.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrymail_config::{canonical_ip, RateLimits};

/// Buckets per window: one per minute of the hour.
const WINDOW_MINUTES: u32 = 60;

/// The time, for the limiter: any monotonic clock.
pub trait Clock: Send + Sync {
    /// Time since some fixed start.
    fn elapsed(&self) -> Duration;
}

/// The process's monotonic clock.
pub struct MonotonicClock(Instant);

impl MonotonicClock {
    pub fn new() -> MonotonicClock {
        MonotonicClock(Instant::now())
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Whose budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    Address,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Address => "address",
        }
    }
}

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Messages,
    Recipients,
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Messages => "messages",
            Budget::Recipients => "recipients",
        }
    }
}

/// A refusal: the budget, its hourly limit and who it belongs to (the login or the address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub scope: Scope,
    pub budget: Budget,
    pub limit: u32,
    pub who: String,
}

/// One hour's limits of one key (0 = no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    messages: u32,
    recipients: u32,
}

impl Limits {
    fn of(self, b: Budget) -> u32 {
        match b {
            Budget::Messages => self.messages,
            Budget::Recipients => self.recipients,
        }
    }

    fn none(self) -> bool {
        self.messages == 0 && self.recipients == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    minute: u32,
    messages: u32,
    recipients: u32,
}

/// One key's last hour, and what its open transactions hold.
#[derive(Debug, Default)]
struct Window {
    buckets: VecDeque<Bucket>,
    messages: u64,
    recipients: u64,
    held_messages: u64,
    held_recipients: u64,
    last_active: u32,
}

impl Window {
    /// Forgets the minutes that have left the hour ending at `minute`.
    fn expire(&mut self, minute: u32) {
        while let Some(b) = self.buckets.front() {
            if b.minute + WINDOW_MINUTES > minute {
                break;
            }
            self.messages -= u64::from(b.messages);
            self.recipients -= u64::from(b.recipients);
            self.buckets.pop_front();
        }
    }

    fn used(&self, b: Budget) -> u64 {
        match b {
            Budget::Messages => self.messages + self.held_messages,
            Budget::Recipients => self.recipients + self.held_recipients,
        }
    }

    fn hold(&mut self, b: Budget) {
        match b {
            Budget::Messages => self.held_messages += 1,
            Budget::Recipients => self.held_recipients += 1,
        }
    }

    fn release(&mut self, messages: u64, recipients: u64) {
        self.held_messages = self.held_messages.saturating_sub(messages);
        self.held_recipients = self.held_recipients.saturating_sub(recipients);
    }

    fn count(&mut self, minute: u32, messages: u32, recipients: u32) {
        match self.buckets.back_mut() {
            Some(b) if b.minute == minute => {
                b.messages = b.messages.saturating_add(messages);
                b.recipients = b.recipients.saturating_add(recipients);
            }
            _ => self.buckets.push_back(Bucket {
                minute,
                messages,
                recipients,
            }),
        }
        self.messages += u64::from(messages);
        self.recipients += u64::from(recipients);
    }

    fn idle(&self) -> bool {
        self.buckets.is_empty() && self.held_messages == 0 && self.held_recipients == 0
    }
}

/// The windows of one kind of key, at most `max` of them.
#[derive(Debug)]
struct Table<K> {
    windows: HashMap<K, Window>,
    max: usize,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(max: usize) -> Self {
        Table {
            windows: HashMap::new(),
            max: max.max(1),
        }
    }

    /// The key's window, brought up to `minute`; a new key may push out an idle one or, with
    /// none idle, the least recently active.
    fn window(&mut self, key: &K, minute: u32) -> &mut Window {
        if !self.windows.contains_key(key) && self.windows.len() >= self.max {
            self.windows.retain(|_, w| {
                w.expire(minute);
                !w.idle()
            });
            if self.windows.len() >= self.max {
                let oldest = self
                    .windows
                    .iter()
                    .min_by_key(|(_, w)| w.last_active)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.windows.remove(&k);
                }
            }
        }
        let w = self.windows.entry(key.clone()).or_default();
        w.expire(minute);
        w.last_active = minute;
        w
    }

    fn release(&mut self, key: &K, messages: u64, recipients: u64) {
        if let Some(w) = self.windows.get_mut(key) {
            w.release(messages, recipients);
        }
    }
}

struct Tables {
    users: Table<String>,
    addresses: Table<IpAddr>,
}

/// The process-wide limiter.
pub struct RateLimiter {
    tables: Mutex<Tables>,
    user: Limits,
    address: Limits,
    overrides: HashMap<String, Limits>,
    exempt_trusted: bool,
    clock: Box<dyn Clock>,
}

/// Who is submitting: the login and the client.
#[derive(Debug, Clone, Copy)]
pub struct Submitter<'a> {
    pub login: &'a str,
    pub addr: IpAddr,
    /// In `general.trusted_networks`.
    pub trusted: bool,
}

impl RateLimiter {
    /// `exempt_trusted`: trusted clients have no address limit (`smtpd.limits.exempt_trusted`).
    pub fn new(cfg: &RateLimits, exempt_trusted: bool, clock: Box<dyn Clock>) -> RateLimiter {
        let user = Limits {
            messages: cfg.user_messages_per_hour,
            recipients: cfg.user_recipients_per_hour,
        };
        let overrides = cfg
            .user_overrides
            .iter()
            .map(|(login, o)| {
                let l = Limits {
                    messages: o.messages_per_hour.unwrap_or(user.messages),
                    recipients: o.recipients_per_hour.unwrap_or(user.recipients),
                };
                (login.to_lowercase(), l)
            })
            .collect();
        RateLimiter {
            tables: Mutex::new(Tables {
                users: Table::new(cfg.max_tracked_keys),
                addresses: Table::new(cfg.max_tracked_keys),
            }),
            user,
            address: Limits {
                messages: cfg.address_messages_per_hour,
                recipients: cfg.address_recipients_per_hour,
            },
            overrides,
            exempt_trusted,
            clock,
        }
    }

    fn minute(&self) -> u32 {
        u32::try_from(self.clock.elapsed().as_secs() / 60).unwrap_or(u32::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panic elsewhere while holding the lock leaves counts that are still counts.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new transaction's message (at MAIL): refused if the login or the address has used its
    /// hour's messages; otherwise the message is held until the reservation ends.
    pub fn begin_message(self: &Arc<Self>, who: Submitter<'_>) -> Result<Reservation, Exceeded> {
        let login = who.login.to_lowercase();
        let user = self.overrides.get(&login).copied().unwrap_or(self.user);
        let user = (!user.none()).then_some((login, user));
        let exempt = who.trusted && self.exempt_trusted;
        let address =
            (!exempt && !self.address.none()).then(|| (address_key(who.addr), self.address));
        let mut r = Reservation {
            limiter: self.clone(),
            client: canonical_ip(who.addr),
            user,
            address,
            messages: 0,
            recipients: 0,
            committed: false,
        };
        r.take(Budget::Messages)?;
        r.messages = 1;
        Ok(r)
    }

    /// Keys tracked now (logins, addresses).
    pub fn tracked(&self) -> (usize, usize) {
        let t = self.lock();
        (t.users.windows.len(), t.addresses.windows.len())
    }
}

/// The budget an open transaction holds.
pub struct Reservation {
    limiter: Arc<RateLimiter>,
    /// For the log: the address itself, not the key it counts under.
    client: IpAddr,
    user: Option<(String, Limits)>,
    address: Option<(IpAddr, Limits)>,
    messages: u64,
    recipients: u64,
    committed: bool,
}

impl Reservation {
    /// One more recipient (at RCPT, once policy has accepted it).
    pub fn add_recipient(&mut self) -> Result<(), Exceeded> {
        self.take(Budget::Recipients)?;
        self.recipients += 1;
        Ok(())
    }

    /// Holds one of `budget` for both keys, or neither when either has none left.
    fn take(&mut self, budget: Budget) -> Result<(), Exceeded> {
        let minute = self.limiter.minute();
        let mut t = self.limiter.lock();
        let over = match self.user.as_ref().and_then(|(login, limits)| {
            let limit = spent(&mut t.users, login, *limits, budget, minute)?;
            Some((Scope::User, limit, login.clone()))
        }) {
            Some(o) => Some(o),
            None => self.address.as_ref().and_then(|(addr, limits)| {
                let limit = spent(&mut t.addresses, addr, *limits, budget, minute)?;
                // An IPv6 key is a /64: say so, the client's own address is not the whole key.
                let who = match addr {
                    IpAddr::V6(net) => format!("{net}/64"),
                    v4 => v4.to_string(),
                };
                Some((Scope::Address, limit, who))
            }),
        };
        if let Some((scope, limit, who)) = over {
            let e = Exceeded {
                scope,
                budget,
                limit,
                who,
            };
            drop(t);
            self.refused(&e);
            return Err(e);
        }
        if let Some((login, _)) = &self.user {
            t.users.window(login, minute).hold(budget);
        }
        if let Some((addr, _)) = &self.address {
            t.addresses.window(addr, minute).hold(budget);
        }
        Ok(())
    }

    /// Logged (a warning: a login over its budget may be a stolen password) and counted.
    fn refused(&self, e: &Exceeded) {
        let user = self.user.as_ref().map_or("", |(l, _)| l.as_str());
        tracing::warn!(
            user,
            client = %self.client,
            scope = e.scope.as_str(),
            budget = e.budget.as_str(),
            limit = e.limit,
            "submission rate limit reached"
        );
        crate::metrics::rate_limited(e.scope, e.budget);
    }

    /// The message was queued: what it held now counts against the hour.
    pub fn commit(mut self) {
        let minute = self.limiter.minute();
        let (m, r) = (self.messages, self.recipients);
        let (m32, r32) = (
            u32::try_from(m).unwrap_or(u32::MAX),
            u32::try_from(r).unwrap_or(u32::MAX),
        );
        {
            let mut t = self.limiter.lock();
            if let Some((login, _)) = &self.user {
                let w = t.users.window(login, minute);
                w.release(m, r);
                w.count(minute, m32, r32);
            }
            if let Some((addr, _)) = &self.address {
                let w = t.addresses.window(addr, minute);
                w.release(m, r);
                w.count(minute, m32, r32);
            }
        }
        self.committed = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.committed || (self.messages == 0 && self.recipients == 0) {
            return;
        }
        let mut t = self.limiter.lock();
        if let Some((login, _)) = &self.user {
            t.users.release(login, self.messages, self.recipients);
        }
        if let Some((addr, _)) = &self.address {
            t.addresses.release(addr, self.messages, self.recipients);
        }
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("messages", &self.messages)
            .field("recipients", &self.recipients)
            .finish()
    }
}

/// The limit of `budget` when the key has used all of it in the hour.
fn spent<K: Hash + Eq + Clone>(
    table: &mut Table<K>,
    key: &K,
    limits: Limits,
    budget: Budget,
    minute: u32,
) -> Option<u32> {
    let limit = limits.of(budget);
    (limit != 0 && table.window(key, minute).used(budget) >= u64::from(limit)).then_some(limit)
}

/// An IPv4 client is its address; an IPv6 client its /64, the block one host usually has.
fn address_key(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;
