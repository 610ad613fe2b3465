//! Handing the queue over to a peer MX host of the cluster (`queue.handoff_relay`), so that a
//! host taken down cleanly leaves no mail waiting on it: on a clean stop (bounded by
//! `queue.handoff_timeout`) and on `mailctl queue handoff`. Each message still queued goes to
//! the peer's mta-smtpd over SMTP — STARTTLS verified against the cluster's CA with the
//! configured name, AUTH as the cluster login, envelope and DSN parameters as they are — and
//! is removed only once the peer took every recipient still pending. Recipients the peer took
//! when others were refused are recorded delivered here, so they are not sent twice; the rest
//! stays queued here, untouched (a peer's refusal is no reason to bounce).

use std::sync::Arc;
use std::time::Instant;

use ferrymail_config::ClusterPeer;
use ferrymail_net::cluster::{ClusterAuth, ClusterError};
use ferrymail_spool::{unix_now, Envelope, QueueDir, QueueId, Recipient, RecipientStatus};
use tokio_rustls::TlsConnector;

use crate::outcome::{RcptOutcome, Verdict};
use crate::runner::Runner;
use crate::session::{self, Auth, Dialect, Extensions, SessionParams, SessionResult, TlsUse};
use crate::wire::SmtpClientConn;

/// Recipients per transaction, as for any relay.
const MAX_RCPTS: usize = 100;

/// The peer and how to prove ourselves to it.
pub struct Handoff {
    peer: ClusterPeer,
    relay: String,
    connector: TlsConnector,
    plain: String,
}

/// What a handoff did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Messages the peer took whole and that were removed here.
    pub handed: usize,
    /// Messages left queued here (refused, in delivery, or past the deadline).
    pub kept: usize,
}

impl Handoff {
    /// `None` unless `queue.handoff_relay` is set (config validation then requires `[cluster]`).
    pub fn from_config(
        peer: Option<&ClusterPeer>,
        cluster: Option<&ClusterAuth>,
    ) -> Result<Option<Handoff>, ClusterError> {
        let (Some(peer), Some(cluster)) = (peer, cluster) else {
            return Ok(None);
        };
        Ok(Some(Handoff {
            peer: peer.clone(),
            relay: format!("handoff[{}]", peer.address),
            connector: TlsConnector::from(cluster.client_tls()?),
            plain: cluster.plain_response(""),
        }))
    }

    fn params<'a>(&'a self, runner: &'a Runner, requiretls: bool) -> SessionParams<'a> {
        SessionParams {
            dialect: Dialect::Smtp,
            helo: &runner.hostname,
            server_name: &self.peer.tls_name,
            relay: &self.relay,
            timeouts: runner.timeouts(),
            tls: TlsUse::Starttls {
                connector: self.connector.clone(),
                required: true,
                verified: true,
            },
            auth: Some(Auth::Plain(&self.plain)),
            auth_plaintext_ok: false,
            requiretls,
        }
    }

