//! passwd-file parsing and the editable model used by mailctl.

use std::fs;
use std::path::PathBuf;

use ferrymail_users::{EditError, PasswdEntry, PasswdFile, Quota, Scheme, StoredPassword};

const SHA512: &str = "{SHA512-CRYPT}$6$W4iSUp2KUzZOJ2o6$WhUBXNKlQBltK34jYLi4JjIEjmRgRQoZRBxNomR1GIM4yHOCzv0rS2HaGrUMXYyZPypnnDV/G2eu/hunje2Dg/";

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    fs::write(&p, text).unwrap();
    p
}

const SAMPLE: &str = "\
# virtual users
Joe@A.test:{PLAIN}joepw:5000:5000:Joe Bloggs:/var/mail/a.test/joe:/bin/false:userdb_quota_rule=*:storage=100M userdb_mail=maildir:~/Maildir

ann@a.test:{SHA512-CRYPT}$6$W4iSUp2KUzZOJ2o6$WhUBXNKlQBltK34jYLi4JjIEjmRgRQoZRBxNomR1GIM4yHOCzv0rS2HaGrUMXYyZPypnnDV/G2eu/hunje2Dg/
bad-scheme@a.test:{SSHA}whatever::::
nopass@a.test:
noColonLine
uid@a.test:{PLAIN}x:notanumber
rel@a.test:{PLAIN}x::::relative/home
msgs@b.test:{PLAIN}m::::::quota_rule=*:messages=1000 quota_bytes=2048
joe@a.test:{PLAIN}duplicate
relq@a.test:{PLAIN}r::::::quota_rule=*:storage=+10M
";

#[test]
fn good_lines_parse_and_bad_lines_are_reported_with_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "passwd", SAMPLE);
    let f = PasswdFile::load(&path).unwrap();

    let logins: Vec<&str> = f.entries().map(|e| e.login.as_str()).collect();
    assert_eq!(
        logins,
        [
            "joe@a.test",
            "ann@a.test",
            "bad-scheme@a.test",
            "nopass@a.test",
            "msgs@b.test",
            "relq@a.test"
        ]
    );
    // An unusable hash keeps the user (for delivery) without a password.
    let bad = f.get("bad-scheme@a.test").unwrap();
    assert!(bad.password.is_none());
    assert!(bad
        .unusable_password
        .as_ref()
        .unwrap()
        .reason()
        .contains("SSHA"));
    assert!(!format!("{bad:?}").contains("whatever"));
    assert!(!format!("{f:?}").contains("joepw"));

    let joe = f.get("JOE@a.TEST").unwrap();
    assert_eq!(joe.uid, Some(5000));
    assert_eq!(joe.gid, Some(5000));
    assert_eq!(joe.gecos, "Joe Bloggs");
    assert_eq!(
        joe.home.as_deref(),
        Some(std::path::Path::new("/var/mail/a.test/joe"))
    );
    assert_eq!(joe.shell, "/bin/false");
    assert_eq!(joe.quota().storage_bytes, Some(100 * 1024 * 1024));
    assert_eq!(joe.quota().messages, None);
    assert_eq!(joe.extra.len(), 2);
    assert_eq!(joe.extra[1].key, "userdb_mail");
    assert_eq!(joe.extra[1].value.as_deref(), Some("maildir:~/Maildir"));
    assert!(joe.password.as_ref().unwrap().verify(b"joepw"));

    let ann = f.get("ann@a.test").unwrap();
    assert_eq!(ann.password.as_ref().unwrap().scheme(), Scheme::Sha512Crypt);
    assert_eq!(ann.uid, None);
    assert!(ann.home.is_none());

    assert!(f.get("nopass@a.test").unwrap().password.is_none());
    let msgs = f.get("msgs@b.test").unwrap();
    assert_eq!(
        msgs.quota(),
        Quota {
            storage_bytes: Some(2048),
            messages: Some(1000)
        }
    );
    // An unsupported quota rule is reported but does not cost the user.
    assert!(f.get("relq@a.test").unwrap().quota().is_unlimited());

    let issues: Vec<(Option<usize>, &str)> = f
        .issues()
        .iter()
        .map(|i| (i.line, i.reason.as_str()))
        .collect();
    let lines: Vec<usize> = issues.iter().map(|(l, _)| l.unwrap()).collect();
    assert_eq!(lines, [5, 7, 8, 9, 11, 12], "{issues:?}");
    assert!(
        issues[0].1.contains("unknown password scheme {SSHA}"),
        "{}",
        issues[0].1
    );
    assert!(issues[2].1.contains("uid"), "{}", issues[2].1);
    assert!(issues[3].1.contains("home"), "{}", issues[3].1);
    assert!(issues[4].1.contains("duplicate"), "{}", issues[4].1);
    assert!(issues[5].1.contains("quota"), "{}", issues[5].1);
    for i in f.issues() {
        assert_eq!(i.file, path);
        assert!(
            !i.reason.contains("joepw") && !i.reason.contains("W4iSUp2K"),
            "{i}"
        );
    }
}

