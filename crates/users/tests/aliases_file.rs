//! Aliases and domains files: parsing and the editable models.

use std::fs;
use std::path::PathBuf;

use ferrymail_users::{AliasTarget, AliasesFile, DomainsFile, EditError};

const ALIASES: &str = "\
# system aliases
postmaster: root
Root: root,
    admin@A.test
# a comment inside an entry
\t\"|/usr/bin/logger -t root\"
sales@a.test: joe, \"|/usr/bin/ticket --queue sales\", /var/archive/sales.mbox
no-colon-here
  stray continuation
staff: :include:staff.list
@b.test: catchall@a.test
empty:
root: duplicate
quote: \"unterminated
keep: \\joe

";

#[test]
fn parses_entries_continuations_and_reports_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aliases");
    fs::write(&path, ALIASES).unwrap();
    let f = AliasesFile::load(&path).unwrap();

    let names: Vec<&str> = f.entries().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "postmaster",
            "root",
            "sales@a.test",
            "staff",
            "@b.test",
            "keep"
        ]
    );
    assert_eq!(
        f.get("ROOT").unwrap().targets,
        vec![
            AliasTarget::Local("root".into()),
            AliasTarget::Address("admin@a.test".into()),
            AliasTarget::Pipe("/usr/bin/logger -t root".into()),
        ]
    );
    assert_eq!(
        f.get("sales@a.test").unwrap().targets,
        vec![
            AliasTarget::Local("joe".into()),
            AliasTarget::Pipe("/usr/bin/ticket --queue sales".into()),
            AliasTarget::File(PathBuf::from("/var/archive/sales.mbox")),
        ]
    );
    assert_eq!(
        f.get("staff").unwrap().targets,
        vec![AliasTarget::Include("staff.list".into())]
    );
    assert_eq!(
        f.get("@B.test").unwrap().targets,
        vec![AliasTarget::Address("catchall@a.test".into())]
    );
    assert_eq!(
        f.get("keep").unwrap().targets,
        vec![AliasTarget::NoExpand("joe".into())]
    );

    let issues: Vec<(usize, &str)> = f
        .issues()
        .iter()
        .map(|i| (i.line.unwrap(), i.reason.as_str()))
        .collect();
    let lines: Vec<usize> = issues.iter().map(|i| i.0).collect();
    // Line 9 continues the malformed entry of line 8, so it is one issue.
    assert_eq!(lines, [8, 12, 13, 14], "{issues:?}");
    assert!(issues[1].1.contains("no targets"));
    assert!(issues[2].1.contains("duplicate"));
    assert!(issues[3].1.contains("quote"));

    let stray = dir.path().join("stray");
    fs::write(
        &stray,
        "  leading continuation
ok: joe
",
    )
    .unwrap();
    let f = AliasesFile::load(&stray).unwrap();
    assert_eq!(f.issues().len(), 1);
    assert_eq!(f.issues()[0].line, Some(1));
    assert!(f.issues()[0].reason.contains("continuation"));
    assert!(f.get("ok").is_some());
}

#[test]
fn round_trip_and_edits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aliases");
    fs::write(&path, ALIASES).unwrap();
    let mut f = AliasesFile::load(&path).unwrap();
    f.save().unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        ALIASES,
        "untouched file changed"
    );

    let mut f = AliasesFile::load(&path).unwrap();
    f.set(
        "sales@a.test",
        vec![
            AliasTarget::Address("ann@a.test".into()),
            AliasTarget::Pipe("/usr/bin/ticket --queue \"sales\"".into()),
        ],
    )
    .unwrap();
    f.set("new", vec![AliasTarget::parse("joe@a.test").unwrap()])
        .unwrap();
    f.remove("postmaster").unwrap();
    assert!(matches!(
        f.remove("postmaster"),
        Err(EditError::NotFound(_))
    ));
    assert!(f.set("x", vec![]).is_err());
    assert!(f
        .set("bad name", vec![AliasTarget::Local("a".into())])
        .is_err());
    f.save().unwrap();

    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("postmaster"));
    // The multi-line root entry, with its inner comment, is untouched.
    assert!(text.contains("Root: root,\n    admin@A.test\n# a comment inside an entry\n\t\"|/usr/bin/logger -t root\"\n"));
    assert!(
        text.contains("sales@a.test: ann@a.test, \"|/usr/bin/ticket --queue \\\"sales\\\"\"\n"),
        "{text}"
    );
    assert!(text.ends_with("new: joe@a.test\n"));
    assert!(text.contains("no-colon-here\n  stray continuation\n"));

    let again = AliasesFile::load(&path).unwrap();
    assert_eq!(
        again.get("sales@a.test").unwrap().targets[1],
        AliasTarget::Pipe("/usr/bin/ticket --queue \"sales\"".into())
    );
    assert_eq!(
        again.get("new").unwrap().targets,
        vec![AliasTarget::Address("joe@a.test".into())]
    );
}

#[test]
fn domains_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("domains");
    let text = "# local domains\nA.test\nb.test.\n\nnot a domain\nc..test\na.test\n";
    fs::write(&path, text).unwrap();
    let mut f = DomainsFile::load(&path).unwrap();
    assert_eq!(f.domains().collect::<Vec<_>>(), ["a.test", "b.test"]);
    assert!(f.contains("B.TEST"));
    let lines: Vec<usize> = f.issues().iter().map(|i| i.line.unwrap()).collect();
    assert_eq!(lines, [5, 6, 7]);

    f.add("new.test").unwrap();
    assert!(matches!(
        f.add("NEW.test"),
        Err(EditError::AlreadyExists(_))
    ));
    assert!(f.add("x@y").is_err());
    f.remove("a.test").unwrap();
    f.save().unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "# local domains\nb.test.\n\nnot a domain\nc..test\na.test\nnew.test\n"
    );
    // The duplicate line kept verbatim now becomes the live entry.
    let again = DomainsFile::load(&path).unwrap();
    assert_eq!(
        again.domains().collect::<Vec<_>>(),
        ["b.test", "a.test", "new.test"]
    );
}
