use super::*;

fn store(limits: Limits) -> (tempfile::TempDir, ScriptStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = ScriptStore::new(dir.path(), limits);
    (dir, s)
}

#[test]
fn names_follow_rfc5804_and_are_never_paths() {
    for good in ["vacation", "Mein Filter", "ünïcode", "a.b"] {
        assert!(check_name(good, 128).is_ok(), "{good}");
    }
    for bad in [
        "",
        "../x",
        "a/b",
        ".hidden",
        "..",
        "a\nb",
        "a\u{7f}",
        "a\u{2028}",
        "a\u{85}",
    ] {
        assert!(check_name(bad, 128).is_err(), "{bad:?}");
    }
    assert!(check_name(&"x".repeat(129), 128).is_err());
}

#[test]
fn put_list_get_and_activate_in_pigeonhole_layout() {
    let (dir, s) = store(Limits::default());
    assert_eq!(s.list().unwrap(), vec![]);
    assert_eq!(s.active().unwrap(), None);
    s.put("main", b"keep;").unwrap();
    s.put("other", b"discard;").unwrap();
    assert_eq!(
        fs::read(dir.path().join("sieve/main.sieve")).unwrap(),
        b"keep;"
    );
    s.set_active("main").unwrap();
    let link = dir.path().join(".dovecot.sieve");
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("sieve/main.sieve"));
    assert_eq!(fs::read(&link).unwrap(), b"keep;");
    let list = s.list().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[0].active && list[0].name == "main" && list[0].size == 5);
    assert!(!list[1].active);
    // Switching replaces the link; no temporary link is left behind.
    s.set_active("other").unwrap();
    assert_eq!(s.active().unwrap().as_deref(), Some("other"));
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    s.set_active("").unwrap();
    assert!(fs::symlink_metadata(&link).is_err());
    assert_eq!(s.active().unwrap(), None);
    assert!(matches!(s.set_active("nope"), Err(StoreError::NonExistent)));
    assert!(matches!(s.get("nope"), Err(StoreError::NonExistent)));
}

#[test]
fn the_active_script_cannot_be_deleted_and_follows_a_rename() {
    let (dir, s) = store(Limits::default());
    s.put("a", b"keep;").unwrap();
    s.put("b", b"keep;").unwrap();
    s.set_active("a").unwrap();
    assert!(matches!(s.delete("a"), Err(StoreError::Active)));
    assert!(matches!(s.rename("a", "b"), Err(StoreError::AlreadyExists)));
    s.rename("a", "c").unwrap();
    assert_eq!(s.active().unwrap().as_deref(), Some("c"));
    assert_eq!(
        fs::read(dir.path().join(".dovecot.sieve")).unwrap(),
        b"keep;"
    );
    s.delete("b").unwrap();
    assert!(matches!(s.delete("b"), Err(StoreError::NonExistent)));
    assert!(matches!(s.rename("zz", "y"), Err(StoreError::NonExistent)));
}

#[test]
fn quotas_count_scripts_sizes_and_the_total_but_not_a_replaced_script() {
    let limits = Limits {
        max_scripts: 2,
        max_script_size: 10,
        max_total_size: 15,
        max_name_len: 16,
    };
    let (_dir, s) = store(limits);
    assert!(matches!(
        s.put("big", &[b'x'; 11]),
        Err(StoreError::Quota(Quota::MaxSize))
    ));
    s.put("a", &[b'x'; 10]).unwrap();
    assert!(matches!(
        s.have_space("b", 6),
        Err(StoreError::Quota(Quota::Total))
    ));
    s.put("b", &[b'x'; 5]).unwrap();
    assert!(matches!(
        s.put("c", b"x"),
        Err(StoreError::Quota(Quota::MaxScripts))
    ));
    // Replacing counts the new size instead of the old one.
    s.put("a", &[b'y'; 10]).unwrap();
    assert!(matches!(
        s.have_space(&"n".repeat(17), 1),
        Err(StoreError::BadName(_))
    ));
}

#[test]
fn a_hand_made_active_file_is_left_alone() {
    let (dir, s) = store(Limits::default());
    fs::write(dir.path().join(".dovecot.sieve"), b"keep;").unwrap();
    s.put("a", b"keep;").unwrap();
    assert!(matches!(s.set_active("a"), Err(StoreError::Unmanaged)));
    assert_eq!(
        fs::read(dir.path().join(".dovecot.sieve")).unwrap(),
        b"keep;"
    );
    // A link pointing elsewhere names no script of ours.
    assert_eq!(name_of_link(Path::new("/etc/passwd")), None);
    assert_eq!(name_of_link(Path::new("sieve/../x.sieve")), None);
    assert_eq!(
        name_of_link(Path::new("./sieve/x.sieve")).as_deref(),
        Some("x")
    );
}

#[test]
fn readers_follow_only_a_managed_active_link() {
    let (dir, s) = store(Limits::default());
    let link = dir.path().join(".dovecot.sieve");
    assert_eq!(follow_active_link(&link), link);
    s.put("main", b"keep;").unwrap();
    s.set_active("main").unwrap();
    assert_eq!(
        follow_active_link(&link),
        dir.path().join("sieve/main.sieve")
    );
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    assert_eq!(follow_active_link(&link), link);
    let plain = dir.path().join("sieve/main.sieve");
    assert_eq!(follow_active_link(&plain), plain);
}
