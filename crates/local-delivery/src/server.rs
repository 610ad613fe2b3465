//! The thin tokio layer: accepts LMTP connections on the Unix socket and on the TCP listeners
//! (`delivery.lmtp_listen`, whose sessions pass [`crate::tcp_gate`]), reads command lines and
//! DATA, drives [`Session`], and runs deliveries on the blocking pool (they fsync and may
//! fork a helper). One `conn{id}` span per connection.

use std::sync::Arc;
use std::time::Duration;

use ferrymail_metrics::conn::{self as conn_metrics, Protocol};
use ferrymail_net::cluster::ClusterAuth;
use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::signals::Shutdown;
use ferrymail_net::stream::MaybeTls;
use ferrymail_net::tls::TlsStore;
use ferrymail_net::ConnId;
use ferrymail_smtp::{DataDecoder, LineEndingPolicy, Reply};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::message;
use crate::recent::{Begin, RecentDeliveries};
use crate::router::Router;
use crate::session::{Session, SessionConfig, Step};

/// Longest command line accepted (RFC 5321 asks for 512; addresses with ORCPT need more).
pub const MAX_COMMAND_LINE: usize = 4096;
/// Longest line inside DATA that is counted as such (longer lines are still stored).
const MAX_TEXT_LINE: usize = 1 << 20;
/// Concurrent LMTP sessions (queue-runner opens a handful).
pub const MAX_SESSIONS: usize = 256;

pub struct ServerConfig {
    pub session: SessionConfig,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub max_sessions: usize,
    pub grace: Duration,
    pub recent: RecentDeliveries,
    /// For the TCP listeners: the certificate offered by STARTTLS and the cluster login the
    /// peers must authenticate as. Both are there whenever a TCP listener is.
    pub tcp: Option<TcpTrust>,
}

pub struct TcpTrust {
    pub tls: TlsStore,
    pub cluster: ClusterAuth,
}

/// Serves until `shutdown`, then waits up to the grace period for sessions in progress
/// (a delivery that has started always finishes: it runs on the blocking pool).
pub async fn serve(
    listener: std::os::unix::net::UnixListener,
    tcp: Vec<std::net::TcpListener>,
    router: Arc<Router>,
    cfg: Arc<ServerConfig>,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(listener)?;
    let (to_serve, mut from_tcp) = mpsc::channel(16);
    let mut acceptors = JoinSet::new();
    for l in tcp {
        l.set_nonblocking(true)?;
        acceptors.spawn(accept_tcp(TcpListener::from_std(l)?, to_serve.clone()));
    }
    drop(to_serve);
    let slots = Arc::new(Semaphore::new(cfg.max_sessions.max(1)));
    let mut tasks = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.wait() => break,
            a = listener.accept() => match a {
                Ok((s, _)) => (MaybeTls::Unix(s), "lmtp".to_owned()),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some((s, addr)) = from_tcp.recv() => (MaybeTls::Plain(s), addr),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let id = ConnId::next();
        let span = tracing::info_span!("conn", id = %id, peer = %peer, role = "lmtp");
        let permit = slots.clone().try_acquire_owned();
        let router = router.clone();
        let cfg = cfg.clone();
        let open = conn_metrics::opened(Protocol::Lmtp);
        let stop = shutdown.clone();
        tasks.spawn(
            async move {
                let _open = open;
                match permit {
                    Ok(_permit) => session(stream, router, cfg, stop).await,
                    Err(_) => {
                        conn_metrics::refused(Protocol::Lmtp);
                        tracing::warn!("too many LMTP sessions, refusing");
                        let mut s = stream;
                        let busy = Reply::new(421, "4.3.2", "too many sessions, try again later");
                        let _ = s.write_all(&busy.to_bytes()).await;
                    }
                }
            }
            .instrument(span),
        );
    }
    acceptors.abort_all();
    if !tasks.is_empty() {
        tracing::info!(
            sessions = tasks.len(),
            "waiting for LMTP sessions to finish"
        );
    }
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(cfg.grace, drain).await.is_err() {
        tracing::warn!("grace period over, closing remaining sessions");
    }
    Ok(())
}

