//! Delivery, listing and usage of a single maildir.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrymail_maildir::{DeliverOptions, Error, Flags, Maildir, Subdir, Usage};

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn fresh() -> (tempfile::TempDir, Maildir) {
    let dir = tempfile::tempdir().unwrap();
    let md = Maildir::create(dir.path().join("Maildir")).unwrap();
    (dir, md)
}

/// Deterministic non-text bytes, so "byte-exact" is not only checked on ASCII.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn create_is_idempotent_with_private_modes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/Maildir");
    Maildir::create(&path).unwrap();
    let md = Maildir::create(&path).unwrap();
    assert_eq!(md.path(), path);
    for sub in ["tmp", "new", "cur"] {
        let mode = fs::metadata(path.join(sub)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{sub}");
    }
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o700
    );
    Maildir::open(&path).unwrap();
}

#[test]
fn open_requires_all_three_subdirs() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("m/new")).unwrap();
    fs::create_dir_all(dir.path().join("m/cur")).unwrap();
    assert!(matches!(
        Maildir::open(dir.path().join("m")),
        Err(Error::NotAMaildir(_))
    ));
    assert!(matches!(
        Maildir::open(dir.path().join("nothing")),
        Err(Error::NotAMaildir(_))
    ));
}

#[test]
fn delivery_is_byte_exact_and_leaves_no_tmp() {
    let (_d, md) = fresh();
    let header = b"Return-Path: <a@example.org>\nDelivered-To: b@example.org\n";
    let body = pattern(70_000, 7);
    let entry = md
        .deliver(&[header, &body], DeliverOptions::default())
        .unwrap();

    let mut expected = header.to_vec();
    expected.extend_from_slice(&body);
    assert_eq!(entry.dir(), Subdir::New);
    assert_eq!(fs::read(entry.path()).unwrap(), expected);
    assert_eq!(entry.size(), Some(expected.len() as u64));
    let bare_lf = expected
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || expected[i - 1] != b'\r'))
        .count() as u64;
    assert_eq!(entry.vsize(), Some(expected.len() as u64 + bare_lf));
    assert!(entry
        .file_name()
        .contains(&format!(",S={},W=", expected.len())));
    assert!(!entry.file_name().contains(':'));
    assert_eq!(entry.base(), entry.file_name());
    assert!(names_in(&md.path().join("tmp")).is_empty());
    assert_eq!(
        names_in(&md.path().join("new")),
        vec![entry.file_name().to_owned()]
    );
    assert_eq!(
        fs::metadata(entry.path()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(md.list().unwrap(), vec![entry]);
}

#[test]
fn unique_name_has_dovecot_fields() {
    let (_d, md) = fresh();
    let e = md.deliver(&[b"x"], DeliverOptions::default()).unwrap();
    let base = e.base();
    let pid = format!("P{}Q", std::process::id());
    assert!(base.contains(&pid), "{base}");
    let secs: u64 = base.split('.').next().unwrap().parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs <= now && secs + 60 > now);
    assert!(base.ends_with(",S=1,W=1"));
}

#[test]
fn append_with_flags_and_internaldate_goes_to_cur() {
    let (_d, md) = fresh();
    let when = UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    let opts = DeliverOptions::default()
        .with_flags(Flags::SEEN | Flags::FLAGGED | Flags::keyword(2).unwrap())
        .with_mtime(when);
    let e = md.deliver(&[b"Subject: hi\r\n\r\nbody\r\n"], opts).unwrap();
    assert_eq!(e.dir(), Subdir::Cur);
    assert!(e.file_name().ends_with(":2,FSc"), "{}", e.file_name());
    assert_eq!(
        e.flags(),
        Flags::SEEN | Flags::FLAGGED | Flags::keyword(2).unwrap()
    );
    assert_eq!(e.vsize(), e.size());
    assert_eq!(fs::metadata(e.path()).unwrap().modified().unwrap(), when);
    assert!(names_in(&md.path().join("new")).is_empty());

    let none = md
        .deliver(
            &[b"x"],
            DeliverOptions::default().with_flags(Flags::empty()),
        )
        .unwrap();
    assert!(none.file_name().ends_with(":2,"));
    assert_eq!(none.dir(), Subdir::Cur);
}

