//! The systemd units: consistent with the config defaults and the daemons' socket names,
//! hardened (see docs/operations.md), accepted by `systemd-analyze verify`, and with the
//! `systemd-analyze security` scores that docs/operations.md records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferrymail_config::Config;
use ferrymail_system_tests::units::{self, Listen, ServiceSpec, Unit};
use ferrymail_system_tests::{install_sh, require_tool, run, stub_binaries, workspace_root};

fn units() -> Vec<Unit> {
    units::load_dir(&workspace_root().join("systemd")).unwrap()
}

fn example_config() -> Config {
    Config::load(&workspace_root().join("deploy/ferrymail.toml")).unwrap()
}

fn service<'a>(all: &'a [ServiceSpec], name: &str) -> &'a ServiceSpec {
    all.iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Installs the units for a prefix inside `root`, with stand-in programs at every ExecStart
/// (systemd-analyze checks that they exist). Returns the unit directory.
fn install_for_verify(root: &Path) -> PathBuf {
    let stubs = root.join("stubs");
    stub_binaries(&stubs).unwrap();
    install_sh(&[
        ("PREFIX", &root.join("usr")),
        ("SYSCONFDIR", &root.join("etc")),
        ("TARGET_DIR", &stubs),
    ])
    .unwrap();
    root.join("usr/lib/systemd/system")
}

fn unit_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn sockets_match_the_config_listeners_and_socket_paths() {
    let config = example_config();
    let all = units::services(&units()).unwrap();
    let expect_tcp = [
        ("ferrymail-smtpd.service", &config.smtpd.listeners),
        ("ferrymail-imapd.service", &config.imapd.listeners),
        ("ferrymail-pop3d.service", &config.pop3d.listeners),
        (
            "ferrymail-managesieved.service",
            &config.managesieve.listeners,
        ),
        ("ferrymail-proxyd.service", &config.proxy.listeners),
    ];
    for (svc, listeners) in expect_tcp {
        let s = service(&all, svc);
        let tcp = s
            .sockets
            .iter()
            .filter(|k| matches!(k.listen, Listen::TcpPort(_)));
        assert_eq!(tcp.count(), listeners.len(), "{svc}");
        for l in listeners.iter() {
            let sock = s
                .sockets
                .iter()
                .find(|k| k.fd_name == l.fd_name())
                .unwrap_or_else(|| panic!("{svc}: no socket named {}", l.fd_name()));
            assert_eq!(
                sock.listen,
                Listen::TcpPort(l.listen.port()),
                "{}",
                sock.unit
            );
        }
    }
    let run_dir = |p: PathBuf| Listen::UnixStream(p);
    // The front end's other socket: mailctl proxy's.
    let proxy = service(&all, "ferrymail-proxyd.service");
    assert_eq!(proxy.sockets.len(), config.proxy.listeners.len() + 1);
    let control = proxy
        .sockets
        .iter()
        .find(|k| k.fd_name == "control")
        .unwrap();
    assert_eq!(
        control.listen,
        run_dir(config.run_path(&config.proxy.control_socket))
    );
    let delivery = service(&all, "ferrymail-delivery.service");
    assert_eq!(delivery.sockets.len(), 1);
    assert_eq!(delivery.sockets[0].fd_name, "lmtp");
    assert_eq!(delivery.sockets[0].listen, run_dir(config.lmtp_socket()));
    assert_eq!(
        delivery.sockets[0].mode,
        Some(config.delivery.lmtp_socket_mode)
    );
    let queue = service(&all, "ferrymail-queue.service");
    let by_name: BTreeMap<&str, _> = queue
        .sockets
        .iter()
        .map(|s| (s.fd_name.as_str(), s))
        .collect();
    assert_eq!(
        by_name.keys().copied().collect::<Vec<_>>(),
        ["control", "wake"]
    );
    assert_eq!(by_name["control"].listen, run_dir(config.control_socket()));
    assert_eq!(
        by_name["control"].mode,
        Some(config.queue.control_socket_mode)
    );
    assert_eq!(
        by_name["wake"].listen,
        Listen::UnixDatagram(config.wake_socket())
    );
}

