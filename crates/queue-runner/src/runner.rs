//! The scheduler: finds due messages, delivers each in its own task with a `msg{qid}` span,
//! records per-recipient outcomes in the envelope, queues bounces, and removes finished
//! messages. Also applies the control requests from `mailctl queue`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrymail_config::Config;
use ferrymail_queue_control::{QueueEntry, RecipientInfo, Request, Response};
use ferrymail_spool::{
    unix_now, ClientInfo, Envelope, PickupLimits, QueueDir, QueueId, Recipient, RecipientStatus,
    Source, Spool, SpoolError,
};
use ferrymail_users::UserDb;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::dns::Resolver;
use crate::dsn;
use crate::handoff::Handoff;
use crate::index::Index;
use crate::lmtp::{LmtpPool, LmtpTarget};
use crate::outcome::{one_line, RcptOutcome, Verdict};
use crate::session::Timeouts;
use crate::wire::TlsClients;

/// Recipients per transaction (RFC 5321 §4.5.3.1.8 requires servers to take at least 100).
const MAX_RCPTS_PER_TRANSACTION: usize = 100;
/// Failed connection rounds after which a destination is suspended as a whole.
const DEAD_AFTER_FAILURES: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("spool: {0}")]
    Spool(#[from] SpoolError),
    #[error("{0}")]
    Index(#[from] crate::index::IndexError),
    #[error("background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Back-off state of a destination that keeps failing.
#[derive(Debug, Clone)]
struct DeadDest {
    failures: u32,
    until: Instant,
    last_error: String,
}

pub struct Runner {
    pub config: Config,
    pub spool: Spool,
    pub users: UserDb,
    pub index: Index,
    pub resolver: Resolver,
    pub tls: TlsClients,
    /// Receiving domains' MTA-STS policies (None when `queue.mta_sts.enabled` is off).
    pub mta_sts: Option<crate::mta_sts::service::MtaSts>,
    /// DNSSEC-validated TLSA lookups (None when no TLS policy uses DANE).
    pub dane: Option<crate::dane::Dane>,
    /// Outcomes of TLS sessions for TLS-RPT (None when `queue.tls_rpt.enabled` is off).
    pub tls_rpt: Option<Arc<crate::tls_rpt::Recorder>>,
    pub hostname: String,
    global: Arc<Semaphore>,
    per_domain: Mutex<HashMap<String, Arc<Semaphore>>>,
    in_flight: Mutex<HashSet<QueueId>>,
    /// In-flight messages an admin flushed or retried: due again as soon as their current
    /// attempt ends, instead of after the back-off that attempt would set.
    retry_now: Mutex<HashSet<QueueId>>,
    dead: Mutex<HashMap<String, DeadDest>>,
    lmtp: LmtpPool,
    kick: Notify,
    /// DKIM signer for mail our own users send out (None when `dkim.enabled` is off).
    signer: Option<Arc<ferrymail_mailauth::Signer>>,
    /// The peer MX host the queue is handed to (`queue.handoff_relay`).
    pub handoff: Option<Handoff>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The delay before attempt number `attempts + 1`: `initial` doubling up to `max`.
pub fn backoff(initial: Duration, max: Duration, attempts: u32) -> Duration {
    let shift = attempts.saturating_sub(1).min(30);
    initial.saturating_mul(1u32 << shift).min(max)
}

impl Runner {
    pub fn new(
        config: Config,
        spool: Spool,
        users: UserDb,
        index: Index,
        resolver: Resolver,
        tls: TlsClients,
    ) -> Runner {
        let hostname = config.hostname();
        let global = Arc::new(Semaphore::new(config.queue.max_parallel));
        let lmtp = LmtpPool::new(
            LmtpTarget::Socket(config.lmtp_socket()),
            config.queue.lmtp_idle_connections,
        );
        let tls_rpt = crate::tls_rpt::hook::open(&config);
        let mta_sts = crate::mta_sts::service::MtaSts::from_config(&config, &tls)
            .map(|m| m.with_tls_rpt(tls_rpt.clone()));
        Runner {
            mta_sts,
            tls_rpt,
            lmtp,
            config,
            spool,
            users,
            index,
            resolver,
            tls,
            hostname,
            global,
            per_domain: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            retry_now: Mutex::new(HashSet::new()),
            dead: Mutex::new(HashMap::new()),
            kick: Notify::new(),
            signer: None,
            dane: None,
            handoff: None,
        }
    }

    pub fn with_handoff(mut self, handoff: Option<Handoff>) -> Runner {
        self.handoff = handoff;
        self
    }

    /// Local mail to `target` instead of local-delivery's socket.
    pub fn with_lmtp(mut self, target: LmtpTarget) -> Runner {
        self.lmtp = LmtpPool::new(target, self.config.queue.lmtp_idle_connections);
        self
    }

    pub fn with_dane(mut self, dane: Option<crate::dane::Dane>) -> Runner {
        self.dane = dane;
        self
    }

    pub fn with_signer(mut self, signer: Option<ferrymail_mailauth::Signer>) -> Runner {
        self.signer = signer.map(Arc::new);
        self
    }

    /// For mail our own users sent (authenticated SMTP, sendmail, local), a copy of the message
    /// with a DKIM-Signature for its From: domain, in the spool's tmp/ (the caller removes it).
    /// Relayed and bounce mail is never signed; any failure sends the message unsigned.
    async fn dkim_signed_copy(
        &self,
        env: &Envelope,
        data_path: &std::path::Path,
    ) -> Option<std::path::PathBuf> {
        let signer = self.signer.clone()?;
        let ours = env.client.auth_user.is_some()
            || matches!(
                env.source,
                ferrymail_spool::Source::Sendmail { .. } | ferrymail_spool::Source::Local
            );
        if !ours {
            return None;
        }
        let src = data_path.to_owned();
        let dst =
            self.spool
                .root()
                .join("tmp")
                .join(format!("{}.dkim-{}", env.id, std::process::id()));
        let id = env.id;
        let r =
            tokio::task::spawn_blocking(move || -> Result<Option<std::path::PathBuf>, String> {
                let msg = std::fs::read(&src).map_err(|e| e.to_string())?;
                let Some(sig) = signer.sign_from(&msg).map_err(|e| e.to_string())? else {
                    return Ok(None);
                };
                let mut out = Vec::with_capacity(sig.len() + msg.len());
                out.extend_from_slice(sig.as_bytes());
                out.extend_from_slice(&msg);
                std::fs::write(&dst, out).map_err(|e| e.to_string())?;
                Ok(Some(dst))
            })
            .await;
        match r {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(qid = %id, error = %e, "DKIM signing failed; sending unsigned");
                None
            }
            Err(_) => None,
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        let q = &self.config.queue;
        Timeouts {
            command: q.command_timeout,
            data_block: q.data_block_timeout,
            data_done: q.data_done_timeout,
        }
    }

    /// Wakes the scheduler loop.
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    fn pickup_limits(&self) -> PickupLimits {
        PickupLimits {
            max_message_size: self.config.smtpd.max_message_size,
            max_recipients: self.config.smtpd.max_recipients,
            ..PickupLimits::default()
        }
    }

    /// Moves maildrop submissions into the queue and schedules them.
    pub fn pickup(&self) {
        for r in self.spool.pickup(&self.pickup_limits()) {
            match r {
                Ok(id) => {
                    if let Err(e) = self.index.schedule(&id, 0) {
                        tracing::error!(%id, error = %e, "cannot index picked-up message");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "maildrop pickup"),
            }
        }
    }

    /// Makes the index match the spool: every active envelope indexed at its
    /// `next_attempt`, nothing else indexed. Quarantines corrupt files on the way.
    pub fn reconcile(&self) -> Result<(), RunnerError> {
        let report = self.spool.scan()?;
        for (name, reason) in &report.quarantined {
            tracing::error!(file = %name, %reason, "corrupt queue file quarantined");
        }
        for (name, e) in &report.errors {
            tracing::warn!(file = %name, error = %e, "cannot check queue file");
        }
        let mut present = HashSet::with_capacity(report.ok.len());
        let in_flight = lock(&self.in_flight).clone();
        for env in &report.ok {
            present.insert(env.id);
            if in_flight.contains(&env.id) {
                continue;
            }
            // Only a schedule the dispatcher can find counts: a `msgs` record without its
            // `due` key would otherwise leave the message waiting forever.
            match self.index.scheduled_at(&env.id) {
                // The index may hold an earlier time (flush/retry): keep it.
                Some(t) if t <= env.next_attempt => {}
                _ => self.index.schedule(&env.id, env.next_attempt)?,
            }
        }
        for id in self.index.ids() {
            if present.contains(&id) || in_flight.contains(&id) {
                continue;
            }
            // Committed after the scan read the queue directory (and indexed by its
            // wake-up meanwhile): still queued, so keep it.
            if matches!(self.spool.locate(&id), Ok(Some(QueueDir::Active))) {
                continue;
            }
            self.index.forget(&id)?;
        }
        Ok(())
    }

    /// Starts deliveries for due messages while slots are free.
    pub fn dispatch(self: &Arc<Self>) {
        let free = self.global.available_permits();
        if free == 0 {
            return;
        }
        let now = unix_now();
        let due = {
            let in_flight = lock(&self.in_flight);
            self.index.due(now, free, |id| in_flight.contains(id))
        };
        for id in due {
            let Ok(permit) = self.global.clone().try_acquire_owned() else {
                break;
            };
            lock(&self.in_flight).insert(id);
            let me = Arc::clone(self);
            let span = tracing::info_span!("msg", qid = %id);
            tokio::spawn(
                async move {
                    me.deliver_message(id, permit).await;
                    lock(&me.in_flight).remove(&id);
                    me.kick();
                }
                .instrument(span),
            );
        }
    }

    /// How long the main loop may sleep before something is due.
    pub fn sleep_hint(&self, max: Duration) -> Duration {
        match self.index.next_due() {
            Some(t) => {
                let now = unix_now();
                if t <= now {
                    // Due but not dispatched (no free slot): a finishing task kicks us.
                    max.min(Duration::from_secs(1))
                } else {
                    max.min(Duration::from_secs(t - now))
                }
            }
            None => max,
        }
    }

    /// Takes `id` out of the dispatcher's hands (false: a delivery holds it already).
    pub fn claim(&self, id: QueueId) -> bool {
        lock(&self.in_flight).insert(id)
    }

    /// Gives back what [`Runner::claim`] took.
    pub fn release(&self, id: QueueId) {
        lock(&self.in_flight).remove(&id);
        self.kick();
    }

    pub fn in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }

    pub async fn kicked(&self) {
        self.kick.notified().await
    }

    fn domain_slot(&self, domain: &str) -> Arc<Semaphore> {
        let mut map = lock(&self.per_domain);
        Arc::clone(
            map.entry(domain.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.config.queue.max_per_domain))),
        )
    }

    fn dead_check(&self, domain: &str) -> Option<String> {
        let dead = lock(&self.dead);
        let d = dead.get(domain)?;
        (d.failures >= DEAD_AFTER_FAILURES && d.until > Instant::now())
            .then(|| d.last_error.clone())
    }

    fn dead_record(&self, domain: &str, unreachable: bool, error: &str) {
        let mut dead = lock(&self.dead);
        if !unreachable {
            dead.remove(domain);
            return;
        }
        let q = &self.config.queue;
        let d = dead.entry(domain.to_owned()).or_insert(DeadDest {
            failures: 0,
            until: Instant::now(),
            last_error: String::new(),
        });
        d.failures += 1;
        d.last_error = error.to_owned();
        if d.failures >= DEAD_AFTER_FAILURES {
            let wait = backoff(
                q.retry_initial,
                q.retry_max,
                d.failures - DEAD_AFTER_FAILURES + 1,
            );
            d.until = Instant::now() + wait;
            tracing::warn!(domain, failures = d.failures, wait = ?wait, "destination unreachable; suspending deliveries to it");
        }
    }

    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Runner) -> T + Send + 'static,
    ) -> Result<T, RunnerError> {
        let me = Arc::clone(self);
        Ok(tokio::task::spawn_blocking(move || f(&me)).await?)
    }

    /// One delivery attempt of one message, for every recipient not yet final.
    async fn deliver_message(self: &Arc<Self>, id: QueueId, _permit: OwnedSemaphorePermit) {
        let loaded = self
            .blocking(move |r| -> Result<Option<Envelope>, SpoolError> {
                match r.spool.locate(&id)? {
                    Some(QueueDir::Active) => {
                        r.spool.read_envelope_in(QueueDir::Active, &id).map(Some)
                    }
                    _ => Ok(None),
                }
            })
            .await;
        let mut env = match loaded {
            Ok(Ok(Some(env))) => env,
            Ok(Ok(None)) | Ok(Err(SpoolError::NotFound(_))) => {
                // Delivered and removed, deleted, or held since it was indexed.
                let _ = self.index.forget(&id);
                return;
            }
            Ok(Err(e @ SpoolError::Corrupt { .. })) => {
                tracing::error!(error = %e, "unreadable envelope; quarantining at the next scan");
                let _ = self.index.forget(&id);
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read envelope; retrying later");
                let _ = self.index.schedule(&id, unix_now() + 60);
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "envelope read task failed");
                return;
            }
        };
        let data_path: PathBuf = self.spool.root().join("data").join(id.as_str());

        // Group what is still to do: local recipients, then remote ones by domain.
        let mut local: Vec<usize> = Vec::new();
        let mut remote: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, r) in env.recipients.iter().enumerate() {
            if r.status.is_final() {
                continue;
            }
            let domain = r
                .address
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default();
            if domain.is_empty() || self.users.is_local_domain(&domain) {
                local.push(i);
            } else if let Some((_, v)) = remote.iter_mut().find(|(d, _)| *d == domain) {
                v.push(i);
            } else {
                remote.push((domain, vec![i]));
            }
        }

        let mut results: Vec<(usize, RcptOutcome)> = Vec::new();
        for chunk in local.chunks(MAX_RCPTS_PER_TRANSACTION) {
            let rcpts: Vec<&Recipient> = chunk
                .iter()
                .filter_map(|&i| env.recipients.get(i))
                .collect();
            let outcomes = self.deliver_local(&env, &rcpts, &data_path).await;
            results.extend(chunk.iter().copied().zip(outcomes));
        }
        for (domain, idxs) in &remote {
            for chunk in idxs.chunks(MAX_RCPTS_PER_TRANSACTION) {
                let rcpts: Vec<&Recipient> = chunk
                    .iter()
                    .filter_map(|&i| env.recipients.get(i))
                    .collect();
                let outcomes = self.deliver_remote(domain, &env, &rcpts, &data_path).await;
                results.extend(chunk.iter().copied().zip(outcomes));
            }
        }

        self.record(&mut env, results).await;
    }

    async fn deliver_local(
        &self,
        env: &Envelope,
        rcpts: &[&Recipient],
        data_path: &std::path::Path,
    ) -> Vec<RcptOutcome> {
        self.lmtp
            .deliver(
                &self.hostname,
                self.timeouts(),
                self.config.queue.connect_timeout,
                env,
                rcpts,
                data_path,
            )
            .await
    }

    async fn deliver_remote(
        &self,
        domain: &str,
        env: &Envelope,
        rcpts: &[&Recipient],
        data_path: &std::path::Path,
    ) -> Vec<RcptOutcome> {
        if let Some(last) = self.dead_check(domain) {
            return vec![
                RcptOutcome::deferred(
                    "none",
                    "4.4.1",
                    &format!("delivery to {domain} temporarily suspended: {last}"),
                );
                rcpts.len()
            ];
        }
        let slot = self.domain_slot(domain);
        let Ok(_permit) = slot.acquire_owned().await else {
            return vec![RcptOutcome::deferred("none", "4.3.0", "shutting down"); rcpts.len()];
        };
        let signed = self.dkim_signed_copy(env, data_path).await;
        let path = signed.as_deref().unwrap_or(data_path);
        let r = crate::remote::deliver(self, domain, env, rcpts, path).await;
        if let Some(p) = &signed {
            let _ = std::fs::remove_file(p);
        }
        let err = r
            .outcomes
            .first()
            .map(|o| o.reply.clone())
            .unwrap_or_default();
        self.dead_record(domain, r.unreachable, &err);
        r.outcomes
    }

    /// Writes the attempt's outcomes into the envelope, logs one line per recipient, queues
    /// a DSN for new failures, and removes or reschedules the message.
    async fn record(self: &Arc<Self>, env: &mut Envelope, results: Vec<(usize, RcptOutcome)>) {
        let now = unix_now();
        let q = &self.config.queue;
        let expired = now >= env.arrival.saturating_add(q.max_lifetime.as_secs());
        let delay = now.saturating_sub(env.arrival);
        let mut newly_bounced: Vec<(usize, Option<String>)> = Vec::new();
        let mut last_deferral: Option<String> = None;
        let mut succeeded: Vec<(usize, Option<String>)> = Vec::new();
        for (i, o) in results {
            let Some(r) = env.recipients.get_mut(i) else {
                continue;
            };
            let (status, verdict, reply) = match o.verdict {
                Verdict::Delivered => (
                    RecipientStatus::Delivered {
                        at: now,
                        relay: o.relay.clone(),
                        reply: o.reply.clone(),
                    },
                    Verdict::Delivered,
                    o.reply.clone(),
                ),
                Verdict::Bounced => (
                    RecipientStatus::Bounced {
                        at: now,
                        reply: o.reply.clone(),
                    },
                    Verdict::Bounced,
                    o.reply.clone(),
                ),
                Verdict::Deferred if expired => {
                    let reply = format!(
                        "451 4.4.7 message expired after {} in the queue; last error: {}",
                        humantime::format_duration(Duration::from_secs(delay)),
                        o.reply
                    );
                    (
                        RecipientStatus::Bounced {
                            at: now,
                            reply: one_line(&reply),
                        },
                        Verdict::Bounced,
                        one_line(&reply),
                    )
                }
                Verdict::Deferred => {
                    last_deferral = Some(o.reply.clone());
                    (
                        RecipientStatus::Deferred {
                            at: now,
                            reply: o.reply.clone(),
                        },
                        Verdict::Deferred,
                        o.reply.clone(),
                    )
                }
            };
            let dsn = if verdict == Verdict::Bounced && o.verdict == Verdict::Deferred {
                "4.4.7".to_string()
            } else {
                o.dsn.clone()
            };
            let tls = o
                .tls
                .as_deref()
                .map(|t| format!(", tls=({t})"))
                .unwrap_or_default();
            tracing::info!(
                "{}: to=<{}>, relay={}{}, delay={}, dsn={}, status={} ({})",
                env.id,
                r.address,
                o.relay,
                tls,
                delay,
                dsn,
                verdict.as_str(),
                reply
            );
            crate::metrics::recipient(&o.relay, verdict, env.arrival, &env.id);
            if verdict == Verdict::Bounced {
                newly_bounced.push((i, Some(o.relay.clone())));
            }
            if verdict == Verdict::Delivered && r.notify.wants_success() && !o.dsn_passed_on {
                succeeded.push((i, Some(o.relay.clone())));
            }
            r.status = status;
        }
        env.attempts = env.attempts.saturating_add(1);

        if !newly_bounced.is_empty() {
            self.send_report(env, &newly_bounced, dsn::Kind::Failed, now)
                .await;
        }
        if !succeeded.is_empty() {
            self.send_report(env, &succeeded, dsn::Kind::Success, now)
                .await;
        }
        let warn_after = q.delay_warning.as_secs();
        if warn_after > 0 && !expired && delay >= warn_after && !self.index.warned(&env.id) {
            let delayed: Vec<(usize, Option<String>)> = env
                .recipients
                .iter()
                .enumerate()
                .filter(|(_, r)| matches!(r.status, RecipientStatus::Deferred { .. }))
                .map(|(i, _)| (i, None))
                .collect();
            if !delayed.is_empty() {
                let until = env.arrival.saturating_add(q.max_lifetime.as_secs());
                self.send_report(
                    env,
                    &delayed,
                    dsn::Kind::Delayed { retry_until: until },
                    now,
                )
                .await;
                if let Err(e) = self.index.set_warned(&env.id) {
                    tracing::warn!(error = %e, "cannot remember the delay warning");
                }
            }
        }

        let id = env.id;
        if env.is_complete() {
            let r = self.blocking(move |r| r.spool.remove(&id)).await;
            match r {
                Ok(Ok(())) | Ok(Err(SpoolError::NotFound(_))) => {
                    tracing::info!("{id}: removed");
                }
                Ok(Err(e)) => tracing::error!(error = %e, "cannot remove finished message"),
                Err(e) => tracing::error!(error = %e, "remove task failed"),
            }
            let _ = self.index.forget(&id);
            lock(&self.retry_now).remove(&id);
            return;
        }
        let wait = backoff(q.retry_initial, q.retry_max, env.attempts);
        env.next_attempt = now + wait.as_secs().max(1);
        env.last_error = last_deferral;
        let next = env.next_attempt;
        let copy = env.clone();
        match self.blocking(move |r| r.spool.update_envelope(&copy)).await {
            Ok(Ok(())) => {
                // Checked and scheduled under the lock, so a flush that arrives while this
                // attempt ends cannot be overwritten by the back-off.
                let mut retry_now = lock(&self.retry_now);
                let due = if retry_now.remove(&id) { now } else { next };
                if let Err(e) = self.index.schedule(&id, due) {
                    tracing::error!(error = %e, "cannot reschedule");
                }
            }
            Ok(Err(SpoolError::NotFound(_))) => {
                let _ = self.index.forget(&id);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot record delivery results; will retry them");
                let _ = self.index.schedule(&id, next);
            }
            Err(e) => tracing::error!(error = %e, "update task failed"),
        }
    }

    /// Queues a DSN of `kind` for the recipients in `entries` (indexes into
    /// `env.recipients`, with the relay that answered) unless the sender is null or the
    /// recipients' NOTIFY excludes it.
    async fn send_report(
        self: &Arc<Self>,
        env: &Envelope,
        entries: &[(usize, Option<String>)],
        kind: dsn::Kind,
        now: u64,
    ) {
        let Some(sender) = env.sender.clone().filter(|s| !s.is_empty()) else {
            tracing::info!("{}: sender is <>, no bounce", env.id);
            return;
        };
        if env.source == Source::Bounce {
            return;
        }
        let wanted: Vec<(usize, Option<String>)> = entries
            .iter()
            .filter(|(i, _)| {
                env.recipients.get(*i).is_some_and(|r| match kind {
                    dsn::Kind::Failed => r.notify.wants_failure(),
                    dsn::Kind::Delayed { .. } => r.notify.wants_delay(),
                    dsn::Kind::Success => r.notify.wants_success(),
                })
            })
            .cloned()
            .collect();
        if wanted.is_empty() {
            return;
        }
        let orig = env.id;
        let env = env.clone();
        let result = self
            .blocking(move |r| -> Result<QueueId, SpoolError> {
                let replies: Vec<String> = wanted
                    .iter()
                    .filter_map(|(i, _)| match env.recipients.get(*i).map(|r| &r.status) {
                        Some(RecipientStatus::Bounced { reply, .. })
                        | Some(RecipientStatus::Deferred { reply, .. })
                        | Some(RecipientStatus::Delivered { reply, .. }) => Some(reply.clone()),
                        _ => None,
                    })
                    .collect();
                let failures: Vec<dsn::Failure<'_>> = wanted
                    .iter()
                    .zip(&replies)
                    .filter_map(|((i, relay), reply)| {
                        Some(dsn::Failure {
                            recipient: env.recipients.get(*i)?,
                            reply,
                            remote_mta: relay.as_deref(),
                            at: now,
                        })
                    })
                    .collect();
                let mut original: Box<dyn std::io::Read> = match r.spool.open_message(&env.id) {
                    Ok(f) => Box::new(f),
                    Err(_) => Box::new(std::io::empty()),
                };
                let bytes = dsn::build(
                    &env,
                    kind,
                    &failures,
                    &r.hostname,
                    &r.config.postmaster(),
                    now,
                    &mut original,
                );
                let mut bounce = Envelope::new(
                    None,
                    vec![Recipient::new(sender)],
                    ClientInfo {
                        protocol: "local".into(),
                        ..ClientInfo::default()
                    },
                    Source::Bounce,
                );
                bounce.body = env.body;
                bounce.smtputf8 = env.smtputf8;
                // The report names the message and its recipients: it gets the protection the
                // message asked for.
                bounce.require_tls = env.require_tls;
                r.spool.enqueue(bounce, &bytes)
            })
            .await;
        match result {
            Ok(Ok(bid)) => {
                let what = match kind {
                    dsn::Kind::Failed => "non-delivery",
                    dsn::Kind::Delayed { .. } => "delay",
                    dsn::Kind::Success => "delivery status",
                };
                tracing::info!("{orig}: sender {what} notification: {bid}");
                let _ = self.index.schedule(&bid, 0);
                self.kick();
            }
            Ok(Err(e)) => tracing::error!(error = %e, "cannot queue bounce"),
            Err(e) => tracing::error!(error = %e, "bounce task failed"),
        }
    }

    /// Answers one control request.
    pub async fn control(self: &Arc<Self>, req: Request) -> Response {
        let parse = |s: &str| QueueId::parse(s).map_err(|e| Response::error(format!("`{s}`: {e}")));
        match req {
            Request::List => {
                let r = self
                    .blocking(|r| -> Result<Vec<QueueEntry>, SpoolError> {
                        let mut out = Vec::new();
                        for dir in [QueueDir::Active, QueueDir::Hold] {
                            for id in r.spool.list(dir)? {
                                if let Ok(env) = r.spool.read_envelope_in(dir, &id) {
                                    out.push(r.entry(&env, dir == QueueDir::Hold));
                                }
                            }
                        }
                        out.sort_by(|a, b| a.id.cmp(&b.id));
                        Ok(out)
                    })
                    .await;
                match r {
                    Ok(Ok(entries)) => Response {
                        ok: true,
                        message: format!("{} messages", entries.len()),
                        entries,
                    },
                    Ok(Err(e)) => Response::error(e.to_string()),
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::Show { id } => {
                let id = match parse(&id) {
                    Ok(id) => id,
                    Err(r) => return r,
                };
                let r = self
                    .blocking(move |r| -> Result<QueueEntry, SpoolError> {
                        let dir = r.spool.locate(&id)?.ok_or(SpoolError::NotFound(id))?;
                        let env = r.spool.read_envelope_in(dir, &id)?;
                        Ok(r.entry(&env, dir == QueueDir::Hold))
                    })
                    .await;
                match r {
                    Ok(Ok(e)) => Response {
                        ok: true,
                        message: String::new(),
                        entries: vec![e],
                    },
                    Ok(Err(e)) => Response::error(e.to_string()),
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::Flush => {
                lock(&self.dead).clear();
                let busy = lock(&self.in_flight).clone();
                lock(&self.retry_now).extend(busy);
                match self.index.all_due_now(unix_now()) {
                    Ok(n) => {
                        self.kick();
                        Response::ok(format!("{n} messages scheduled now"))
                    }
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::Retry { id } => {
                let id = match parse(&id) {
                    Ok(id) => id,
                    Err(r) => return r,
                };
                if lock(&self.in_flight).contains(&id) {
                    lock(&self.retry_now).insert(id);
                }
                match self.spool.locate(&id) {
                    Ok(Some(QueueDir::Active)) => match self.index.schedule(&id, unix_now()) {
                        Ok(()) => {
                            self.kick();
                            Response::ok(format!("{id} scheduled now"))
                        }
                        Err(e) => Response::error(e.to_string()),
                    },
                    Ok(Some(QueueDir::Hold)) => {
                        Response::error(format!("{id} is held; release it"))
                    }
                    Ok(None) => Response::error(format!("{id}: no such message")),
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::Delete { id } => {
                let id = match parse(&id) {
                    Ok(id) => id,
                    Err(r) => return r,
                };
                match self.blocking(move |r| r.spool.remove(&id)).await {
                    Ok(Ok(())) => {
                        let _ = self.index.forget(&id);
                        tracing::info!("{id}: deleted by the administrator");
                        Response::ok(format!("{id} deleted"))
                    }
                    Ok(Err(e)) => Response::error(e.to_string()),
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::Hold { id } => {
                let id = match parse(&id) {
                    Ok(id) => id,
                    Err(r) => return r,
                };
                match self.blocking(move |r| r.spool.hold(&id)).await {
                    Ok(Ok(())) => {
                        let _ = self.index.forget(&id);
                        tracing::info!("{id}: held by the administrator");
                        Response::ok(format!("{id} held"))
                    }
                    Ok(Err(e)) => Response::error(e.to_string()),
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::Handoff => match &self.handoff {
                Some(h) => {
                    let limit = self.config.queue.handoff_timeout;
                    let r = h.run(self, Instant::now() + limit).await;
                    Response::ok(format!(
                        "{} messages handed over, {} kept",
                        r.handed, r.kept
                    ))
                }
                None => Response::error("queue.handoff_relay is not set"),
            },
            Request::TlsReports { day } => {
                match crate::tls_rpt::send::control(self, day.as_deref()).await {
                    Ok(m) => Response::ok(m),
                    Err(e) => Response::error(e),
                }
            }
            Request::Release { id } => {
                let id = match parse(&id) {
                    Ok(id) => id,
                    Err(r) => return r,
                };
                match self.blocking(move |r| r.spool.release(&id)).await {
                    Ok(Ok(())) => {
                        let _ = self.index.schedule(&id, unix_now());
                        self.kick();
                        tracing::info!("{id}: released by the administrator");
                        Response::ok(format!("{id} released"))
                    }
                    Ok(Err(e)) => Response::error(e.to_string()),
                    Err(e) => Response::error(e.to_string()),
                }
            }
        }
    }

    fn entry(&self, env: &Envelope, held: bool) -> QueueEntry {
        QueueEntry {
            id: env.id.to_string(),
            sender: env.sender.clone().unwrap_or_default(),
            size: env.size,
            arrival: env.arrival,
            held,
            active: lock(&self.in_flight).contains(&env.id),
            attempts: env.attempts,
            next_attempt: self.index.due_time(&env.id).unwrap_or(env.next_attempt),
            last_error: env.last_error.clone(),
            recipients: env
                .recipients
                .iter()
                .map(|r| {
                    let (status, reply) = match &r.status {
                        RecipientStatus::Pending => ("pending", None),
                        RecipientStatus::Deferred { reply, .. } => {
                            ("deferred", Some(reply.clone()))
                        }
                        RecipientStatus::Delivered { reply, .. } => {
                            ("delivered", Some(reply.clone()))
                        }
                        RecipientStatus::Bounced { reply, .. } => ("bounced", Some(reply.clone())),
                    };
                    RecipientInfo {
                        address: r.address.clone(),
                        status: status.into(),
                        reply,
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let i = Duration::from_secs(300);
        let m = Duration::from_secs(4 * 3600);
        assert_eq!(backoff(i, m, 1), i);
        assert_eq!(backoff(i, m, 2), i * 2);
        assert_eq!(backoff(i, m, 3), i * 4);
        assert_eq!(backoff(i, m, 10), m);
        assert_eq!(backoff(i, m, u32::MAX), m);
        assert_eq!(backoff(i, m, 0), i);
    }
}
