//! A user's Maildir++ store: INBOX is the maildir at the root, every other mailbox a
//! maildir in a `.Name` directory beside it (hierarchy flattened: `.Archive.2024`).
//!
//! Paths are only ever built from a validated [`MailboxName`]. Folders are assembled in the
//! root's `tmp/` and renamed into place without replacing anything, and deleted by renaming
//! them into `tmp/` first, so other readers never see half a folder.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::filename::unique_tmp_name;
use crate::fsops::{fsync_dir, mkdir_0700, rename_dir_noreplace};
use crate::mailbox_name::MailboxName;
use crate::maildir::{Maildir, Usage, SCRATCH_PREFIX};

/// Marker file Maildir++ puts in every subfolder (Courier and Dovecot deliver by it).
const FOLDER_MARKER: &str = "maildirfolder";

/// One user's mail store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// A handle on the store at `root`; touches nothing on disk.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The INBOX maildir; [`Error::MailboxNotFound`] if it was never created.
    pub fn inbox(&self) -> Result<Maildir> {
        Maildir::open(&self.root).map_err(|e| match e {
            Error::NotAMaildir(_) => Error::MailboxNotFound(MailboxName::inbox()),
            e => e,
        })
    }

    /// The INBOX maildir, created (with the store root) if missing.
    pub fn ensure_inbox(&self) -> Result<Maildir> {
        Maildir::create(&self.root)
    }

    fn folder_dir(&self, name: &MailboxName) -> Option<PathBuf> {
        name.disk_name().map(|d| self.root.join(d))
    }

    /// A directory of the root that really is a folder: not a symlink out of the store.
    fn is_folder_dir(path: &Path) -> Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(meta) => Ok(meta.is_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// Opens a mailbox by name (INBOX is the root). Like Dovecot, a folder directory that
    /// lost `tmp/`, `new/` or `cur/` gets them back.
    pub fn folder(&self, name: &MailboxName) -> Result<Maildir> {
        let Some(path) = self.folder_dir(name) else {
            return self.inbox();
        };
        if !Self::is_folder_dir(&path)? {
            return Err(Error::MailboxNotFound(name.clone()));
        }
        for sub in ["tmp", "new", "cur"] {
            let p = path.join(sub);
            mkdir_0700(&p, true).map_err(|e| Error::io("mkdir", &p, e))?;
        }
        Maildir::open(path)
    }

    pub fn folder_exists(&self, name: &MailboxName) -> Result<bool> {
        match self.folder_dir(name) {
            Some(path) => Self::is_folder_dir(&path),
            None => Ok(self.root.join("cur").is_dir()),
        }
    }

    /// A scratch path in the root's `tmp/`, where no lister looks.
    fn scratch(&self, what: &str) -> Result<PathBuf> {
        let tmp = self.root.join("tmp");
        mkdir_0700(&tmp, true).map_err(|e| Error::io("mkdir", &tmp, e))?;
        Ok(tmp.join(format!("{SCRATCH_PREFIX}{what}.{}", unique_tmp_name())))
    }

    /// Creates a folder (with its `maildirfolder` marker); [`Error::MailboxExists`] if it is
    /// already there. Parents need not exist: Maildir++ is flat.
    pub fn create_folder(&self, name: &MailboxName) -> Result<Maildir> {
        let Some(target) = self.folder_dir(name) else {
            return Err(Error::InboxNotAllowed("create"));
        };
        self.ensure_inbox()?;
        if Self::is_folder_dir(&target)? {
            return Err(Error::MailboxExists(name.clone()));
        }
        let stage = self.scratch("new")?;
        let build = || -> Result<()> {
            mkdir_0700(&stage, false).map_err(|e| Error::io("mkdir", &stage, e))?;
            for sub in ["tmp", "new", "cur"] {
                let p = stage.join(sub);
                mkdir_0700(&p, false).map_err(|e| Error::io("mkdir", &p, e))?;
            }
            let marker = stage.join(FOLDER_MARKER);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&marker)
                .map_err(|e| Error::io("create", &marker, e))?;
            rename_dir_noreplace(&stage, &target).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists
                    || e.raw_os_error() == Some(libc::ENOTEMPTY)
                {
                    Error::MailboxExists(name.clone())
                } else {
                    Error::io("rename", &target, e)
                }
            })
        };
        if let Err(e) = build() {
            if let Err(e2) = fs::remove_dir_all(&stage) {
                if e2.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %stage.display(), error = %e2, "could not remove staging folder");
                }
            }
            return Err(e);
        }
        fsync_dir(&self.root)?;
        Maildir::open(target)
    }

    /// Deletes a folder and its messages. Its sub-folders are separate Maildir++ folders and
    /// stay (IMAP DELETE semantics).
    pub fn delete_folder(&self, name: &MailboxName) -> Result<()> {
        let Some(path) = self.folder_dir(name) else {
            return Err(Error::InboxNotAllowed("delete"));
        };
        if !Self::is_folder_dir(&path)? {
            return Err(Error::MailboxNotFound(name.clone()));
        }
        let trash = self.scratch("trash")?;
        fs::rename(&path, &trash).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::MailboxNotFound(name.clone())
            } else {
                Error::io("rename", &path, e)
            }
        })?;
        fsync_dir(&self.root)?;
        // The folder is gone from every listing now; a failure here only leaves litter in
        // tmp/ that does not count as mail.
        if let Err(e) = fs::remove_dir_all(&trash) {
            tracing::warn!(path = %trash.display(), error = %e, "could not remove deleted folder");
        }
        Ok(())
    }

    /// Renames a folder together with every folder below it. Nothing is replaced: if any
    /// target exists the call fails before renaming anything, and a failure part-way rolls
    /// back the renames already done.
    pub fn rename_folder(&self, from: &MailboxName, to: &MailboxName) -> Result<()> {
        let (Some(from_dir), Some(_)) = (self.folder_dir(from), self.folder_dir(to)) else {
            return Err(Error::InboxNotAllowed("rename"));
        };
        if to == from || to.is_descendant_of(from) {
            return Err(Error::RenameIntoSelf {
                from: from.clone(),
                to: to.clone(),
            });
        }
        if !Self::is_folder_dir(&from_dir)? {
            return Err(Error::MailboxNotFound(from.clone()));
        }
        let mut plan = vec![(from.clone(), to.clone())];
        for name in self.list_folders()? {
            if let Some(suffix) = name.as_str().strip_prefix(from.as_str()) {
                if suffix.starts_with('/') {
                    let target = MailboxName::new(&format!("{to}{suffix}"))?;
                    plan.push((name, target));
                }
            }
        }
        let mut moves = Vec::with_capacity(plan.len());
        for (old, new) in &plan {
            let (Some(old_dir), Some(new_dir)) = (self.folder_dir(old), self.folder_dir(new))
            else {
                return Err(Error::InboxNotAllowed("rename"));
            };
            if fs::symlink_metadata(&new_dir).is_ok() {
                return Err(Error::MailboxExists(new.clone()));
            }
            moves.push((old_dir, new_dir, new));
        }
        for (i, (old_dir, new_dir, new)) in moves.iter().enumerate() {
            if let Err(e) = rename_dir_noreplace(old_dir, new_dir) {
                for (o, n, _) in moves.iter().take(i).rev() {
                    if let Err(e2) = rename_dir_noreplace(n, o) {
                        tracing::error!(from = %n.display(), to = %o.display(), error = %e2, "rollback of folder rename failed");
                    }
                }
                return Err(match e.kind() {
                    io::ErrorKind::AlreadyExists => Error::MailboxExists((*new).clone()),
                    io::ErrorKind::NotFound if i == 0 => Error::MailboxNotFound(from.clone()),
                    _ => Error::io("rename", old_dir, e),
                });
            }
        }
        fsync_dir(&self.root)
    }

    /// INBOX followed by every folder in the store, sorted. Directories that are not
    /// folders in our encoding (foreign names, symlinks, scratch space) are skipped.
    pub fn list_folders(&self) -> Result<Vec<MailboxName>> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![MailboxName::inbox()]),
            Err(e) => return Err(Error::io("read directory", &self.root, e)),
        };
        for item in rd {
            let item = item.map_err(|e| Error::io("read directory", &self.root, e))?;
            let Ok(dir_name) = item.file_name().into_string() else {
                continue;
            };
            if !dir_name.starts_with('.') {
                continue;
            }
            if !item.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match MailboxName::from_disk_name(&dir_name) {
                Some(name) => out.push(name),
                None => tracing::debug!(dir = %dir_name, "not a folder name of ours, skipped"),
            }
        }
        out.sort();
        out.insert(0, MailboxName::inbox());
        Ok(out)
    }

    /// Messages and bytes over INBOX and all folders: what a quota counts.
    pub fn usage(&self) -> Result<Usage> {
        let mut total = Usage::default();
        for name in self.list_folders()? {
            match self.folder(&name) {
                Ok(md) => total += md.usage()?,
                // Deleted or renamed while we counted, or INBOX not created yet.
                Err(Error::MailboxNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}