#[test]
fn services_run_the_daemons_as_their_users_with_the_hardening_of_issue_9() {
    let config = example_config();
    let all = units::services(&units()).unwrap();
    let expect = [
        ("ferrymail-smtpd.service", "mta-smtpd", &config.smtpd.user),
        (
            "ferrymail-queue.service",
            "queue-runner",
            &config.queue.user,
        ),
        (
            "ferrymail-delivery.service",
            "local-delivery",
            &config.delivery.user,
        ),
        ("ferrymail-imapd.service", "imapd", &config.imapd.user),
        ("ferrymail-pop3d.service", "pop3d", &config.pop3d.user),
        (
            "ferrymail-managesieved.service",
            "managesieved",
            &config.managesieve.user,
        ),
        ("ferrymail-proxyd.service", "proxyd", &config.proxy.user),
    ];
    assert_eq!(all.len(), expect.len());
    for (name, bin, user) in expect {
        let s = service(&all, name);
        let u = &s.unit;
        let get = |k: &str| {
            u.value("Service", k)
                .unwrap_or_else(|| panic!("{name}: no {k}="))
        };
        assert_eq!(
            s.exec,
            Path::new("/usr/libexec/ferrymail").join(bin),
            "{name}"
        );
        assert_eq!(get("User"), user.as_str(), "{name}");
        assert_eq!(get("Type"), "notify", "{name}");
        assert!(get("ExecReload").contains("-HUP $MAINPID"), "{name}");
        for (k, v) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
        ] {
            assert_eq!(get(k), v, "{name}: {k}");
        }
        // Sockets come from systemd and the daemon runs as its user: no capability at all
        // (an empty assignment, which the reader records as a reset).
        let raw = std::fs::read_to_string(workspace_root().join("systemd").join(name)).unwrap();
        assert!(
            raw.lines().any(|l| l.trim() == "CapabilityBoundingSet="),
            "{name}"
        );
        assert!(
            u.values("Service", "CapabilityBoundingSet").is_empty(),
            "{name}"
        );
        assert!(u
            .words("Service", "SystemCallFilter")
            .contains(&"@system-service"));
        let families = u.words("Service", "RestrictAddressFamilies");
        assert!(families.contains(&"AF_UNIX"), "{name}");
        assert!(!families.contains(&"AF_PACKET"), "{name}");
        let rw = u.words("Service", "ReadWritePaths");
        let needs: Vec<&Path> = match bin {
            "mta-smtpd" | "queue-runner" => vec![&config.paths.spool_dir],
            // The front end writes nothing but its logs.
            "proxyd" => vec![],
            _ => vec![&config.paths.mail_root],
        };
        for p in needs {
            assert!(
                rw.iter().any(|w| Path::new(w.trim_start_matches('-')) == p),
                "{name}: {} not writable",
                p.display()
            );
        }
    }
    // The private databases and caches live where each daemon opens them.
    let state = |svc: &str| -> Vec<std::path::PathBuf> {
        service(&all, svc)
            .unit
            .value("Service", "StateDirectory")
            .map(|v| {
                v.split_whitespace()
                    .map(|d| Path::new("/var/lib").join(d))
                    .collect()
            })
            .unwrap_or_default()
    };
    let under_state = |dirs: &[&str]| -> Vec<std::path::PathBuf> {
        dirs.iter()
            .map(|d| config.paths.state_dir.join(d))
            .collect()
    };
    assert_eq!(
        state("ferrymail-queue.service"),
        under_state(&["queue-runner", "mta-sts", "tls-rpt"])
    );
    assert_eq!(
        state("ferrymail-smtpd.service"),
        under_state(&["mta-smtpd"])
    );
    assert_eq!(state("ferrymail-imapd.service"), under_state(&["imapd"]));
    assert_eq!(
        state("ferrymail-delivery.service"),
        under_state(&["local-delivery"])
    );
}

#[test]
fn systemd_analyze_verify_passes_on_every_unit() {
    let tool = require_tool("systemd-analyze", "systemd").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let unit_dir = install_for_verify(dir.path());
    let files = unit_files(&unit_dir);
    assert_eq!(files.len(), units().len());
    let out = Command::new(&tool)
        .arg("verify")
        .args(&files)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");

    // The check has teeth: a unit whose program is missing is refused.
    let broken = dir.path().join("broken.service");
    let text = std::fs::read_to_string(unit_dir.join("ferrymail-pop3d.service")).unwrap();
    std::fs::write(&broken, text.replace("/pop3d ", "/no-such-daemon ")).unwrap();
    let out = Command::new(&tool)
        .arg("verify")
        .arg(&broken)
        .output()
        .unwrap();
    assert!(
        !out.status.success() || !out.stderr.is_empty(),
        "systemd-analyze verify accepted a unit with a missing program"
    );
}

/// `systemd-analyze security --offline=yes` scores, by unit name.
fn security_scores(tool: &Path, unit_dir: &Path) -> BTreeMap<String, String> {
    let mut scores = BTreeMap::new();
    for f in unit_files(unit_dir)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "service"))
    {
        let out = run(Command::new(tool)
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(&f))
        .unwrap();
        let last = out
            .lines()
            .find(|l| l.contains("Overall exposure level"))
            .unwrap_or_else(|| panic!("no score for {}: {out}", f.display()));
        let score = last
            .split(':')
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .to_owned();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        scores.insert(name, score);
    }
    scores
}

#[test]
fn security_scores_are_low_and_recorded_in_the_docs() {
    let tool = require_tool("systemd-analyze", "systemd").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let unit_dir = install_for_verify(dir.path());
    let scores = security_scores(&tool, &unit_dir);
    assert_eq!(scores.len(), 7);
    let doc = std::fs::read_to_string(workspace_root().join("docs/operations.md")).unwrap();
    for (unit, score) in &scores {
        let value: f64 = score.parse().unwrap();
        // systemd calls < 2.0 "OK" and < 1.0 "SAFE"; anything above means hardening was lost.
        assert!(value < 2.0, "{unit}: exposure {score}");
        let row = format!("| `{unit}` | {score} |");
        assert!(
            doc.contains(&row),
            "docs/operations.md lacks the row `{row}`: {scores:?}"
        );
    }
}
