//! No client-supplied mailbox name may reach outside the user's store.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use ferrymail_maildir::{Error, MailboxName, NameError, Store};

/// Every path under `dir`, without following symlinks.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.insert(p);
        }
    }
    out
}

#[test]
fn traversal_attempts_are_rejected() {
    let long = "a".repeat(300);
    let huge = "x/".repeat(500_000) + "x";
    let dotted = "a.".repeat(90); // short as text, too long once every '.' is %2E
    let cases: Vec<(&[u8], NameError)> = vec![
        (b"", NameError::Empty),
        (b"..", NameError::DotComponent),
        (b".", NameError::DotComponent),
        (b"../x", NameError::DotComponent),
        (b"a/../../b", NameError::DotComponent),
        (b"a/./b", NameError::DotComponent),
        (b"x/..", NameError::DotComponent),
        (b"/etc", NameError::LeadingSeparator),
        (b"/", NameError::LeadingSeparator),
        (b"a/", NameError::TrailingSeparator),
        (b"a//b", NameError::EmptyComponent),
        (b"a\0b", NameError::ControlCharacter),
        (b"a\nb", NameError::ControlCharacter),
        (b"a\x7fb", NameError::ControlCharacter),
        ("a\u{85}b".as_bytes(), NameError::ControlCharacter),
        (b"..\\..\\etc", NameError::Backslash),
        (b"a\\b", NameError::Backslash),
        (long.as_bytes(), NameError::TooLong { len: 301 }),
        (
            huge.as_bytes(),
            NameError::TooLong {
                len: huge.len() + 1,
            },
        ),
        (
            dotted.as_bytes(),
            NameError::TooLong {
                len: 1 + 90 + 90 * 3,
            },
        ),
        (b"\xff\xfe", NameError::InvalidUtf8),
        (b"a/\xc0\xaf/b", NameError::InvalidUtf8),
        (b"..\xc0\xaf..", NameError::InvalidUtf8),
    ];

    let outer = tempfile::tempdir().unwrap();
    let store = Store::new(outer.path().join("user/Maildir"));
    store.ensure_inbox().unwrap();
    fs::write(outer.path().join("sentinel"), "outside").unwrap();
    let before = tree(outer.path());

    for (raw, expected) in &cases {
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(40)]).into_owned();
        assert_eq!(
            MailboxName::from_bytes(raw).unwrap_err(),
            *expected,
            "{shown:?}"
        );
        if let Ok(s) = std::str::from_utf8(raw) {
            assert_eq!(MailboxName::new(s).unwrap_err(), *expected, "{shown:?}");
            assert!(s.parse::<MailboxName>().is_err());
        }
    }
    assert_eq!(
        tree(outer.path()),
        before,
        "validation touched the filesystem"
    );
}

#[test]
fn tricky_but_valid_names_stay_directly_inside_the_store() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("user/Maildir");
    let store = Store::new(&root);
    store.ensure_inbox().unwrap();
    let outside_before: BTreeSet<PathBuf> = tree(outer.path())
        .into_iter()
        .filter(|p| !p.starts_with(&root))
        .collect();

    let max = "m".repeat(254); // 255 bytes on disk: exactly NAME_MAX
    let tricky = [
        "%2e%2e",
        "%2E%2E/%2e",
        "..a",
        "a..",
        "...",
        ".hidden",
        "a/.b",
        "~root",
        "a b",
        "*",
        "tmp",
        "cur",
        "new",
        "INBOX/..x",
        "ünïcödé/子",
        max.as_str(),
    ];
    for s in tricky {
        let n = MailboxName::new(s).unwrap();
        let md = store.create_folder(&n).unwrap();
        let dir = md.path();
        assert_eq!(dir.parent(), Some(root.as_path()), "{s}");
        let disk = dir.file_name().unwrap().to_str().unwrap();
        assert!(disk.starts_with('.') && disk != "." && disk != "..", "{s}");
        assert!(!disk.starts_with(".."), "{s}");
        assert_eq!(MailboxName::from_disk_name(disk), Some(n.clone()), "{s}");
        assert!(dir.join("maildirfolder").is_file());
    }
    let listed = store.list_folders().unwrap();
    assert_eq!(listed.len(), tricky.len() + 1);
    for s in tricky {
        assert!(listed.contains(&MailboxName::new(s).unwrap()), "{s}");
    }
    // Renames and deletes of the same names stay inside too.
    store
        .rename_folder(
            &MailboxName::new("%2e%2e").unwrap(),
            &MailboxName::new("..a/b").unwrap(),
        )
        .unwrap();
    store
        .delete_folder(&MailboxName::new("..a/b").unwrap())
        .unwrap();
    store
        .delete_folder(&MailboxName::new(".hidden").unwrap())
        .unwrap();

    let outside_after: BTreeSet<PathBuf> = tree(outer.path())
        .into_iter()
        .filter(|p| !p.starts_with(&root))
        .collect();
    assert_eq!(outside_after, outside_before);
    // Every folder directory is a direct child of the root.
    for p in tree(&root) {
        let top = p.strip_prefix(&root).unwrap().components().next().unwrap();
        let top = top.as_os_str().to_str().unwrap();
        assert!(
            top.starts_with('.') || ["tmp", "new", "cur"].contains(&top),
            "{}",
            p.display()
        );
    }
}

#[test]
fn hostile_directory_names_never_decode() {
    for d in [
        ".",
        "..",
        "...",
        ".%2E%2E",
        ".%2E",
        ".a.%2E%2E.b",
        ".a%2Fb",
        ".a\\b",
        ".a..b",
        "..a",
        ".a.",
        ".%2e%2e",
        ".a%",
        ".INBOX",
        ".Inbox.x",
        "noleadingdot",
        "",
    ] {
        assert_eq!(MailboxName::from_disk_name(d), None, "{d:?}");
    }
    assert_eq!(
        MailboxName::from_disk_name(".a%2E%2E").map(|n| n.as_str().to_owned()),
        Some("a..".to_owned())
    );
}

#[test]
fn name_helpers() {
    let n = MailboxName::new("Archive/2024/Q1").unwrap();
    assert_eq!(
        n.components().collect::<Vec<_>>(),
        ["Archive", "2024", "Q1"]
    );
    assert_eq!(n.parent().unwrap().as_str(), "Archive/2024");
    assert!(n.is_descendant_of(&MailboxName::new("Archive").unwrap()));
    assert!(!MailboxName::new("ArchiveX/1")
        .unwrap()
        .is_descendant_of(&MailboxName::new("Archive").unwrap()));
    assert!(!n.is_descendant_of(&n));
    assert_eq!(n.disk_name().unwrap(), ".Archive.2024.Q1");
    assert_eq!(MailboxName::inbox().disk_name(), None);
    assert_eq!(n.child("x").unwrap().as_str(), "Archive/2024/Q1/x");
    assert_eq!(
        n.child("../x").unwrap_err(),
        NameError::SeparatorInComponent
    );
    assert_eq!(n.child("..").unwrap_err(), NameError::DotComponent);
    assert_eq!(n.child("").unwrap_err(), NameError::TrailingSeparator);
    assert!(matches!(
        Error::from(NameError::Empty),
        Error::InvalidName(NameError::Empty)
    ));
}
