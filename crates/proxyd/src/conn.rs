//! One accepted connection: the "busy" answer when the connection limits turned it away,
//! else the TLS handshake on implicit-TLS ports and the protocol of its listener's role.

use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Role;
use ferrymail_net::server::{Admission, ConnInfo};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::client::Client;
use crate::context::Context;

/// How long shutdown lets sessions end on their own before they are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub async fn handle(ctx: Arc<Context>, tcp: TcpStream, info: ConnInfo, admission: Admission) {
    let _guard = match admission {
        Ok(g) => g,
        Err(_) => {
            let busy: &[u8] = match info.role {
                Role::Imap | Role::Imaps => b"* BYE too many connections\r\n",
                Role::Pop3 | Role::Pop3s => b"-ERR [SYS/TEMP] too many connections\r\n",
                Role::Managesieve => b"BYE \"too many connections\"\r\n",
                _ => b"421 4.3.2 too many connections\r\n",
            };
            let mut tcp = tcp;
            // Implicit-TLS clients cannot read it; they see the connection close.
            if !info.role.implicit_tls() {
                let _ = tcp.write_all(busy).await;
            }
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let client = match Client::accept(&ctx, tcp, &info).await {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(error = %e, "connection ended");
            return;
        }
    };
    let result = match info.role {
        Role::Imap | Role::Imaps => crate::imap::run(&ctx, client, &info).await,
        Role::Pop3 | Role::Pop3s => crate::pop3::run(&ctx, client, &info).await,
        Role::Managesieve => crate::managesieve::run(&ctx, client, &info).await,
        Role::Lmtp => crate::lmtp::run(&ctx, client, &info).await,
        _ => Ok(()),
    };
    match result {
        Ok(()) => tracing::debug!("connection closed"),
        Err(e) => tracing::info!(error = %e, "connection ended"),
    }
}
