//! The spool's error type.

use std::io;
use std::path::PathBuf;

use crate::id::QueueId;
use crate::record::{CorruptReason, EncodeError};

/// Errors from spool operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// A filesystem operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `rename`, `fsync`, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The spool root is missing a directory or has a file where a directory should be.
    #[error("bad spool layout at {}: {problem}", path.display())]
    BadLayout {
        /// The offending path.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// No envelope with this id in the queue (or hold, where that applies).
    #[error("queue id {0} not found")]
    NotFound(QueueId),
    /// The envelope (or maildrop file) exists but is corrupt.
    #[error("queue file {id} is corrupt: {reason}")]
    Corrupt {
        /// Whose file.
        id: QueueId,
        /// Why it was rejected.
        reason: CorruptReason,
    },
    /// The envelope could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Could not find a free queue id after several attempts (should never happen).
    #[error("no free queue id found")]
    IdExhausted,
    /// A test hook stopped a commit as if the process had been killed after this step.
    #[cfg(any(test, feature = "failpoints"))]
    #[error("injected crash after {0:?}")]
    InjectedCrash(crate::spool::CommitStep),
}

impl SpoolError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> SpoolError {
        let path = path.into();
        move |source| SpoolError::Io { op, path, source }
    }

    /// True for an I/O error whose OS error is "not found".
    pub fn is_not_found(&self) -> bool {
        match self {
            SpoolError::NotFound(_) => true,
            SpoolError::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            _ => false,
        }
    }
}

/// Result alias for spool operations.
pub type Result<T, E = SpoolError> = std::result::Result<T, E>;
