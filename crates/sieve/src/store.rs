//! A user's stored Sieve scripts, in Pigeonhole's layout so existing Dovecot users' scripts
//! keep working: each script is `<sieve home>/sieve/<name>.sieve`, and the active one is the
//! symlink `<sieve home>/.dovecot.sieve` → `sieve/<name>.sieve` (a relative target); no link
//! means no active script. The one part of this crate that touches the filesystem: the
//! ManageSieve server edits the store through it and local-delivery reads the same paths.
//!
//! Every change is atomic on disk: a script is replaced through `write_atomic`, the link is
//! replaced by renaming a freshly made one over it, so delivery never reads a torn script or
//! finds the link missing while it is being moved.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The active script's link, relative to the Sieve home.
pub const ACTIVE_LINK: &str = ".dovecot.sieve";
/// The directory of the scripts, relative to the Sieve home.
pub const SCRIPT_DIR: &str = "sieve";
const SUFFIX: &str = ".sieve";

/// Per-user limits (from the config; 0 = no limit for the counts and sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_scripts: usize,
    pub max_script_size: u64,
    pub max_total_size: u64,
    /// Longest script name, in characters.
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_scripts: 20,
            max_script_size: 1024 * 1024,
            max_total_size: 10 * 1024 * 1024,
            max_name_len: 128,
        }
    }
}

/// Which quota a script would exceed (RFC 5804 `QUOTA/MAXSCRIPTS`, `QUOTA/MAXSIZE`, `QUOTA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    MaxScripts,
    MaxSize,
    Total,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such script")]
    NonExistent,
    #[error("the script is active")]
    Active,
    #[error("a script of that name already exists")]
    AlreadyExists,
    #[error("invalid script name: {0}")]
    BadName(&'static str),
    #[error("{}", match .0 {
        Quota::MaxScripts => "too many scripts",
        Quota::MaxSize => "script too large",
        Quota::Total => "not enough space for the scripts",
    })]
    Quota(Quota),
    /// `.dovecot.sieve` is a regular file, not a link this store manages.
    #[error("the active script is a file not managed here")]
    Unmanaged,
    #[error("storage: {0}")]
    Io(#[from] io::Error),
}

/// RFC 5804 §1.6 names, and never a path: no control characters (C0, DEL, C1, the line and
/// paragraph separators), no `/`, not empty, not starting with `.` (hidden: temporary files)
/// and at most `max_len` characters.
pub fn check_name(name: &str, max_len: usize) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::BadName("empty"));
    }
    if name.chars().count() > max_len {
        return Err(StoreError::BadName("too long"));
    }
    if name.starts_with('.') {
        return Err(StoreError::BadName("starts with a dot"));
    }
    if name.contains('/') {
        return Err(StoreError::BadName("contains `/`"));
    }
    let control = |c: char| {
        c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{FEFF}' || c == '\0'
    };
    if name.chars().any(control) {
        return Err(StoreError::BadName("contains a control character"));
    }
    Ok(())
}

/// One user's scripts.
#[derive(Debug, Clone)]
pub struct ScriptStore {
    home: PathBuf,
    limits: Limits,
}

/// A stored script as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub active: bool,
}

