//! Mod-sequences across crashes and other programs: two `Hub`s stand for imapd before and
//! after a restart (or for two processes). A crash may make a change look newer than it
//! is, never hide it, and changes made by other programs get mod-sequences when first seen.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use ferrymail_maildir::{DeliverOptions, Flags, Maildir};
use imapd::mailbox::{Hub, SharedMailbox};
use imapd::modseq::FILE_NAME;

fn setup(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Maildir");
    Maildir::create(&path).unwrap();
    let mb = open(&path);
    for i in 0..n {
        let body = format!("Subject: m{i}\r\n\r\nhello\r\n");
        mb.append(&[body.as_bytes()], Flags::empty(), None).unwrap();
    }
    (dir, path)
}

/// The mailbox as a freshly started process sees it.
fn open(path: &Path) -> Arc<SharedMailbox> {
    Hub::new(None, 0)
        .open(Maildir::open(path).unwrap(), true)
        .unwrap()
}

fn modseq_of(mb: &SharedMailbox, uid: u32) -> u64 {
    let (msgs, _, _) = mb.snapshot();
    msgs.iter().find(|m| m.uid == uid).map_or(0, |m| m.modseq)
}

#[test]
fn a_lost_record_after_the_rename_is_noticed_at_the_next_load() {
    let (_d, path) = setup(3);
    let log = path.join(FILE_NAME);
    let mb = open(&path);
    // This process's first change reserves (and flushes) a range; the next is not flushed.
    mb.modify_flags(&[1], |f| f | Flags::SEEN).unwrap();
    let before_change = fs::read(&log).unwrap();
    mb.modify_flags(&[2], |f| f | Flags::SEEN).unwrap();
    let seen = mb.modseq_facts(None).0;
    drop(mb);
    // A power cut: the rename reached the disk, the log's unflushed record did not.
    fs::write(&log, &before_change).unwrap();
    let mb = open(&path);
    assert!(
        modseq_of(&mb, 2) > seen,
        "the change must get a mod-sequence above {seen}, not {}",
        modseq_of(&mb, 2)
    );
    assert!(mb.modseq_facts(None).0 >= seen, "HIGHESTMODSEQ went down");
}

#[test]
fn a_record_without_its_rename_only_makes_the_message_look_changed() {
    let (_d, path) = setup(2);
    let mb = open(&path);
    let old = modseq_of(&mb, 1);
    let highest = mb.modseq_facts(None).0;
    drop(mb);
    // A crash between writing the record (flags "S") and renaming the file.
    let mut text = fs::read_to_string(path.join(FILE_NAME)).unwrap();
    text.push_str(&format!("1 {} 2,S\n", highest + 1));
    fs::write(path.join(FILE_NAME), text).unwrap();
    let mb = open(&path);
    let (msgs, _, _) = mb.snapshot();
    let m1 = msgs.iter().find(|m| m.uid == 1).unwrap();
    assert!(!m1.flags.contains(Flags::SEEN), "flags come from the file");
    assert!(
        m1.modseq > old,
        "the message looks changed: {} <= {old}",
        m1.modseq
    );
}

#[test]
fn other_programs_changes_get_modseqs_when_first_seen() {
    let (_d, path) = setup(3);
    let mb = open(&path);
    let start = mb.modseq_facts(None).0;
    let md = Maildir::open(&path).unwrap();
    // mutt sets a flag, pop3d deletes a message, local-delivery delivers one.
    let entries = md.list().unwrap();
    let (msgs, _, _) = mb.snapshot();
    let base = |uid: u32| {
        msgs.iter()
            .find(|m| m.uid == uid)
            .unwrap()
            .base()
            .to_owned()
    };
    let e1 = entries.iter().find(|e| e.base() == base(1)).unwrap();
    md.modify_flags(e1, |f| f | Flags::FLAGGED).unwrap();
    let e3 = entries.iter().find(|e| e.base() == base(3)).unwrap();
    md.delete(e3).unwrap();
    md.deliver(
        &[&b"Subject: new\r\n\r\nx\r\n"[..]],
        DeliverOptions::default(),
    )
    .unwrap();
    assert!(mb.rescan().unwrap());
    let (highest, vanished) = mb.modseq_facts(Some(start));
    assert!(modseq_of(&mb, 1) > start);
    assert_eq!(
        modseq_of(&mb, 2),
        modseq_of(&open(&path), 2),
        "unchanged stays"
    );
    assert!(modseq_of(&mb, 2) <= start);
    assert!(modseq_of(&mb, 4) > start, "the delivered message");
    assert_eq!(vanished, vec![3]);
    assert!(highest >= modseq_of(&mb, 4));
    // A second process reading the log agrees.
    let other = open(&path);
    for uid in [1, 2, 4] {
        assert_eq!(modseq_of(&other, uid), modseq_of(&mb, uid), "UID {uid}");
    }
    assert_eq!(other.modseq_facts(Some(start)).1, vec![3]);
}

#[test]
fn an_existing_store_without_a_log_starts_consistent() {
    let (_d, path) = setup(4);
    fs::remove_file(path.join(FILE_NAME)).unwrap();
    let mb = open(&path);
    // One mod-sequence for all of them, the first above an empty mailbox's 1.
    for uid in 1..=4 {
        assert_eq!(modseq_of(&mb, uid), 2);
    }
    assert_eq!(mb.modseq_facts(None).0, 2);
    mb.modify_flags(&[3], |f| f | Flags::SEEN).unwrap();
    assert_eq!(modseq_of(&mb, 3), 3);
}

#[test]
fn no_process_allocates_below_what_another_one_showed() {
    let (_d, path) = setup(2);
    let a = open(&path);
    a.modify_flags(&[1], |f| f | Flags::SEEN).unwrap();
    // A second process starts; what it shows as HIGHESTMODSEQ ...
    let b = open(&path);
    let shown = b.modseq_facts(None).0;
    assert!(shown >= a.modseq_facts(None).0);
    // ... is below every later change, wherever it is made ...
    a.modify_flags(&[2], |f| f | Flags::FLAGGED).unwrap();
    assert!(modseq_of(&a, 2) > shown, "{} <= {shown}", modseq_of(&a, 2));
    // ... and the first process, looking again, never shows less.
    a.rescan().unwrap();
    assert!(a.modseq_facts(None).0 >= shown);
}

/// STORE (UNCHANGEDSINCE): the test is made under the lock the change is made under, after
/// looking again, so a change another process made after this one last looked fails it
/// instead of being overwritten.
#[test]
fn unchangedsince_sees_another_processs_change_made_just_before() {
    let (_d, path) = setup(3);
    let a = open(&path);
    let since = a.modseq_facts(None).0;
    let b = open(&path);
    b.modify_flags(&[1], |f| f | Flags::FLAGGED).unwrap();
    // `a` has not looked since: its own view still shows message 1 unchanged.
    assert!(modseq_of(&a, 1) <= since);
    let (changed, failed) = a
        .modify_flags_unchanged_since(&[1, 2], since, |f| f | Flags::TRASHED)
        .unwrap();
    assert_eq!(failed, vec![1]);
    assert_eq!(
        changed.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![2],
        "{changed:?}"
    );
    let (msgs, _, _) = a.snapshot();
    let flags = |uid| msgs.iter().find(|m| m.uid == uid).map(|m| m.flags);
    assert_eq!(
        flags(1),
        Some(Flags::FLAGGED),
        "b's change kept, a's not made"
    );
    assert_eq!(flags(2), Some(Flags::TRASHED));
    assert!(modseq_of(&a, 2) > modseq_of(&a, 1));
}