    /// Hands every queued message not being delivered right now to the peer, until
    /// `deadline`.
    pub async fn run(&self, runner: &Arc<Runner>, deadline: Instant) -> Report {
        let mut report = Report::default();
        let ids = match runner.spool.list(QueueDir::Active) {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "handoff: cannot list the queue");
                return report;
            }
        };
        let mut conn: Option<(SmtpClientConn, Extensions)> = None;
        for id in ids {
            if Instant::now() >= deadline {
                report.kept += 1;
                continue;
            }
            if !runner.claim(id) {
                report.kept += 1;
                continue;
            }
            let left =
                tokio::time::timeout_at(deadline.into(), self.hand_over(runner, id, &mut conn))
                    .await;
            runner.release(id);
            match left {
                Ok(true) => report.handed += 1,
                Ok(false) => report.kept += 1,
                Err(_) => {
                    conn = None;
                    report.kept += 1;
                }
            }
        }
        if let Some((mut c, _)) = conn {
            session::quit(&mut c, runner.timeouts()).await;
        }
        tracing::info!(handed = report.handed, kept = report.kept, peer = %self.relay, "queue handoff done");
        report
    }

    /// One message: true when the peer took all its pending recipients and it was removed.
    async fn hand_over(
        &self,
        runner: &Arc<Runner>,
        id: QueueId,
        conn: &mut Option<(SmtpClientConn, Extensions)>,
    ) -> bool {
        let Ok(mut env) = runner.spool.read_envelope(&id) else {
            return false;
        };
        let data_path = runner.spool.root().join("data").join(id.as_str());
        let pending: Vec<usize> = (0..env.recipients.len())
            .filter(|&i| !env.recipients[i].status.is_final())
            .collect();
        let mut taken: Vec<(usize, RcptOutcome)> = Vec::new();
        for chunk in pending.chunks(MAX_RCPTS) {
            let rcpts: Vec<&Recipient> = chunk.iter().map(|&i| &env.recipients[i]).collect();
            let Some(outcomes) = self.send(runner, conn, &env, &rcpts, &data_path).await else {
                break;
            };
            for (&i, o) in chunk.iter().zip(outcomes) {
                if o.verdict == Verdict::Delivered {
                    taken.push((i, o));
                }
            }
        }
        let all = taken.len() == pending.len();
        let now = unix_now();
        for (i, o) in taken {
            tracing::info!(
                "{id}: to=<{}>, relay={}, status=handed over ({})",
                env.recipients[i].address,
                o.relay,
                o.reply
            );
            env.recipients[i].status = RecipientStatus::Delivered {
                at: now,
                relay: o.relay,
                reply: o.reply,
            };
        }
        record(runner, env, all).await
    }

    /// One transaction on the open connection (opening one if needed); `None` when the peer
    /// could not be reached or refused the session.
    async fn send(
        &self,
        runner: &Arc<Runner>,
        conn: &mut Option<(SmtpClientConn, Extensions)>,
        env: &Envelope,
        rcpts: &[&Recipient],
        data_path: &std::path::Path,
    ) -> Option<Vec<RcptOutcome>> {
        let params = self.params(runner, env.require_tls);
        if conn.is_none() {
            *conn = self.connect(runner, &params).await;
        }
        let (mut c, ext) = conn.take()?;
        let sent = session::send(&mut c, &params, &ext, env, rcpts, data_path).await;
        if sent.reusable {
            *conn = Some((c, ext));
        }
        Some(sent.outcomes)
    }

    async fn connect(
        &self,
        runner: &Runner,
        params: &SessionParams<'_>,
    ) -> Option<(SmtpClientConn, Extensions)> {
        let limit = runner.config.queue.connect_timeout;
        let tcp = tokio::net::TcpStream::connect(self.peer.address);
        let tcp = match tokio::time::timeout(limit, tcp).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tracing::warn!(peer = %self.relay, error = %e, "handoff: cannot connect");
                return None;
            }
            Err(_) => {
                tracing::warn!(peer = %self.relay, "handoff: connecting timed out");
                return None;
            }
        };
        let mut c = SmtpClientConn::new(ferrymail_net::stream::MaybeTls::Plain(tcp));
        match session::open(&mut c, params).await {
            Ok(ext) => Some((c, ext)),
            Err(SessionResult::NextHost { reason, .. })
            | Err(SessionResult::TlsRefused(session::TlsRefusal { reason, .. })) => {
                tracing::warn!(peer = %self.relay, %reason, "handoff: session refused");
                None
            }
            Err(SessionResult::Done(_)) => None,
        }
    }
}

/// Removes a message the peer took whole; otherwise writes back the recipients it took.
async fn record(runner: &Arc<Runner>, env: Envelope, all: bool) -> bool {
    let r = Arc::clone(runner);
    let id = env.id;
    let done = tokio::task::spawn_blocking(move || {
        if all || env.is_complete() {
            r.spool.remove(&id).map(|()| true)
        } else {
            r.spool.update_envelope(&env).map(|()| false)
        }
    })
    .await;
    match done {
        Ok(Ok(true)) => {
            let _ = runner.index.forget(&id);
            tracing::info!("{id}: removed (handed over)");
            true
        }
        Ok(Ok(false)) => false,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "{id}: cannot record the handoff");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "{id}: handoff record task failed");
            false
        }
    }
}
