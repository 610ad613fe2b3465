//! Keyword names (`dovecot-keywords`) and subscriptions edited by two processes at once —
//! two session children of one Unix user, stood for here by two independent `Hub`s and by
//! threads that share no in-process lock: no name may lose its letter or be given one that
//! already means another name, and no SUBSCRIBE may be lost.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};

use ferrymail_maildir::{Flags, Maildir};
use imapd::mailbox::Hub;
use imapd::subscriptions as listing;

const PER_PROCESS: usize = 12;

/// `dovecot-keywords` as index → name.
fn keywords_on_disk(dir: &std::path::Path) -> HashMap<usize, String> {
    std::fs::read_to_string(dir.join("dovecot-keywords"))
        .unwrap()
        .lines()
        .map(|l| {
            let (i, n) = l.split_once(' ').unwrap();
            (i.parse().unwrap(), n.to_owned())
        })
        .collect()
}

fn letter_index(f: Flags) -> usize {
    let idx: Vec<u8> = f.keywords().collect();
    assert_eq!(idx.len(), 1, "{f:?}");
    usize::from(idx[0])
}

#[test]
fn two_hubs_never_give_one_keyword_letter_two_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Maildir");
    Maildir::create(&path).unwrap();
    let (hub_a, hub_b) = (Hub::new(None, 0), Hub::new(None, 0));
    let a = hub_a.open(Maildir::open(&path).unwrap(), false).unwrap();
    let b = hub_b.open(Maildir::open(&path).unwrap(), false).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let spawn = |mb: Arc<imapd::mailbox::SharedMailbox>, prefix: &'static str| {
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            barrier.wait();
            (0..PER_PROCESS)
                .map(|i| {
                    let name = format!("{prefix}{i}");
                    let f = mb.keyword_flags(std::slice::from_ref(&name), true).unwrap();
                    (name, letter_index(f))
                })
                .collect::<Vec<_>>()
        })
    };
    let ta = spawn(a.clone(), "alpha");
    let tb = spawn(b.clone(), "beta");
    let given: Vec<(String, usize)> = ta
        .join()
        .unwrap()
        .into_iter()
        .chain(tb.join().unwrap())
        .collect();

    let disk = keywords_on_disk(&path);
    assert_eq!(
        disk.len(),
        2 * PER_PROCESS,
        "every name is in the file: {disk:?}"
    );
    let letters: HashSet<usize> = given.iter().map(|g| g.1).collect();
    assert_eq!(
        letters.len(),
        2 * PER_PROCESS,
        "a letter was given twice: {given:?}"
    );
    for (name, idx) in &given {
        assert_eq!(disk.get(idx), Some(name), "letter {idx} on disk");
    }
    // Each process, asked again (without creating), agrees with the file; a rescan makes
    // the other process's names known too.
    a.rescan().unwrap();
    b.rescan().unwrap();
    for (name, idx) in &given {
        for mb in [&a, &b] {
            let f = mb.keyword_flags(std::slice::from_ref(name), false).unwrap();
            assert_eq!(letter_index(f), *idx, "{name}");
        }
    }
    let kw_a = a.keywords();
    assert_eq!(kw_a, b.keywords());
    assert_eq!(
        kw_a.iter().filter(|k| !k.is_empty()).count(),
        2 * PER_PROCESS
    );
}

#[test]
fn concurrent_subscribes_are_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|prefix| {
            let (root, barrier) = (root.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..40 {
                    listing::update_subscriptions(&root, |subs| {
                        subs.push(format!("{prefix}/{i}"));
                    })
                    .unwrap();
                    if i % 4 == 3 {
                        // UNSUBSCRIBE of an earlier one of our own.
                        let gone = format!("{prefix}/{}", i - 3);
                        listing::update_subscriptions(&root, |subs| {
                            subs.retain(|s| *s != gone);
                        })
                        .unwrap();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let subs: HashSet<String> = listing::load_subscriptions(&root).into_iter().collect();
    let mut expected = HashSet::new();
    for prefix in ["left", "right"] {
        for i in 0..40 {
            if i % 4 != 0 {
                expected.insert(format!("{prefix}/{i}"));
            }
        }
    }
    assert_eq!(subs, expected);
}
