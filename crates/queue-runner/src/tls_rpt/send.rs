//! The daily task: after UTC midnight plus a random delay (up to
//! `queue.tls_rpt.send_delay_max`, so senders do not all report at once, RFC 8460 §4.1),
//! every finished day's results are reported to each domain that publishes a
//! `_smtp._tls` record. Mail reports go through the spool like any message, from the
//! configured sender; `https:` addresses get it POSTed ([`super::post`]), once: a failed
//! POST is logged, not retried.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_net::signals::Shutdown;
use ferrymail_spool::{unix_now, ClientInfo, Envelope, Recipient, Source};
use rand::Rng;

use super::day::Day;
use super::record::{parse_records, RecordError, Rua};
use super::report::{build_json, build_message, reportable, Submitter};
use super::store::{Entry, Recorder};
use crate::runner::Runner;

/// What one pass over a day did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Report messages queued.
    pub queued: usize,
    /// Reports POSTed.
    pub posted: usize,
    /// Domains left for a later pass (DNS or spool failure).
    pub pending: usize,
}

/// Runs until shutdown: a first pass soon after start (for days a restart left
/// unreported), then one after each UTC midnight.
pub async fn run(runner: Arc<Runner>, mut shutdown: Shutdown) {
    let Some(rec) = runner.tls_rpt.clone() else {
        return;
    };
    let spread = runner.config.queue.tls_rpt.send_delay_max.as_secs();
    let mut at = unix_now();
    loop {
        let at_jittered = at + rand::thread_rng().gen_range(0..=spread);
        let wait = Duration::from_secs(at_jittered.saturating_sub(unix_now()));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait() => return,
        }
        let today = Day::of(unix_now());
        match rec.days() {
            Ok(days) => {
                for day in days.into_iter().filter(|d| *d < today) {
                    let p = send_day(&runner, &rec, day).await;
                    if p.pending > 0 && rec.expired(day, today) {
                        tracing::warn!(%day, domains = p.pending, "TLS results too old to report; dropped");
                        rec.remove(day);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list TLS results"),
        }
        at = today.end() + 1;
    }
}

/// Reports `day` to every domain in it not yet reported. A finished day's files are removed
/// once nothing is pending; the current day's stay, so a domain reported early (by the
/// control request) is not reported again for it.
pub async fn send_day(runner: &Arc<Runner>, rec: &Arc<Recorder>, day: Day) -> Pass {
    let mut pass = Pass::default();
    let entries = match rec.read(day) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(%day, error = %e, "cannot read TLS results");
            pass.pending = 1;
            return pass;
        }
    };
    let sent = rec.sent(day);
    let mut by_domain: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for e in entries.into_iter().filter(|e| !sent.contains(&e.domain)) {
        by_domain.entry(e.domain.clone()).or_default().push(e);
    }
    let c = &runner.config.queue.tls_rpt;
    let host = runner.hostname.clone();
    let submitter = Submitter {
        organization: c.organization(&host),
        contact: c.contact(&host),
        sender: c.sender(&host),
        host,
    };
    for (domain, entries) in &by_domain {
        let domain = domain.as_str();
        if !reportable(domain) {
            continue;
        }
        let ruas = match runner.resolver.txt(&format!("_smtp._tls.{domain}")).await {
            Ok(txts) => match parse_records(&txts) {
                Ok(uris) => {
                    for u in uris.iter().filter(|u| u.target.is_none()) {
                        tracing::info!(%domain, uri = %u.written, "ignoring unusable TLS-RPT address");
                    }
                    uris.into_iter()
                        .filter_map(|u| u.target)
                        .collect::<Vec<Rua>>()
                }
                Err(RecordError::None) => continue,
                Err(e) => {
                    tracing::info!(%domain, error = %e, "ignoring TLS-RPT record");
                    continue;
                }
            },
            Err(e) => {
                tracing::info!(%domain, error = %e, "TLS-RPT record lookup failed; retrying later");
                pass.pending += 1;
                continue;
            }
        };
        let Some(json) = build_json(domain, day, entries, &submitter) else {
            continue;
        };
        let mut failed = false;
        for (i, rua) in ruas.iter().enumerate() {
            match rua {
                Rua::Mailto(to) => {
                    let unique = format!("{}", i + 1);
                    match enqueue(runner, domain, day, &json, &submitter, to, &unique).await {
                        Ok(id) => {
                            tracing::info!(%domain, %day, %to, qid = %id, "TLS report queued");
                            pass.queued += 1;
                        }
                        Err(e) => {
                            tracing::error!(%domain, %to, error = %e, "cannot queue TLS report");
                            failed = true;
                        }
                    }
                }
                Rua::Https(uri) => match post_report(runner, &json, uri).await {
                    Ok(()) => {
                        tracing::info!(%domain, %day, %uri, "TLS report posted");
                        pass.posted += 1;
                    }
                    Err(e) => {
                        tracing::warn!(%domain, %day, %uri, error = %e, "TLS report POST failed")
                    }
                },
            }
        }
        if failed {
            pass.pending += 1;
        } else if let Err(e) = rec.mark_sent(day, domain) {
            tracing::error!(%domain, %day, error = %e, "cannot record a TLS report as sent");
        }
    }
    if pass.pending == 0 && day < Day::of(unix_now()) {
        rec.remove(day);
    }
    pass
}

async fn post_report(runner: &Runner, json: &serde_json::Value, uri: &str) -> Result<(), String> {
    let gz = super::report::gzip(json).map_err(|e| e.to_string())?;
    let limit = runner.config.queue.tls_rpt.post_timeout;
    super::post::post(
        runner.resolver.hickory(),
        &runner.tls.verify,
        uri,
        &gz,
        limit,
    )
    .await
}

async fn enqueue(
    runner: &Arc<Runner>,
    domain: &str,
    day: Day,
    json: &serde_json::Value,
    s: &Submitter,
    to: &str,
    unique: &str,
) -> Result<ferrymail_spool::QueueId, String> {
    let bytes =
        build_message(domain, day, json, s, to, unix_now(), unique).map_err(|e| e.to_string())?;
    let env = Envelope::new(
        Some(s.sender.clone()),
        vec![Recipient::new(to)],
        ClientInfo {
            protocol: "local".into(),
            ..ClientInfo::default()
        },
        Source::Local,
    );
    let r = Arc::clone(runner);
    let id = tokio::task::spawn_blocking(move || r.spool.enqueue(env, &bytes))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    runner.index.schedule(&id, 0).map_err(|e| e.to_string())?;
    runner.kick();
    Ok(id)
}

/// The control request: report `day` (`YYYY-MM-DD`, default today) now.
pub async fn control(runner: &Arc<Runner>, day: Option<&str>) -> Result<String, String> {
    let Some(rec) = runner.tls_rpt.clone() else {
        return Err("TLS reporting is off (queue.tls_rpt.enabled)".into());
    };
    let day = match day {
        None => Day::of(unix_now()),
        Some(d) => Day::parse(d).ok_or_else(|| format!("`{d}`: not a YYYY-MM-DD date"))?,
    };
    let p = send_day(runner, &rec, day).await;
    Ok(format!(
        "{} TLS reports queued and {} posted for {day}, {} domains pending",
        p.queued, p.posted, p.pending
    ))
}
