//! Reading one command off the wire: lines and literals through the protocol crate's
//! [`CommandCollector`] under `imapd.max_command_line` / `imapd.max_literal`, `+` for
//! synchronising literals, and APPENDs whose messages are too large to hold in memory
//! streamed straight into the target mailbox's `tmp/` instead (with MULTIAPPEND, every
//! message from the first large one on, so a batch holds at most one chunk in memory).

use std::sync::Arc;

use ferrymail_imap_proto::response::{Code, Kind, Response, Status};
use ferrymail_imap_proto::session::{Failure, Output};
use ferrymail_imap_proto::{
    append_in_progress_with, next_append_message, peek_tag, AppendHead, CollectError, Collected,
    CommandCollector,
};
use ferrymail_maildir::PendingDelivery;
use tokio::sync::mpsc;

use super::{ProtoSession, Session};
use crate::conn::LineResult;
use crate::mailbox::{SharedMailbox, StoreError};
use crate::store::{failure, AppendSource, StreamedMessage};

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

/// A large APPEND read off the wire: its messages sit in `tmp/` (those sent before
/// streaming began, in memory), committed (or, on error, removed) by
/// [`StreamedAppend::finish`].
pub(super) struct StreamedAppend {
    tag: String,
    mb: Arc<SharedMailbox>,
    batch: Vec<StreamedMessage>,
}

impl StreamedAppend {
    /// Gives the messages their UIDs (or reports why they could not be stored) and
    /// answers the APPEND. Runs on the blocking pool.
    pub fn finish(self, p: &mut ProtoSession, out: &mut Output) {
        let r = match p.store() {
            Some(s) => s.finish_appends(&self.mb, self.batch),
            None => Err(Failure::ServerBug),
        };
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
        // Whether the command may still turn out to be a streamable APPEND. Once it is not
        // (another command, a CATENATE), it never will be, and is not parsed again at every
        // later literal.
        let mut streamable = true;
        let names = self.proto().name_encoding();
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
                    let total = coll.bytes().len() as u64 + size;
                    // An APPEND streams from its first large literal on, or once the
                    // messages collected would grow past what one may hold.
                    if streamable && (size > STREAM_APPEND_ABOVE || total > STREAM_APPEND_ABOVE) {
                        match append_in_progress_with(coll.bytes(), names) {
                            Some(progress) => {
                                let done =
                                    progress
                                        .done
                                        .into_iter()
                                        .map(|(head, data)| StreamedMessage {
                                            head,
                                            source: Ok(AppendSource::Memory(data)),
                                        });
                                let done = done.collect();
                                return self
                                    .stream_append(progress.tag, done, progress.next, size, sync)
                                    .await;
                            }
                            None => streamable = false,
                        }
                    }
                    if total > max_literal + max_line as u64 {
                        return Ok(Incoming::Fatal("Command too large".into()));
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

    /// Reads a large APPEND's messages straight into the target mailbox's `tmp/`, each
    /// through a writer on the blocking pool fed a few chunks at a time, so memory stays
    /// bounded whatever the sizes; `done` are the messages collected before. Everything that
    /// can refuse the APPEND is checked before its first streamed literal, so a
    /// synchronising literal is refused before the client sends it. If the client goes
    /// away mid-literal (or this future is dropped by a timeout or shutdown) the writer sees
    /// its channel close short of the announced size and removes the file; the messages
    /// already written go with the batch.
    async fn stream_append(
        &mut self,
        tag: String,
        mut batch: Vec<StreamedMessage>,
        head: AppendHead,
        size: u64,
        sync: bool,
    ) -> std::io::Result<Incoming> {
        let max_line = self.config().imapd.max_command_line;
        let max_literal = self.config().imapd.max_literal;
        let target = head.mailbox.clone();
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
                drop_off_thread(batch).await;
                return self.refuse_literal(reply, size, sync).await;
            }
        };
        let (mut head, mut size, mut sync, mut pending) = (head, size, sync, pending);
        loop {
            if sync {
                let go = Response::Continue("Ready for literal data".into());
                self.conn.write(&go.to_bytes()).await?;
            }
            let Some(source) = self.stream_literal(pending, size).await? else {
                // The writer has already removed the partial file.
                drop_off_thread(batch).await;
                return Ok(Incoming::Eof);
            };
            batch.push(StreamedMessage { head, source });
            let rest = match self.conn.read_line(max_line).await? {
                LineResult::Line(l) => l,
                LineResult::TooLong(_) => b"?".to_vec(),
                LineResult::Eof => {
                    drop_off_thread(batch).await;
                    return Ok(Incoming::Eof);
                }
            };
            if rest.is_empty() {
                break;
            }
            // MULTIAPPEND: another message follows; it is streamed too.
            let Some((next, next_size, next_sync)) = next_append_message(&rest, &target) else {
                drop_off_thread(batch).await;
                return Ok(bad(
                    Some(tag),
                    "Error in IMAP command: unexpected characters after the message",
                ));
            };
            let began = if next_size > max_literal {
                Err(Response::Status(Status {
                    tag: Some(tag.clone()),
                    kind: Kind::No,
                    code: Some(Code::TooBig),
                    text: "Literal too large".into(),
                }))
            } else {
                let m = mb.clone();
                let began = match tokio::task::spawn_blocking(move || m.begin_append()).await {
                    Ok(r) => r.map_err(|e| failure(&e)),
                    Err(_) => Err(Failure::ServerBug),
                };
                began.map_err(|f| Response::no(&tag, Some(f.code()), f.to_string()))
            };
            match began {
                Ok(p) => pending = p,
                Err(reply) => {
                    drop_off_thread(batch).await;
                    return self.refuse_literal(reply, next_size, next_sync).await;
                }
            }
            (head, size, sync) = (next, next_size, next_sync);
        }
        Ok(Incoming::StreamedAppend(Box::new(StreamedAppend {
            tag,
            mb,
            batch,
        })))
    }

