//! METADATA (RFC 5464) over the memory store: set and get, DEPTH, MAXSIZE with
//! LONGENTRIES, the size and count limits, server entries and a missing mailbox.

use super::*;

fn metadata(r: &[Response]) -> Vec<(String, Option<Vec<u8>>)> {
    data(r)
        .into_iter()
        .flat_map(|d| match d {
            Data::Metadata { entries, .. } => entries,
            _ => Vec::new(),
        })
        .collect()
}

fn entry(name: &str, value: Option<&str>) -> (String, Option<Vec<u8>>) {
    (name.to_owned(), value.map(|v| v.as_bytes().to_vec()))
}

#[test]
fn set_get_depth_and_limits() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    let r = c.run("a1 SETMETADATA INBOX (/private/comment \"My comment\" /private/vendor/x/a \"1\" /private/vendor/x/a/b \"22\")");
    assert_eq!(last(&r).kind, Kind::Ok, "{r:?}");
    let r = c.run("a2 GETMETADATA INBOX (/private/comment /shared/comment)");
    assert_eq!(
        metadata(&r),
        [
            entry("/private/comment", Some("My comment")),
            entry("/shared/comment", None)
        ]
    );
    let r = c.run("a3 GETMETADATA (DEPTH 1) INBOX /private/vendor/x");
    assert_eq!(metadata(&r), [entry("/private/vendor/x/a", Some("1"))]);
    let r = c.run("a4 GETMETADATA (DEPTH infinity MAXSIZE 1) INBOX /private/vendor");
    assert_eq!(metadata(&r), [entry("/private/vendor/x/a", Some("1"))]);
    assert_eq!(last(&r).code, Some(Code::MetadataLongEntries(2)));

    // Removing, and the server's own entries.
    let r = c.run("a5 SETMETADATA INBOX (/private/comment NIL)");
    assert_eq!(last(&r).kind, Kind::Ok);
    let r = c.run("a6 GETMETADATA INBOX /private/comment");
    assert_eq!(metadata(&r), [entry("/private/comment", None)]);
    c.run("a7 SETMETADATA \"\" (/shared/comment \"motd\")");
    let r = c.run("a8 GETMETADATA \"\" /shared/comment");
    assert_eq!(metadata(&r), [entry("/shared/comment", Some("motd"))]);

    let r = c.run("a9 GETMETADATA Nowhere /private/comment");
    assert_eq!(last(&r).code, Some(Code::Nonexistent));
    let long = "x".repeat(MetadataLimits::default().max_value + 1);
    let r = c.run(&format!("b1 SETMETADATA INBOX (/private/long \"{long}\")"));
    assert_eq!(
        last(&r).code,
        Some(Code::MetadataMaxSize(
            MetadataLimits::default().max_value as u64
        ))
    );
    let many: Vec<String> = (0..MetadataLimits::default().max_entries)
        .map(|i| format!("/private/n{i} \"v\""))
        .collect();
    let r = c.run(&format!("b2 SETMETADATA INBOX ({})", many.join(" ")));
    assert_eq!(last(&r).code, Some(Code::MetadataTooMany));
    // Nothing of a refused SETMETADATA is kept.
    let r = c.run("b3 GETMETADATA INBOX /private/n0");
    assert_eq!(metadata(&r), [entry("/private/n0", None)]);
}

/// CREATE-SPECIAL-USE (RFC 6154 §5.3's example): the use is kept as the mailbox's
/// `/private/specialuse` entry and shown by LIST; uses a mailbox cannot have are refused
/// with nothing created.
#[test]
fn create_special_use() {
    let store = MemoryStore::new();
    let mut c = Client::logged_in(&store);
    let r = c.run("t1 CREATE MySpecialTrash (USE (\\Trash))");
    assert_eq!(last(&r).kind, Kind::Ok, "{r:?}");
    let r = c.run("t2 LIST (SPECIAL-USE) \"\" *");
    let listed: Vec<(String, Vec<String>)> = data(&r)
        .into_iter()
        .filter_map(|d| match d {
            Data::List(l) => Some((l.mailbox, l.attrs)),
            _ => None,
        })
        .collect();
    assert_eq!(
        listed,
        vec![(
            "MySpecialTrash".to_owned(),
            vec!["\\HasNoChildren".to_owned(), "\\Trash".to_owned()]
        )]
    );
    let r = c.run("t3 GETMETADATA MySpecialTrash /private/specialuse");
    assert_eq!(
        metadata(&r),
        vec![entry("/private/specialuse", Some("\\Trash"))]
    );
    // RFC 6154 §5.3: an attribute the server cannot give; nothing is created.
    let r = c.run("t4 CREATE Everything (USE (\\All))");
    assert_eq!(code(&r), Some(Code::UseAttr), "{r:?}");
    let r = c.run("t5 CREATE Odd (USE (\\Nonsense))");
    assert_eq!(code(&r), Some(Code::UseAttr), "{r:?}");
    let r = c.run("t6 LIST \"\" *");
    assert!(
        !format!("{r:?}").contains("Everything") && !format!("{r:?}").contains("Odd"),
        "{r:?}"
    );
    // SETMETADATA is checked the same way, and can change the use.
    let r = c.run("t7 SETMETADATA MySpecialTrash (/private/specialuse \"\\\\Flagged\")");
    assert_eq!(code(&r), Some(Code::UseAttr), "{r:?}");
    let r = c.run("t8 SETMETADATA MySpecialTrash (/private/specialuse \"\\\\Archive\")");
    assert_eq!(last(&r).kind, Kind::Ok, "{r:?}");
    let r = c.run("t9 LIST \"\" MySpecialTrash");
    assert!(
        matches!(&data(&r)[..], [Data::List(l)] if l.attrs.contains(&"\\Archive".to_owned())),
        "{r:?}"
    );
}
