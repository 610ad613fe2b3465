//! IDLE (RFC 2177): the client waits for DONE while changes to its selected mailbox are
//! pushed as they happen — changes by this process's sessions through the mailbox's watch
//! channel, other processes' through inotify, which watches the mailbox only while someone
//! idles on it, and other hosts' (on a shared store) through the hub's periodic rescan of
//! idled mailboxes (`imapd.idle_poll_interval`).

use ferrymail_imap_proto::response::Response;

use super::Session;
use crate::conn::LineResult;

impl Session {
    /// Ok(true): the connection closes.
    pub(super) async fn idle(&mut self, tag: String) -> std::io::Result<bool> {
        let mb = self
            .proto
            .as_ref()
            .and_then(|p| p.selected_mailbox())
            .map(|m| m.mb.clone());
        // Taken before the first rescan, so no change falls between the two.
        let _watch = mb.as_ref().map(|mb| self.ctx.hub.idle_watch(mb));
        let mut rx = mb.as_ref().map(|mb| mb.subscribe());
        let rescan = mb.clone();
        self.with_proto(move |p, out| {
            if let Some(mb) = rescan {
                // A failed rescan shows the last known state.
                let _ = mb.rescan();
            }
            p.idle_updates(out)
        })
        .await?;
        let timeout = self.config().imapd.idle_command_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut shutdown = self.shutdown.clone();
        loop {
            self.flush().await?;
            let changed = async {
                match rx.as_mut() {
                    Some(r) => {
                        if r.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                line = tokio::time::timeout_at(deadline, self.conn.read_line(64)) => {
                    let done = match line {
                        Ok(Ok(LineResult::Line(l))) => l.eq_ignore_ascii_case(b"DONE"),
                        Ok(Ok(LineResult::TooLong(_))) => false,
                        Ok(_) => return Ok(true),
                        Err(_) => {
                            self.push(&Response::bye("Autologout; idle for too long"));
                            return Ok(true);
                        }
                    };
                    self.with_proto(move |p, out| p.idle_done(&tag, done, out)).await?;
                    return Ok(false);
                }
                _ = changed => {
                    self.with_proto(|p, out| p.idle_updates(out)).await?;
                }
                _ = shutdown.wait() => {
                    self.push(&Response::bye("Server shutting down"));
                    return Ok(true);
                }
            }
        }
    }
}