#[test]
fn deliver_reader_streams_large_message() {
    let (_d, md) = fresh();
    let data = pattern(3 * 1024 * 1024 + 17, 3);
    let e = md
        .deliver_reader(&data[..], DeliverOptions::default())
        .unwrap();
    assert_eq!(fs::read(e.path()).unwrap(), data);
    assert_eq!(e.size(), Some(data.len() as u64));
    assert!(names_in(&md.path().join("tmp")).is_empty());
}

/// Yields some bytes, then fails like a dropped SMTP/LMTP connection.
struct FailingReader {
    sent: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.sent >= 200_000 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "peer went away",
            ));
        }
        let n = buf.len().min(10_000);
        buf[..n].fill(b'x');
        self.sent += n;
        Ok(n)
    }
}

#[test]
fn failing_source_leaves_nothing() {
    let (_d, md) = fresh();
    let err = md
        .deliver_reader(FailingReader { sent: 0 }, DeliverOptions::default())
        .unwrap_err();
    assert!(
        matches!(err, Error::Source(ref e) if e.kind() == io::ErrorKind::ConnectionReset),
        "{err}"
    );
    for sub in ["tmp", "new", "cur"] {
        assert!(names_in(&md.path().join(sub)).is_empty(), "{sub}");
    }
}

#[test]
fn size_limit_is_enforced_and_cleans_up() {
    let (_d, md) = fresh();
    let opts = DeliverOptions::default().with_max_size(1000);
    let err = md
        .deliver(&[&[b'a'; 600], &[b'b'; 600]], opts.clone())
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1000 }));
    let err = md
        .deliver_reader(&[b'a'; 5000][..], opts.clone())
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1000 }));
    for sub in ["tmp", "new", "cur"] {
        assert!(names_in(&md.path().join(sub)).is_empty(), "{sub}");
    }
    let ok = md.deliver_reader(&[b'a'; 1000][..], opts).unwrap();
    assert_eq!(ok.size(), Some(1000));
}

#[test]
fn failed_move_removes_tmp_file() {
    let (_d, md) = fresh();
    // Without new/ the final rename fails after the file was written and synced.
    fs::remove_dir(md.path().join("new")).unwrap();
    let err = md
        .deliver(&[b"hello"], DeliverOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Io { op: "rename", .. }), "{err}");
    assert!(names_in(&md.path().join("tmp")).is_empty());
    assert!(names_in(&md.path().join("cur")).is_empty());
}

#[test]
fn missing_tmp_fails_cleanly() {
    let (_d, md) = fresh();
    fs::remove_dir(md.path().join("tmp")).unwrap();
    let err = md
        .deliver(&[b"hello"], DeliverOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Io { op: "create", .. }), "{err}");
    assert!(names_in(&md.path().join("new")).is_empty());
}

#[test]
fn list_skips_junk_and_keeps_foreign_messages() {
    let (_d, md) = fresh();
    let mine = md.deliver(&[b"mine"], DeliverOptions::default()).unwrap();
    let root = md.path();
    fs::write(root.join("new/.hidden"), "x").unwrap();
    fs::write(root.join("cur/.dovecot-lock"), "x").unwrap();
    fs::create_dir(root.join("cur/somedir")).unwrap();
    symlink("/etc/passwd", root.join("cur/1.link.host:2,S")).unwrap();
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"1.\xff\xfe.host");
        fs::write(root.join("new").join(bad), "x").unwrap();
    }
    // Written by some other MDA: no S=, courier-ish name, flags with an unknown letter.
    fs::write(
        root.join("cur/1000000000.12345_1.otherhost:2,SX"),
        "foreign!",
    )
    .unwrap();
    fs::write(root.join("new/junkname"), "j").unwrap();

    let list = md.list().unwrap();
    let names: Vec<&str> = list.iter().map(|e| e.file_name()).collect();
    assert_eq!(list.len(), 3, "{names:?}");
    assert_eq!(names[0], "1000000000.12345_1.otherhost:2,SX");
    assert_eq!(names[1], mine.file_name());
    assert_eq!(names[2], "junkname");
    assert_eq!(list[0].flags(), Flags::SEEN);
    assert_eq!(list[0].base(), "1000000000.12345_1.otherhost");
    assert_eq!(list[0].size(), None);
    assert_eq!(list[2].base(), "junkname");
}

