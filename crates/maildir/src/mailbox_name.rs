//! Validated mailbox names and their Maildir++ directory names.
//!
//! A [`MailboxName`] is what IMAP shows (UTF-8, `/` between hierarchy levels; modified
//! UTF-7 is the imapd's business). It can only be built through validation, and the store
//! only ever builds paths from a `MailboxName`, so no client-supplied string reaches the
//! filesystem unchecked. On disk `A/B.c` becomes the single directory `.A.B%2Ec` inside the
//! store root: `.` separates levels, a literal `.` is `%2E` and `%` is `%25`. The mapping is
//! a bijection, and any directory that does not map back to itself is ignored.

use std::fmt;
use std::str::FromStr;

/// Longest directory name most filesystems accept (NAME_MAX).
const MAX_DISK_NAME: usize = 255;
const INBOX: &str = "INBOX";

/// Why a string is not an acceptable mailbox name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("mailbox name is empty")]
    Empty,
    #[error("mailbox name is not valid UTF-8")]
    InvalidUtf8,
    #[error("mailbox name starts with '/'")]
    LeadingSeparator,
    #[error("mailbox name ends with '/'")]
    TrailingSeparator,
    #[error("mailbox name has an empty hierarchy level")]
    EmptyComponent,
    #[error("mailbox name has a '.' or '..' hierarchy level")]
    DotComponent,
    #[error("mailbox name contains a control character")]
    ControlCharacter,
    #[error("mailbox name contains a backslash")]
    Backslash,
    #[error("a single hierarchy level may not contain '/'")]
    SeparatorInComponent,
    #[error("mailbox name is too long ({len} bytes on disk, at most {MAX_DISK_NAME})")]
    TooLong { len: usize },
}

/// A mailbox name that has passed validation. `INBOX` (any case) is canonicalised to
/// upper case, also as the first level of a longer name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

impl MailboxName {
    /// The hierarchy separator shown to clients.
    pub const SEPARATOR: char = '/';

    pub fn inbox() -> MailboxName {
        MailboxName(INBOX.to_owned())
    }

    /// Validates `name`.
    pub fn new(name: &str) -> Result<MailboxName, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        // The directory name is at least one byte longer than the name ('.' prefix), so
        // this bounds the work done on hostile input before anything else.
        if name.len() >= MAX_DISK_NAME {
            return Err(NameError::TooLong {
                len: name.len() + 1,
            });
        }
        if name.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        if name.contains('\\') {
            return Err(NameError::Backslash);
        }
        if name.starts_with('/') {
            return Err(NameError::LeadingSeparator);
        }
        if name.ends_with('/') {
            return Err(NameError::TrailingSeparator);
        }
        let mut canonical = String::with_capacity(name.len());
        for (i, comp) in name.split('/').enumerate() {
            match comp {
                "" => return Err(NameError::EmptyComponent),
                "." | ".." => return Err(NameError::DotComponent),
                _ => {}
            }
            if i > 0 {
                canonical.push('/');
            }
            if i == 0 && comp.eq_ignore_ascii_case(INBOX) {
                canonical.push_str(INBOX);
            } else {
                canonical.push_str(comp);
            }
        }
        let name = MailboxName(canonical);
        if let Some(disk) = name.disk_name() {
            if disk.len() > MAX_DISK_NAME {
                return Err(NameError::TooLong { len: disk.len() });
            }
        }
        Ok(name)
    }

    /// Validates raw bytes (as they arrive from a decoder): they must be UTF-8 first.
    pub fn from_bytes(bytes: &[u8]) -> Result<MailboxName, NameError> {
        let s = std::str::from_utf8(bytes).map_err(|_| NameError::InvalidUtf8)?;
        MailboxName::new(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == INBOX
    }

    /// Hierarchy levels, e.g. `["Archive", "2024"]`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The name one level up, if any.
    pub fn parent(&self) -> Option<MailboxName> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| MailboxName(parent.to_owned()))
    }

    /// The name one level down; `component` must not contain the separator.
    pub fn child(&self, component: &str) -> Result<MailboxName, NameError> {
        if component.contains('/') {
            return Err(NameError::SeparatorInComponent);
        }
        MailboxName::new(&format!("{}/{component}", self.0))
    }

    /// True if `self` lies strictly below `ancestor` in the hierarchy.
    pub fn is_descendant_of(&self, ancestor: &MailboxName) -> bool {
        self.0
            .strip_prefix(ancestor.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The Maildir++ directory name inside the store root, e.g. `.Archive.2024`; `None` for
    /// INBOX, which is the root itself.
    pub fn disk_name(&self) -> Option<String> {
        if self.is_inbox() {
            return None;
        }
        let mut out = String::with_capacity(self.0.len() + 8);
        for comp in self.components() {
            out.push('.');
            for c in comp.chars() {
                match c {
                    '%' => out.push_str("%25"),
                    '.' => out.push_str("%2E"),
                    c => out.push(c),
                }
            }
        }
        Some(out)
    }

    /// The mailbox a directory entry of the store root stands for, if it is one of ours:
    /// it must decode to a valid name that encodes back to exactly `dir_name`.
    pub fn from_disk_name(dir_name: &str) -> Option<MailboxName> {
        let encoded = dir_name.strip_prefix('.')?;
        let mut decoded = String::with_capacity(encoded.len());
        for (i, comp) in encoded.split('.').enumerate() {
            if i > 0 {
                decoded.push('/');
            }
            let mut rest = comp;
            while let Some(pos) = rest.find('%') {
                decoded.push_str(rest.get(..pos)?);
                let after = rest.get(pos..)?;
                if let Some(r) = after.strip_prefix("%2E") {
                    decoded.push('.');
                    rest = r;
                } else if let Some(r) = after.strip_prefix("%25") {
                    decoded.push('%');
                    rest = r;
                } else {
                    // Not our escape: re-encoding would differ, so this is rejected below.
                    decoded.push('%');
                    rest = after.get(1..)?;
                }
            }
            decoded.push_str(rest);
        }
        let name = MailboxName::new(&decoded).ok()?;
        (name.disk_name().as_deref() == Some(dir_name)).then_some(name)
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxName({:?})", self.0)
    }
}

impl FromStr for MailboxName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MailboxName::new(s)
    }
}

impl TryFrom<&str> for MailboxName {
    type Error = NameError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        MailboxName::new(s)
    }
}

impl AsRef<str> for MailboxName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