    /// Answers `reply` to a command whose literal of `size` octets is refused: a
    /// synchronising one is never sent; LITERAL+ data is already on its way, so it and
    /// the rest of the command line go unread.
    async fn refuse_literal(
        &mut self,
        reply: Response,
        size: u64,
        sync: bool,
    ) -> std::io::Result<Incoming> {
        if !sync {
            let max_line = self.config().imapd.max_command_line;
            let max_literal = self.config().imapd.max_literal;
            if size > max_literal.saturating_mul(4) {
                return Ok(Incoming::Fatal("Literal too large".into()));
            }
            if !self.conn.skip(size).await? {
                return Ok(Incoming::Eof);
            }
            let _ = self.conn.read_line(max_line).await?;
        }
        Ok(Incoming::Refused(reply))
    }

    /// Streams one literal of `size` octets into `pending`. None if the client went away
    /// before sending all of it (the partial file is removed).
    async fn stream_literal(
        &mut self,
        pending: PendingDelivery,
        size: u64,
    ) -> std::io::Result<Option<Result<AppendSource, StoreError>>> {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(2);
        let writer = tokio::task::spawn_blocking(move || {
            let mut pending = pending;
            let mut failed = None;
            let mut has_nul = false;
            // Drains the channel even after a write error (a full disk), so the connection
            // keeps reading the literal and the session stays in step with the client.
            while let Some(chunk) = rx.blocking_recv() {
                has_nul |= memchr::memchr(0, &chunk).is_some();
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
            Ok(AppendSource::Streamed { pending, has_nul })
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
            tracing::info!(missing = remaining, "client went away during APPEND");
            return Ok(None);
        }
        Ok(Some(message))
    }
}

/// Drops messages of an APPEND that is not going ahead: their files in `tmp/` are removed,
/// which is file I/O, so on the blocking pool.
async fn drop_off_thread(batch: Vec<StreamedMessage>) {
    if batch.is_empty() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || drop(batch)).await;
}
