//! Committing an APPEND the connection streamed to disk: one message or several
//! (MULTIAPPEND), each in the mailbox's `tmp/` (or, when the client sent it small before
//! streaming began, in memory), stored all or none under one quota check for the batch.

use std::io::Read;
use std::sync::Arc;

use ferrymail_imap_proto::session::{append_all, Failure, Storage, StoreResult};
use ferrymail_imap_proto::AppendHead;
use ferrymail_maildir::PendingDelivery;

use super::{fail, failure, mtime, to_maildir, MaildirStorage, OpenMailbox};
use crate::mailbox::{SharedMailbox, StoreError};

/// Where a message of a streamed APPEND is.
pub enum AppendSource {
    /// Sent before streaming began (small), held as sent.
    Memory(Vec<u8>),
    /// Written into `tmp/`; `has_nul` if the client sent a NUL.
    Streamed {
        pending: PendingDelivery,
        has_nul: bool,
    },
}

/// One message of a streamed APPEND, or why it could not be received.
pub struct StreamedMessage {
    pub head: AppendHead,
    pub source: Result<AppendSource, StoreError>,
}

impl AppendSource {
    fn size(&self) -> u64 {
        match self {
            AppendSource::Memory(d) => d.len() as u64,
            AppendSource::Streamed { pending, .. } => pending.size(),
        }
    }
}

/// A literal8 message with NUL written again with its binary parts in base64 (see
/// [`crate::binary::encode_binary_parts`]). It is read back whole: a literal is at most
/// `imapd.max_literal` octets.
fn reencode(mb: &SharedMailbox, pending: PendingDelivery) -> Result<PendingDelivery, StoreError> {
    let mut raw = Vec::with_capacity(usize::try_from(pending.size()).unwrap_or(0));
    std::fs::File::open(pending.tmp_path())?.read_to_end(&mut raw)?;
    let Some(encoded) = crate::binary::encode_binary_parts(&raw) else {
        return Ok(pending);
    };
    drop(raw);
    let mut again = mb.begin_append()?;
    again.write(&encoded)?;
    again.sync()?;
    Ok(again)
}

impl MaildirStorage {
    /// Stores the messages of a streamed APPEND, all or none; returns UIDVALIDITY and the
    /// new UIDs. Nothing is stored if any message failed to arrive, a plain literal held a
    /// NUL, or the batch as a whole would exceed the quota; a message that fails while
    /// being stored takes those stored before it away again.
    pub fn finish_appends(
        &mut self,
        mb: &Arc<SharedMailbox>,
        batch: Vec<StreamedMessage>,
    ) -> StoreResult<(u32, Vec<u32>)> {
        let mut items = Vec::with_capacity(batch.len());
        for m in batch {
            let source = m.source.map_err(|e| failure(&e))?;
            if matches!(source, AppendSource::Streamed { has_nul: true, .. }) && !m.head.binary {
                return Err(Failure::Cannot(
                    "NUL in a literal (only a literal8 may hold one)".into(),
                ));
            }
            items.push(Some((m.head, source)));
        }
        let total = items.iter().flatten().map(|(_, s)| s.size()).sum();
        if let Some(used) = self.usage_under_quota()? {
            self.fits_all(&used, total, items.len() as u64)?;
        }
        let open = OpenMailbox {
            mb: mb.clone(),
            snapshot: std::sync::Mutex::new(None),
        };
        append_all(self, &open, items.len(), |s, i| {
            let Some((head, source)) = items.get_mut(i).and_then(Option::take) else {
                return Err(Failure::ServerBug);
            };
            match source {
                AppendSource::Memory(data) => s.append(&open, &head, &data),
                AppendSource::Streamed { pending, has_nul } => {
                    let pending = if has_nul {
                        reencode(mb, pending).map_err(fail)?
                    } else {
                        pending
                    };
                    s.check_quota(pending.size())?;
                    let f = to_maildir(mb, &head.flags, true).map_err(fail)?;
                    mb.append_pending(pending, f, head.date.map(mtime))
                        .map(|uid| open.cache_appended(uid))
                        .map_err(fail)
                }
            }
        })
    }
}
