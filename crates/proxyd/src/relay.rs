//! The relayed phase of a session: bytes both ways between the client and its backend with
//! fixed-size buffers, until either side closes, both sides have been silent for
//! `idle_timeout`, the session is kicked (`mailctl proxy move`) or the daemon stops.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ferrymail_net::signals::Shutdown;
use ferrymail_net::stream::MaybeTls;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::sessions::SessionGuard;

/// Each direction's buffer.
const BUF: usize = 16 * 1024;

/// How a relayed session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Closed,
    Idle,
    Kicked,
    Shutdown,
}

/// Bytes forwarded (client to backend, backend to client) and how it ended.
pub async fn relay(
    client: MaybeTls,
    backend: MaybeTls,
    idle: Duration,
    guard: &SessionGuard,
    mut shutdown: Shutdown,
) -> (std::io::Result<(u64, u64)>, End) {
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut client = Stamped {
        inner: client,
        start,
        last: last.clone(),
    };
    let mut backend = Stamped {
        inner: backend,
        start,
        last: last.clone(),
    };
    let copy = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut backend, BUF, BUF);
    tokio::pin!(copy);
    loop {
        let since = Duration::from_millis(last.load(Ordering::Relaxed));
        let deadline = start + since + idle;
        tokio::select! {
            r = &mut copy => return (r, End::Closed),
            _ = tokio::time::sleep_until(deadline) => {
                let now = Duration::from_millis(last.load(Ordering::Relaxed));
                if now == since {
                    return (Ok((0, 0)), End::Idle);
                }
            }
            _ = guard.kicked() => return (Ok((0, 0)), End::Kicked),
            _ = shutdown.wait() => return (Ok((0, 0)), End::Shutdown),
        }
    }
}

/// A stream that notes when it last delivered bytes (milliseconds after `start`).
struct Stamped {
    inner: MaybeTls,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl AsyncRead for Stamped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last.store(ms, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
