//! The five daemons share one start-up (`ferrymail_net::startup`), so the same failure ends
//! every one of them with the same exit status (the table in docs/operations.md). Each case
//! breaks one thing in a working environment and runs the real binaries; their stderr is made
//! to look like the journal's stream, so every line must also carry a journald priority.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ferrymail_config::Config;
use ferrymail_dev::{built_bin, prepare, DevEnv, DevOptions, Ports};
use ferrymail_system_tests::DAEMONS;

/// The daemons with a TLS server side.
const TLS_DAEMONS: [&str; 4] = ["mta-smtpd", "imapd", "pop3d", "managesieved"];
const EX_CONFIG: i32 = 78;
const EX_CANTCREAT: i32 = 73;
/// Start-up failures are immediate; a daemon still running after this has started.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

fn env(dir: &Path) -> DevEnv {
    let mut opts = DevOptions::new(dir.join("state"));
    opts.ports = Ports::free();
    prepare(&opts).unwrap()
}

fn binary(name: &str) -> PathBuf {
    built_bin(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes `config` next to the environment's own and returns its path.
fn write_config(env: &DevEnv, name: &str, config: &Config) -> PathBuf {
    let path = env.state_dir.join(format!("{name}.toml"));
    std::fs::write(&path, config.to_toml().unwrap()).unwrap();
    path
}

/// Runs `daemon -c config` until it exits; returns its status and stderr.
fn run(daemon: &str, config: &Path, log_dir: &Path, case: &str) -> (ExitStatus, String) {
    let log_path = log_dir.join(format!("{case}-{daemon}.log"));
    let log = File::create(&log_path).unwrap();
    let meta = log.metadata().unwrap();
    let mut child = Command::new(binary(daemon))
        .arg("-c")
        .arg(config)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + EXIT_WITHIN;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{case}: {daemon} started instead of failing:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        std::fs::read_to_string(&log_path).unwrap_or_default(),
    )
}

/// Runs every daemon in `daemons` against `config` and checks each exits `want`, saying so
/// at error priority on a stream journald would parse.
fn expect_exit(case: &str, daemons: &[&str], config: &Path, log_dir: &Path, want: i32) {
    let mut got = Vec::new();
    for daemon in daemons {
        let (status, log) = run(daemon, config, log_dir, case);
        for line in log.lines().filter(|l| !l.is_empty()) {
            let prefixed = line.len() > 3
                && line.starts_with('<')
                && line.as_bytes()[2] == b'>'
                && line.as_bytes()[1].is_ascii_digit();
            assert!(
                prefixed,
                "{case}: {daemon}: a line without a journald priority: {line:?}"
            );
        }
        assert!(
            log.lines().any(|l| l.starts_with("<3>")),
            "{case}: {daemon} did not report the failure at error priority:\n{log}"
        );
        got.push((*daemon, status.code(), log));
    }
    for (daemon, code, log) in &got {
        assert_eq!(
            *code,
            Some(want),
            "{case}: {daemon} exited {code:?}, expected {want} like the others:\n{log}"
        );
    }
}

#[test]
fn an_unreadable_config_is_exit_78_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(dir.path());
    let missing = env.state_dir.join("no-such-config.toml");
    expect_exit("no-config", &DAEMONS, &missing, dir.path(), EX_CONFIG);
}

#[test]
fn a_tls_key_that_does_not_parse_is_exit_78_for_every_tls_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(dir.path());
    let mut config = env.config.clone();
    config.tls.key = env.state_dir.join("tls/garbage-key.pem");
    std::fs::write(
        &config.tls.key,
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let path = write_config(&env, "bad-key", &config);
    expect_exit("bad-key", &TLS_DAEMONS, &path, dir.path(), EX_CONFIG);
}

#[test]
fn a_run_as_user_that_does_not_exist_is_exit_78_everywhere() {
    if ferrymail_testkit::skip_unless_root(
        "only a daemon started as root switches users (and can miss one)",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env = env(dir.path());
    let mut config = env.config.clone();
    for user in [
        &mut config.smtpd.user,
        &mut config.queue.user,
        &mut config.delivery.user,
        &mut config.imapd.user,
        &mut config.pop3d.user,
        &mut config.managesieve.user,
    ] {
        *user = "ferrymail-no-such-user".into();
    }
    let path = write_config(&env, "no-user", &config);
    expect_exit("no-user", &DAEMONS, &path, dir.path(), EX_CONFIG);
}

#[test]
fn a_socket_that_cannot_be_had_is_exit_73_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(dir.path());
    let mut config = env.config.clone();
    // The Unix sockets' directory is a file; every TCP port is taken (by this test).
    config.paths.run_dir = env.state_dir.join("run-is-a-file");
    std::fs::write(&config.paths.run_dir, b"").unwrap();
    let _held: Vec<std::net::TcpListener> = [
        &config.smtpd.listeners,
        &config.imapd.listeners,
        &config.pop3d.listeners,
        &config.managesieve.listeners,
    ]
    .into_iter()
    .flatten()
    .map(|l| std::net::TcpListener::bind(l.listen).unwrap())
    .collect();
    let path = write_config(&env, "no-socket", &config);
    expect_exit("no-socket", &DAEMONS, &path, dir.path(), EX_CANTCREAT);
}