#[test]
fn issue_reasons_never_echo_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "passwd",
        "a@a.test:{SHA512-CRYPT}$6$saltsalt$tooshorthashvalue\nb@a.test:$2y$05$SECRETSECRETSECRETSECRETSECRET\n",
    );
    let f = PasswdFile::load(&path).unwrap();
    assert_eq!(f.issues().len(), 2);
    for i in f.issues() {
        assert!(
            !i.reason.contains("tooshort") && !i.reason.contains("SECRET"),
            "{i}"
        );
    }
}

#[test]
fn save_round_trip_preserves_comments_and_unknown_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "passwd", SAMPLE);
    let mut f = PasswdFile::load(&path).unwrap();
    // Untouched: written back byte for byte.
    f.save().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), SAMPLE);

    let mut f = PasswdFile::load(&path).unwrap();
    let mut new = PasswdEntry::new(
        "New@A.test",
        Some(StoredPassword::parse("{PLAIN}newpw").unwrap()),
    )
    .unwrap();
    new.home = Some(PathBuf::from("/var/mail/a.test/new"));
    f.add(new).unwrap();
    assert!(matches!(
        f.add(PasswdEntry::new("new@a.test", None).unwrap()),
        Err(EditError::AlreadyExists(_))
    ));
    f.remove("ann@a.test").unwrap();
    assert!(matches!(
        f.remove("ann@a.test"),
        Err(EditError::NotFound(_))
    ));
    f.set_password("joe@a.test", Some(StoredPassword::parse(SHA512).unwrap()))
        .unwrap();
    f.set_quota(
        "joe@a.test",
        Quota {
            storage_bytes: Some(1 << 30),
            messages: Some(500),
        },
    )
    .unwrap();
    f.set_quota("msgs@b.test", Quota::default()).unwrap();
    // Editing a user with an unusable hash keeps the hash text...
    f.set_quota(
        "bad-scheme@a.test",
        Quota {
            storage_bytes: Some(1024),
            messages: None,
        },
    )
    .unwrap();
    f.save().unwrap();

    let text = fs::read_to_string(&path).unwrap();
    let expected_joe = format!(
        "joe@a.test:{SHA512}:5000:5000:Joe Bloggs:/var/mail/a.test/joe:/bin/false:userdb_mail=maildir:~/Maildir userdb_quota_rule=*:storage=1G:messages=500"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# virtual users");
    assert_eq!(lines[1], expected_joe);
    assert_eq!(lines[2], "");
    // Malformed and duplicate lines survive untouched; the unusable hash too.
    assert!(lines.contains(&"noColonLine"));
    assert!(lines.contains(&"bad-scheme@a.test:{SSHA}whatever::::::userdb_quota_rule=*:storage=1k"));
    assert!(lines.contains(&"joe@a.test:{PLAIN}duplicate"));
    assert!(lines.contains(&"msgs@b.test:{PLAIN}m"));
    assert_eq!(
        *lines.last().unwrap(),
        "new@a.test:{PLAIN}newpw::::/var/mail/a.test/new"
    );
    assert!(!text.contains("ann@a.test"));

    // And it parses back to the same data.
    let again = PasswdFile::load(&path).unwrap();
    let joe = again.get("joe@a.test").unwrap();
    assert_eq!(
        joe.quota(),
        Quota {
            storage_bytes: Some(1 << 30),
            messages: Some(500)
        }
    );
    assert!(joe.password.as_ref().unwrap().verify(b"s3cret!"));
    assert!(again.get("msgs@b.test").unwrap().quota().is_unlimited());
    assert!(again
        .get("new@a.test")
        .unwrap()
        .password
        .as_ref()
        .unwrap()
        .verify(b"newpw"));

    // ...until a new password replaces it.
    let mut again = again;
    again
        .set_password(
            "bad-scheme@a.test",
            Some(StoredPassword::parse("{PLAIN}fixed").unwrap()),
        )
        .unwrap();
    assert!(again
        .render()
        .contains("bad-scheme@a.test:{PLAIN}fixed::::::userdb_quota_rule=*:storage=1k\n"));
    assert!(again
        .get("bad-scheme@a.test")
        .unwrap()
        .unusable_password
        .is_none());
}

