//! \Recent ownership (RFC 3501 §2.3.2): a message is \Recent for exactly one session, the
//! first to select its mailbox read-write after it arrived. As in Dovecot, the mailbox keeps
//! the first UID no session has claimed yet; a claim moves it to UIDNEXT under the UID lock,
//! so two sessions — even in two processes — never both get a message. The number lives in
//! `ferrymail-recent` next to the UID list (with the UIDVALIDITY it belongs to; read and
//! written under the UID lock, except by STATUS, which only reads); a message
//! still in `new/` counts as unclaimed too, which covers a lost or stale file.

use std::fs;
use std::io;
use std::path::Path;

use ferrymail_maildir::Subdir;

use super::{lock, SharedMailbox, StoreError};
use crate::uidlist::{FileStamp, UidLock};

const RECENT_FILE: &str = "ferrymail-recent";

/// The first unclaimed UID recorded for `uidvalidity`, if any.
fn load(dir: &Path, uidvalidity: u32) -> Option<u32> {
    let text = fs::read_to_string(dir.join(RECENT_FILE)).ok()?;
    let (v, from) = text.trim().split_once(' ')?;
    (v.parse::<u32>().ok()? == uidvalidity)
        .then(|| from.parse().ok())
        .flatten()
}

fn save(dir: &Path, uidvalidity: u32, from: u32) -> io::Result<()> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    // Rewritten in place at a fixed width, without a flush: this changes with every new
    // message a session sees, and losing a claim to a power cut only shows messages as
    // \Recent once more. No temporary file and rename, so the mailbox directory (whose
    // UID list is flushed on every delivery) gets no metadata change from it.
    let text = format!("{uidvalidity:010} {from:010}\n");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        // Every write covers the whole (fixed-width) content.
        .truncate(false)
        .mode(0o600)
        .open(dir.join(RECENT_FILE))?;
    f.write_all_at(text.as_bytes(), 0)
}

impl SharedMailbox {
    /// The first UID not yet claimed as \Recent. A mailbox seen for the first time starts
    /// with nothing claimable but what is in `new/`.
    pub(super) fn load_recent(&self) -> Result<(), StoreError> {
        let mut st = lock(&self.state);
        if let Some(from) = load(&self.path, st.uidvalidity) {
            st.recent_from = from;
            return Ok(());
        }
        let _flock = UidLock::acquire(&self.path)?;
        st.recent_from = match load(&self.path, st.uidvalidity) {
            Some(from) => from,
            None => {
                save(&self.path, st.uidvalidity, st.uidnext)?;
                st.uidnext
            }
        };
        Ok(())
    }

    /// Claims every unclaimed message for the caller: returns their UIDs, and moves those
    /// still in `new/` to `cur/` (a mail reader has now seen them).
    pub fn claim_recent(&self) -> Result<Vec<u32>, StoreError> {
        let claimed: Vec<(u32, bool)> = {
            let mut st = lock(&self.state);
            // Nothing this process knows of is unclaimed (claims elsewhere only raise the
            // mark): no lock or file to touch. Each session calls this after every change
            // it sees, most of them flag changes. Messages another process added are seen
            // at the next rescan, which changes the version and brings us back here.
            let from = st.recent_from;
            if st.msgs.iter().all(|m| m.uid < from && m.dir != Subdir::New) {
                return Ok(Vec::new());
            }
            let _flock = UidLock::acquire(&self.path)?;
            // Other processes may have assigned UIDs: take them in first.
            if FileStamp::of(&self.path) != st.synced {
                self.sync_locked(&mut st)?;
            }
            let from = load(&self.path, st.uidvalidity).unwrap_or(st.recent_from);
            let claimed: Vec<(u32, bool)> = st
                .msgs
                .iter()
                .filter(|m| m.uid >= from || m.dir == Subdir::New)
                .map(|m| (m.uid, m.dir == Subdir::New))
                .collect();
            if from != st.uidnext {
                save(&self.path, st.uidvalidity, st.uidnext)?;
            }
            st.recent_from = st.uidnext;
            claimed
        };
        let in_new: Vec<u32> = claimed.iter().filter(|c| c.1).map(|c| c.0).collect();
        if !in_new.is_empty() {
            // Identity flags: only the move from new/ to cur/ happens.
            self.modify_flags(&in_new, |f| f)?;
        }
        Ok(claimed.into_iter().map(|c| c.0).collect())
    }

    /// The first unclaimed UID as this process last knew it (cheap; see
    /// [`Self::recent_from_now`] for other processes' claims).
    pub fn recent_from(&self) -> u32 {
        lock(&self.state).recent_from
    }

    /// The first unclaimed UID including claims by other processes (STATUS).
    pub fn recent_from_now(&self) -> u32 {
        let mut st = lock(&self.state);
        if let Some(from) = load(&self.path, st.uidvalidity) {
            st.recent_from = from;
        }
        st.recent_from
    }
}