#[test]
fn usage_sums_names_and_stats_the_rest() {
    let (_d, md) = fresh();
    assert_eq!(md.usage().unwrap(), Usage::default());
    md.deliver(&[&[b'a'; 100]], DeliverOptions::default())
        .unwrap();
    md.deliver(
        &[&[b'b'; 250]],
        DeliverOptions::default().with_flags(Flags::SEEN),
    )
    .unwrap();
    fs::write(md.path().join("cur/123.foreign.host:2,"), [b'c'; 7]).unwrap();
    // S= wins over the real size: that is what Dovecot's quota counts too.
    fs::write(md.path().join("new/124.x.host,S=5000"), "short").unwrap();
    fs::write(md.path().join("tmp/notcounted"), [0u8; 999]).unwrap();
    assert_eq!(
        md.usage().unwrap(),
        Usage {
            bytes: 100 + 250 + 7 + 5000,
            messages: 4
        }
    );
}

#[test]
fn usage_of_counts_only_the_flags_asked_for() {
    let (_d, md) = fresh();
    md.deliver(&[&[b'a'; 100]], DeliverOptions::default())
        .unwrap();
    md.deliver(
        &[&[b'b'; 250]],
        DeliverOptions::default().with_flags(Flags::TRASHED | Flags::SEEN),
    )
    .unwrap();
    fs::write(md.path().join("cur/123.foreign.host:2,T"), [b'c'; 7]).unwrap();
    assert_eq!(
        md.usage_of(|f| f.contains(Flags::TRASHED)).unwrap(),
        Usage {
            bytes: 250 + 7,
            messages: 2
        }
    );
    assert_eq!(md.usage_of(|_| true).unwrap(), md.usage().unwrap());
}

#[test]
fn clean_tmp_removes_only_stale_files() {
    let (_d, md) = fresh();
    let tmp = md.path().join("tmp");
    fs::write(tmp.join("stale"), "x").unwrap();
    fs::write(tmp.join("fresh"), "x").unwrap();
    // A folder staging directory left by a crash, and a directory that is not ours.
    fs::create_dir_all(tmp.join(".ferrymail-new.1/cur")).unwrap();
    fs::create_dir(tmp.join("otherdir")).unwrap();
    let old = SystemTime::now() - Duration::from_secs(48 * 3600);
    for stale in ["stale", ".ferrymail-new.1", "otherdir"] {
        fs::File::open(tmp.join(stale))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    assert_eq!(md.clean_tmp(Duration::from_secs(36 * 3600)).unwrap(), 2);
    assert_eq!(
        names_in(&tmp),
        vec!["fresh".to_owned(), "otherdir".to_owned()]
    );
}

#[test]
fn pending_delivery_streams_commits_with_flags_and_cleans_up_when_dropped() {
    let (_d, md) = fresh();
    let body = pattern(300_000, 7);
    let mut p = md.begin_delivery().unwrap();
    assert!(p.tmp_path().starts_with(md.path().join("tmp")));
    for chunk in body.chunks(4096) {
        p.write(chunk).unwrap();
    }
    assert_eq!(p.size(), body.len() as u64);
    assert_eq!(names_in(&md.path().join("tmp")).len(), 1);
    let when = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let e = p
        .commit(
            &DeliverOptions::default()
                .with_flags(Flags::SEEN)
                .with_mtime(when),
        )
        .unwrap();
    assert_eq!(e.dir(), Subdir::Cur);
    assert_eq!(e.flags(), Flags::SEEN);
    assert_eq!(e.size(), Some(body.len() as u64));
    assert_eq!(fs::read(e.path()).unwrap(), body);
    assert_eq!(fs::metadata(e.path()).unwrap().modified().unwrap(), when);
    assert!(names_in(&md.path().join("tmp")).is_empty());

    // Abandoned half way: nothing in tmp/, nothing delivered.
    let mut p = md.begin_delivery().unwrap();
    p.write(&body[..1000]).unwrap();
    drop(p);
    assert!(names_in(&md.path().join("tmp")).is_empty());
    assert_eq!(md.list().unwrap().len(), 1);

    // Over the limit at commit: refused and removed.
    let mut p = md.begin_delivery().unwrap();
    p.write(&body[..1000]).unwrap();
    let err = p
        .commit(&DeliverOptions::default().with_max_size(999))
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 999 }), "{err:?}");
    assert!(names_in(&md.path().join("tmp")).is_empty());
    assert_eq!(md.list().unwrap().len(), 1);
}
