//! Delivering to local recipients: LMTP transactions to local-delivery over its Unix socket,
//! or in a cluster (`queue.lmtp_server`) over TCP to the front end, on connections kept open
//! between messages. Over TCP every connection first does STARTTLS, verified against the
//! cluster's CA with the configured name, and AUTH as the cluster login: a failure of either
//! defers the message; nothing is ever sent in plaintext or unauthenticated.
//!
//! LMTP allows any number of transactions per session, so a message should cost one
//! transaction, not also a connect, a greeting and an LHLO. A connection whose transaction
//! ended cleanly goes back to the pool; one that sat idle too long, was closed by
//! local-delivery (a restart, its idle timeout) or has unexpected bytes waiting is dropped
//! instead of reused. If a transaction on a reused connection fails on the wire, it is sent
//! again once on a fresh connection: local-delivery remembers (queue id, recipient) pairs it
//! has delivered (`XQUEUEID`), so a first attempt that did get through is acknowledged again,
//! not written twice.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrymail_config::{ClusterPeer, Config};
use ferrymail_net::cluster::{ClusterAuth, ClusterError};
use ferrymail_net::stream::MaybeTls;
use ferrymail_spool::{Envelope, Recipient};
use tokio_rustls::TlsConnector;

use crate::outcome::{RcptOutcome, Verdict};
use crate::session::{
    self, Auth, Dialect, Extensions, SessionParams, SessionResult, Timeouts, TlsRefusal, TlsUse,
};
use crate::wire::SmtpClientConn;

/// Where local mail goes.
pub enum LmtpTarget {
    /// local-delivery's Unix socket.
    Socket(PathBuf),
    /// A cluster host's TCP LMTP (`queue.lmtp_server`).
    Cluster {
        address: SocketAddr,
        tls_name: String,
        /// "lmtp[address]", for replies and logs.
        relay: String,
        connector: TlsConnector,
        /// The cluster login's AUTH PLAIN response, acting for no one.
        plain: String,
    },
}

impl LmtpTarget {
    /// The target `config` names: `queue.lmtp_server` with the cluster's trust, else the
    /// local socket. Config validation refuses `lmtp_server` without `[cluster]`.
    pub fn from_config(
        config: &Config,
        cluster: Option<&ClusterAuth>,
    ) -> Result<LmtpTarget, ClusterError> {
        match (&config.queue.lmtp_server, cluster) {
            (Some(peer), Some(cluster)) => LmtpTarget::cluster(peer, cluster),
            _ => Ok(LmtpTarget::Socket(config.lmtp_socket())),
        }
    }

    pub fn cluster(peer: &ClusterPeer, cluster: &ClusterAuth) -> Result<LmtpTarget, ClusterError> {
        Ok(LmtpTarget::Cluster {
            address: peer.address,
            tls_name: peer.tls_name.clone(),
            relay: format!("lmtp[{}]", peer.address),
            connector: TlsConnector::from(cluster.client_tls()?),
            plain: cluster.plain_response(""),
        })
    }

    fn relay(&self) -> &str {
        match self {
            LmtpTarget::Socket(_) => "local",
            LmtpTarget::Cluster { relay, .. } => relay,
        }
    }

    /// The session's parameters for this target.
    fn params<'a>(&'a self, helo: &'a str, timeouts: Timeouts) -> SessionParams<'a> {
        let (server_name, tls, auth) = match self {
            LmtpTarget::Socket(_) => ("localhost", TlsUse::Off, None),
            LmtpTarget::Cluster {
                tls_name,
                connector,
                plain,
                ..
            } => (
                tls_name.as_str(),
                TlsUse::Starttls {
                    connector: connector.clone(),
                    required: true,
                    verified: true,
                },
                Some(Auth::Plain(plain.as_str())),
            ),
        };
        SessionParams {
            dialect: Dialect::Lmtp,
            helo,
            server_name,
            relay: self.relay(),
            timeouts,
            tls,
            auth,
            auth_plaintext_ok: false,
            // Local delivery is final delivery: REQUIRETLS asks nothing of it (RFC 8689).
            requiretls: false,
        }
    }

