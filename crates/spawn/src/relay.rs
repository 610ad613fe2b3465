//! The main process's side of a handed-off session: first the header and whatever the client
//! pipelined behind its login, then bytes both ways until either side closes. TLS stays
//! here; the child only ever sees plaintext protocol bytes.

use std::time::Duration;

use ferrymail_net::signals::Shutdown;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long the child may take to finish answering after the client stopped sending.
const DRAIN: Duration = Duration::from_secs(5);

/// How a relayed session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEnd {
    /// The child closed its side (after the session, or an error it reported itself).
    ChildClosed,
    /// The child closed without sending a single byte: `if_silent` went to the client.
    ChildSilent,
    /// The child was gone before it could be given the header.
    ChildGone,
    /// The client closed its side first.
    ClientClosed,
    /// The daemon is shutting down.
    Shutdown,
}

/// Relays `client` to the session child on `sock`. `first` (header line plus pipelined
/// input) is written before anything else; `if_silent` is the reply the client gets when
/// the child exits without answering at all (it died, or could not start its session).
pub async fn relay<C>(
    client: C,
    mut sock: UnixStream,
    first: Vec<u8>,
    if_silent: &[u8],
    mut shutdown: Shutdown,
) -> RelayEnd
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(e) = sock.write_all(&first).await {
        tracing::warn!(error = %e, "session child gone before the session began");
        let mut client = client;
        let _ = client.write_all(if_silent).await;
        let _ = client.shutdown().await;
        return RelayEnd::ChildGone;
    }
    drop(first);
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut child_r, mut child_w) = sock.into_split();
    let up = async {
        let r = tokio::io::copy(&mut client_r, &mut child_w).await;
        let _ = child_w.shutdown().await;
        r
    };
    let down = async {
        let r = tokio::io::copy(&mut child_r, &mut client_w).await;
        let silent = matches!(r, Ok(0));
        if silent {
            tracing::error!("session child exited without answering");
            let _ = client_w.write_all(if_silent).await;
        }
        let _ = client_w.shutdown().await;
        silent
    };
    tokio::pin!(up, down);
    tokio::select! {
        silent = &mut down => if silent { RelayEnd::ChildSilent } else { RelayEnd::ChildClosed },
        _ = &mut up => {
            // The client stopped sending; the child sees EOF, answers what it had and exits.
            let _ = tokio::time::timeout(DRAIN, &mut down).await;
            RelayEnd::ClientClosed
        }
        // The child sees EOF when we close and exits on its own.
        _ = shutdown.wait() => RelayEnd::Shutdown,
    }
}
