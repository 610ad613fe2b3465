//! The defenses of the `mx` role against spam-sending clients (`[smtpd.screen]`), in the
//! manner of Postfix's postscreen and postgrey: DNS list scoring of the client address
//! (started at connect, so it overlaps the greeting delay), the pregreet test, and
//! greylisting at RCPT. Trusted and authenticated clients and the submission roles are never
//! screened; a client allowlisted by its DNS list score skips the greeting test and
//! greylisting.
//!
//! [`Screener`] is what all connections share; [`ClientScreen`] is one connection's state. The
//! verdict logic is in [`triplet`] and `ferrymail_net::dnsbl`; the greylist database in
//! [`greylist`]; counters in [`metrics`].

pub mod greylist;
pub mod metrics;
pub mod passed;
pub mod triplet;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrymail_config::{Config, DnsblAction, GreetAction, Screen};
use ferrymail_net::dns::TokioResolver;
use ferrymail_net::dnsbl::{self, Score, ZoneAnswer};
use ferrymail_smtp::Reply;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::replies;
use greylist::{GreylistDb, Verdict};
use metrics::{count, Check};
use passed::PassedClients;
use triplet::Decision;

/// What every connection on the `mx` role shares.
pub struct Screener {
    cfg: Screen,
    resolver: Option<TokioResolver>,
    greylist: Option<Arc<GreylistDb>>,
    passed: PassedClients,
    /// Lists already reported for refusing our queries (reported once each).
    refusing: Mutex<HashSet<String>>,
}

impl Screener {
    /// The screener `config` asks for, or `None` when every defense is off.
    pub fn from_config(config: &Config) -> Result<Option<Arc<Screener>>, String> {
        let cfg = &config.smtpd.screen;
        if !cfg.dnsbl_enabled() && cfg.greet_wait.is_zero() && !cfg.greylist.enabled {
            return Ok(None);
        }
        let resolver = match cfg.dnsbl_enabled() {
            true => {
                let options = ferrymail_net::dns::Options {
                    timeout: cfg.dnsbl_timeout,
                    cache_size: cfg.dns_cache_size,
                };
                Some(
                    ferrymail_net::dns::resolver(&config.queue.dns_servers, &options)
                        .map_err(|e| format!("DNS resolver: {e}"))?,
                )
            }
            false => None,
        };
        let greylist = match cfg.greylist.enabled {
            true => {
                let db = GreylistDb::open_in_state_dir(&config.paths.state_dir, &cfg.greylist)?;
                db.spawn_sweeper();
                Some(db)
            }
            false => None,
        };
        Ok(Some(Arc::new(Screener {
            cfg: cfg.clone(),
            resolver,
            greylist,
            passed: PassedClients::new(cfg.greet_ttl, cfg.greet_cache_size),
            refusing: Mutex::new(HashSet::new()),
        })))
    }

    /// Starts screening a new client: its DNS list lookups begin now.
    pub fn start(self: &Arc<Screener>, ip: IpAddr) -> ClientScreen {
        let lookups = self.resolver.clone().map(|r| {
            let s = self.clone();
            tokio::spawn(async move {
                let zones = s.cfg.dnsbl_zones();
                let answers = dnsbl::lookup(&r, ip, &zones, s.cfg.dnsbl_timeout).await;
                s.report_refusals(&answers);
                dnsbl::score(&s.cfg.dnsbl_sites, &answers)
            })
        });
        ClientScreen {
            screener: self.clone(),
            ip,
            lookups,
            score: None,
            pregreeted: false,
        }
    }

    /// A list answering with refusal codes is misconfigured here (often: queried through a
    /// public resolver); its answers are never scored, and the admin hears of it once.
    fn report_refusals(&self, answers: &[(String, ZoneAnswer)]) {
        for (zone, a) in answers {
            let ZoneAnswer::Refused(codes) = a else {
                continue;
            };
            let mut seen = self.refusing.lock().unwrap_or_else(|p| p.into_inner());
            if seen.insert(zone.clone()) {
                let codes: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
                tracing::error!(
                    zone = %zone,
                    answer = %codes.join(","),
                    "DNS list refuses our queries (public or shared resolver, or a key/limit \
                     problem); its answers are ignored: ask it through a resolver of your own"
                );
            }
        }
    }

    /// Writes the greylist to disk (at shutdown).
    pub fn close(&self) {
        if let Some(g) = &self.greylist {
            g.flush();
        }
    }
}

/// One client's screening.
pub struct ClientScreen {
    screener: Arc<Screener>,
    ip: IpAddr,
    lookups: Option<JoinHandle<Score>>,
    score: Option<Score>,
    pregreeted: bool,
}

impl ClientScreen {
    /// The greeting delay for this client: none when it passed the test within `greet_ttl`.
    pub fn greet_wait(&self) -> Duration {
        match self
            .screener
            .passed
            .contains(self.ip, std::time::Instant::now())
        {
            true => Duration::ZERO,
            false => self.screener.cfg.greet_wait,
        }
    }

    /// The client waited for the whole greeting: it is not delayed again for `greet_ttl`.
    pub fn passed_greeting(&self) {
        self.screener
            .passed
            .insert(self.ip, std::time::Instant::now());
    }

