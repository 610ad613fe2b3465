//! Real milters from other projects in front of the whole suite, as a Postfix admin would plug
//! them in: rspamd (Debian's package, its proxy worker in milter mode, Debian's rules, config in
//! `tests/rspamd/`) first, OpenDKIM (signing for `client.test`) chained after it. Through
//! mta-smtpd, queue-runner and local-delivery:
//! - GTUBE (`XJS…`) is refused with rspamd's reply and nothing is queued;
//! - rspamd's add-header test pattern (`YJS…`) is accepted, marked `X-Spam: Yes` and lands in
//!   the recipient's Junk folder;
//! - a clean message reaches INBOX with rspamd's headers and OpenDKIM's signature;
//! - with rspamd stopped, each role's configured default action applies: `tempfail` on the MX
//!   role (451, nothing queued), `accept` on submission (delivered, unscanned).
//!
//! Needs root (rspamd and OpenDKIM drop to their own users), Debian's `rspamd`, `opendkim` and
//! `opendkim-tools`, and the daemon binaries (`cargo test --workspace` builds them); says SKIP
//! otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferrymail_config::{Milter, MilterDefault, Role};
use ferrymail_testkit::{skip, skip_unless_root, wait_until, Suite};

const USER: &str = "joe@example.test";
const PASS: &str = "joe-secret-1";
/// rspamd compiles its rules' regular expressions at first start: allow for a slow machine.
const RSPAMD_START: Duration = Duration::from_secs(120);
const GTUBE_REJECT: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
const GTUBE_ADD_HEADER: &str =
    "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// A third-party daemon started for this test, killed when dropped.
struct Helper {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Helper {
    /// Stops the daemon and every worker it forked (its process group): rspamd's workers
    /// outlive a main process that is killed outright, so it is asked to stop first.
    fn stop(&mut self) {
        use nix::sys::signal::{killpg, Signal};
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        let group = nix::unistd::Pid::from_raw(pid);
        let _ = killpg(group, Signal::SIGTERM);
        let exited = wait_until(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Workers that did not follow their master.
        let _ = killpg(group, Signal::SIGKILL);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- {} log\n{}", self.name, self.log());
        }
    }
}

fn installed(bin: &str) -> bool {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .any(|d| Path::new(d).join(bin).exists())
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn chown(path: &Path, user: &str) {
    let st = Command::new("chown")
        .args(["-R", user])
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("chown: {e}"));
    assert!(st.success(), "chown {user} {}", path.display());
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| panic!("project root: {e}"))
}