/// Accepts on one TCP listener for the main loop, until the loop is gone.
async fn accept_tcp(listener: TcpListener, to_serve: mpsc::Sender<(TcpStream, String)>) {
    loop {
        match listener.accept().await {
            Ok((s, addr)) => {
                if to_serve.send((s, addr.to_string())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One LMTP session. Clients keep sessions open between messages, so at shutdown a session
/// waiting for its next command ends at once with a 421 (a transaction it interrupts is
/// retried by the client); one reading or delivering a message finishes it first.
async fn session(
    stream: MaybeTls,
    router: Arc<Router>,
    cfg: Arc<ServerConfig>,
    mut shutdown: Shutdown,
) {
    let mut s = match (&stream, &cfg.tcp) {
        (MaybeTls::Unix(_), _) => Session::new(cfg.session.clone()),
        (_, Some(trust)) => Session::over_tcp(cfg.session.clone(), trust.cluster.clone()),
        // Not started so: a TCP listener comes with its trust.
        (_, None) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut out = s.greeting().to_bytes();
    let mut line = Vec::new();
    loop {
        // PIPELINING: answers are sent when the client has nothing more queued up.
        if reader.buffer().is_empty() && !out.is_empty() {
            if reader.get_mut().write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        let got = tokio::select! {
            got = tokio::time::timeout(
                cfg.command_timeout,
                read_line(&mut reader, &mut line, MAX_COMMAND_LINE),
            ) => got,
            _ = shutdown.wait(), if reader.buffer().is_empty() => {
                out.extend(Reply::new(421, "4.3.2", "shutting down").to_bytes());
                let _ = reader.get_mut().write_all(&out).await;
                return;
            }
        };
        let step = match got {
            Err(_) => {
                out.extend(Reply::new(421, "4.4.2", "timeout, closing").to_bytes());
                let _ = reader.get_mut().write_all(&out).await;
                return;
            }
            Ok(Err(_)) | Ok(Ok(Line::Eof)) => return,
            Ok(Ok(Line::TooLong)) => s.line_too_long(),
            Ok(Ok(Line::Complete)) => {
                let r = router.clone();
                s.command(&line, &mut |a| r.check_rcpt(a))
            }
        };
        match step {
            Step::Reply(r) => r.write_to(&mut out),
            Step::Close(r) => {
                r.write_to(&mut out);
                let _ = reader.get_mut().write_all(&out).await;
                return;
            }
            Step::StartTls(r) => {
                r.write_to(&mut out);
                if reader.get_mut().write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
                // Nothing sent before the handshake may count as sent over TLS.
                let buffered = reader.buffer().len();
                if buffered > 0 {
                    tracing::warn!(
                        bytes = buffered,
                        "discarding input pipelined after STARTTLS"
                    );
                }
                reader.consume(buffered);
                let Some(trust) = &cfg.tcp else { return };
                let acceptor = trust.tls.acceptor();
                if !reader
                    .get_mut()
                    .accept_tls(&acceptor, cfg.command_timeout)
                    .await
                {
                    return;
                }
                let tls = reader.get_ref().tls_description().unwrap_or_default();
                tracing::info!(%tls, "STARTTLS");
                s.tls_started();
            }
            Step::Data(r) => {
                r.write_to(&mut out);
                if reader.get_mut().write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
                let mut decoder = DataDecoder::new(
                    LineEndingPolicy::Normalize,
                    cfg.session.max_message_size,
                    MAX_TEXT_LINE,
                );
                let mut msg = Vec::new();
                loop {
                    let chunk =
                        match tokio::time::timeout(cfg.data_timeout, reader.fill_buf()).await {
                            Err(_) => {
                                let r = Reply::new(421, "4.4.2", "timeout in DATA, closing");
                                let _ = reader.get_mut().write_all(&r.to_bytes()).await;
                                return;
                            }
                            Ok(Err(_)) => return,
                            Ok(Ok(c)) => c,
                        };
                    if chunk.is_empty() {
                        // The client went away mid-message: nothing was delivered.
                        tracing::info!("connection lost during DATA");
                        return;
                    }
                    match decoder.feed(chunk, &mut msg) {
                        Some(n) => {
                            reader.consume(n);
                            break;
                        }
                        None => {
                            let n = chunk.len();
                            reader.consume(n);
                        }
                    }
                }
                let count = s.recipient_count();
                match s.data_done(&decoder.outcome()) {
                    Err(reply) => {
                        for _ in 0..count {
                            reply.write_to(&mut out);
                        }
                    }
                    Ok(tx) => {
                        let router = router.clone();
                        let recent = cfg.recent.clone();
                        let span = tracing::Span::current();
                        let replies = tokio::task::spawn_blocking(move || {
                            let _g = span.enter();
                            let headers = message::headers(&msg);
                            let msgid = headers
                                .iter()
                                .find(|(n, _)| n.eq_ignore_ascii_case("message-id"))
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default();
                            tx.recipients
                                .iter()
                                .map(|rcpt| {
                                    let from = tx.sender.as_deref().unwrap_or("");
                                    let claim = tx.queue_id.as_deref().map(|q| (q, recent.begin(q, rcpt)));
                                    let in_flight = match claim {
                                        Some((qid, Begin::AlreadyDelivered)) => {
                                            tracing::info!(from, to = %rcpt, %msgid, qid, status = "duplicate", "delivery already made for this queue id; not written again");
                                            return Reply::new(250, "2.0.0", format!("already delivered ({qid})"));
                                        }
                                        Some((qid, Begin::InProgress)) => {
                                            tracing::info!(from, to = %rcpt, %msgid, qid, status = "deferred", "the same delivery is in progress in another session");
                                            return Reply::new(451, "4.3.0", "this message is being delivered by another session, try again later");
                                        }
                                        Some((_, Begin::Deliver(f))) => Some(f),
                                        None => None,
                                    };
                                    let o = router.deliver(tx.sender.as_deref(), rcpt, &msg, &headers);
                                    if o.reply.is_positive() {
                                        if let Some(f) = in_flight {
                                            f.delivered();
                                        }
                                    }
                                    let status = if o.reply.is_positive() {
                                        "delivered"
                                    } else if o.reply.is_transient() {
                                        "deferred"
                                    } else {
                                        "bounced"
                                    };
                                    tracing::info!(from, to = %rcpt, %msgid, size = msg.len(), status, reply = %o.reply, detail = %o.detail, "delivery");
                                    o.reply
                                })
                                .collect::<Vec<Reply>>()
                        })
                        .await;
                        match replies {
                            Ok(rs) => {
                                for r in rs {
                                    r.write_to(&mut out);
                                }
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "delivery task failed");
                                let r = Reply::new(
                                    451,
                                    "4.3.0",
                                    "local delivery error, try again later",
                                );
                                for _ in 0..count {
                                    r.write_to(&mut out);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
