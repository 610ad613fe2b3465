//! Two `Hub`s on one mailbox stand for two processes (imapd's main process and a per-login
//! session child, or two children of one Unix user): UIDs they assign while appending and
//! while picking up outside deliveries must never collide and must keep increasing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ferrymail_maildir::{DeliverOptions, Flags, Maildir};
use imapd::mailbox::{Hub, SharedMailbox};
use imapd::uidlist::UidList;

const PER_WRITER: usize = 40;

fn appender(mb: Arc<SharedMailbox>, tag: &'static str) -> std::thread::JoinHandle<Vec<u32>> {
    std::thread::spawn(move || {
        (0..PER_WRITER)
            .map(|i| {
                let body = format!("Subject: {tag} {i}\r\n\r\nhello\r\n");
                mb.append(&[body.as_bytes()], Flags::empty(), None).unwrap()
            })
            .collect()
    })
}

#[test]
fn two_hubs_never_assign_a_uid_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Maildir");
    let md = Maildir::create(&path).unwrap();
    let (hub_a, hub_b) = (Hub::new(None, 0), Hub::new(None, 0));
    let a = hub_a.open(Maildir::open(&path).unwrap(), false).unwrap();
    let b = hub_b.open(Maildir::open(&path).unwrap(), false).unwrap();

    let ta = appender(a.clone(), "a");
    let tb = appender(b.clone(), "b");
    // Outside deliveries (local-delivery) picked up by rescans in both "processes".
    let (a2, b2) = (a.clone(), b.clone());
    let tc = std::thread::spawn(move || {
        for i in 0..PER_WRITER {
            let body = format!("Subject: outside {i}\r\n\r\nhi\r\n");
            md.deliver(&[body.as_bytes()], DeliverOptions::default())
                .unwrap();
            if i % 2 == 0 {
                a2.rescan().unwrap();
            } else {
                b2.rescan().unwrap();
            }
        }
    });
    let uids_a = ta.join().unwrap();
    let uids_b = tb.join().unwrap();
    tc.join().unwrap();

    for uids in [&uids_a, &uids_b] {
        assert!(
            uids.windows(2).all(|w| w[0] < w[1]),
            "UIDs handed out by one writer must increase: {uids:?}"
        );
    }
    let appended: HashSet<u32> = uids_a.iter().chain(&uids_b).copied().collect();
    assert_eq!(
        appended.len(),
        2 * PER_WRITER,
        "a UID was given to two appends"
    );

    a.rescan().unwrap();
    b.rescan().unwrap();
    let (msgs_a, validity_a, next_a) = a.snapshot();
    let (msgs_b, validity_b, next_b) = b.snapshot();
    assert_eq!(validity_a, validity_b);
    assert_eq!(next_a, next_b);
    let map = |msgs: &[imapd::mailbox::Meta]| -> HashMap<u32, String> {
        msgs.iter().map(|m| (m.uid, m.base().to_owned())).collect()
    };
    let (map_a, map_b) = (map(&msgs_a), map(&msgs_b));
    assert_eq!(map_a.len(), 3 * PER_WRITER, "every message has one UID");
    assert_eq!(map_a, map_b, "both processes agree on every UID");
    let bases: HashSet<&String> = map_a.values().collect();
    assert_eq!(bases.len(), 3 * PER_WRITER, "no message has two UIDs");

    let list = UidList::load(&path).unwrap().expect("a valid UID list");
    assert_eq!(list.entries.len(), 3 * PER_WRITER);
    let on_disk: HashMap<u32, String> = list
        .entries
        .into_iter()
        .map(|(uid, _, base)| (uid, base))
        .collect();
    assert_eq!(on_disk, map_a);
    for uid in appended {
        assert!(
            on_disk.contains_key(&uid),
            "appended UID {uid} not recorded"
        );
    }
}

#[test]
fn an_expunge_in_one_process_keeps_the_other_processes_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Maildir");
    Maildir::create(&path).unwrap();
    let (hub_a, hub_b) = (Hub::new(None, 0), Hub::new(None, 0));
    let a = hub_a.open(Maildir::open(&path).unwrap(), false).unwrap();
    let b = hub_b.open(Maildir::open(&path).unwrap(), false).unwrap();
    let first = a
        .append(&[b"Subject: 1\r\n\r\nx\r\n"], Flags::empty(), None)
        .unwrap();
    // B appends without A having looked since; A's expunge rewrites the list.
    let from_b = b
        .append(&[b"Subject: 2\r\n\r\nx\r\n"], Flags::empty(), None)
        .unwrap();
    assert!(from_b > first);
    assert_eq!(a.expunge(&[first]).unwrap(), vec![first]);
    let list = UidList::load(&path).unwrap().unwrap();
    assert_eq!(
        list.entries.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![from_b]
    );
    let third = a
        .append(&[b"Subject: 3\r\n\r\nx\r\n"], Flags::empty(), None)
        .unwrap();
    assert!(third > from_b);
    b.rescan().unwrap();
    let uids: Vec<u32> = b.snapshot().0.iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![from_b, third]);
}
