//! Unique names under many writers: threads in one process and separate processes.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use ferrymail_maildir::{DeliverOptions, Maildir};

const THREADS: usize = 8;
const PER_THREAD: usize = 200;
const CHILDREN: usize = 2;
const PER_CHILD: usize = 200;
const CHILD_DIR_ENV: &str = "FERRYMAIL_MAILDIR_TEST_CHILD_DIR";
const CHILD_TAG_ENV: &str = "FERRYMAIL_MAILDIR_TEST_CHILD_TAG";

fn body(tag: &str, i: usize) -> String {
    format!("Subject: {tag} {i}\n\nmessage {i} from {tag}\n")
}

fn deliver_many(md: &Maildir, tag: &str, n: usize) {
    for i in 0..n {
        let b = body(tag, i);
        let (head, tail) = b.split_at(b.len() / 2);
        md.deliver(
            &[head.as_bytes(), tail.as_bytes()],
            DeliverOptions::default(),
        )
        .unwrap();
    }
}

/// Contents of every listed message, checking there are no duplicate bases or names.
fn collect(md: &Maildir) -> HashMap<String, String> {
    let list = md.list().unwrap();
    let bases: HashSet<&str> = list.iter().map(|e| e.base()).collect();
    assert_eq!(bases.len(), list.len(), "duplicate base names");
    list.iter()
        .map(|e| {
            (
                e.base().to_owned(),
                String::from_utf8(fs::read(e.path()).unwrap()).unwrap(),
            )
        })
        .collect()
}

fn assert_tmp_empty(root: &Path) {
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}

#[test]
fn threads_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let md = Arc::new(Maildir::create(dir.path().join("m")).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let md = Arc::clone(&md);
            std::thread::spawn(move || deliver_many(&md, &format!("thread{t}"), PER_THREAD))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let got = collect(&md);
    assert_eq!(got.len(), THREADS * PER_THREAD);
    let expected: HashSet<String> = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| body(&format!("thread{t}"), i)))
        .collect();
    let contents: HashSet<String> = got.into_values().collect();
    assert_eq!(contents, expected);
    assert_tmp_empty(md.path());
}

/// Runs only as a child of `processes_never_collide` (it re-executes this test binary).
#[test]
#[ignore = "helper process for processes_never_collide"]
fn child_delivery_worker() {
    let (Ok(dir), Ok(tag)) = (std::env::var(CHILD_DIR_ENV), std::env::var(CHILD_TAG_ENV)) else {
        return;
    };
    let md = Maildir::open(dir).unwrap();
    deliver_many(&md, &tag, PER_CHILD);
}

#[test]
fn processes_never_collide() {
    let dir = tempfile::tempdir().unwrap();
    let md = Maildir::create(dir.path().join("m")).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|c| {
            Command::new(&exe)
                .args([
                    "child_delivery_worker",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR_ENV, md.path())
                .env(CHILD_TAG_ENV, format!("child{c}"))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // The parent writes at the same time, from two threads.
    let md = Arc::new(md);
    let local: Vec<_> = (0..2)
        .map(|t| {
            let md = Arc::clone(&md);
            std::thread::spawn(move || deliver_many(&md, &format!("parent{t}"), PER_CHILD))
        })
        .collect();
    for h in local {
        h.join().unwrap();
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }

    let got = collect(&md);
    let tags: Vec<String> = (0..CHILDREN)
        .map(|c| format!("child{c}"))
        .chain((0..2).map(|t| format!("parent{t}")))
        .collect();
    let expected: HashSet<String> = tags
        .iter()
        .flat_map(|tag| (0..PER_CHILD).map(move |i| body(tag, i)))
        .collect();
    assert_eq!(got.len(), expected.len());
    // Three writer processes show up as three distinct P<pid> fields.
    let pids: HashSet<&str> = got
        .keys()
        .map(|base| {
            let after = base.split_once('P').unwrap().1;
            after.split_once('Q').unwrap().0
        })
        .collect();
    assert_eq!(pids.len(), CHILDREN + 1, "{pids:?}");
    let contents: HashSet<String> = got.into_values().collect();
    assert_eq!(contents, expected);
    assert_tmp_empty(md.path());
}
