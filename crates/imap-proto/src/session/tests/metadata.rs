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