    async fn connect(&self) -> std::io::Result<MaybeTls> {
        match self {
            LmtpTarget::Socket(path) => {
                Ok(MaybeTls::Unix(tokio::net::UnixStream::connect(path).await?))
            }
            LmtpTarget::Cluster { address, .. } => Ok(MaybeTls::Plain(
                tokio::net::TcpStream::connect(address).await?,
            )),
        }
    }

    fn describe(&self) -> String {
        match self {
            LmtpTarget::Socket(path) => format!("local-delivery at {}", path.display()),
            LmtpTarget::Cluster { address, .. } => format!("the cluster's LMTP at {address}"),
        }
    }
}

/// An idle connection is dropped after this long: well inside local-delivery's own command
/// timeout, so the pool never hands out a connection the server is about to close.
const IDLE_FOR: Duration = Duration::from_secs(20);

struct Idle {
    conn: SmtpClientConn,
    ext: Extensions,
    since: Instant,
}

/// Open, idle LMTP connections to the target.
pub struct LmtpPool {
    target: LmtpTarget,
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
}

impl LmtpPool {
    /// Keeps at most `max_idle` connections open while idle (0: a connection per message).
    pub fn new(target: LmtpTarget, max_idle: usize) -> LmtpPool {
        LmtpPool {
            target,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used connection that is still open and quiet.
    fn take(&self) -> Option<(SmtpClientConn, Extensions)> {
        let mut idle = self.lock();
        // The oldest are at the front: drop the expired ones in one go.
        let expired = idle
            .iter()
            .take_while(|i| i.since.elapsed() >= IDLE_FOR)
            .count();
        idle.drain(..expired);
        while let Some(i) = idle.pop() {
            if i.conn.is_quiet() {
                return Some((i.conn, i.ext));
            }
        }
        None
    }

    fn put(&self, conn: SmtpClientConn, ext: Extensions) {
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(Idle {
                conn,
                ext,
                since: Instant::now(),
            });
        }
    }

    /// Connections idle in the pool now.
    pub fn idle(&self) -> usize {
        self.lock().len()
    }

    /// Sends `env` to `rcpts` through the target; one outcome per recipient.
    pub async fn deliver(
        &self,
        helo: &str,
        timeouts: Timeouts,
        connect_timeout: Duration,
        env: &Envelope,
        rcpts: &[&Recipient],
        data_path: &Path,
    ) -> Vec<RcptOutcome> {
        let params = &self.target.params(helo, timeouts);
        let relay = self.target.relay();
        if let Some((mut conn, ext)) = self.take() {
            let sent = session::send(&mut conn, params, &ext, env, rcpts, data_path).await;
            if sent.reusable {
                self.put(conn, ext);
                return sent.outcomes;
            }
            let lost_on_the_wire = sent.outcomes.iter().all(|o| o.verdict == Verdict::Deferred);
            if !lost_on_the_wire {
                return sent.outcomes;
            }
            tracing::debug!("reused LMTP connection failed; retrying on a fresh one");
        }
        let all = |o: RcptOutcome| vec![o; rcpts.len()];
        let mut conn = match tokio::time::timeout(connect_timeout, self.target.connect()).await {
            Ok(Ok(s)) => SmtpClientConn::new(s),
            Ok(Err(e)) => {
                return all(RcptOutcome::deferred(
                    relay,
                    "4.4.1",
                    &format!("cannot connect to {}: {e}", self.target.describe()),
                ))
            }
            Err(_) => {
                return all(RcptOutcome::deferred(
                    relay,
                    "4.4.1",
                    &format!("connecting to {} timed out", self.target.describe()),
                ))
            }
        };
        let ext = match session::open(&mut conn, params).await {
            Ok(ext) => ext,
            Err(
                SessionResult::NextHost { reason, .. }
                | SessionResult::TlsRefused(TlsRefusal { reason, .. }),
            ) => return all(RcptOutcome::deferred(relay, "4.4.2", &reason)),
            Err(SessionResult::Done(outcomes)) => return outcomes,
        };
        let sent = session::send(&mut conn, params, &ext, env, rcpts, data_path).await;
        if sent.reusable {
            self.put(conn, ext);
        }
        sent.outcomes
    }
}
