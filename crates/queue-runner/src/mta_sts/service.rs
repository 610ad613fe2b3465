//! Policy discovery for delivery: TXT lookup, cache, HTTPS fetch, put together as
//! [`cache::plan`] decides. One [`MtaSts`] per queue-runner, shared by all deliveries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrymail_config::MtaSts as Config;
use tokio_rustls::TlsConnector;

use super::cache::{self, Cache, Cached, Plan};
use super::fetch;
use super::policy::{Mode, Policy};
use super::record::{parse_records, RecordError};
use crate::dns::Resolver;
use crate::tls_rpt::ResultType;
use crate::wire::TlsClients;

pub struct MtaSts {
    cache: Cache,
    config: Config,
    /// Verifies the policy host's certificate (system roots plus `queue.tls_trust_anchors`).
    connector: TlsConnector,
    /// Per domain, the TXT id and time of the last failed fetch (see [`cache::may_fetch`]).
    failures: Mutex<HashMap<String, (String, u64)>>,
    /// Where failed fetches are recorded for TLS-RPT.
    tls_rpt: Option<Arc<crate::tls_rpt::Recorder>>,
    /// Per domain being fetched, the turn deliveries wait for (see `fetch_once`).
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl MtaSts {
    pub fn new(cache: Cache, config: Config, connector: TlsConnector) -> MtaSts {
        MtaSts {
            cache,
            config,
            connector,
            failures: Mutex::new(HashMap::new()),
            tls_rpt: None,
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// Records failed fetches in `tls_rpt`.
    pub fn with_tls_rpt(mut self, tls_rpt: Option<Arc<crate::tls_rpt::Recorder>>) -> Self {
        self.tls_rpt = tls_rpt;
        self
    }

    /// As `config` says: off, or with its cache in `<state_dir>/mta-sts/` and the verifying
    /// TLS client of `tls`.
    pub fn from_config(config: &ferrymail_config::Config, tls: &TlsClients) -> Option<MtaSts> {
        let c = &config.queue.mta_sts;
        if !c.enabled {
            return None;
        }
        super::enforce::register();
        let dir = config.paths.state_dir.join("mta-sts");
        let cache = Cache::open(&dir).unwrap_or_else(|e| {
            tracing::error!(dir = %dir.display(), error = %e, "MTA-STS policy cache unreadable; starting empty");
            Cache::empty(&dir)
        });
        Some(MtaSts::new(cache, c.clone(), tls.verify.clone()))
    }

    /// The policy that applies to mail for `domain`, if any (mode `none` included: the
    /// caller treats it as no policy, but it is cached so a withdrawal is remembered).
    pub async fn policy_for(&self, resolver: &Resolver, domain: &str) -> Option<Cached> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if self
            .config
            .ignore_domains
            .iter()
            .any(|d| d.trim_end_matches('.').eq_ignore_ascii_case(&domain))
        {
            return None;
        }
        let cached = self.cache.get(&domain);
        let txts = resolver.txt(&format!("_mta-sts.{domain}")).await;
        let record = match &txts {
            Ok(t) => parse_records(t).map_err(Some),
            Err(e) => {
                tracing::info!(%domain, error = %e, "MTA-STS TXT lookup failed");
                Err(None)
            }
        };
        if let Err(Some(e @ (RecordError::Several(_) | RecordError::Malformed(_)))) = &record {
            tracing::info!(%domain, error = %e, "ignoring MTA-STS TXT record");
        }
        let txt = match &record {
            Ok(r) => Ok(r.id.as_str()),
            Err(e) => Err(e.as_ref()),
        };
        let now = now();
        match cache::plan(cached.as_ref(), txt, now) {
            Plan::UseCached => cached,
            Plan::NoPolicy => None,
            Plan::Fetch(id) if !self.may_fetch(&domain, &id, now) => {
                cache::on_fetch_failure(cached.as_ref(), now).cloned()
            }
            Plan::Fetch(id) => self.fetch_once(resolver, &domain, id, cached).await,
        }
        .filter(|c| c.policy.mode != Mode::None)
    }

    /// Fetches `domain`'s policy `id`, one delivery at a time per domain: those arriving
    /// meanwhile wait and take what the first one got (or its failure's back-off) instead
    /// of asking the policy host again.
    async fn fetch_once(
        &self,
        resolver: &Resolver,
        domain: &str,
        id: String,
        cached: Option<Cached>,
    ) -> Option<Cached> {
        let gate = {
            let mut gates = lock(&self.fetching);
            gates.entry(domain.to_owned()).or_default().clone()
        };
        let result = {
            let _turn = gate.lock().await;
            let now = now();
            match self.cache.get(domain) {
                Some(c) if c.id == id && c.is_fresh(now) => Some(c),
                _ if !self.may_fetch(domain, &id, now) => {
                    cache::on_fetch_failure(cached.as_ref(), now).cloned()
                }
                _ => self.fetch_now(resolver, domain, id, cached, now).await,
            }
        };
        let mut gates = lock(&self.fetching);
        // Only the map's reference and ours left: nobody waits.
        if Arc::strong_count(&gate) <= 2 {
            gates.remove(domain);
        }
        result
    }

    async fn fetch_now(
        &self,
        resolver: &Resolver,
        domain: &str,
        id: String,
        cached: Option<Cached>,
        now: u64,
    ) -> Option<Cached> {
        match self.fetch(resolver, domain).await {
            Ok(policy) => {
                tracing::info!(%domain, %id, mode = policy.mode.as_str(), max_age = policy.max_age, "MTA-STS policy fetched");
                let c = Cached {
                    id,
                    fetched_at: now,
                    policy,
                };
                self.cache.put(domain, c.clone());
                self.failed().remove(domain);
                Some(c)
            }
            Err((result_type, e)) => {
                crate::tls_rpt::hook::fetch_failure(
                    self.tls_rpt.as_deref(),
                    domain,
                    result_type,
                    &e,
                );
                {
                    // Entries past their wait are dropped, so the map holds only the
                    // domains failing right now.
                    let retry = self.config.fetch_retry.as_secs();
                    let mut failed = self.failed();
                    failed.retain(|_, (_, at)| now < at.saturating_add(retry));
                    failed.insert(domain.to_owned(), (id, now));
                }
                let kept = cache::on_fetch_failure(cached.as_ref(), now).cloned();
                tracing::warn!(%domain, error = %e, using_cached = kept.is_some(), "MTA-STS policy fetch failed");
                kept
            }
        }
    }

    fn may_fetch(&self, domain: &str, id: &str, now: u64) -> bool {
        let retry = self.config.fetch_retry.as_secs();
        cache::may_fetch(self.failed().get(domain), id, now, retry)
    }

    fn failed(&self) -> MutexGuard<'_, HashMap<String, (String, u64)>> {
        lock(&self.failures)
    }

    /// The policy, or why there is none as TLS-RPT names it and as the log says it.
    async fn fetch(
        &self,
        resolver: &Resolver,
        domain: &str,
    ) -> Result<Policy, (ResultType, String)> {
        let body = fetch::fetch(
            resolver.hickory(),
            &self.connector,
            domain,
            self.config.https_port,
            self.config.fetch_timeout,
            self.config.max_policy_size,
        )
        .await
        .map_err(|e| (ResultType::of_fetch_error(&e), e.to_string()))?;
        Policy::parse(&body).map_err(|e| (ResultType::StsPolicyInvalid, e.to_string()))
    }
}