#[test]
fn save_creates_missing_file_and_refuses_lost_updates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwd");
    let mut f = PasswdFile::load(&path).unwrap();
    assert_eq!(f.entries().count(), 0);
    f.add(PasswdEntry::new("a@a.test", None).unwrap()).unwrap();
    f.save().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "a@a.test:\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );

    // Two editors: the second save must not silently drop the first's change.
    let mut one = PasswdFile::load(&path).unwrap();
    let mut two = PasswdFile::load(&path).unwrap();
    one.add(PasswdEntry::new("b@a.test", None).unwrap())
        .unwrap();
    one.save().unwrap();
    two.add(PasswdEntry::new("c@a.test", None).unwrap())
        .unwrap();
    assert!(matches!(two.save(), Err(EditError::ChangedOnDisk { .. })));
    // The first editor can keep saving: its stamp follows its own writes.
    one.remove("a@a.test").unwrap();
    one.save().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "b@a.test:\n");
}

#[test]
fn invalid_edits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = PasswdFile::load(dir.path().join("passwd")).unwrap();
    assert!(PasswdEntry::new("has space@a.test", None).is_err());
    assert!(PasswdEntry::new("a:b@a.test", None).is_err());
    assert!(PasswdEntry::new("#x@a.test", None).is_err());
    assert!(PasswdEntry::new("a@b@c", None).is_err());
    let mut e = PasswdEntry::new("a@a.test", None).unwrap();
    e.home = Some(PathBuf::from("relative"));
    assert!(matches!(f.add(e), Err(EditError::Invalid(_))));
    let mut e = PasswdEntry::new("a@a.test", None).unwrap();
    e.gecos = "with:colon".into();
    assert!(f.add(e).is_err());
    f.add(PasswdEntry::new("a@a.test", None).unwrap()).unwrap();
    assert!(f
        .update("a@a.test", |e| e.shell = "bad\nline".into())
        .is_err());
    // A rejected update leaves the entry as it was.
    assert_eq!(f.get("a@a.test").unwrap().shell, "");
    // A colon inside a plaintext password would split the line.
    let colon = StoredPassword::parse("{PLAIN}a:b").unwrap();
    assert!(matches!(
        f.set_password("a@a.test", Some(colon)),
        Err(EditError::Invalid(_))
    ));
    assert_eq!(f.render(), "a@a.test:\n");
}