impl ScriptStore {
    pub fn new(home: impl Into<PathBuf>, limits: Limits) -> ScriptStore {
        ScriptStore {
            home: home.into(),
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn dir(&self) -> PathBuf {
        self.home.join(SCRIPT_DIR)
    }

    fn path(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_name(name, self.limits.max_name_len)?;
        Ok(self.dir().join(format!("{name}{SUFFIX}")))
    }

    /// The path of the active script's link (what delivery reads).
    pub fn active_link(&self) -> PathBuf {
        self.home.join(ACTIVE_LINK)
    }

    /// The active script's name; `None` without a link or when the link points outside the
    /// script directory (set up by hand: not ours to name).
    pub fn active(&self) -> Result<Option<String>, StoreError> {
        let target = match fs::read_link(self.active_link()) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // EINVAL: it exists but is not a link.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(StoreError::Unmanaged),
            Err(e) => return Err(e.into()),
        };
        Ok(name_of_link(&target))
    }

    /// Every script, sorted by name.
    pub fn list(&self) -> Result<Vec<Entry>, StoreError> {
        let active = self.active().unwrap_or(None);
        let dir = match fs::read_dir(self.dir()) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
                continue;
            };
            if check_name(name, usize::MAX).is_err() {
                continue;
            }
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            out.push(Entry {
                name: name.to_owned(),
                size: meta.len(),
                active: active.as_deref() == Some(name),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        fs::read(self.path(name)?).map_err(not_found)
    }

    /// Whether `name` with `size` bytes would fit (HAVESPACE, and PUTSCRIPT before writing).
    pub fn have_space(&self, name: &str, size: u64) -> Result<(), StoreError> {
        check_name(name, self.limits.max_name_len)?;
        let l = &self.limits;
        if l.max_script_size > 0 && size > l.max_script_size {
            return Err(StoreError::Quota(Quota::MaxSize));
        }
        let others: Vec<Entry> = self
            .list()?
            .into_iter()
            .filter(|e| e.name != name)
            .collect();
        if l.max_scripts > 0 && others.len() + 1 > l.max_scripts {
            return Err(StoreError::Quota(Quota::MaxScripts));
        }
        let total: u64 = others.iter().map(|e| e.size).sum::<u64>() + size;
        if l.max_total_size > 0 && total > l.max_total_size {
            return Err(StoreError::Quota(Quota::Total));
        }
        Ok(())
    }

    /// Stores `content` as `name`, replacing a script of that name atomically.
    pub fn put(&self, name: &str, content: &[u8]) -> Result<(), StoreError> {
        self.have_space(name, content.len() as u64)?;
        let path = self.path(name)?;
        create_private_dir(&self.dir())?;
        ferrymail_fsutil::write_atomic(&path, content, 0o600)?;
        Ok(())
    }

    /// Makes `name` the active script; `""` deactivates (RFC 5804 SETACTIVE "").
    pub fn set_active(&self, name: &str) -> Result<(), StoreError> {
        let link = self.active_link();
        if name.is_empty() {
            self.active()?;
            return match fs::remove_file(&link) {
                Ok(()) => Ok(ferrymail_fsutil::fsync_dir(&self.home)?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        let path = self.path(name)?;
        if !path.is_file() {
            return Err(StoreError::NonExistent);
        }
        // A hand-made `.dovecot.sieve` file is left alone rather than destroyed.
        if let Err(StoreError::Unmanaged) = self.active() {
            return Err(StoreError::Unmanaged);
        }
        let tmp = temp_link_name(&link);
        std::os::unix::fs::symlink(Path::new(SCRIPT_DIR).join(format!("{name}{SUFFIX}")), &tmp)?;
        if let Err(e) = fs::rename(&tmp, &link) {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
        ferrymail_fsutil::fsync_dir(&self.home)?;
        Ok(())
    }

    /// Deletes a script that is not the active one.
    pub fn delete(&self, name: &str) -> Result<(), StoreError> {
        let path = self.path(name)?;
        if self.active().unwrap_or(None).as_deref() == Some(name) {
            return Err(StoreError::Active);
        }
        fs::remove_file(&path).map_err(not_found)?;
        ferrymail_fsutil::fsync_dir(&self.dir())?;
        Ok(())
    }

    /// Renames a script; the active one stays active under its new name.
    pub fn rename(&self, old: &str, new: &str) -> Result<(), StoreError> {
        let from = self.path(old)?;
        let to = self.path(new)?;
        if !from.is_file() {
            return Err(StoreError::NonExistent);
        }
        let was_active = self.active().unwrap_or(None).as_deref() == Some(old);
        match ferrymail_fsutil::rename_noreplace(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StoreError::AlreadyExists)
            }
            Err(e) => return Err(not_found(e)),
        }
        ferrymail_fsutil::fsync_dir(&self.dir())?;
        if was_active {
            self.set_active(new)?;
        }
        Ok(())
    }
}

/// The file a script path names, for a reader that opens it without following links: a
/// managed active link (`.dovecot.sieve` → `sieve/<name>.sieve`) becomes the script beside it;
/// any other path, a link pointing elsewhere included, is returned as it is (and such a
/// reader then refuses it).
pub fn follow_active_link(path: &Path) -> PathBuf {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let target = match is_link {
        true => fs::read_link(path).ok(),
        false => None,
    };
    match (target.as_deref().and_then(name_of_link), path.parent()) {
        (Some(name), Some(home)) => home.join(SCRIPT_DIR).join(format!("{name}{SUFFIX}")),
        _ => path.to_owned(),
    }
}

/// `sieve/<name>.sieve` (or `./sieve/...`) → `name`.
fn name_of_link(target: &Path) -> Option<String> {
    let rel = target.strip_prefix(".").unwrap_or(target);
    let file = rel.strip_prefix(SCRIPT_DIR).ok()?;
    let mut parts = file.components();
    let only = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let name = only.as_os_str().to_str()?.strip_suffix(SUFFIX)?;
    check_name(name, usize::MAX).ok()?;
    Some(name.to_owned())
}

fn not_found(e: io::Error) -> StoreError {
    match e.kind() {
        io::ErrorKind::NotFound => StoreError::NonExistent,
        _ => StoreError::Io(e),
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// `.<link>.tmp.<pid>.<n>` beside the link: unique among this process's writers and others'.
fn temp_link_name(link: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = link
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(ACTIVE_LINK);
    link.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()))
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
