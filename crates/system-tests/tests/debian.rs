//! The Debian packages: `debian/build-debs.sh` splits exactly the tree `install.sh` stages into
//! one package per daemon plus ferrymail-common and ferrymail-sendmail; and (as root, with a
//! release build, `--ignored`) the packages install with `dpkg -i` and the installed daemons
//! run and carry a message from SMTP to IMAP.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferrymail_system_tests::units;
use ferrymail_system_tests::{install_sh, require_tool, run, stub_binaries, workspace_root};

const DAEMON_PACKAGES: [(&str, &str); 7] = [
    ("ferrymail-smtpd", "ferrymail-smtpd.service"),
    ("ferrymail-queue", "ferrymail-queue.service"),
    ("ferrymail-delivery", "ferrymail-delivery.service"),
    ("ferrymail-imapd", "ferrymail-imapd.service"),
    ("ferrymail-pop3d", "ferrymail-pop3d.service"),
    ("ferrymail-managesieved", "ferrymail-managesieved.service"),
    ("ferrymail-proxyd", "ferrymail-proxyd.service"),
];

fn version() -> String {
    let out = run(Command::new("dpkg-parsechangelog")
        .args(["-S", "Version", "-l"])
        .arg(workspace_root().join("debian/changelog")))
    .unwrap();
    out.trim().to_owned()
}

fn build_debs(target_dir: &Path, out: &Path) -> Vec<PathBuf> {
    for (tool, pkg) in [
        ("dpkg-deb", "dpkg"),
        ("dpkg-gencontrol", "dpkg-dev"),
        ("dpkg-shlibdeps", "dpkg-dev"),
    ] {
        require_tool(tool, pkg).unwrap();
    }
    run(Command::new("sh")
        .arg(workspace_root().join("debian/build-debs.sh"))
        .arg(out)
        .env("TARGET_DIR", target_dir))
    .unwrap();
    let mut debs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    debs
}

fn field(deb: &Path, name: &str) -> String {
    run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name))
        .unwrap()
        .trim()
        .to_owned()
}

/// Paths (files and symlinks, not directories) in a package, without the leading `./`.
fn contents(deb: &Path) -> BTreeMap<String, String> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(deb)).unwrap();
    out.lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let path = cols.get(5)?.trim_start_matches("./").to_owned();
            Some((path, format!("{} {}", cols.first()?, cols.get(1)?)))
        })
        .collect()
}

fn files_under(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn packages_split_the_installed_tree_completely() {
    let dir = tempfile::tempdir().unwrap();
    let stubs = dir.path().join("target");
    stub_binaries(&stubs).unwrap();
    let debs = build_debs(&stubs, &dir.path().join("out"));
    let v = version();
    let arch = run(Command::new("dpkg").arg("--print-architecture"))
        .unwrap()
        .trim()
        .to_owned();
    let mut expected: Vec<String> = DAEMON_PACKAGES
        .iter()
        .map(|(p, _)| format!("{p}_{v}_{arch}.deb"))
        .chain([
            format!("ferrymail-common_{v}_{arch}.deb"),
            format!("ferrymail-sendmail_{v}_all.deb"),
        ])
        .collect();
    expected.sort();
    let names: Vec<String> = debs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, expected);

    let by_pkg: BTreeMap<String, (PathBuf, BTreeMap<String, String>)> = debs
        .iter()
        .map(|d| (field(d, "Package"), (d.clone(), contents(d))))
        .collect();

    // Together the packages ship exactly what install.sh installs (plus each package's
    // copyright and changelog), and no file twice.
    let stage = dir.path().join("stage");
    install_sh(&[("DESTDIR", &stage), ("TARGET_DIR", &stubs)]).unwrap();
    let mut shipped = BTreeSet::new();
    for (pkg, (_, files)) in &by_pkg {
        for f in files.keys() {
            if f.starts_with(&format!("usr/share/doc/{pkg}/")) {
                assert!(
                    f.ends_with("/copyright") || f.ends_with("/changelog.gz"),
                    "{f}"
                );
                continue;
            }
            assert!(shipped.insert(f.clone()), "{f} is in two packages");
        }
        assert!(
            files.contains_key(&format!("usr/share/doc/{pkg}/copyright")),
            "{pkg}"
        );
    }
    assert_eq!(shipped, files_under(&stage));

    // Each daemon package has its program, its service and exactly its sockets.
    let services =
        units::services(&units::load_dir(&workspace_root().join("systemd")).unwrap()).unwrap();
    for (pkg, unit) in DAEMON_PACKAGES {
        let (deb, files) = &by_pkg[pkg];
        let spec = services.iter().find(|s| s.name() == unit).unwrap();
        let mut want: BTreeSet<String> = spec
            .sockets
            .iter()
            .map(|s| format!("usr/lib/systemd/system/{}", s.unit))
            .collect();
        want.insert(format!("usr/lib/systemd/system/{unit}"));
        want.insert(
            spec.exec
                .display()
                .to_string()
                .trim_start_matches('/')
                .to_owned(),
        );
        let got: BTreeSet<String> = files
            .keys()
            .filter(|f| !f.starts_with("usr/share/doc/"))
            .cloned()
            .collect();
        assert_eq!(got, want, "{pkg}");
        assert!(
            field(deb, "Depends").contains(&format!("ferrymail-common (= {v})")),
            "{pkg}"
        );
        let scripts = run(Command::new("dpkg-deb").arg("-I").arg(deb)).unwrap();
        for s in ["postinst", "prerm", "postrm"] {
            assert!(scripts.contains(s), "{pkg} lacks {s}");
        }
    }

    let (common, files) = &by_pkg["ferrymail-common"];
    // Installed root-owned 0755; the postinst makes it setgid with dpkg-statoverride.
    assert_eq!(
        files["usr/libexec/ferrymail/sendmail"],
        "-rwxr-xr-x root/root"
    );
    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(common).arg(&control)).unwrap();
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/ferrymail/ferrymail.toml");
    let (sendmail, _) = &by_pkg["ferrymail-sendmail"];
    assert_eq!(field(sendmail, "Provides"), "mail-transport-agent");
    assert_eq!(field(sendmail, "Conflicts"), "mail-transport-agent");
}

