//! A mail store shared between hosts: another host changes a mailbox behind this imapd's back
//! (with its own process, its own index database, its own inotify) and this imapd must show
//! the truth — in the next session, whatever it cached, and to a client idling meanwhile.
//!
//! "Another host" is a second `Hub` with its own index in this test process. With
//! `FERRYMAIL_SHARED_MOUNTS="<mount a> <mount b>"` (two mounts of one GlusterFS, NFS or
//! CephFS volume, writable by the test) imapd serves its mail through the first mount and the
//! other host writes through the second, as two hosts would; otherwise both use one local
//! directory, and the IDLE test, which needs changes inotify cannot see, is skipped.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{login, message, stop, PASS, USER};
use ferrymail_maildir::{Flags, MailboxName, Store};
use ferrymail_testkit::{shared_mounts, skip, ImapClient, Suite};
use imapd::index::Index;
use imapd::mailbox::{Hub, SharedMailbox};

/// imapd started with its mail root at `here` (None: the environment's own).
fn start_imapd(here: Option<&Path>, idle_poll: Duration) -> Suite {
    let mut s = common::prepare(true);
    s.edit_config(|c| {
        if let Some(root) = here {
            c.paths.mail_root = root.to_owned();
        }
        c.imapd.idle_poll_interval = idle_poll;
    });
    s.start("imapd");
    s
}

/// The user's store under `mail_root`, as the dev environment lays it out.
fn user_store(mail_root: &Path) -> Store {
    let (local, domain) = USER.split_once('@').expect("user@domain");
    Store::new(mail_root.join(domain).join(local).join("Maildir"))
}

/// The other host: its own hub and index database, on its own path to the store.
struct OtherHost {
    hub: Arc<Hub>,
    store: Store,
    _state: tempfile::TempDir,
}

impl OtherHost {
    fn new(mail_root: &Path) -> OtherHost {
        let state = tempfile::tempdir().expect("state dir");
        let index = Index::open(state.path()).expect("index");
        OtherHost {
            hub: Hub::new(Some(index), 0),
            store: user_store(mail_root),
            _state: state,
        }
    }

    fn open(&self, folder: &str) -> Arc<SharedMailbox> {
        let md = if folder == "INBOX" {
            ferrymail_maildir::Maildir::create(self.store.root())
        } else {
            let name = MailboxName::new(folder).expect("name");
            if !self.store.folder_exists(&name).expect("exists?") {
                self.store.create_folder(&name).expect("create");
            }
            self.store.folder(&name)
        };
        self.hub.open(md.expect("maildir"), true).expect("open")
    }

    fn append(&self, folder: &str, subject: &str) -> u32 {
        let msg = message(subject, "from the other host");
        self.open(folder)
            .append(&[msg.as_slice()], Flags::empty(), None)
            .expect("append")
    }
}

/// Sets the modification times of a maildir's `new/` and `cur/` back to `times`: a change
/// made within the same tick of a coarse clock, or by a host whose clock is behind, leaves
/// them as they were.
fn restore_mtimes(maildir: &Path, times: &[SystemTime; 2]) {
    for (d, t) in ["new", "cur"].iter().zip(times) {
        let f = std::fs::File::open(maildir.join(d)).expect("dir");
        f.set_modified(*t).expect("set mtime");
    }
}

fn mtimes(maildir: &Path) -> [SystemTime; 2] {
    ["new", "cur"].map(|d| {
        std::fs::metadata(maildir.join(d))
            .and_then(|m| m.modified())
            .expect("mtime")
    })
}

/// `UID FETCH 1:*` of UIDs, flags and subjects, one line per message, in UID order.
fn listing(c: &mut ImapClient) -> Vec<String> {
    let r = c.cmd("UID FETCH 1:* (UID FLAGS ENVELOPE)");
    assert!(r.ok(), "{}", r.all());
    r.all()
        .lines()
        .filter(|l| l.starts_with("* ") && l.contains("FETCH"))
        .map(|l| {
            let uid = l.split("UID ").nth(1).and_then(|t| t.split(' ').next());
            // \Recent depends on which session looked first; not the point here.
            let flags = l
                .split("FLAGS (")
                .nth(1)
                .and_then(|t| t.split(')').next())
                .map(|f| {
                    f.split(' ')
                        .filter(|f| !f.is_empty() && *f != "\\Recent")
                        .collect::<Vec<_>>()
                        .join(" ")
                });
            let subject = l.split('"').nth(3);
            format!(
                "{} ({}) {}",
                uid.unwrap_or("?"),
                flags.as_deref().unwrap_or("?"),
                subject.unwrap_or("?")
            )
        })
        .collect()
}

