//! Maildir++ folders: create, list, rename with children, delete, usage.

use std::fs;
use std::path::Path;

use ferrymail_maildir::{DeliverOptions, Error, Flags, MailboxName, Store, Usage};

fn name(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

fn names(store: &Store) -> Vec<String> {
    store
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|n| n.as_str().to_owned())
        .collect()
}

fn root_entries(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("Maildir"));
    (dir, store)
}

#[test]
fn inbox_is_the_root_case_insensitively() {
    let (_d, store) = fresh();
    assert!(matches!(store.inbox(), Err(Error::MailboxNotFound(ref n)) if n.is_inbox()));
    assert_eq!(names(&store), vec!["INBOX"]);
    let inbox = store.ensure_inbox().unwrap();
    assert_eq!(inbox.path(), store.root());
    for spelling in ["INBOX", "inbox", "InBoX"] {
        let n = name(spelling);
        assert!(n.is_inbox());
        assert_eq!(n.as_str(), "INBOX");
        assert_eq!(store.folder(&n).unwrap().path(), store.root());
    }
    assert!(matches!(
        store.create_folder(&name("inbox")),
        Err(Error::InboxNotAllowed(_))
    ));
    assert!(matches!(
        store.delete_folder(&name("INBOX")),
        Err(Error::InboxNotAllowed(_))
    ));
    assert!(matches!(
        store.rename_folder(&name("INBOX"), &name("x")),
        Err(Error::InboxNotAllowed(_))
    ));
    // "inbox/x" is a child of INBOX, stored Dovecot-style as .INBOX.x.
    store.create_folder(&name("inbox/x")).unwrap();
    assert!(store.root().join(".INBOX.x").is_dir());
    assert_eq!(names(&store), vec!["INBOX", "INBOX/x"]);
}

#[test]
fn create_folder_lays_out_maildir_plus_plus() {
    let (_d, store) = fresh();
    let md = store.create_folder(&name("Archive/2024")).unwrap();
    let dir = store.root().join(".Archive.2024");
    assert_eq!(md.path(), dir);
    for sub in ["tmp", "new", "cur"] {
        assert!(dir.join(sub).is_dir(), "{sub}");
    }
    assert!(dir.join("maildirfolder").is_file());
    // The root became a maildir too, and staging left nothing behind.
    for sub in ["tmp", "new", "cur"] {
        assert!(store.root().join(sub).is_dir());
    }
    assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
    assert!(store.folder_exists(&name("Archive/2024")).unwrap());
    assert!(!store.folder_exists(&name("Archive")).unwrap());

    assert!(matches!(
        store.create_folder(&name("Archive/2024")),
        Err(Error::MailboxExists(ref n)) if n.as_str() == "Archive/2024"
    ));
    let e = md
        .deliver(&[b"archived"], DeliverOptions::default())
        .unwrap();
    assert_eq!(fs::read(e.path()).unwrap(), b"archived");
}

#[test]
fn dots_and_percent_are_escaped_and_round_trip() {
    let (_d, store) = fresh();
    for (n, disk) in [
        ("a.b", ".a%2Eb"),
        ("100%", ".100%25"),
        ("%2E", ".%252E"),
        ("x/y.z/w", ".x.y%2Ez.w"),
        ("Entwürfe", ".Entwürfe"),
        ("...", ".%2E%2E%2E"),
    ] {
        store.create_folder(&name(n)).unwrap();
        assert!(store.root().join(disk).is_dir(), "{n} -> {disk}");
    }
    assert_eq!(
        names(&store),
        vec!["INBOX", "%2E", "...", "100%", "Entwürfe", "a.b", "x/y.z/w"]
    );
}

#[test]
fn list_skips_foreign_and_unsafe_directories() {
    let (d, store) = fresh();
    store.create_folder(&name("Sent")).unwrap();
    let root = store.root();
    // A folder made by Dovecot (no marker): listed and usable.
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(root.join(".Drafts").join(sub)).unwrap();
    }
    for junk in [
        ".a..b", "..hidden", ".%2E%2E", ".%2e", ".foo%zz", ".x%2Fy", ".inbox", ".INBOX",
    ] {
        fs::create_dir(root.join(junk)).unwrap();
    }
    fs::write(root.join(".notadir"), "").unwrap();
    fs::write(root.join("dovecot-uidlist"), "").unwrap();
    fs::create_dir(d.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(d.path().join("elsewhere"), root.join(".Linked")).unwrap();

    assert_eq!(names(&store), vec!["INBOX", "Drafts", "Sent"]);
    store.folder(&name("Drafts")).unwrap();
    assert!(matches!(
        store.folder(&name("Linked")),
        Err(Error::MailboxNotFound(_))
    ));
    assert!(matches!(
        store.folder(&name("Nope")),
        Err(Error::MailboxNotFound(_))
    ));
}

