//! Password checks and the back-off after failed ones, shared by SMTP AUTH, POP3 and IMAP so a
//! login costs and waits the same whichever protocol it arrives by.
//!
//! A login is first looked up among recent successes ([`UserDb::verify_cached`]); a hit answers
//! at once, without a hash and without queueing. Otherwise the check (a deliberately slow hash)
//! takes one of `max_concurrent_password_checks` slots, in arrival order. Failures, not
//! addresses, are what is penalised: an address with recent failures first waits the delay it
//! owes (doubling per failure) and then checks one password at a time, so a guessing client
//! queues behind itself and holds at most one slot; an address without failures (an office
//! behind NAT, a webmail host) checks as many at once as the slots allow.
//!
//! A success forgives only the failures of the login that succeeded: an attacker who owns one
//! account cannot wipe out the history of guesses against others by logging into it between
//! them, while a user who mistyped and then got it right is not held back afterwards.
//!
//! With the cluster's trust ([`AuthThrottle::with_cluster`]) the cluster login acting for a
//! user logs in as that user without the user's password; its failures wait and count like
//! anyone's.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrymail_config::{canonical_ip, ConnLimits};
use ferrymail_users::{Account, AuthError, UserDb};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::cluster::{ClusterAuth, ClusterLogin};
use crate::sasl::Credentials;

/// Logins whose failures an address's record tells apart; further ones still count toward the
/// address's delay but no success forgives them.
const LOGINS_PER_ADDRESS: usize = 8;
/// Addresses remembered at most before the oldest half is forgotten.
const MAX_ADDRESSES: usize = 100_000;

/// What a login attempt came to.
#[derive(Debug)]
pub enum LoginCheck {
    Accepted(Account),
    /// Wrong credentials: answer only after `delay`, which grows with the address's failures.
    Refused {
        reason: AuthError,
        delay: Duration,
    },
    /// The check itself did not complete (it panicked); nothing was learnt about the password.
    Broken,
}

/// Runs password checks and remembers failed ones per client address across connections, so
/// a password-guessing client gains nothing by reconnecting.
#[derive(Clone)]
pub struct AuthThrottle {
    failures: Arc<Mutex<HashMap<IpAddr, Failures>>>,
    base: Duration,
    max: Duration,
    forget_after: Duration,
    checks: Arc<Semaphore>,
    turns: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
    /// Keyed hashing of logins into failure records (the logins themselves are not kept).
    login_tags: std::collections::hash_map::RandomState,
    cluster: Option<ClusterAuth>,
}

/// Recent failures from one address.
struct Failures {
    count: u32,
    last: Instant,
    /// (login tag, failures) for the first logins that failed.
    by_login: Vec<(u64, u32)>,
}

/// One address's turn at checking a password; the last one out removes the address's entry,
/// so the map holds only addresses with a check running or waiting.
struct AddressTurn {
    permit: Option<OwnedSemaphorePermit>,
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

impl AuthThrottle {
    pub fn new(limits: &ConnLimits) -> Self {
        AuthThrottle {
            failures: Arc::new(Mutex::new(HashMap::new())),
            base: limits.auth_failure_delay,
            max: Duration::from_secs(60),
            forget_after: Duration::from_secs(15 * 60),
            checks: Arc::new(Semaphore::new(
                match limits.max_concurrent_password_checks {
                    0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
                    n => n,
                },
            )),
            turns: Arc::new(Mutex::new(HashMap::new())),
            login_tags: Default::default(),
            cluster: None,
        }
    }

    /// Trusts the cluster login (`[cluster]`; None: not in a cluster) in
    /// [`verify_credentials`](AuthThrottle::verify_credentials).
    pub fn with_cluster(mut self, cluster: Option<ClusterAuth>) -> Self {
        self.cluster = cluster;
        self
    }

    /// The login that may act as other users, for [`crate::sasl::Exchange::with_master`].
    pub fn master_login(&self) -> Option<&str> {
        self.cluster.as_ref().map(ClusterAuth::login)
    }

    /// Checks decoded credentials (SASL, or a plain login with an empty authzid). The cluster
    /// login with its secret logs in as the user named by the authzid, who must exist; acting
    /// for nobody is for LMTP peers and fails here, as does the wrong secret. Everyone else's
    /// password is checked by [`verify`](AuthThrottle::verify).
    pub async fn verify_credentials(
        &self,
        users: &UserDb,
        ip: IpAddr,
        exempt: bool,
        creds: Credentials,
    ) -> LoginCheck {
        let Some(cluster) = self.cluster.clone().filter(|c| c.login() == creds.authcid) else {
            return self
                .verify(users, ip, exempt, &creds.authcid, creds.password)
                .await;
        };
        let ip = canonical_ip(ip);
        let db = users.clone();
        // Waits and takes turns like a password check, so guessing the secret is as slow.
        let verdict = self
            .check(ip, exempt, move || match cluster.check(&creds) {
                ClusterLogin::Accepted {
                    acting_as: Some(user),
                } => db.lookup(&user).ok_or(AuthError::UnknownUser),
                ClusterLogin::Accepted { acting_as: None } => Err(AuthError::UnknownUser),
                ClusterLogin::Refused | ClusterLogin::NotCluster => Err(AuthError::WrongPassword),
            })
            .await;
        let login = self.master_login().unwrap_or_default();
        match verdict {
            Some(Ok(account)) => {
                tracing::info!(user = %account.login(), via = "cluster", "cluster login accepted");
                self.succeeded(ip, login);
                LoginCheck::Accepted(account)
            }
            Some(Err(reason)) => {
                tracing::warn!(%reason, "cluster login refused");
                LoginCheck::Refused {
                    reason,
                    delay: self.failed(ip, login),
                }
            }
            None => LoginCheck::Broken,
        }
    }

