//! Reading the user database files and writing them back atomically.
//!
//! Every file is identified by a [`FileStamp`] (device, inode, size, mtime) so
//! that daemons notice a change cheaply and editors notice a concurrent edit.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::EditError;

/// Identity of one version of a file on disk. Writers replace files by rename,
/// so a new inode (or size/mtime for in-place edits) marks a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_sec: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    pub(crate) fn from_metadata(md: &fs::Metadata) -> FileStamp {
        FileStamp {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime_sec: md.mtime(),
            mtime_nsec: md.mtime_nsec(),
        }
    }

    /// Stamp of the file at `path` now; `Ok(None)` when it does not exist.
    pub fn of(path: &Path) -> io::Result<Option<FileStamp>> {
        match fs::metadata(path) {
            Ok(md) => Ok(Some(FileStamp::from_metadata(&md))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Upper bound on any single database file, so a mistaken path (a device, a
/// huge log) cannot exhaust memory in every daemon at once.
pub(crate) const MAX_FILE_SIZE: u64 = 256 * 1024 * 1024;

/// Outcome of reading one file: missing is an ordinary state, not an error.
pub(crate) enum ReadOutcome {
    Present { text: String, stamp: FileStamp },
    Missing,
}

/// Reads a whole text file, taking the stamp from the open descriptor so the
/// stamp describes exactly the bytes that were read.
pub(crate) fn read_text(path: &Path) -> io::Result<ReadOutcome> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ReadOutcome::Missing),
        Err(e) => return Err(e),
    };
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if md.len() > MAX_FILE_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("file larger than {MAX_FILE_SIZE} bytes"),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(md.len()).unwrap_or(0));
    Read::by_ref(&mut file)
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file is not valid UTF-8"))?;
    Ok(ReadOutcome::Present {
        text,
        stamp: FileStamp::from_metadata(&md),
    })
}

/// Common save path for the editable file models: refuse to overwrite a file
/// someone else changed since it was loaded, then replace it atomically and durably
/// (`ferrymail_fsutil::write_atomic`: an existing file's mode and owner are kept).
pub(crate) fn save_checked(
    path: &Path,
    loaded: Option<FileStamp>,
    contents: &str,
    new_mode: u32,
) -> Result<FileStamp, EditError> {
    let current = FileStamp::of(path).map_err(|source| EditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if current != loaded {
        return Err(EditError::ChangedOnDisk {
            path: path.to_path_buf(),
        });
    }
    ferrymail_fsutil::write_atomic(path, contents.as_bytes(), new_mode).map_err(|source| {
        EditError::Io {
            path: path.to_path_buf(),
            source,
        }
    })?;
    FileStamp::of(path)
        .map_err(|source| EditError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| EditError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotFound, "file vanished after save"),
        })
}

/// Loads a file for editing: missing is an empty file, anything else that
/// stops the read is an error (an editor must never save over unread data).
pub(crate) fn load_for_edit(path: &Path) -> Result<(String, Option<FileStamp>), EditError> {
    match read_text(path) {
        Ok(ReadOutcome::Present { text, stamp }) => Ok((text, Some(stamp))),
        Ok(ReadOutcome::Missing) => Ok((String::new(), None)),
        Err(source) => Err(EditError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Splits file text into lines numbered from 1, tolerating CRLF endings.
///
/// Every trailing `\r` is dropped, not just one: the editors write a line
/// back followed by `\n`, so a line that kept a final `\r` (`x\r\r\n`, or
/// a last line `x\r` without a newline) would read back one `\r` shorter
/// after the next save, silently changing its last field.
pub(crate) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_the_same_after_being_written_with_a_newline() {
        // Found by the passwd_file fuzz target: a last line ending in "\r"
        // (and "\r\r\n") lost a character on every save.
        let text = "a\r\r\nb\r\nc\rd\r\r";
        let lines: Vec<&str> = numbered_lines(text).map(|(_, l)| l).collect();
        assert_eq!(lines, ["a", "b", "c\rd"]);
        let written: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let again: Vec<&str> = numbered_lines(&written).map(|(_, l)| l).collect();
        assert_eq!(again, lines);
    }

    #[test]
    fn save_checked_refuses_concurrent_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "a\n").unwrap();
        let (_, stamp) = load_for_edit(&path).unwrap();
        fs::write(&path, "someone else\n").unwrap();
        let err = save_checked(&path, stamp, "mine\n", 0o644).unwrap_err();
        assert!(matches!(err, EditError::ChangedOnDisk { .. }));
        assert_eq!(fs::read_to_string(&path).unwrap(), "someone else\n");
    }
}
