//! The crate's typed errors.

use std::io;
use std::path::{Path, PathBuf};

use crate::mailbox_name::{MailboxName, NameError};

/// Everything that can go wrong in a maildir operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem call failed; `op` names the call, `path` the object it was applied to.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The reader handed to [`crate::Maildir::deliver_reader`] failed.
    #[error("reading the message: {0}")]
    Source(#[source] io::Error),
    /// The message (identified by its base name) is in neither `new/` nor `cur/` any more:
    /// another process expunged it.
    #[error("message {base} not found")]
    MessageNotFound { base: String },
    /// The message kept being renamed by other processes while we tried to act on it.
    #[error("message {base} kept moving while being changed")]
    Contended { base: String },
    /// The directory lacks `tmp/`, `new/` or `cur/`.
    #[error("not a maildir: {}", .0.display())]
    NotAMaildir(PathBuf),
    #[error("mailbox {0} does not exist")]
    MailboxNotFound(MailboxName),
    #[error("mailbox {0} already exists")]
    MailboxExists(MailboxName),
    /// INBOX is the store's root: it cannot be created, deleted or renamed as a folder.
    #[error("operation not permitted on INBOX: {0}")]
    InboxNotAllowed(&'static str),
    #[error("cannot rename mailbox {from} to its own descendant {to}")]
    RenameIntoSelf { from: MailboxName, to: MailboxName },
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// A message file name that cannot be a maildir entry (contains `/`, starts with `.`, ...).
    #[error("invalid message file name {0:?}")]
    InvalidFileName(String),
    /// The message grew past [`crate::DeliverOptions::max_size`].
    #[error("message exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// Every unique name we generated was already taken (should never happen).
    #[error("could not find a free unique file name in {}", .0.display())]
    NameExhausted(PathBuf),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// True for "it is not there": a vanished message, a missing mailbox or an ENOENT.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::MessageNotFound { .. } | Error::MailboxNotFound(_) => true,
            Error::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