    /// Whether a verdict may have to wait for DNS lists still being asked.
    pub fn may_wait(&self) -> bool {
        self.lookups.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The DNS list score, waiting for the lookups (each bounded by `dnsbl_timeout`).
    async fn score(&mut self) -> &Score {
        if self.score.is_none() {
            // Awaited in place: the greeting delay may give up on this future, and the
            // lookups must still be there for the next caller.
            let s = match self.lookups.as_mut() {
                Some(task) => task.await.unwrap_or_default(),
                None => Score::default(),
            };
            self.lookups = None;
            if !s.hits.is_empty() {
                let hits: Vec<String> = s.hits.iter().map(|(z, w)| format!("{z}*{w}")).collect();
                tracing::info!(client = %self.ip, score = s.total, lists = %hits.join(" "), "DNS list score");
            }
            self.score = Some(s);
        }
        self.score.get_or_insert_with(Score::default)
    }

    fn allowlisted(&self, s: &Score) -> bool {
        let t = self.screener.cfg.dnsbl_allowlist_threshold;
        t < 0 && s.total <= t
    }

    /// Resolves when the greeting delay that started at `since` is over: after `greet_wait`
    /// (true: the client passed the test), or as soon as the DNS lists allowlist the client
    /// (false).
    pub async fn greet_wait_over(&mut self, since: Instant) -> bool {
        let deadline = since + self.screener.cfg.greet_wait;
        if self.lookups.is_some() || self.score.is_some() {
            let allowlisted = tokio::select! {
                s = self.score() => {
                    let s = s.clone();
                    self.allowlisted(&s)
                }
                _ = tokio::time::sleep_until(deadline) => false,
            };
            if allowlisted {
                tracing::debug!(client = %self.ip, "allowlisted by DNS lists: greeting delay cut short");
                return false;
            }
        }
        tokio::time::sleep_until(deadline).await;
        true
    }

    /// The client sent something before the greeting was complete. The reply to send before
    /// closing when the action is `drop`.
    pub fn pregreeted(&mut self) -> Option<Reply> {
        if self.score.as_ref().is_some_and(|s| self.allowlisted(s)) {
            tracing::info!(client = %self.ip, "pregreet by a client allowlisted by DNS lists: ignored");
            return None;
        }
        let action = self.screener.cfg.greet_action;
        tracing::info!(client = %self.ip, action = ?action, "pregreet: client talked before the greeting");
        count(Check::Pregreet, action_name(action));
        self.pregreeted = true;
        (action == GreetAction::Drop).then(replies::pregreet_drop)
    }

    /// The verdict on one recipient of a transaction from `sender`: `None` accepts it.
    pub async fn check_recipient(
        &mut self,
        sender: Option<&str>,
        recipient: &str,
    ) -> Option<Reply> {
        let ip = self.ip;
        let score = self.score().await.clone();
        let cfg = &self.screener.cfg;
        if self.pregreeted && cfg.greet_action == GreetAction::Reject && !self.allowlisted(&score) {
            tracing::info!(client = %ip, to = %recipient, reason = "pregreet", "recipient refused");
            return Some(replies::pregreet_refused());
        }
        if score.total >= cfg.dnsbl_threshold {
            let zone = score.worst().unwrap_or("DNS lists").to_owned();
            let reply = match cfg.dnsbl_action {
                DnsblAction::Reject => Some(replies::dnsbl_blocked(ip, &zone, false)),
                DnsblAction::Tempfail => Some(replies::dnsbl_blocked(ip, &zone, true)),
                DnsblAction::Ignore => None,
            };
            count(Check::Dnsbl, dnsbl_action_name(cfg.dnsbl_action));
            tracing::info!(client = %ip, to = %recipient, score = score.total, list = %zone,
                action = ?cfg.dnsbl_action, reason = "dnsbl", "client blocked by DNS lists");
            if reply.is_some() {
                return reply;
            }
        }
        if self.allowlisted(&score) {
            if self.screener.greylist.is_some() {
                count(Check::Greylist, "dnswl");
            }
            return None;
        }
        self.greylist(sender, recipient).await
    }

    async fn greylist(&self, sender: Option<&str>, recipient: &str) -> Option<Reply> {
        let db = self.screener.greylist.clone()?;
        let (ip, from, to) = (self.ip, sender.map(str::to_owned), recipient.to_owned());
        let now = ferrymail_spool::unix_now();
        let checked =
            tokio::task::spawn_blocking(move || db.check(ip, from.as_deref(), &to, now)).await;
        let verdict = match checked {
            Ok(Ok(v)) => v,
            // A broken database must not stop mail: the attempt passes, loudly.
            Ok(Err(e)) => {
                tracing::error!(error = %e, "greylist database failed; recipient not greylisted");
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, "greylist task failed; recipient not greylisted");
                return None;
            }
        };
        let from = sender.unwrap_or("");
        match verdict {
            Verdict::Exempt => count(Check::Greylist, "allowlist"),
            Verdict::AutoAllowlisted => count(Check::Greylist, "auto_allowlist"),
            Verdict::Decided(Decision::Pass { newly }) => {
                count(Check::Greylist, "pass");
                if newly {
                    tracing::info!(client = %ip, from = %from, to = %recipient, "greylist passed");
                }
            }
            Verdict::Decided(Decision::Greylisted { retry_in }) => {
                count(Check::Greylist, "greylisted");
                tracing::info!(client = %ip, from = %from, to = %recipient, retry_in,
                    reason = "greylist", "recipient greylisted");
                return Some(replies::greylisted(retry_in));
            }
        }
        None
    }
}

impl Drop for ClientScreen {
    /// A client gone before its verdict leaves no lookups running for nobody.
    fn drop(&mut self) {
        if let Some(task) = self.lookups.take() {
            task.abort();
        }
    }
}

fn action_name(a: GreetAction) -> &'static str {
    match a {
        GreetAction::Reject => "reject",
        GreetAction::Drop => "drop",
        GreetAction::Ignore => "ignore",
    }
}

fn dnsbl_action_name(a: DnsblAction) -> &'static str {
    match a {
        DnsblAction::Reject => "reject",
        DnsblAction::Tempfail => "tempfail",
        DnsblAction::Ignore => "ignore",
    }
}
