//! Flag changes, expunge and reads while other processes rename the same files.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use ferrymail_maildir::{DeliverOptions, Error, Flags, Maildir, Subdir};

fn fresh() -> (tempfile::TempDir, Maildir) {
    let dir = tempfile::tempdir().unwrap();
    let md = Maildir::create(dir.path().join("Maildir")).unwrap();
    (dir, md)
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

#[test]
fn set_flags_moves_to_cur_and_keeps_base_and_content() {
    let (_d, md) = fresh();
    let e = md
        .deliver(&[b"content"], DeliverOptions::default())
        .unwrap();
    let flagged = md
        .set_flags(
            &e,
            Flags::TRASHED | Flags::SEEN | Flags::DRAFT | Flags::keyword(0).unwrap(),
        )
        .unwrap();
    assert_eq!(flagged.dir(), Subdir::Cur);
    assert_eq!(flagged.base(), e.base());
    assert_eq!(flagged.size(), e.size());
    assert_eq!(flagged.file_name(), format!("{}:2,DSTa", e.base()));
    assert_eq!(fs::read(flagged.path()).unwrap(), b"content");
    assert!(!e.path().exists());
    assert_eq!(count(&md.path().join("new")), 0);

    let cleared = md.set_flags(&flagged, Flags::empty()).unwrap();
    assert_eq!(cleared.file_name(), format!("{}:2,", e.base()));
    assert_eq!(md.list().unwrap(), vec![cleared.clone()]);

    // Unchanged flags: no rename, same entry back.
    assert_eq!(md.set_flags(&cleared, Flags::empty()).unwrap(), cleared);
}

#[test]
fn move_to_cur_keeps_flags() {
    let (_d, md) = fresh();
    let e = md.deliver(&[b"x"], DeliverOptions::default()).unwrap();
    let moved = md.move_to_cur(&e).unwrap();
    assert_eq!(moved.dir(), Subdir::Cur);
    assert_eq!(moved.flags(), Flags::empty());
    assert!(moved.path().exists());

    fs::write(md.path().join("new/77.x.h:2,RSz"), "y").unwrap();
    let odd = md.entry(Subdir::New, "77.x.h:2,RSz").unwrap();
    let moved = md.move_to_cur(&odd).unwrap();
    assert_eq!(moved.file_name(), "77.x.h:2,RSz");
    assert_eq!(moved.dir(), Subdir::Cur);
}

#[test]
fn set_flags_follows_a_file_renamed_by_someone_else() {
    let (_d, md) = fresh();
    let e = md.deliver(&[b"body"], DeliverOptions::default()).unwrap();
    // Another client (mutt, Dovecot) marked it seen behind our back.
    let theirs = md.path().join("cur").join(format!("{}:2,S", e.base()));
    fs::rename(e.path(), &theirs).unwrap();

    let updated = md.modify_flags(&e, |f| f | Flags::FLAGGED).unwrap();
    assert_eq!(updated.flags(), Flags::SEEN | Flags::FLAGGED);
    assert_eq!(updated.file_name(), format!("{}:2,FS", e.base()));
    assert!(!theirs.exists());
    assert_eq!(fs::read(updated.path()).unwrap(), b"body");

    // A stale entry still works for set_flags, which replaces whatever is there.
    let replaced = md.set_flags(&e, Flags::REPLIED).unwrap();
    assert_eq!(replaced.file_name(), format!("{}:2,R", e.base()));
    assert_eq!(md.list().unwrap().len(), 1);
}

#[test]
fn vanished_message_is_a_typed_not_found() {
    let (_d, md) = fresh();
    let e = md.deliver(&[b"x"], DeliverOptions::default()).unwrap();
    fs::remove_file(e.path()).unwrap();
    let err = md.set_flags(&e, Flags::SEEN).unwrap_err();
    assert!(
        matches!(err, Error::MessageNotFound { ref base } if base == e.base()),
        "{err}"
    );
    assert!(err.is_not_found());
    assert!(matches!(md.delete(&e), Err(Error::MessageNotFound { .. })));
    assert!(matches!(
        md.open_message(&e),
        Err(Error::MessageNotFound { .. })
    ));
    assert_eq!(count(&md.path().join("cur")), 0);
}

#[test]
fn delete_and_open_follow_renamed_files() {
    let (_d, md) = fresh();
    let a = md.deliver(&[b"first"], DeliverOptions::default()).unwrap();
    let b = md.deliver(&[b"second"], DeliverOptions::default()).unwrap();
    let moved = md.path().join("cur").join(format!("{}:2,S", a.base()));
    fs::rename(a.path(), &moved).unwrap();

    let (mut f, opened) = md.open_message(&a).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "first");
    assert_eq!(opened.flags(), Flags::SEEN);
    assert_eq!(opened.dir(), Subdir::Cur);

    md.delete(&a).unwrap();
    assert!(!moved.exists());
    assert_eq!(md.list().unwrap(), vec![b.clone()]);
    md.delete(&b).unwrap();
    assert!(md.list().unwrap().is_empty());
}

#[test]
fn open_message_refuses_symlinks() {
    let (d, md) = fresh();
    let secret = d.path().join("secret");
    fs::write(&secret, "not mail").unwrap();
    std::os::unix::fs::symlink(&secret, md.path().join("cur/5.x.h:2,")).unwrap();
    let e = md.entry(Subdir::Cur, "5.x.h:2,").unwrap();
    assert!(matches!(
        md.open_message(&e),
        Err(Error::Io { op: "open", .. })
    ));
}

#[test]
fn entry_rejects_unsafe_file_names() {
    let (_d, md) = fresh();
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        ".hidden",
        "x\0y",
        "/etc/passwd",
    ] {
        assert!(
            matches!(md.entry(Subdir::Cur, bad), Err(Error::InvalidFileName(_))),
            "{bad:?}"
        );
    }
    let e = md.entry(Subdir::Cur, "1.2.h,S=9:2,S").unwrap();
    assert_eq!(
        (e.base(), e.size(), e.flags()),
        ("1.2.h,S=9", Some(9), Flags::SEEN)
    );
    assert_eq!(e.path(), md.path().join("cur/1.2.h,S=9:2,S"));
}

#[test]
fn find_by_base() {
    let (_d, md) = fresh();
    let a = md.deliver(&[b"a"], DeliverOptions::default()).unwrap();
    let b = md.deliver(&[b"b"], DeliverOptions::default()).unwrap();
    let b2 = md.set_flags(&b, Flags::SEEN).unwrap();
    assert_eq!(md.find(a.base()).unwrap(), Some(a));
    assert_eq!(md.find(b.base()).unwrap(), Some(b2));
    assert_eq!(md.find("nope").unwrap(), None);
}

/// Two sessions add different keywords to the same message at the same time: because a
/// rename only succeeds from the name whose flags were read, neither loses the other's.
#[test]
fn concurrent_flag_additions_are_not_lost() {
    let (_d, md) = fresh();
    let md = Arc::new(md);
    let e = md.deliver(&[b"x"], DeliverOptions::default()).unwrap();
    let handles: Vec<_> = [0u8..13, 13u8..26]
        .into_iter()
        .map(|range| {
            let md = Arc::clone(&md);
            let mut entry = e.clone();
            std::thread::spawn(move || {
                for k in range {
                    let kw = Flags::keyword(k).unwrap();
                    entry = md.modify_flags(&entry, |f| f | kw).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let list = md.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].flags().keywords().count(), 26);
    assert_eq!(list[0].flags().letters(), "abcdefghijklmnopqrstuvwxyz");
}