fn uidvalidity(c: &mut ImapClient, folder: &str) -> u32 {
    let r = c.cmd(&format!("SELECT {folder}"));
    assert!(r.ok(), "{}", r.all());
    r.find("UIDVALIDITY ")
        .and_then(|l| l.split("UIDVALIDITY ").nth(1))
        .and_then(|t| t.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no UIDVALIDITY in {}", r.all()))
}

#[test]
fn next_session_sees_what_another_host_changed() {
    let mounts = shared_mounts("behind");
    let mut srv = start_imapd(mounts.as_ref().map(|m| m.0.as_path()), Duration::ZERO);
    let other_root = match &mounts {
        Some((_, b)) => b.clone(),
        None => srv.env.config.paths.mail_root.clone(),
    };
    let other = OtherHost::new(&other_root);
    other.append("Box", "one");
    other.append("Box", "two");

    // This host's session caches everything about them (the mailbox stays open in memory,
    // its facts in the index database).
    let mut c = login(&srv, USER, PASS);
    let v1 = uidvalidity(&mut c, "Box");
    assert_eq!(listing(&mut c), ["1 () one", "2 () two"]);
    c.cmd("LOGOUT");

    // The other host: a flag change, an expunge and a delivery, with the directories'
    // modification times left as they were.
    let box_dir = other.open("Box").maildir().path().to_owned();
    let before = mtimes(&box_dir);
    let mb = other.open("Box");
    mb.modify_flags(&[1], |f| f | Flags::SEEN).expect("flags");
    mb.expunge(&[2]).expect("expunge");
    other.append("Box", "three");
    restore_mtimes(&box_dir, &before);

    let mut c = login(&srv, USER, PASS);
    assert_eq!(uidvalidity(&mut c, "Box"), v1);
    assert_eq!(listing(&mut c), ["1 (\\Seen) one", "3 () three"]);
    c.cmd("LOGOUT");

    // The other host deletes the folder and creates it again: UID 1 is another message now.
    drop(mb);
    let name = MailboxName::new("Box").expect("name");
    other.store.delete_folder(&name).expect("delete");
    other.hub.forget_folder(&other.store, &name, false);
    other.append("Box", "four");

    let mut c = login(&srv, USER, PASS);
    let v2 = uidvalidity(&mut c, "Box");
    assert!(
        v2 > v1,
        "a new mailbox needs a new UIDVALIDITY: {v1} then {v2}"
    );
    assert_eq!(
        listing(&mut c),
        ["1 () four"],
        "nothing cached about the old folder's UID 1 may be served"
    );
    c.cmd("LOGOUT");
    stop(&mut srv);
}

/// Waits up to `within` for an untagged line; None if none came.
fn next_line_within(c: &mut ImapClient, within: Duration) -> Option<String> {
    c.conn().set_read_timeout(Some(within)).expect("timeout");
    let l = c.try_line().ok();
    c.conn()
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    l
}

#[test]
fn an_idling_client_sees_another_hosts_delivery() {
    let Some((here, there)) = shared_mounts("idle") else {
        skip!("FERRYMAIL_SHARED_MOUNTS is not set (two mounts of one shared volume): on one local file system inotify sees every change, so the periodic rescan cannot be told apart");
    };
    let other = OtherHost::new(&there);
    other.open("INBOX");

    for (poll, expect_seen) in [(Duration::ZERO, false), (Duration::from_secs(1), true)] {
        let mut srv = start_imapd(Some(&here), poll);
        let mut c = login(&srv, USER, PASS);
        let r = c.cmd("SELECT INBOX");
        assert!(r.ok(), "{}", r.all());
        let exists = r
            .find(" EXISTS")
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|n| n.parse::<u32>().ok())
            .expect("EXISTS");
        let tag = c.next_tag();
        c.send(format!("{tag} IDLE\r\n").as_bytes());
        assert!(c.line().starts_with("+ "));
        // IDLE's own first rescan may still be running after the continuation.
        std::thread::sleep(Duration::from_millis(500));
        // Delivered the way local-delivery on the other host does.
        let msg = message("elsewhere", "delivered on the other host");
        other
            .store
            .inbox()
            .expect("inbox")
            .deliver(&[msg.as_slice()], Default::default())
            .expect("deliver");
        let seen = next_line_within(&mut c, Duration::from_secs(4));
        if expect_seen {
            assert_eq!(
                seen.as_deref(),
                Some(format!("* {} EXISTS", exists + 1).as_str()),
                "with idle_poll_interval = {poll:?}"
            );
        } else {
            assert_eq!(
                seen, None,
                "inotify saw a change made through another mount: this volume cannot show what the poll adds"
            );
            // The client learns of it with its next command, as before.
            c.send(b"DONE\r\n");
            assert!(
                srv.log("imapd")
                    .contains("idle_poll_interval is 0 on a shared mail store"),
                "imapd did not warn that polling is off on a shared store"
            );
        }
        drop(c);
        stop(&mut srv);
    }
}