/// A release build installed with `dpkg -i` on this machine, then the installed daemons
/// started from sockets (as the units would) carry one message from SMTP into the Maildir
/// and out over IMAP. Changes the machine (users, /usr, /etc/ferrymail), so it only runs on
/// request: `cargo test -p ferrymail-system-tests --test debian -- --ignored` as root after
/// `cargo build --release --locked -p ...` of every binary. The packages are purged at the
/// end; the users and directories stay, as after any purge of ferrymail-common.
#[test]
#[ignore = "installs packages on this machine: run with --ignored as root"]
fn dpkg_install_then_run_the_installed_daemons() {
    use ferrymail_system_tests::activation::{BoundSocket, Launcher};
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "dpkg -i needs root"
    );
    // FERRYMAIL_RELEASE_DIR: a copy of the release binaries, when the shared target
    // directory is being rebuilt by others.
    let release = std::env::var_os("FERRYMAIL_RELEASE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release"));
    let dir = tempfile::tempdir().unwrap();
    let debs = build_debs(&release, &dir.path().join("out"));
    // ferrymail-sendmail conflicts with any other MTA (postfix is on this machine for
    // benchmarks): install it only where none is.
    // dpkg-query exits 1 when some of the names are unknown; its output still lists the rest.
    let query = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${Status}\\n"])
        .args([
            "postfix",
            "exim4-daemon-light",
            "exim4-daemon-heavy",
            "sendmail-bin",
            "opensmtpd",
        ])
        .output()
        .unwrap();
    let other_mta = String::from_utf8_lossy(&query.stdout)
        .lines()
        .any(|l| l.ends_with("install ok installed"));
    let install: Vec<&PathBuf> = debs
        .iter()
        .filter(|d| !other_mta || !d.to_string_lossy().contains("ferrymail-sendmail"))
        .collect();
    let _purge = Purge(
        install
            .iter()
            .map(|d| field(d, "Package"))
            .collect::<Vec<_>>(),
    );
    run(Command::new("dpkg").arg("-i").args(&install)).unwrap();

    for user in ["ferrymail", "vmail"] {
        run(Command::new("getent").args(["passwd", user])).unwrap();
    }
    let stat = |p: &str| run(Command::new("stat").args(["-c", "%a %U %G", p])).unwrap();
    assert_eq!(
        stat("/usr/libexec/ferrymail/sendmail").trim(),
        "2755 root ferrymail-drop"
    );
    assert_eq!(
        stat("/var/spool/ferrymail/maildrop").trim(),
        "1730 ferrymail ferrymail-drop"
    );
    assert_eq!(
        stat("/var/spool/ferrymail/queue").trim(),
        "700 ferrymail ferrymail"
    );
    assert_eq!(stat("/var/mail/vhosts").trim(), "750 vmail vmail");
    for d in ferrymail_system_tests::DAEMONS {
        let p = format!("/usr/libexec/ferrymail/{d}");
        run(Command::new(&p).arg("--version")).unwrap();
    }
    // The installed example config is valid as shipped.
    run(Command::new("/usr/libexec/ferrymail/mta-smtpd").args([
        "--check-config",
        "-c",
        "/etc/ferrymail/ferrymail.toml",
    ]))
    .unwrap();

    // The installed daemons, started from sockets as the installed units' users (setpriv
    // with their User=, Group=, SupplementaryGroups=) on the installed spool, store and state
    // directories: the users, groups and modes from sysusers/tmpfiles must fit together.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut opts = ferrymail_dev::DevOptions::new(dir.path().join("state"));
    opts.ports = ferrymail_dev::Ports::free();
    let mut env = ferrymail_dev::prepare(&opts).unwrap();
    let defaults = ferrymail_config::Config::default();
    let c = &mut env.config;
    c.paths.spool_dir = defaults.paths.spool_dir.clone();
    c.paths.mail_root = defaults.paths.mail_root.clone();
    c.paths.state_dir = defaults.paths.state_dir.clone();
    c.smtpd.user = defaults.smtpd.user.clone();
    c.queue.user = defaults.queue.user.clone();
    c.delivery.user = defaults.delivery.user.clone();
    c.imapd.user = defaults.imapd.user.clone();
    c.pop3d.user = defaults.pop3d.user.clone();
    c.managesieve.user = defaults.managesieve.user.clone();
    c.imapd.limits.plaintext_auth_on_loopback = true;
    env.save_config().unwrap();
    // What the admin does for the certificate (public), the key and the password hashes
    // (docs/operations.md).
    std::fs::set_permissions(&env.config.tls.cert, std::fs::Permissions::from_mode(0o644)).unwrap();
    for secret in [&env.config.tls.key, &env.config.userdb.passwd_file] {
        run(Command::new("chgrp").arg("ferrymail-secret").arg(secret)).unwrap();
        std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let services = units::services(
        &units::load_dir(Path::new("/usr/lib/systemd/system"))
            .unwrap()
            .into_iter()
            .filter(|u| u.name.starts_with("ferrymail-"))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    // The front end needs a cluster and backends of its own (crates/proxyd/tests run it).
    let mut order: Vec<_> = services
        .iter()
        .filter(|s| s.name() != "ferrymail-proxyd.service")
        .cloned()
        .collect();
    order.sort_by_key(|s| {
        [
            "delivery",
            "queue",
            "smtpd",
            "imapd",
            "pop3d",
            "managesieved",
        ]
        .iter()
        .position(|n| s.name().contains(n))
    });
    let mut running = Vec::new();
    for spec in order {
        let sockets = spec
            .sockets
            .iter()
            .map(|s| BoundSocket::bind(s, &env.config, env.listen_addr, true).unwrap())
            .collect();
        let short = spec.name().trim_end_matches(".service").to_owned();
        let l = Launcher {
            bin: spec.exec.clone(),
            config_path: env.config_path.clone(),
            sockets,
            log: dir.path().join(format!("{short}.log")),
            notify_path: dir.path().join(format!("{short}.notify")),
            wrapper: spec.credentials(),
            service: spec,
        };
        let a = l.start(Duration::from_secs(30)).unwrap();
        running.push((l, a));
    }
    let logs = || {
        running
            .iter()
            .map(|(l, a)| format!("--- {}\n{}", l.service.name(), a.log_text()))
            .collect::<String>()
    };
    let (login, password) = env.users[0].clone();
    let tally = std::sync::Arc::new(std::sync::Mutex::new(Default::default()));
    let stop = std::sync::atomic::AtomicBool::new(false);
    ferrymail_system_tests::load::SmtpLoad {
        addr: env.addr(env.ports.smtp),
        rcpt: login.clone(),
        prefix: format!("deb{}", std::process::id()),
        count: 3,
        max_attempts: 5,
        pace: Duration::from_millis(10),
    }
    .run(&stop, &tally);
    let t: ferrymail_system_tests::load::Tally = std::mem::take(&mut *tally.lock().unwrap());
    assert_eq!(t.accepted.len(), 3, "{t:?}\n{}", logs());
    let store = env.config.paths.mail_root.clone();
    let tokens: Vec<String> = t.accepted.iter().map(|(t, _)| t.clone()).collect();
    assert!(
        ferrymail_system_tests::load::wait_until(Duration::from_secs(60), || {
            let found = ferrymail_system_tests::load::tokens_in_store(&store);
            tokens.iter().all(|t| found.contains(t))
        }),
        "installed daemons did not deliver\n{}",
        logs()
    );
    let imap = std::sync::Arc::new(std::sync::Mutex::new(Default::default()));
    ferrymail_system_tests::load::imap_load(
        env.addr(env.ports.imap),
        login,
        password,
        1,
        Duration::ZERO,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        imap.clone(),
    );
    let t: ferrymail_system_tests::load::Tally = std::mem::take(&mut *imap.lock().unwrap());
    assert_eq!(t.imap_sessions, 1, "{t:?}\n{}", logs());
    for (l, a) in running {
        let (status, _) = a.stop(Duration::from_secs(45)).unwrap();
        assert!(status.success(), "{}: {status}", l.service.name());
    }
}

/// Purges the packages it names when dropped, so a failed run leaves no package behind.
struct Purge(Vec<String>);

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").arg("--purge").args(&self.0).output();
    }
}
