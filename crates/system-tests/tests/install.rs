//! `deploy/install.sh` lays out what a package ships; the sysusers.d and tmpfiles.d files
//! create the users and the directories the daemons expect, with the spool library's modes.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrymail_system_tests::{install_sh, require_tool, run, stub_binaries, workspace_root};

/// Every file and symlink under `root`, relative, with `mode` (files) or `-> target` (links).
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if m.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, format!("{:o}", m.permissions().mode() & 0o7777));
            }
        }
    }
    out
}

fn expected_tree(sendmail_mode: &str) -> BTreeMap<String, String> {
    let mut e = BTreeMap::new();
    for d in [
        "mta-smtpd",
        "queue-runner",
        "local-delivery",
        "imapd",
        "pop3d",
        "managesieved",
        "proxyd",
    ] {
        e.insert(format!("usr/libexec/ferrymail/{d}"), "755".to_owned());
    }
    e.insert(
        "usr/libexec/ferrymail/sendmail".into(),
        sendmail_mode.to_owned(),
    );
    e.insert("usr/sbin/mailctl".into(), "755".into());
    e.insert(
        "usr/sbin/sendmail".into(),
        "-> ../libexec/ferrymail/sendmail".into(),
    );
    e.insert(
        "usr/bin/mailq".into(),
        "-> ../libexec/ferrymail/sendmail".into(),
    );
    e.insert(
        "usr/bin/newaliases".into(),
        "-> ../libexec/ferrymail/sendmail".into(),
    );
    e.insert(
        "usr/lib/sendmail".into(),
        "-> ../libexec/ferrymail/sendmail".into(),
    );
    let units = std::fs::read_dir(workspace_root().join("systemd")).unwrap();
    for u in units {
        let name = u.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".service") || name.ends_with(".socket") {
            e.insert(format!("usr/lib/systemd/system/{name}"), "644".into());
        }
    }
    for (k, v) in [
        ("usr/lib/sysusers.d/ferrymail.conf", "644"),
        ("usr/lib/tmpfiles.d/ferrymail.conf", "644"),
        ("etc/ferrymail/ferrymail.toml", "644"),
        ("usr/share/doc/ferrymail/examples/ferrymail.toml", "644"),
        ("usr/share/doc/ferrymail/README.md", "644"),
        ("usr/share/doc/ferrymail/architecture.md", "644"),
        ("usr/share/doc/ferrymail/operations.md", "644"),
        ("usr/share/doc/ferrymail/systemd.md", "644"),
        ("usr/share/man/man8/ferrymail.8", "644"),
    ] {
        e.insert(k.into(), v.into());
    }
    e
}

fn drop_group_gid() -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups
        .lines()
        .find(|l| l.starts_with("ferrymail-drop:"))
        .and_then(|l| l.split(':').nth(2))
        .and_then(|g| g.parse().ok())
}

#[test]
fn install_sh_into_destdir_produces_the_package_tree() {
    let dir = tempfile::tempdir().unwrap();
    let stubs = dir.path().join("target");
    stub_binaries(&stubs).unwrap();
    let dest = dir.path().join("dest");
    install_sh(&[("DESTDIR", &dest), ("TARGET_DIR", &stubs)]).unwrap();

    // setgid to the drop group only where that group exists and we are root (as in CI).
    let root = nix::unistd::Uid::effective().is_root();
    let gid = drop_group_gid().filter(|_| root);
    let got = tree(&dest);
    assert_eq!(
        got,
        expected_tree(if gid.is_some() { "2755" } else { "755" })
    );
    let sendmail = dest.join("usr/libexec/ferrymail/sendmail");
    if let Some(gid) = gid {
        assert_eq!(std::fs::metadata(&sendmail).unwrap().gid(), gid);
    }
    for link in [
        "usr/sbin/sendmail",
        "usr/bin/mailq",
        "usr/bin/newaliases",
        "usr/lib/sendmail",
    ] {
        assert_eq!(
            std::fs::canonicalize(dest.join(link)).unwrap(),
            std::fs::canonicalize(&sendmail).unwrap()
        );
    }
    // Default prefix: the units are shipped byte for byte.
    for (rel, _) in got
        .iter()
        .filter(|(k, _)| k.starts_with("usr/lib/systemd/system/"))
    {
        let name = Path::new(rel).file_name().unwrap();
        assert_eq!(
            std::fs::read(dest.join(rel)).unwrap(),
            std::fs::read(workspace_root().join("systemd").join(name)).unwrap()
        );
    }
    let conf = dest.join("etc/ferrymail/ferrymail.toml");
    assert_eq!(
        std::fs::read(&conf).unwrap(),
        std::fs::read(workspace_root().join("deploy/ferrymail.toml")).unwrap()
    );

    // A second install (an upgrade) keeps the admin's configuration.
    std::fs::write(&conf, "# edited by the admin\n").unwrap();
    install_sh(&[("DESTDIR", &dest), ("TARGET_DIR", &stubs)]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "# edited by the admin\n"
    );
}

