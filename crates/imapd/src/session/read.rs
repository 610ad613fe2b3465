//! Reading one command off the wire: lines and literals through the protocol crate's
//! [`CommandCollector`] under `imapd.max_command_line` / `imapd.max_literal`, `+` for
//! synchronising literals, and APPENDs whose message is too large to hold in memory streamed
//! straight into the target mailbox's `tmp/` instead.

use std::sync::Arc;

use ferrymail_imap_proto::response::{Code, Kind, Response, Status};
use ferrymail_imap_proto::session::{Failure, Output};
use ferrymail_imap_proto::{
    append_before_literal, peek_tag, AppendHead, CollectError, Collected, CommandCollector,
};
use ferrymail_maildir::PendingDelivery;
use tokio::sync::mpsc;

use super::{ProtoSession, Session};
use crate::conn::LineResult;
use crate::mailbox::{SharedMailbox, StoreError};
use crate::store::failure;

/// APPEND literals larger than this are streamed into the mailbox's `tmp/` as they arrive
/// instead of being collected in memory; smaller ones are not worth a file round trip.
const STREAM_APPEND_ABOVE: u64 = 256 * 1024;
/// Size of the pieces a streamed APPEND is read and written in. With the channel between
/// the connection and the writer, an APPEND holds at most a few of these.
const STREAM_CHUNK: usize = 64 * 1024;

pub(super) enum Incoming {
    Command(Vec<u8>),
    /// An APPEND whose message was streamed into the mailbox's `tmp/`.
    StreamedAppend(Box<StreamedAppend>),
    /// A command refused while it was read (too long, literal too large, APPEND refused
    /// before its message was sent).
    Refused(Response),
    Eof,
    Fatal(String),
}

/// A large APPEND read off the wire: the message sits in `tmp/`, committed (or, on error,
/// removed) by [`StreamedAppend::finish`].
pub(super) struct StreamedAppend {
    tag: String,
    mb: Arc<SharedMailbox>,
    head: AppendHead,
    message: Result<PendingDelivery, StoreError>,
}

impl StreamedAppend {
    /// Gives the message its UID (or reports why it could not be stored) and answers the
    /// APPEND. Runs on the blocking pool.
    pub fn finish(self, p: &mut ProtoSession, out: &mut Output) {
        let r = self
            .message
            .map_err(|e| failure(&e))
            .and_then(|pending| match p.store() {
                Some(s) => s
                    .finish_append(&self.mb, &self.head, pending)
                    .map(|(v, uid)| (v, vec![uid])),
                None => Err(Failure::ServerBug),
            });
        p.finish_append(&self.tag, r, out);
    }
}

fn bad(tag: Option<String>, text: &str) -> Incoming {
    Incoming::Refused(Response::Status(Status {
        tag,
        kind: Kind::Bad,
        code: None,
        text: text.to_owned(),
    }))
}

impl Session {
    pub(super) async fn read_command(&mut self) -> std::io::Result<Incoming> {
        let max_line = self.config().imapd.max_command_line;
        let max_literal = self.config().imapd.max_literal;
        let mut coll = CommandCollector::new(max_line, max_literal);
        loop {
            let line = match self.conn.read_line(max_line).await? {
                LineResult::Line(l) => l,
                LineResult::TooLong(prefix) => {
                    let tag = if coll.bytes().is_empty() {
                        peek_tag(&prefix)
                    } else {
                        peek_tag(coll.bytes())
                    };
                    return Ok(bad(tag, "Command line too long"));
                }
                LineResult::Eof => return Ok(Incoming::Eof),
            };
            let tag_source = if coll.bytes().is_empty() {
                line.clone()
            } else {
                coll.bytes().to_vec()
            };
            match coll.push_line(&line) {
                Ok(Collected::Complete) => return Ok(Incoming::Command(coll.take())),
                Ok(Collected::Literal { size, sync }) => {
                    if coll.bytes().len() as u64 + size > max_literal + max_line as u64 {
                        return Ok(Incoming::Fatal("Command too large".into()));
                    }
                    if size > STREAM_APPEND_ABOVE {
                        if let Some((tag, head)) = append_before_literal(coll.bytes()) {
                            return self.stream_append(tag, head, size, sync).await;
                        }
                    }
                    if sync {
                        let go = Response::Continue("Ready for literal data".into());
                        self.conn.write(&go.to_bytes()).await?;
                    }
                    let Some(data) = self.conn.read_exact(size as usize).await? else {
                        return Ok(Incoming::Eof);
                    };
                    coll.push_literal(&data);
                }
                Err(CollectError::LineTooLong) => {
                    return Ok(bad(peek_tag(&tag_source), "Command line too long"))
                }
                Err(CollectError::LiteralTooLarge { size, sync }) => {
                    let tag = peek_tag(&tag_source);
                    let refused = Incoming::Refused(Response::Status(Status {
                        tag,
                        kind: if sync { Kind::No } else { Kind::Bad },
                        code: Some(Code::TooBig),
                        text: "Literal too large".into(),
                    }));
                    if sync {
                        // The client sends nothing until our '+', so the command just ends.
                        return Ok(refused);
                    }
                    if size > max_literal.saturating_mul(4) {
                        return Ok(Incoming::Fatal("Literal too large".into()));
                    }
                    // LITERAL+ data is already on its way: skip it and the command's rest.
                    if !self.conn.skip(size).await? {
                        return Ok(Incoming::Eof);
                    }
                    let _ = self.conn.read_line(max_line).await?;
                    return Ok(refused);
                }
            }
        }
    }

