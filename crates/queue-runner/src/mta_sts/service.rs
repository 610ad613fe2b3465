//! Policy discovery for delivery: TXT lookup, cache, HTTPS fetch, put together as
//! [`cache::plan`] decides. One [`MtaSts`] per queue-runner, shared by all deliveries.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
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
    tls_rpt: Option<std::sync::Arc<crate::tls_rpt::Recorder>>,
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
        }
    }

    /// Records failed fetches in `tls_rpt`.
    pub fn with_tls_rpt(
        mut self,
        tls_rpt: Option<std::sync::Arc<crate::tls_rpt::Recorder>>,
    ) -> Self {
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
            Plan::Fetch(id) => match self.fetch(resolver, &domain).await {
                Ok(policy) => {
                    tracing::info!(%domain, %id, mode = policy.mode.as_str(), max_age = policy.max_age, "MTA-STS policy fetched");
                    let c = Cached {
                        id,
                        fetched_at: now,
                        policy,
                    };
                    self.cache.put(&domain, c.clone());
                    self.failed().remove(&domain);
                    Some(c)
                }
                Err((result_type, e)) => {
                    crate::tls_rpt::hook::fetch_failure(
                        self.tls_rpt.as_deref(),
                        &domain,
                        result_type,
                        &e,
                    );
                    {
                        // Entries past their wait are dropped, so the map holds only the
                        // domains failing right now.
                        let retry = self.config.fetch_retry.as_secs();
                        let mut failed = self.failed();
                        failed.retain(|_, (_, at)| now < at.saturating_add(retry));
                        failed.insert(domain.clone(), (id, now));
                    }
                    let kept = cache::on_fetch_failure(cached.as_ref(), now).cloned();
                    tracing::warn!(%domain, error = %e, using_cached = kept.is_some(), "MTA-STS policy fetch failed");
                    kept
                }
            },
        }
        .filter(|c| c.policy.mode != Mode::None)
    }

    fn may_fetch(&self, domain: &str, id: &str, now: u64) -> bool {
        let retry = self.config.fetch_retry.as_secs();
        cache::may_fetch(self.failed().get(domain), id, now, retry)
    }

    fn failed(&self) -> MutexGuard<'_, HashMap<String, (String, u64)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
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