#[test]
fn install_sh_substitutes_a_non_default_prefix_and_refuses_missing_binaries() {
    let dir = tempfile::tempdir().unwrap();
    let stubs = dir.path().join("target");
    stub_binaries(&stubs).unwrap();
    let prefix = dir.path().join("opt");
    install_sh(&[
        ("PREFIX", &prefix),
        ("TARGET_DIR", &stubs),
        ("DROP_GROUP", Path::new("site-drop")),
    ])
    .unwrap();
    // maildrop/ admits only sendmail's group: every file that names it names the site's.
    let read = |p: &str| std::fs::read_to_string(prefix.join(p)).unwrap();
    let tmpfiles = read("lib/tmpfiles.d/ferrymail.conf");
    assert!(
        tmpfiles.contains("/var/spool/ferrymail/maildrop  1730 ferrymail site-drop"),
        "{tmpfiles}"
    );
    assert!(read("lib/sysusers.d/ferrymail.conf").contains("\ng site-drop"));
    let delivery = read("lib/systemd/system/ferrymail-delivery.service");
    assert!(
        delivery.contains("SupplementaryGroups=site-drop ferrymail-secret"),
        "{delivery}"
    );
    assert!(!(tmpfiles + &delivery).contains("ferrymail-drop"));
    let unit =
        std::fs::read_to_string(prefix.join("lib/systemd/system/ferrymail-smtpd.service")).unwrap();
    let exec = format!(
        "ExecStart={}/libexec/ferrymail/mta-smtpd -c {}/etc/ferrymail/ferrymail.toml",
        prefix.display(),
        prefix.display()
    );
    assert!(unit.contains(&exec), "{unit}");
    assert!(!unit.contains("/usr/libexec"));
    assert!(prefix.join("etc/ferrymail/ferrymail.toml").is_file());

    std::fs::remove_file(stubs.join("imapd")).unwrap();
    let err =
        install_sh(&[("DESTDIR", &dir.path().join("d2")), ("TARGET_DIR", &stubs)]).unwrap_err();
    assert!(err.contains("not built") && err.contains("imapd"), "{err}");
    assert!(install_sh(&[("NOPE", Path::new("x"))]).is_err());
}

/// Numeric id of `name` in a passwd or group file.
fn id_in(file: &Path, name: &str) -> u32 {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find(|l| l.split(':').next() == Some(name))
        .and_then(|l| l.split(':').nth(2))
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {}", file.display()))
}

fn mode_owner(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.permissions().mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn sysusers_and_tmpfiles_create_users_and_the_spool_layout() {
    let sysusers = require_tool("systemd-sysusers", "systemd").unwrap();
    let tmpfiles = require_tool("systemd-tmpfiles", "systemd").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let src = workspace_root().join("systemd");
    let stdin = |f: &str| std::fs::File::open(src.join(f)).unwrap();
    run(Command::new(&sysusers)
        .arg(format!("--root={}", root.display()))
        .arg("-")
        .stdin(stdin("ferrymail.sysusers")))
    .unwrap();
    run(Command::new(&tmpfiles)
        .arg(format!("--root={}", root.display()))
        .args(["--create", "-"])
        .stdin(stdin("ferrymail.tmpfiles")))
    .unwrap();

    let passwd = root.join("etc/passwd");
    let group = root.join("etc/group");
    let ferrymail = id_in(&passwd, "ferrymail");
    let vmail = id_in(&passwd, "vmail");
    assert_ne!(ferrymail, vmail);
    let g_ferrymail = id_in(&group, "ferrymail");
    let g_vmail = id_in(&group, "vmail");
    let g_drop = id_in(&group, "ferrymail-drop");
    let g_secret = id_in(&group, "ferrymail-secret");

    // The same modes the spool library gives a spool it creates itself.
    let reference = dir.path().join("reference");
    ferrymail_spool::Spool::create_layout(&reference).unwrap();
    let spool = root.join("var/spool/ferrymail");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&reference)
        .unwrap()
        .map(|e| e.unwrap().file_name().into())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    for n in &names {
        let want = mode_owner(&reference.join(n)).0;
        let (mode, uid, gid) = mode_owner(&spool.join(n));
        assert_eq!(mode, want, "{}", n.display());
        assert_eq!(uid, ferrymail, "{}", n.display());
        let want_gid = if n == Path::new("maildrop") {
            g_drop
        } else {
            g_ferrymail
        };
        assert_eq!(gid, want_gid, "{}", n.display());
    }
    ferrymail_spool::Spool::open(&spool).unwrap();

    assert_eq!(
        mode_owner(&root.join("var/mail/vhosts")),
        (0o750, vmail, g_vmail)
    );
    assert_eq!(
        mode_owner(&root.join("var/lib/ferrymail/queue-runner")),
        (0o700, ferrymail, g_ferrymail)
    );
    assert_eq!(
        mode_owner(&root.join("var/lib/ferrymail/imapd")),
        (0o700, vmail, g_vmail)
    );
    assert_eq!(
        mode_owner(&root.join("etc/ferrymail/tls")),
        (0o750, 0, g_secret)
    );
    assert!(root.join("run/ferrymail").is_dir());
}