#[test]
fn folder_repairs_missing_subdirectories() {
    let (_d, store) = fresh();
    store.ensure_inbox().unwrap();
    fs::create_dir(store.root().join(".Old")).unwrap();
    let md = store.folder(&name("Old")).unwrap();
    md.deliver(&[b"x"], DeliverOptions::default()).unwrap();
    assert_eq!(md.list().unwrap().len(), 1);
}

#[test]
fn rename_moves_children_and_not_prefix_siblings() {
    let (_d, store) = fresh();
    for n in ["A", "A/B", "A/B/C", "AB", "A.x"] {
        store.create_folder(&name(n)).unwrap();
    }
    let child = store.folder(&name("A/B/C")).unwrap();
    let msg = child
        .deliver(
            &[b"deep"],
            DeliverOptions::default().with_flags(Flags::SEEN),
        )
        .unwrap();

    store.rename_folder(&name("A"), &name("Z/Y")).unwrap();
    assert_eq!(
        names(&store),
        vec!["INBOX", "A.x", "AB", "Z/Y", "Z/Y/B", "Z/Y/B/C"]
    );
    let moved = store.folder(&name("Z/Y/B/C")).unwrap();
    let list = moved.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].file_name(), msg.file_name());
    assert_eq!(fs::read(list[0].path()).unwrap(), b"deep");
}

#[test]
fn rename_refuses_conflicts_without_changing_anything() {
    let (_d, store) = fresh();
    for n in ["A", "A/B", "X", "Y/B"] {
        store.create_folder(&name(n)).unwrap();
    }
    let before = root_entries(store.root());
    assert!(matches!(
        store.rename_folder(&name("A"), &name("X")),
        Err(Error::MailboxExists(ref n)) if n.as_str() == "X"
    ));
    // The parent's target is free but a child's is not.
    assert!(matches!(
        store.rename_folder(&name("A"), &name("Y")),
        Err(Error::MailboxExists(ref n)) if n.as_str() == "Y/B"
    ));
    assert!(matches!(
        store.rename_folder(&name("A"), &name("A/B/C")),
        Err(Error::RenameIntoSelf { .. })
    ));
    assert!(matches!(
        store.rename_folder(&name("A"), &name("A")),
        Err(Error::RenameIntoSelf { .. })
    ));
    assert!(matches!(
        store.rename_folder(&name("Missing"), &name("New")),
        Err(Error::MailboxNotFound(_))
    ));
    assert!(matches!(
        store.rename_folder(&name("A"), &name("inbox")),
        Err(Error::InboxNotAllowed(_))
    ));
    assert_eq!(root_entries(store.root()), before);
}

#[test]
fn rename_refuses_children_whose_new_name_is_too_long() {
    let (_d, store) = fresh();
    store.create_folder(&name("a")).unwrap();
    store
        .create_folder(&name(&format!("a/{}", "c".repeat(200))))
        .unwrap();
    let before = root_entries(store.root());
    let long = "b".repeat(60);
    assert!(matches!(
        store.rename_folder(&name("a"), &name(&long)),
        Err(Error::InvalidName(_))
    ));
    assert_eq!(root_entries(store.root()), before);
}

#[test]
fn delete_removes_folder_but_keeps_children() {
    let (_d, store) = fresh();
    store.create_folder(&name("P")).unwrap();
    let kid = store.create_folder(&name("P/Kid")).unwrap();
    let p = store.folder(&name("P")).unwrap();
    for i in 0..5 {
        p.deliver(&[format!("m{i}").as_bytes()], DeliverOptions::default())
            .unwrap();
    }
    kid.deliver(&[b"kid"], DeliverOptions::default()).unwrap();

    store.delete_folder(&name("P")).unwrap();
    assert_eq!(names(&store), vec!["INBOX", "P/Kid"]);
    assert!(!store.root().join(".P").exists());
    assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
    assert_eq!(
        store.folder(&name("P/Kid")).unwrap().list().unwrap().len(),
        1
    );
    assert!(matches!(
        store.delete_folder(&name("P")),
        Err(Error::MailboxNotFound(_))
    ));
}

#[test]
fn usage_covers_inbox_and_folders() {
    let (_d, store) = fresh();
    assert_eq!(store.usage().unwrap(), Usage::default());
    let inbox = store.ensure_inbox().unwrap();
    inbox
        .deliver(&[&[0u8; 10]], DeliverOptions::default())
        .unwrap();
    let f = store.create_folder(&name("F")).unwrap();
    f.deliver(&[&[0u8; 20]], DeliverOptions::default()).unwrap();
    let g = store.create_folder(&name("F/G")).unwrap();
    g.deliver(
        &[&[0u8; 30]],
        DeliverOptions::default().with_flags(Flags::SEEN),
    )
    .unwrap();
    g.deliver(&[&[0u8; 40]], DeliverOptions::default()).unwrap();
    assert_eq!(
        store.usage().unwrap(),
        Usage {
            bytes: 100,
            messages: 4
        }
    );
    assert_eq!(
        g.usage().unwrap(),
        Usage {
            bytes: 70,
            messages: 2
        }
    );
}
