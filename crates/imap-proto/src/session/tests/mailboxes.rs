//! CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST and LSUB.

use super::*;
use crate::response::ListItem;

fn lists(r: &[Response]) -> Vec<(String, Vec<String>)> {
    data(r)
        .into_iter()
        .filter_map(|d| match d {
            Data::List(ListItem { mailbox, attrs, .. })
            | Data::Lsub(ListItem { mailbox, attrs, .. }) => Some((mailbox, attrs)),
            _ => None,
        })
        .collect()
}

fn attrs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn list_and_lsub() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    for cmd in [
        "a1 CREATE Work/2024",
        "a2 CREATE Sent",
        "a3 CREATE \"Entw&APw-rfe\"",
    ] {
        assert_eq!(last(&c.run(cmd)).kind, Kind::Ok, "{cmd}");
    }
    assert_eq!(code(&c.run("a4 CREATE Sent")), Some(Code::AlreadyExists));
    assert_eq!(code(&c.run("a5 CREATE inbox")), Some(Code::AlreadyExists));
    let r = c.run("a6 LIST \"\" *");
    assert_eq!(
        lists(&r),
        vec![
            ("Entwürfe".into(), attrs(&["\\HasNoChildren"])),
            ("INBOX".into(), attrs(&["\\HasNoChildren"])),
            ("Sent".into(), attrs(&["\\HasNoChildren", "\\Sent"])),
            ("Work".into(), attrs(&["\\Noselect", "\\HasChildren"])),
            ("Work/2024".into(), attrs(&["\\HasNoChildren"])),
        ]
    );
    let r = c.run("a7 LIST \"\" \"\"");
    assert_eq!(
        data(&r),
        vec![Data::List(ListItem {
            attrs: attrs(&["\\Noselect"]),
            delimiter: Some('/'),
            mailbox: String::new(),
            childinfo: vec![],
        })]
    );
    assert_eq!(lists(&c.run("a8 LIST Work/ %")).len(), 1);
    c.run("a9 SUBSCRIBE Work/2024");
    c.run("b1 SUBSCRIBE Gone");
    let r = c.run("b2 LSUB \"\" *");
    let names: Vec<String> = lists(&r).into_iter().map(|l| l.0).collect();
    assert_eq!(names, vec!["Gone".to_owned(), "Work/2024".to_owned()]);
    // `%` stops at the first level: the unsubscribed parent is shown \Noselect.
    let r = c.run("b3 LSUB \"\" %");
    assert!(
        lists(&r).contains(&("Work".into(), attrs(&["\\Noselect"]))),
        "{r:?}"
    );
    c.run("b4 UNSUBSCRIBE Gone");
    assert_eq!(lists(&c.run("b5 LSUB \"\" *")).len(), 1);
}

#[test]
fn rename_delete_and_status() {
    let store = MemoryStore::new();
    store.deliver("INBOX", &message(1)).unwrap();
    let mut c = Client::logged_in(&store);
    c.run("a0 CREATE A");
    c.run("a1 CREATE A/B");
    assert_eq!(last(&c.run("a2 RENAME A Z")).kind, Kind::Ok);
    let names: Vec<String> = lists(&c.run("a3 LIST \"\" *"))
        .into_iter()
        .map(|l| l.0)
        .collect();
    assert_eq!(
        names,
        vec!["INBOX".to_owned(), "Z".to_owned(), "Z/B".to_owned()]
    );
    // Renaming INBOX moves its messages and leaves it empty.
    assert_eq!(last(&c.run("a4 RENAME INBOX Old")).kind, Kind::Ok);
    assert_eq!(store.messages("INBOX").len(), 0);
    assert_eq!(store.messages("Old").len(), 1);
    assert_eq!(code(&c.run("a5 DELETE INBOX")), Some(Code::Cannot));
    assert_eq!(code(&c.run("a6 DELETE Nope")), Some(Code::Nonexistent));
    c.run("a7 SELECT Old");
    assert_eq!(code(&c.run("a8 DELETE Old")), Some(Code::InUse));
    let r = c.run("a9 STATUS Old (MESSAGES UNSEEN UIDNEXT)");
    use crate::types::StatusAtt as A;
    assert_eq!(
        data(&r),
        vec![Data::Status {
            mailbox: "Old".into(),
            items: vec![(A::Messages, 1), (A::Unseen, 1), (A::UidNext, 2)]
        }]
    );
    assert_eq!(
        code(&c.run("b1 STATUS Nope (MESSAGES)")),
        Some(Code::Nonexistent)
    );
}