/// rspamd with `tests/rspamd/`, its state in `dir`, the milter on `port`, asking the DNS
/// server on loopback port `dns`.
fn start_rspamd(dir: &Path, port: u16, dns: u16) -> Helper {
    let conf = project_root().join("tests/rspamd");
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    chown(dir, "_rspamd:_rspamd");
    let log = dir.join("rspamd.log");
    let var = |k: &str, v: &Path| format!("{k}={}", v.display());
    let child = Command::new("rspamd")
        .args(["-f", "-u", "_rspamd", "-g", "_rspamd", "-c"])
        .arg(conf.join("rspamd.conf"))
        .arg("--var")
        .arg(var("LOCAL_CONFDIR", &conf))
        .arg("--var")
        .arg(var("DBDIR", dir))
        .arg("--var")
        .arg(var("RUNDIR", dir))
        .arg("--var")
        .arg(var("LOGDIR", dir))
        .arg("--var")
        .arg(format!("MILTER_PORT={port}"))
        .arg("--var")
        .arg(format!("DNS_PORT={dns}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("rspamd: {e}"));
    let mut h = Helper {
        name: "rspamd",
        child,
        log,
    };
    if !wait_until(RSPAMD_START, || listening(port)) {
        h.stop();
        panic!("rspamd did not listen on {port}:\n{}", h.log());
    }
    h
}

/// OpenDKIM signing mail from `client.test` (selector `test`), the milter on `port`.
fn start_opendkim(dir: &Path, port: u16) -> Helper {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let st = Command::new("opendkim-genkey")
        .args(["-b", "1024", "-d", "client.test", "-s", "test", "-D"])
        .arg(dir)
        .status()
        .unwrap_or_else(|e| panic!("opendkim-genkey: {e}"));
    assert!(st.success(), "opendkim-genkey failed");
    let conf = dir.join("opendkim.conf");
    std::fs::write(
        &conf,
        format!(
            "Syslog no\nMode sv\nDomain client.test\nSelector test\nKeyFile {key}\n\
             Socket inet:{port}@127.0.0.1\nInternalHosts 127.0.0.1\nPidFile {dir}/pid\n\
             UserID opendkim\nCanonicalization relaxed/simple\n\
             # the key is in a temporary directory under /tmp, which is world-writable\n\
             RequireSafeKeys no\n",
            key = dir.join("test.private").display(),
            dir = dir.display(),
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    chown(dir, "opendkim");
    let log = dir.join("opendkim.log");
    let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new("opendkim")
        .arg("-f")
        .arg("-x")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(out)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("opendkim: {e}"));
    let mut h = Helper {
        name: "opendkim",
        child,
        log,
    };
    if !wait_until(Duration::from_secs(30), || listening(port)) {
        h.stop();
        panic!("opendkim did not listen on {port}:\n{}", h.log());
    }
    h
}

fn milter(name: &str, port: u16, roles: &[Role], default_action: MilterDefault) -> Milter {
    Milter {
        name: name.into(),
        address: format!("inet:127.0.0.1:{port}"),
        roles: roles.to_vec(),
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(30),
        content_timeout: Duration::from_secs(60),
        default_action,
        max_reply_size: 1 << 20,
    }
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@client.test>\r\nTo: {USER}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@client.test>\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\n\
         \r\n{body}\r\n"
    )
    .into_bytes()
}

/// Files in `dir` (a Maildir's `new/`), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Waits for a message whose text contains `marker` in `dir` and returns its text.
fn delivered(dir: &Path, marker: &str) -> Option<String> {
    let mut found = None;
    wait_until(Duration::from_secs(30), || {
        found = files(dir)
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .find(|t| t.contains(marker));
        found.is_some()
    });
    found
}

/// The header block of a message.
fn header(text: &str) -> &str {
    text.split("\r\n\r\n").next().unwrap_or(text)
}

#[test]
fn rspamd_and_opendkim_as_chained_milters() {
    if skip_unless_root("rspamd and OpenDKIM drop to their own users") {
        return;
    }
    for bin in ["rspamd", "opendkim", "opendkim-genkey"] {
        if !installed(bin) {
            skip!("{bin} is not installed (Debian packages rspamd, opendkim, opendkim-tools)");
        }
    }
    let mut s = Suite::new(&[(USER, PASS)]);
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (rspamd_port, dkim_port) = (
        ferrymail_testkit::free_port(lo),
        ferrymail_testkit::free_port(lo),
    );
    // rspamd's lookups (the sender's SPF, DKIM and DMARC records, …) get quick NXDOMAINs.
    let dns = ferrymail_dev::dns::DnsServer::start(ferrymail_dev::dns::Zone::new())
        .unwrap_or_else(|e| panic!("DNS server: {e}"));
    let mut rspamd = start_rspamd(&s.dir().join("rspamd"), rspamd_port, dns.addr.port());
    let dkim = start_opendkim(&s.dir().join("opendkim"), dkim_port);
    s.edit_config(|c| {
        c.smtpd.milters = vec![
            milter("rspamd", rspamd_port, &[Role::Mx], MilterDefault::Tempfail),
            milter(
                "rspamd-submission",
                rspamd_port,
                &[Role::Submission, Role::Submissions],
                MilterDefault::Accept,
            ),
            milter(
                "opendkim",
                dkim_port,
                &[Role::Mx, Role::Submission, Role::Submissions],
                MilterDefault::Accept,
            ),
        ];
    });
    for d in ["local-delivery", "queue-runner", "mta-smtpd"] {
        s.start(d);
    }
    let inbox = s.maildir(USER).join("new");
    let junk = s.maildir(USER).join(".Junk/new");
    let mx = s.env.ports.smtp;

    // GTUBE: refused with rspamd's own reply, nothing queued or delivered.
    let mut c = s.smtp(mx);
    c.hello();
    let r = c.send_message("ann@client.test", &[USER], &message("gtube", GTUBE_REJECT));
    assert!(r.status().starts_with('5'), "GTUBE accepted: {r:?}");
    assert!(
        r.message().contains("Gtube pattern") || r.message().contains("Spam"),
        "{r:?}"
    );

    // Marked as spam: accepted, X-Spam: Yes, delivered into Junk rather than INBOX.
    let r = c.send_message(
        "ann@client.test",
        &[USER],
        &message("marked", GTUBE_ADD_HEADER),
    );
    assert!(r.is_positive(), "{r:?}");
    let text = delivered(&junk, "Subject: marked").unwrap_or_else(|| {
        panic!(
            "the marked message is not in Junk; INBOX has {:?}",
            files(&inbox)
        )
    });
    assert!(header(&text).contains("X-Spam: Yes"), "{text}");

    // Clean: INBOX, with rspamd's headers and then OpenDKIM's signature.
    let r = c.send_message("ann@client.test", &[USER], &message("clean", "Hello Joe."));
    assert!(r.is_positive(), "{r:?}");
    let text = delivered(&inbox, "Subject: clean").expect("the clean message in INBOX");
    let h = header(&text);
    assert!(h.contains("X-Spamd-Result: "), "{text}");
    // rspamd scanned it under our queue id (the `i` macro), the one our Received header names.
    let qid = h
        .split("\r\nX-Rspamd-Queue-Id: ")
        .nth(1)
        .and_then(|v| v.split("\r\n").next())
        .unwrap_or_else(|| panic!("no X-Rspamd-Queue-Id: {text}"));
    assert!(
        h.contains(&format!("(ferrymail) with ESMTP id {qid}")),
        "{text}"
    );
    assert!(!h.contains("X-Spam: Yes"), "{text}");
    assert!(
        h.contains("DKIM-Signature: ") && h.contains("d=client.test"),
        "{text}"
    );
    assert!(
        !files(&junk).iter().any(|p| std::fs::read_to_string(p)
            .unwrap_or_default()
            .contains("Subject: clean")),
        "the clean message also in Junk"
    );
    assert!(
        !files(&inbox).iter().chain(files(&junk).iter()).any(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("Subject: gtube")
        }),
        "GTUBE was delivered"
    );
    c.cmd("QUIT");

    // rspamd down: the MX role tempfails (its default action), submission accepts unscanned.
    rspamd.stop();
    assert!(
        !listening(rspamd_port),
        "rspamd still listens after being stopped"
    );
    let mut c = s.smtp(mx);
    c.hello();
    // As in Postfix, a milter unreachable at connect time refuses every transaction.
    let r = c.cmd("MAIL FROM:<ann@client.test>");
    assert_eq!(r.status(), "451 4.7.1", "{r:?}");
    c.cmd("QUIT");
    let mut c = s.smtp(s.env.ports.submission);
    c.hello();
    c.starttls();
    c.cmd("EHLO client.test");
    assert_eq!(c.auth_plain(USER, PASS).status(), "235 2.7.0");
    let r = c.send_message(USER, &[USER], &message("while-down-sub", "Hello me."));
    assert!(r.is_positive(), "{r:?}");
    let text =
        delivered(&inbox, "Subject: while-down-sub").expect("delivered while rspamd is down");
    assert!(!header(&text).contains("X-Spamd-Result"), "{text}");
    c.cmd("QUIT");
    assert!(
        !files(&inbox).iter().any(|p| std::fs::read_to_string(p)
            .unwrap_or_default()
            .contains("Subject: while-down-mx")),
        "a tempfailed message was delivered"
    );
    drop(dkim);
}
