//! Error and diagnostic types shared by the parsers, editors and [`crate::UserDb`].

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A problem found while loading a file. Loading never stops at the first
/// problem: the offending line is skipped (or the offending part ignored) and
/// the rest of the file is still used. `mailctl config check` prints these.
///
/// Reasons never contain password hashes or passwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadIssue {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line number, or `None` when the problem is the whole file
    /// (missing, unreadable).
    pub line: Option<usize>,
    /// Human-readable explanation.
    pub reason: String,
}

impl LoadIssue {
    pub(crate) fn new(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        reason: impl Into<String>,
    ) -> Self {
        LoadIssue {
            file: file.into(),
            line,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for LoadIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{}: {}", self.file.display(), n, self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// Fatal problems opening a [`crate::UserDb`].
#[derive(Debug, thiserror::Error)]
pub enum UserDbError {
    /// The configuration itself is unusable (bad delimiter, bad domain name).
    #[error("invalid user database configuration: {0}")]
    InvalidConfig(String),
    /// A file exists but could not be read. Unlike a missing file this is
    /// fatal at startup: running with an empty database would reject every
    /// recipient permanently.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Why an address did not resolve to any destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No alias, user or catch-all matches this local address.
    #[error("unknown user {0}")]
    UnknownUser(String),
    /// Alias expansion came back to an address already being expanded (with
    /// no underlying user to deliver to), or nested deeper than the limit.
    #[error("alias loop while expanding {0}")]
    AliasLoop(String),
    /// The address is not syntactically usable.
    #[error("invalid address {0:?}")]
    InvalidAddress(String),
    /// Every target of an alias was empty (e.g. an empty `:include:` file), so
    /// the message would go nowhere.
    #[error("alias {0} expands to no destination")]
    EmptyExpansion(String),
}

/// Why a login failed. Callers must answer the client identically for every
/// variant (the distinction is for logs only), and the time spent does not
/// depend on which variant it is except for the input checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown user")]
    UnknownUser,
    #[error("wrong password")]
    WrongPassword,
    /// The account exists but cannot log in: no password, locked, or a hash
    /// in a scheme this build cannot verify.
    #[error("login disabled for this account")]
    LoginDisabled,
    /// Empty passwords never authenticate.
    #[error("empty password")]
    EmptyPassword,
    /// Refused before hashing, so that huge inputs cannot burn CPU
    /// (SHA-crypt cost grows with password length).
    #[error("password too long")]
    PasswordTooLong,
}

/// Errors from the editable file models used by mailctl.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file changed on disk after it was loaded; saving would lose that
    /// change. Load again and redo the edit.
    #[error("{path} changed on disk since it was loaded")]
    ChangedOnDisk { path: PathBuf },
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid value: {0}")]
    Invalid(String),
}

/// A password field that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("unknown password scheme {{{0}}}")]
    UnknownScheme(String),
    #[error("unsupported crypt(3) hash type {0}")]
    UnsupportedCrypt(String),
    /// A scheme that is recognised but no longer checked: broken, and without
    /// a maintained implementation.
    #[error("{0} hashes are no longer accepted (a broken scheme); set a new password")]
    Refused(&'static str),
    #[error("malformed {scheme} hash: {reason}")]
    Malformed {
        scheme: &'static str,
        reason: &'static str,
    },
    #[error("cannot hash password: {0}")]
    Hashing(String),
}
