//! Replacing a small file atomically and durably: readers see the old or the new content,
//! never a torn or missing file, and once [`write_atomic`] returns the new content survives a
//! crash. The order of the steps is the whole argument:
//!
//! 1. create a uniquely named temporary file in the target's own directory (same filesystem,
//!    so the rename below is atomic), with the old file's mode and, where allowed, owner;
//! 2. write the content and fsync the file (its data is on disk before any name points to it);
//! 3. rename it over the target (atomic: the old file until this instant, the new one after);
//! 4. fsync the directory (the rename itself is on disk: without this a crash can bring the
//!    old file back, after its new content was reported saved).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with `contents` (steps above). An existing file's permission bits (and,
/// when allowed, owner) are kept; a new file gets `new_mode`. On failure the target is
/// untouched and the temporary file removed.
pub fn write_atomic(path: &Path, contents: &[u8], new_mode: u32) -> io::Result<()> {
    write_with(path, contents, new_mode, &mut Disk)
}

/// The durability-relevant steps, apart so a test can watch their order and make each fail.
trait Steps {
    fn sync_file(&mut self, file: &File) -> io::Result<()>;
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()>;
}

struct Disk;

impl Steps for Disk {
    fn sync_file(&mut self, file: &File) -> io::Result<()> {
        crate::sync_file(file)
    }
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        crate::fsync_dir(dir)
    }
}

fn write_with(
    path: &Path,
    contents: &[u8],
    new_mode: u32,
    steps: &mut dyn Steps,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let existing = match fs::metadata(path) {
        Ok(md) => Some(md),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mode = existing
        .as_ref()
        .map(|md| md.permissions().mode() & 0o7777)
        .unwrap_or(new_mode);
    let (mut file, tmp) = create_temp(path, mode)?;
    let result = (|| {
        // The umask may have narrowed the mode given to open().
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some(md) = &existing {
            // Only root can give a file away; anyone else keeps their own ownership.
            match std::os::unix::fs::fchown(&file, Some(md.uid()), Some(md.gid())) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(e),
            }
        }
        file.write_all(contents)?;
        steps.sync_file(&file)?;
        steps.rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    steps.sync_dir(&dir)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.<name>.tmp.<pid>.<n>` beside `path`, created exclusively: unique among concurrent writers
/// of this process (the counter) and of others (the pid); a leftover of a crashed process
/// that had the same pid is stepped over.
pub fn create_temp(path: &Path, mode: u32) -> io::Result<(File, PathBuf)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    loop {
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".tmp.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = path.with_file_name(tmp_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the steps and fails the one named in `fail`.
    struct Watch {
        log: Vec<String>,
        fail: Option<&'static str>,
    }

    impl Watch {
        fn step(&mut self, name: &'static str) -> io::Result<()> {
            self.log.push(name.to_owned());
            if self.fail == Some(name) {
                return Err(io::Error::other(format!("{name} failed")));
            }
            Ok(())
        }
    }

    impl Steps for Watch {
        fn sync_file(&mut self, file: &File) -> io::Result<()> {
            self.step("sync file")?;
            Disk.sync_file(file)
        }
        fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
            self.step("rename")?;
            Disk.rename(from, to)
        }
        fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
            self.log.push(format!("sync dir {}", dir.display()));
            if self.fail == Some("sync dir") {
                return Err(io::Error::other("sync dir failed"));
            }
            Disk.sync_dir(dir)
        }
    }

    fn names(dir: &Path) -> Vec<OsString> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn syncs_the_file_before_the_rename_and_the_directory_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = Watch {
            log: Vec::new(),
            fail: None,
        };
        write_with(&path, b"new", 0o600, &mut w).unwrap();
        assert_eq!(
            w.log,
            [
                "sync file".to_owned(),
                "rename".to_owned(),
                format!("sync dir {}", dir.path().display())
            ]
        );
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_failed_step_leaves_the_old_content_and_no_temporary_file() {
        for fail in ["sync file", "rename"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f");
            fs::write(&path, "old").unwrap();
            let mut w = Watch {
                log: Vec::new(),
                fail: Some(fail),
            };
            assert!(write_with(&path, b"new", 0o600, &mut w).is_err(), "{fail}");
            assert_eq!(fs::read(&path).unwrap(), b"old", "{fail}");
            assert_eq!(names(dir.path()), ["f"], "{fail}");
            assert!(!w.log.iter().any(|s| s.starts_with("sync dir")), "{fail}");
        }
        // The directory sync failing is reported: the caller must not count the write durable.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut w = Watch {
            log: Vec::new(),
            fail: Some("sync dir"),
        };
        assert!(write_with(&path, b"new", 0o600, &mut w).is_err());
    }

    #[test]
    fn keeps_an_existing_mode_and_gives_a_new_file_new_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one", 0o640).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o640);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"two", 0o644).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["f"]);
    }

    #[test]
    fn readers_see_the_old_or_the_new_content_never_a_mix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let old = vec![b'o'; 64 * 1024];
        let new = vec![b'n'; 64 * 1024];
        write_atomic(&path, &old, 0o600).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut reads = 0u32;
                while !done.load(Ordering::Relaxed) {
                    let got = fs::read(&path).expect("the file is never missing");
                    assert!(got == old || got == new, "torn read of {} bytes", got.len());
                    reads += 1;
                }
                reads
            });
            for i in 0..200 {
                let c = if i % 2 == 0 { &new } else { &old };
                write_atomic(&path, c, 0o600).unwrap();
            }
            done.store(true, Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
        assert_eq!(names(dir.path()), ["f"]);
    }

    #[test]
    fn concurrent_writers_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::thread::scope(|s| {
            for i in 0..8 {
                let path = &path;
                s.spawn(move || write_atomic(path, format!("{i}").as_bytes(), 0o600).unwrap());
            }
        });
        let v: u32 = fs::read_to_string(&path).unwrap().parse().unwrap();
        assert!(v < 8);
        assert_eq!(names(dir.path()), ["f"]);
    }
}
