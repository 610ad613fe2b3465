//! The accept loop every TCP daemon runs: admission control, one tracing span per connection,
//! the connection metrics, and graceful shutdown (stop accepting, let sessions finish for a
//! grace period).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::{Config, ConnLimits, Role};
use ferrymail_metrics::conn::{self as conn_metrics, Protocol};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::limits::{ConnGuard, ConnLimiter, Refusal};
use crate::signals::Shutdown;
use crate::ConnId;

/// The protocol spoken on a listener of `role` (the metrics' label).
pub fn protocol(role: Role) -> Protocol {
    match role {
        Role::Mx | Role::Submission | Role::Submissions => Protocol::Smtp,
        Role::Imap | Role::Imaps => Protocol::Imap,
        Role::Pop3 | Role::Pop3s => Protocol::Pop3,
        Role::Managesieve => Protocol::ManageSieve,
        Role::Lmtp => Protocol::Lmtp,
    }
}

/// What a session knows about its connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub role: Role,
    /// The client is in `general.trusted_networks`.
    pub trusted: bool,
}

impl ConnInfo {
    pub fn peer_ip(&self) -> IpAddr {
        ferrymail_config::canonical_ip(self.peer.ip())
    }

    pub fn is_loopback(&self) -> bool {
        self.peer_ip().is_loopback()
    }
}

/// The admission result handed to the session: it must greet a refused client with its
/// protocol's "busy" reply (SMTP 421, POP3 -ERR, IMAP BYE) and close.
pub type Admission = Result<ConnGuard, Refusal>;

pub struct ServeOptions {
    pub limiter: ConnLimiter,
    pub is_trusted: Arc<dyn Fn(IpAddr) -> bool + Send + Sync>,
    /// Trusted clients skip the per-address limit.
    pub exempt_trusted: bool,
    pub shutdown: Shutdown,
    pub grace: Duration,
}

impl ServeOptions {
    /// The usual options: `limits`, trusting `config`'s `general.trusted_networks`.
    pub fn new(
        config: Arc<Config>,
        limits: &ConnLimits,
        shutdown: Shutdown,
        grace: Duration,
    ) -> ServeOptions {
        ServeOptions {
            limiter: ConnLimiter::new(limits),
            is_trusted: Arc::new(move |ip| config.is_trusted(ip)),
            exempt_trusted: limits.exempt_trusted,
            shutdown,
            grace,
        }
    }
}

/// Serves every listener until shutdown, then waits up to `grace` for sessions to end.
pub async fn serve<H, Fut>(
    listeners: Vec<(Role, std::net::TcpListener)>,
    opts: ServeOptions,
    handler: H,
) -> std::io::Result<()>
where
    H: Fn(TcpStream, ConnInfo, Admission) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    let opts = Arc::new(opts);
    let tracker = TaskTracker::new();
    let mut loops = Vec::new();
    for (role, std_listener) in listeners {
        conn_metrics::register(protocol(role));
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let handler = handler.clone();
        let opts = opts.clone();
        let tracker = tracker.clone();
        loops.push(tokio::spawn(accept_loop(
            role, listener, opts, tracker, handler,
        )));
    }
    for l in loops {
        let _ = l.await;
    }
    tracker.close();
    if !tracker.is_empty() {
        tracing::info!(
            sessions = tracker.len(),
            grace = ?opts.grace,
            "waiting for sessions to finish"
        );
    }
    if tokio::time::timeout(opts.grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            sessions = tracker.len(),
            "grace period over, closing remaining sessions"
        );
    }
    Ok(())
}

async fn accept_loop<H, Fut>(
    role: Role,
    listener: TcpListener,
    opts: Arc<ServeOptions>,
    tracker: TaskTracker,
    handler: Arc<H>,
) where
    H: Fn(TcpStream, ConnInfo, Admission) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut shutdown = opts.shutdown.clone();
    let local_default = listener.local_addr().ok();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on a full fd table.
                tracing::warn!(%role, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .ok()
            .or(local_default)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let ip = ferrymail_config::canonical_ip(peer.ip());
        let trusted = (opts.is_trusted)(ip);
        let admission = opts.limiter.admit(ip, trusted && opts.exempt_trusted);
        let info = ConnInfo {
            id: ConnId::next(),
            peer,
            local,
            role,
            trusted,
        };
        let span = tracing::info_span!("conn", id = %info.id, peer = %peer, role = %role);
        let open = conn_metrics::opened(protocol(role));
        if let Err(r) = &admission {
            conn_metrics::refused(protocol(role));
            tracing::warn!(parent: &span, refusal = ?r, "connection refused by limits");
        }
        let session = handler(stream, info, admission);
        tracker.spawn(
            async move {
                session.await;
                drop(open);
            }
            .instrument(span),
        );
    }
}

/// Raises the open-files soft limit to the hard limit: an IMAP server holding tens of thousands
/// of idle clients needs one descriptor each.
pub fn raise_nofile_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
            tracing::debug!(soft, hard, "could not raise RLIMIT_NOFILE");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::shutdown_pair;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_refuses_over_limit_and_stops_on_shutdown() {
        let l = crate::listeners::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let (trigger, shutdown) = shutdown_pair();
        let opts = ServeOptions {
            limiter: ConnLimiter::new(&ConnLimits {
                max_connections_per_ip: 1,
                ..ConnLimits::default()
            }),
            is_trusted: Arc::new(|_| false),
            exempt_trusted: true,
            shutdown,
            grace: Duration::from_secs(5),
        };
        let server = tokio::spawn(serve(
            vec![(Role::Pop3, l)],
            opts,
            |mut s: TcpStream, info: ConnInfo, adm: Admission| async move {
                let msg = match adm {
                    Ok(_guard) => {
                        let _ = s
                            .write_all(format!("hello {}\n", info.role).as_bytes())
                            .await;
                        // Hold the slot until the client hangs up.
                        let mut b = [0u8; 1];
                        let _ = s.read(&mut b).await;
                        return;
                    }
                    Err(_) => "busy\n",
                };
                let _ = s.write_all(msg.as_bytes()).await;
            },
        ));
        let mut first = TcpStream::connect(addr).await.unwrap();
        let mut buf = vec![0u8; 64];
        let n = first.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello pop3\n");
        let mut second = TcpStream::connect(addr).await.unwrap();
        let n = second.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"busy\n");
        // No other test in this crate serves POP3: the figures are this test's alone.
        let text = ferrymail_metrics::encode();
        assert!(
            text.contains("ferrymail_connections_total{protocol=\"pop3\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ferrymail_connections_refused_total{protocol=\"pop3\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ferrymail_connections_active{protocol=\"pop3\"} "),
            "{text}"
        );
        drop(first);
        trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server stops after shutdown")
            .unwrap()
            .unwrap();
    }
}