    /// Reads a large APPEND's message straight into the target mailbox's `tmp/`, through
    /// a writer on the blocking pool fed a few chunks at a time, so memory stays bounded
    /// whatever the size. Everything that can refuse the APPEND is checked first, so a
    /// synchronising literal is refused before the client sends it. If the client goes away
    /// mid-literal (or this future is dropped by a timeout or shutdown) the writer sees its
    /// channel close short of the announced size and removes the file.
    async fn stream_append(
        &mut self,
        tag: String,
        head: AppendHead,
        size: u64,
        sync: bool,
    ) -> std::io::Result<Incoming> {
        let max_line = self.config().imapd.max_command_line;
        let mailbox = head.mailbox.clone();
        let t = tag.clone();
        let prepared = self
            .with_proto(move |p, _| {
                if !p.is_authenticated() {
                    return Err(Response::bad(&t, "Not logged in"));
                }
                let r = p
                    .store()
                    .map_or(Err(Failure::ServerBug), |s| s.begin_append(&mailbox));
                r.map_err(|e| p.appended(&t, Err(e)))
            })
            .await?;
        let (mb, pending) = match prepared {
            Ok(v) => v,
            Err(reply) => {
                if !sync {
                    // LITERAL+: the message is on its way regardless; it and the rest of
                    // the command line go unread.
                    if !self.conn.skip(size).await? {
                        return Ok(Incoming::Eof);
                    }
                    let _ = self.conn.read_line(max_line).await?;
                }
                return Ok(Incoming::Refused(reply));
            }
        };
        if sync {
            let go = Response::Continue("Ready for literal data".into());
            self.conn.write(&go.to_bytes()).await?;
        }
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(2);
        let writer = tokio::task::spawn_blocking(move || {
            let mut pending = pending;
            let mut failed = None;
            // Drains the channel even after a write error (a full disk), so the connection
            // keeps reading the literal and the session stays in step with the client.
            while let Some(chunk) = rx.blocking_recv() {
                if failed.is_none() {
                    failed = pending.write(&chunk).err();
                }
            }
            if let Some(e) = failed {
                return Err(StoreError::from(e));
            }
            if pending.size() != size {
                return Err(StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "client went away during APPEND",
                )));
            }
            pending.sync()?;
            Ok(pending)
        });
        let mut remaining = size;
        while remaining > 0 {
            let want = remaining.min(STREAM_CHUNK as u64) as usize;
            let Some(chunk) = self.conn.read_chunk(want).await? else {
                break;
            };
            remaining -= chunk.len() as u64;
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
        drop(tx);
        let message = match writer.await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Io(std::io::Error::other(e.to_string()))),
        };
        if remaining > 0 {
            // The writer has already removed the partial file.
            tracing::info!(missing = remaining, "client went away during APPEND");
            return Ok(Incoming::Eof);
        }
        let rest = match self.conn.read_line(max_line).await? {
            LineResult::Line(l) => l,
            LineResult::TooLong(_) => b"?".to_vec(),
            LineResult::Eof => return Ok(Incoming::Eof),
        };
        if !rest.is_empty() {
            // MULTIAPPEND is not offered; the message goes with the command.
            let _ = tokio::task::spawn_blocking(move || drop(message)).await;
            return Ok(bad(
                Some(tag),
                "Error in IMAP command: unexpected characters after the command",
            ));
        }
        Ok(Incoming::StreamedAppend(Box::new(StreamedAppend {
            tag,
            mb,
            head,
            message,
        })))
    }
}
