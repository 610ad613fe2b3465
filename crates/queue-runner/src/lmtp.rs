//! Delivering to local recipients: LMTP transactions to local-delivery over its Unix socket,
//! on connections kept open between messages.
//!
//! LMTP allows any number of transactions per session, so a message should cost one
//! transaction, not also a connect, a greeting and an LHLO. A connection whose transaction
//! ended cleanly goes back to the pool; one that sat idle too long, was closed by
//! local-delivery (a restart, its idle timeout) or has unexpected bytes waiting is dropped
//! instead of reused. If a transaction on a reused connection fails on the wire, it is sent
//! again once on a fresh connection: local-delivery remembers (queue id, recipient) pairs it
//! has delivered (`XQUEUEID`), so a first attempt that did get through is acknowledged again,
//! not written twice.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrymail_net::stream::MaybeTls;
use ferrymail_spool::{Envelope, Recipient};

use crate::outcome::{RcptOutcome, Verdict};
use crate::session::{self, Extensions, SessionParams, SessionResult, TlsRefusal};
use crate::wire::SmtpClientConn;

/// An idle connection is dropped after this long: well inside local-delivery's own command
/// timeout, so the pool never hands out a connection the server is about to close.
const IDLE_FOR: Duration = Duration::from_secs(20);

struct Idle {
    conn: SmtpClientConn,
    ext: Extensions,
    since: Instant,
}

/// Open, idle LMTP connections to local-delivery.
pub struct LmtpPool {
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
}

impl LmtpPool {
    /// Keeps at most `max_idle` connections open while idle (0: a connection per message).
    pub fn new(max_idle: usize) -> LmtpPool {
        LmtpPool {
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

    /// Sends `env` to `rcpts` through local-delivery at `socket`; one outcome per recipient.
    pub async fn deliver(
        &self,
        socket: &Path,
        connect_timeout: Duration,
        params: &SessionParams<'_>,
        env: &Envelope,
        rcpts: &[&Recipient],
        data_path: &Path,
    ) -> Vec<RcptOutcome> {
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
        let mut conn =
            match tokio::time::timeout(connect_timeout, tokio::net::UnixStream::connect(socket))
                .await
            {
                Ok(Ok(s)) => SmtpClientConn::new(MaybeTls::Unix(s)),
                Ok(Err(e)) => {
                    return all(RcptOutcome::deferred(
                        "local",
                        "4.4.1",
                        &format!(
                            "cannot connect to local-delivery at {}: {e}",
                            socket.display()
                        ),
                    ))
                }
                Err(_) => {
                    return all(RcptOutcome::deferred(
                        "local",
                        "4.4.1",
                        "connecting to local-delivery timed out",
                    ))
                }
            };
        let ext = match session::open(&mut conn, params).await {
            Ok(ext) => ext,
            Err(
                SessionResult::NextHost { reason, .. }
                | SessionResult::TlsRefused(TlsRefusal { reason, .. }),
            ) => return all(RcptOutcome::deferred("local", "4.4.2", &reason)),
            Err(SessionResult::Done(outcomes)) => return outcomes,
        };
        let sent = session::send(&mut conn, params, &ext, env, rcpts, data_path).await;
        if sent.reusable {
            self.put(conn, ext);
        }
        sent.outcomes
    }
}
