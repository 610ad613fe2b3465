//! The message being written into the spool, from async code.
//!
//! Spool calls block (file writes, fsync), so they run on tokio's blocking pool. Data is
//! gathered in memory and handed over in large pieces; a typical message is written, synced
//! and committed in a single blocking call. After the first write error the sink only counts:
//! the caller still has to read the rest of the data to stay in step with the client, and the
//! failed writer has already removed its temporary file.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use ferrymail_spool::{Envelope, QueueId, Spool, SpoolError, SpoolWriter};

/// Above this much buffered data, write it out before reading more.
const FLUSH_AT: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("spool write: {0}")]
    Write(#[from] std::io::Error),
    #[error("an earlier write failed")]
    Failed,
    #[error("blocking task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Rewrite(#[from] crate::milter::apply::RewriteError),
}

pub struct Sink {
    writer: Option<SpoolWriter>,
    buf: Vec<u8>,
    failed: bool,
}

impl Sink {
    /// Creates the spool file. On failure the sink exists but is failed (the data still has
    /// to be read).
    pub async fn open(spool: &Spool) -> (Sink, Result<(), SinkError>) {
        let spool = spool.clone();
        let r = tokio::task::spawn_blocking(move || spool.writer())
            .await
            .map_err(|e| SinkError::Task(e.to_string()))
            .and_then(|r| r.map_err(SinkError::from));
        match r {
            Ok(w) => (
                Sink {
                    writer: Some(w),
                    buf: Vec::with_capacity(16 * 1024),
                    failed: false,
                },
                Ok(()),
            ),
            Err(e) => (
                Sink {
                    writer: None,
                    buf: Vec::new(),
                    failed: true,
                },
                Err(e),
            ),
        }
    }

    pub fn id(&self) -> Option<QueueId> {
        self.writer.as_ref().map(|w| *w.id())
    }

    pub fn is_ok(&self) -> bool {
        !self.failed
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<(), SinkError> {
        if self.failed {
            return Ok(());
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= FLUSH_AT {
            return self.flush().await;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        let Some(mut w) = self.writer.take() else {
            self.failed = true;
            return Err(SinkError::Failed);
        };
        let buf = std::mem::take(&mut self.buf);
        let r = tokio::task::spawn_blocking(move || {
            // On error the writer is dropped here, on the blocking thread, removing its
            // tmp file.
            w.write_all(&buf).map(|()| (w, buf))
        })
        .await;
        match r {
            Ok(Ok((w, mut buf))) => {
                buf.clear();
                self.writer = Some(w);
                self.buf = buf;
                Ok(())
            }
            Ok(Err(e)) => {
                self.failed = true;
                Err(e.into())
            }
            Err(e) => {
                self.failed = true;
                Err(SinkError::Task(e.to_string()))
            }
        }
    }

    /// Writes what is left, makes it durable and queues it, then wakes queue-runner through
    /// `wake_socket` (on the same blocking thread: the wake-up may wait for room).
    pub async fn commit(
        mut self,
        envelope: Envelope,
        wake_socket: Arc<Path>,
    ) -> Result<QueueId, SinkError> {
        let Some(mut w) = self.writer.take().filter(|_| !self.failed) else {
            return Err(SinkError::Failed);
        };
        let buf = std::mem::take(&mut self.buf);
        tokio::task::spawn_blocking(move || {
            w.write_all(&buf)?;
            let id = w.commit(envelope)?;
            ferrymail_spool::notify_wake(&wake_socket, &id);
            Ok::<_, SinkError>(id)
        })
        .await
        .map_err(|e| SinkError::Task(e.to_string()))?
    }

    /// Like [`Sink::commit`] but into the spool's `hold/`, without waking queue-runner.
    pub async fn commit_held(mut self, envelope: Envelope) -> Result<QueueId, SinkError> {
        let Some(mut w) = self.writer.take().filter(|_| !self.failed) else {
            return Err(SinkError::Failed);
        };
        let buf = std::mem::take(&mut self.buf);
        tokio::task::spawn_blocking(move || {
            w.write_all(&buf)?;
            Ok::<_, SinkError>(w.commit_held(envelope)?)
        })
        .await
        .map_err(|e| SinkError::Task(e.to_string()))?
    }

    /// Runs `f` on the spool writer on a blocking thread, once what is buffered is written.
    /// An error fails the sink.
    pub async fn with_writer<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut SpoolWriter) -> Result<T, SinkError> + Send + 'static,
    ) -> Result<T, SinkError> {
        let Some(mut w) = self.writer.take().filter(|_| !self.failed) else {
            self.failed = true;
            return Err(SinkError::Failed);
        };
        let buf = std::mem::take(&mut self.buf);
        let r = tokio::task::spawn_blocking(move || {
            let r = w
                .write_all(&buf)
                .map_err(SinkError::from)
                .and_then(|()| f(&mut w));
            (w, r)
        })
        .await;
        match r {
            Ok((w, Ok(t))) => {
                self.writer = Some(w);
                Ok(t)
            }
            Ok((w, Err(e))) => {
                // Dropping the writer removes its tmp file (one unlink).
                self.failed = true;
                drop(w);
                Err(e)
            }
            Err(e) => {
                self.failed = true;
                Err(SinkError::Task(e.to_string()))
            }
        }
    }

    /// Discards the message. The tmp file is removed (on a blocking thread) before this
    /// returns, so the refusal the client sees next is never followed by a leftover file.
    pub async fn abort(mut self) {
        if let Some(w) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || w.abort()).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // A connection that dies mid-message drops its sink; the writer's own Drop removes
        // the tmp file (one unlink, acceptable on an async thread).
        if let Some(w) = self.writer.take() {
            w.abort();
        }
    }
}