    /// Checks `login`'s `password` for a client at `ip`, waiting as described in the module
    /// doc; `exempt` clients (trusted networks, e.g. a webmail host) neither wait for their
    /// failures nor take turns, but still share the slots and have their failures counted.
    pub async fn verify(
        &self,
        users: &UserDb,
        ip: IpAddr,
        exempt: bool,
        login: &str,
        password: Vec<u8>,
    ) -> LoginCheck {
        let ip = canonical_ip(ip);
        // The lookup reads no hash, but may re-read a changed passwd file: not on this thread.
        let (db, name) = (users.clone(), login.to_owned());
        let remembered = tokio::task::spawn_blocking(move || {
            let hit = db.verify_cached(&name, &password);
            (hit, password)
        })
        .await;
        let password = match remembered {
            Ok((Some(account), _)) => {
                self.succeeded(ip, login);
                return LoginCheck::Accepted(account);
            }
            Ok((None, password)) => password,
            Err(_) => return LoginCheck::Broken,
        };
        let (db, name) = (users.clone(), login.to_owned());
        match self
            .check(ip, exempt, move || db.verify(&name, password))
            .await
        {
            Some(Ok(account)) => {
                self.succeeded(ip, login);
                LoginCheck::Accepted(account)
            }
            Some(Err(reason)) => LoginCheck::Refused {
                reason,
                delay: self.failed(ip, login),
            },
            None => LoginCheck::Broken,
        }
    }

    /// The cluster login acting for no one: another host of the cluster relaying mail through
    /// this one. `None` when `creds` are not the cluster login's; otherwise whether its secret
    /// was right, a refusal with the delay to wait before answering it.
    pub async fn verify_cluster_peer(
        &self,
        ip: IpAddr,
        exempt: bool,
        creds: Credentials,
    ) -> Option<Result<(), Duration>> {
        let cluster = self
            .cluster
            .clone()
            .filter(|c| c.login() == creds.authcid)?;
        let ip = canonical_ip(ip);
        let accepted = self
            .check(ip, exempt, move || {
                cluster.check(&creds) == ClusterLogin::Accepted { acting_as: None }
            })
            .await;
        let login = self.master_login().unwrap_or_default();
        Some(if accepted == Some(true) {
            tracing::info!(via = "cluster", "cluster peer authenticated");
            self.succeeded(ip, login);
            Ok(())
        } else {
            tracing::warn!("cluster login refused");
            Err(self.failed(ip, login))
        })
    }

    /// Runs `check` on the blocking pool once it may: after the delay and turn an address with
    /// recent failures owes (unless `exempt`), in one of the global slots. `None` if it panicked.
    async fn check<T: Send + 'static>(
        &self,
        ip: IpAddr,
        exempt: bool,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let turn = match self.owed(ip) {
            Some(owed) if !exempt => {
                if !owed.is_zero() {
                    tokio::time::sleep(owed).await;
                }
                Some(self.turn(ip).await)
            }
            _ => None,
        };
        let slot = self.checks.clone().acquire_owned().await.ok();
        let r = tokio::task::spawn_blocking(check).await.ok();
        drop(slot);
        drop(turn);
        r
    }

    async fn turn(&self, ip: IpAddr) -> AddressTurn {
        let sem = self
            .turns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(ip)
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone();
        AddressTurn {
            permit: sem.clone().acquire_owned().await.ok(),
            sem,
            ip,
            map: self.turns.clone(),
        }
    }

    fn login_tag(&self, login: &str) -> u64 {
        self.login_tags.hash_one(login.to_lowercase())
    }

    /// Records a failure of `login` from `ip` and returns how long to wait before answering it.
    fn failed(&self, ip: IpAddr, login: &str) -> Duration {
        let tag = self.login_tag(login);
        let now = Instant::now();
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > MAX_ADDRESSES {
            // Bound memory under a distributed attack: forget the oldest half of the world.
            let forget = self.forget_after;
            m.retain(|_, f| now.duration_since(f.last) < forget / 2);
        }
        let f = m.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
            by_login: Vec::new(),
        });
        if now.duration_since(f.last) > self.forget_after {
            f.count = 0;
            f.by_login.clear();
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        if let Some((_, n)) = f.by_login.iter_mut().find(|(t, _)| *t == tag) {
            *n = n.saturating_add(1);
        } else if f.by_login.len() < LOGINS_PER_ADDRESS {
            f.by_login.push((tag, 1));
        }
        self.delay_for(f.count)
    }

    /// A success forgives that login's failures from `ip`, and no one else's.
    fn succeeded(&self, ip: IpAddr, login: &str) {
        let tag = self.login_tag(login);
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = m.get_mut(&ip) else {
            return;
        };
        if let Some(i) = f.by_login.iter().position(|(t, _)| *t == tag) {
            let (_, n) = f.by_login.swap_remove(i);
            f.count = f.count.saturating_sub(n);
        }
        if f.count == 0 {
            m.remove(&ip);
        }
    }

    /// `Some(delay owed before the next check)` while `ip` has recent failures.
    fn owed(&self, ip: IpAddr) -> Option<Duration> {
        let m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(&ip) {
            Some(f) if f.last.elapsed() < self.forget_after => {
                Some(self.delay_for(f.count.saturating_sub(1)))
            }
            _ => None,
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
#[path = "auth_throttle_tests.rs"]
mod tests;
