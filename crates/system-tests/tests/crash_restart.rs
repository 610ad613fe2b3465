//! Crash and restart under load: one full ferrymail (mta-smtpd, queue-runner,
//! local-delivery, imapd) takes a bounded SMTP load plus IMAP readers that flag mail, while
//! each daemon is killed with SIGKILL at random instants and restarted, and separately
//! restarted cleanly with SIGTERM. Every message answered `250` must end up in exactly the
//! right Maildir: losses and misdeliveries fail the test; duplicates are counted and printed
//! (a crash between an LMTP `250` and the queue file's removal may deliver twice).
//!
//! The disk-full test puts the spool on a small tmpfs (root only): SMTP must answer `452`
//! when the spool is full, and once space returns everything accepted must be delivered.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrymail_dev::{
    prepare, target_bin, wait_for_tcp, wait_for_unix, Daemon, DevEnv, DevOptions, Ports,
};
use nix::sys::signal::Signal;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The load and chaos of one run. The default is scaled down from the full 10,000 messages /
/// 20 sessions / 50 users so the normal test command stays short on a 2-core machine;
/// `CRASH_SCALE=full` runs the full figures (a little over a minute on 2 cores: the pacing of
/// the SMTP sessions, not the machine, sets the length).
struct Scale {
    messages: usize,
    smtp_sessions: usize,
    users: usize,
    imap_sessions: usize,
    /// Pause between messages of one SMTP session, so the load spans the chaos window.
    smtp_pace: Duration,
    /// SIGKILLs per daemon.
    kills_per_daemon: usize,
    /// Window in which kills and clean restarts are scheduled.
    chaos_window: Duration,
    /// Upper bound for the whole load phase.
    load_deadline: Duration,
    drain_timeout: Duration,
}

fn sc() -> &'static Scale {
    static SCALE: std::sync::OnceLock<Scale> = std::sync::OnceLock::new();
    SCALE.get_or_init(|| {
        if std::env::var("CRASH_SCALE").is_ok_and(|v| v == "full") {
            Scale {
                messages: 10_000,
                smtp_sessions: 20,
                users: 50,
                imap_sessions: 4,
                smtp_pace: Duration::from_millis(100),
                kills_per_daemon: 4,
                chaos_window: Duration::from_secs(60),
                load_deadline: Duration::from_secs(900),
                drain_timeout: Duration::from_secs(600),
            }
        } else {
            Scale {
                messages: 1_500,
                smtp_sessions: 8,
                users: 20,
                imap_sessions: 2,
                smtp_pace: Duration::from_millis(120),
                kills_per_daemon: 2,
                chaos_window: Duration::from_secs(25),
                load_deadline: Duration::from_secs(180),
                drain_timeout: Duration::from_secs(120),
            }
        }
    })
}

/// Every `MULTI_RCPT_EVERY`-th message goes to two users, so "the right mailboxes" is plural.
const MULTI_RCPT_EVERY: usize = 10;
const START_TIMEOUT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const DOMAIN: &str = "example.test";
const PASSWORD: &str = "secret-pw";

const CHAOS_DAEMONS: [&str; 4] = ["local-delivery", "queue-runner", "mta-smtpd", "imapd"];

fn user(i: usize) -> String {
    format!("u{i:02}@{DOMAIN}")
}

fn setup(state: &Path, users: usize) -> DevEnv {
    let mut opts = DevOptions::new(state);
    opts.domain = DOMAIN.into();
    opts.ports = Ports::free();
    opts.users = (0..users)
        .map(|i| (user(i), PASSWORD.to_string()))
        .collect();
    let mut env = prepare(&opts).unwrap();
    // Deferred deliveries (local-delivery down for a moment) must come back within the
    // test's drain window, not after the dev default of a minute.
    env.config.queue.retry_initial = Duration::from_secs(1);
    env.config.queue.retry_max = Duration::from_secs(2);
    env.config.queue.scan_interval = Duration::from_secs(1);
    // The readers log in over plain IMAP on loopback (TLS is not what this test is about).
    env.config.imapd.limits.plaintext_auth_on_loopback = true;
    env.save_config().unwrap();
    env
}

/// The four daemons of one environment, each restartable.
struct Fleet {
    env: DevEnv,
    daemons: BTreeMap<&'static str, Daemon>,
}

impl Fleet {
    fn new(env: DevEnv) -> Fleet {
        Fleet {
            env,
            daemons: BTreeMap::new(),
        }
    }

    fn start(&mut self, name: &'static str) -> Result<(), String> {
        let bin = target_bin(name);
        assert!(
            bin.exists(),
            "{} is not built: run `cargo build --workspace` first",
            bin.display()
        );
        let d = Daemon::spawn(&bin, &self.env).map_err(|e| format!("spawn {name}: {e}"))?;
        self.daemons.insert(name, d);
        let env = &self.env;
        let ready = match name {
            "local-delivery" => wait_for_unix(&env.config.lmtp_socket(), START_TIMEOUT),
            "queue-runner" => wait_for_unix(&env.config.control_socket(), START_TIMEOUT),
            "mta-smtpd" => wait_for_tcp(env.addr(env.ports.smtp), START_TIMEOUT),
            "imapd" => wait_for_tcp(env.addr(env.ports.imap), START_TIMEOUT),
            _ => false,
        };
        if ready {
            Ok(())
        } else {
            Err(format!("{name} did not come up within {START_TIMEOUT:?}"))
        }
    }

    fn stop(&mut self, name: &'static str, sig: Signal) -> Result<(), String> {
        let Some(mut d) = self.daemons.remove(name) else {
            return Err(format!("{name} was not running"));
        };
        d.signal(sig);
        match d.wait_timeout(Duration::from_secs(30)) {
            Some(status) if sig == Signal::SIGTERM && !status.success() => {
                Err(format!("{name} exited with {status} after SIGTERM"))
            }
            Some(_) => Ok(()),
            None => Err(format!("{name} still running 30 s after {sig}")),
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in CHAOS_DAEMONS {
            let p = self.env.state_dir.join("log").join(format!("{name}.log"));
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines.len().saturating_sub(40);
            out.push_str(&format!("--- {name} (last 40 lines) ---\n"));
            for l in lines.iter().skip(tail) {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Log lines of every daemon that mention `needle`.
    fn lines_with(&self, needle: &str, max: usize) -> Vec<String> {
        if needle.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for name in CHAOS_DAEMONS {
            let p = self.env.state_dir.join("log").join(format!("{name}.log"));
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            out.extend(
                text.lines()
                    .filter(|l| l.contains(needle))
                    .map(|l| format!("{name}: {l}")),
            );
        }
        out.truncate(max);
        out
    }

    /// Log lines of every daemon mentioning an error or a panic (for the report).
    fn error_lines(&self, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        for name in CHAOS_DAEMONS {
            let p = self.env.state_dir.join("log").join(format!("{name}.log"));
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            for l in text.lines() {
                if l.contains(" ERROR ") || l.contains(" WARN ") || l.contains("panicked") {
                    out.push(format!("{name}: {l}"));
                    if out.len() >= max {
                        return out;
                    }
                }
            }
        }
        out
    }
}

/// A line-oriented client connection.
struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        let w = s.try_clone()?;
        Ok(Conn {
            r: BufReader::new(s),
            w,
        })
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut l = String::new();
        if self.r.read_line(&mut l)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(l.trim_end().to_owned())
    }

    fn send(&mut self, s: &str) -> std::io::Result<()> {
        self.w.write_all(s.as_bytes())
    }

    /// The last line of one (possibly multi-line) SMTP reply.
    fn reply(&mut self) -> std::io::Result<String> {
        loop {
            let l = self.line()?;
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok(l);
            }
        }
    }
}

/// What one SMTP transaction ended in.
enum Sent {
    /// Answered 250; the queue id from `queued as <qid>`.
    Accepted(String),
    /// A 4xx reply at the named step: not accepted, retry with a new id.
    Deferred(String),
    /// A 5xx reply: never expected here.
    Rejected(String),
}

struct SmtpSession {
    addr: SocketAddr,
    conn: Option<Conn>,
}

impl SmtpSession {
    fn open(&mut self) -> std::io::Result<&mut Conn> {
        if self.conn.is_none() {
            let mut c = Conn::connect(self.addr)?;
            let g = c.reply()?;
            if !g.starts_with("220") {
                return Err(std::io::Error::other(format!("greeting: {g}")));
            }
            c.send("EHLO load.test\r\n")?;
            let e = c.reply()?;
            if !e.starts_with("250") {
                return Err(std::io::Error::other(format!("EHLO: {e}")));
            }
            self.conn = Some(c);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no connection"))
    }

    /// One transaction on the (re)used connection. An I/O error drops the connection.
    fn send(&mut self, token: &str, rcpts: &[String], pad: usize) -> std::io::Result<Sent> {
        let r = self.transaction(token, rcpts, pad);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn transaction(&mut self, token: &str, rcpts: &[String], pad: usize) -> std::io::Result<Sent> {
        let c = self.open()?;
        let step = |c: &mut Conn, cmd: &str, want: &str| -> std::io::Result<Option<Sent>> {
            c.send(cmd)?;
            let r = c.reply()?;
            Ok(if r.starts_with(want) {
                None
            } else if r.starts_with('4') {
                Some(Sent::Deferred(format!("{} -> {r}", cmd.trim_end())))
            } else {
                Some(Sent::Rejected(format!("{} -> {r}", cmd.trim_end())))
            })
        };
        let mut cmds = vec!["MAIL FROM:<load@load.test>\r\n".to_string()];
        cmds.extend(rcpts.iter().map(|r| format!("RCPT TO:<{r}>\r\n")));
        cmds.push("DATA\r\n".into());
        for cmd in &cmds {
            let want = if cmd.starts_with("DATA") {
                "354"
            } else {
                "250"
            };
            if let Some(failed) = step(c, cmd, want)? {
                // Leave the session clean for the next attempt.
                c.send("RSET\r\n")?;
                c.reply()?;
                return Ok(failed);
            }
        }
        let mut body = format!(
            "From: <load@load.test>\r\nTo: {}\r\nSubject: crash-restart {token}\r\nMessage-ID: <{token}@load.test>\r\nX-Token: {token}\r\n\r\nmessage {token}\r\n",
            rcpts.join(", ")
        );
        let line = "x".repeat(76);
        for _ in 0..pad / 78 {
            body.push_str(&line);
            body.push_str("\r\n");
        }
        body.push_str(".\r\n");
        c.send(&body)?;
        let r = c.reply()?;
        Ok(if r.starts_with("250") {
            let qid = r
                .split_once("queued as ")
                .map(|(_, q)| q.trim().to_owned())
                .unwrap_or_default();
            Sent::Accepted(qid)
        } else if r.starts_with('4') {
            Sent::Deferred(format!("end of data -> {r}"))
        } else {
            Sent::Rejected(format!("end of data -> {r}"))
        })
    }
}

#[derive(Default)]
struct Tally {
    /// token -> recipients, for every message answered 250.
    accepted: HashMap<String, Vec<String>>,
    /// token -> queue id, to find a duplicate's story in the logs.
    qids: HashMap<String, String>,
    /// Every token ever sent (accepted or not), to recognise unconfirmed deliveries.
    attempted: usize,
    deferred: usize,
    deferral_samples: Vec<String>,
    io_errors: usize,
    abandoned: usize,
    rejected: Vec<String>,
    imap_sessions: usize,
    imap_flagged: usize,
    imap_retryable: usize,
    imap_errors: Vec<String>,
    events: Vec<String>,
}

type Shared = Arc<Mutex<Tally>>;

fn tally(t: &Shared, f: impl FnOnce(&mut Tally)) {
    if let Ok(mut g) = t.lock() {
        f(&mut g);
    }
}

/// One SMTP client: `count` messages, each retried under a fresh id after a connection error
/// or a 4xx, with a growing back-off.
fn smtp_client(
    addr: SocketAddr,
    session: usize,
    count: usize,
    stop: &AtomicBool,
    t: &Shared,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ (session as u64 * 0x9e37_79b9));
    let mut s = SmtpSession { addr, conn: None };
    let started = Instant::now();
    for n in 0..count {
        let first = rng.gen_range(0..sc().users);
        let mut rcpts = vec![user(first)];
        if n % MULTI_RCPT_EVERY == MULTI_RCPT_EVERY - 1 {
            rcpts.push(user(
                (first + 1 + rng.gen_range(0..sc().users - 1)) % sc().users,
            ));
        }
        let mut attempt = 0;
        loop {
            if stop.load(Ordering::Relaxed) || started.elapsed() > sc().load_deadline {
                return;
            }
            let token = format!("s{session}-m{n}-a{attempt}");
            tally(t, |t| t.attempted += 1);
            let pad = rng.gen_range(0..4_000);
            match s.send(&token, &rcpts, pad) {
                Ok(Sent::Accepted(qid)) => {
                    tally(t, |t| {
                        t.qids.insert(token.clone(), qid);
                        t.accepted.insert(token, rcpts.clone());
                    });
                    break;
                }
                Ok(Sent::Rejected(e)) => {
                    tally(t, |t| t.rejected.push(format!("{token}: {e}")));
                    break;
                }
                Ok(Sent::Deferred(e)) => tally(t, |t| {
                    t.deferred += 1;
                    if t.deferral_samples.len() < 5 {
                        t.deferral_samples.push(e);
                    }
                }),
                Err(_) => tally(t, |t| t.io_errors += 1),
            }
            attempt += 1;
            if attempt >= 40 {
                tally(t, |t| t.abandoned += 1);
                break;
            }
            std::thread::sleep(Duration::from_millis((100 * attempt as u64).min(1_000)));
        }
        std::thread::sleep(sc().smtp_pace);
    }
    if let Some(c) = s.conn.as_mut() {
        let _ = c.send("QUIT\r\n");
    }
}

/// What one IMAP session attempt ended in.
enum ImapEnd {
    Done(usize),
    /// Connection lost or `* BYE` (what a daemon restart causes).
    Retry,
    Error(String),
}

fn imap_tagged(c: &mut Conn, tag: &str, cmd: &str) -> Result<Vec<String>, ImapEnd> {
    c.send(&format!("{tag} {cmd}\r\n"))
        .map_err(|_| ImapEnd::Retry)?;
    let mut untagged = Vec::new();
    loop {
        let l = c.line().map_err(|_| ImapEnd::Retry)?;
        if l.starts_with("* BYE") && !cmd.starts_with("LOGOUT") {
            return Err(ImapEnd::Retry);
        }
        if let Some(rest) = l.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            return if rest.starts_with("OK") {
                Ok(untagged)
            } else {
                Err(ImapEnd::Error(format!("{cmd} -> {l}")))
            };
        }
        untagged.push(l);
    }
}

/// Logs in, reads the newest messages' headers and flags some `\Seen`, others `\Flagged`.
fn imap_once(addr: SocketAddr, login: &str, rng: &mut StdRng) -> ImapEnd {
    let mut run = || -> Result<usize, ImapEnd> {
        let mut c = Conn::connect(addr).map_err(|_| ImapEnd::Retry)?;
        let g = c.line().map_err(|_| ImapEnd::Retry)?;
        if !g.starts_with("* OK") {
            return Err(ImapEnd::Retry);
        }
        imap_tagged(&mut c, "a1", &format!("LOGIN \"{login}\" \"{PASSWORD}\""))?;
        let sel = imap_tagged(&mut c, "a2", "SELECT INBOX")?;
        let exists = sel
            .iter()
            .filter_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
            .next_back()
            .unwrap_or(0usize);
        let mut flagged = 0;
        if exists > 0 {
            let from = exists.saturating_sub(10).max(1);
            imap_tagged(
                &mut c,
                "a3",
                &format!("FETCH {from}:{exists} (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TOKEN)])"),
            )?;
            for (i, seq) in (from..=exists).enumerate() {
                if rng.gen_bool(0.5) {
                    let flag = if i % 2 == 0 { "\\Seen" } else { "\\Flagged" };
                    imap_tagged(&mut c, "a4", &format!("STORE {seq} +FLAGS ({flag})"))?;
                    flagged += 1;
                }
            }
        }
        imap_tagged(&mut c, "a5", "LOGOUT")?;
        Ok(flagged)
    };
    match run() {
        Ok(n) => ImapEnd::Done(n),
        Err(e) => e,
    }
}

fn imap_client(addr: SocketAddr, reader: usize, stop: &AtomicBool, t: &Shared, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ (0xabcd + reader as u64));
    let started = Instant::now();
    for i in 0..10_000usize {
        if stop.load(Ordering::Relaxed) || started.elapsed() > sc().load_deadline {
            return;
        }
        let login = user((i * sc().imap_sessions + reader) % sc().users);
        match imap_once(addr, &login, &mut rng) {
            ImapEnd::Done(n) => tally(t, |t| {
                t.imap_sessions += 1;
                t.imap_flagged += n;
            }),
            ImapEnd::Retry => tally(t, |t| t.imap_retryable += 1),
            ImapEnd::Error(e) => tally(t, |t| t.imap_errors.push(format!("{login}: {e}"))),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `(token, user) -> copies` for every message file in every user's Maildir (new/ and cur/,
/// including subfolders); a file not holding an `X-Token` header is ignored.
fn scan_maildirs(env: &DevEnv, users: usize) -> HashMap<(String, String), usize> {
    let mut found = HashMap::new();
    for i in 0..users {
        let login = user(i);
        let (local, domain) = login.split_once('@').unwrap();
        let root = env.config.paths.mail_root.join(domain).join(local);
        let mut stack = vec![root];
        let mut budget = 10_000usize;
        while let Some(d) = stack.pop() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let in_store = p
                    .parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|n| n == "new" || n == "cur");
                if !in_store {
                    continue;
                }
                let Ok(bytes) = std::fs::read(&p) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                let token = text
                    .lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix("X-Token: "));
                if let Some(tok) = token {
                    *found
                        .entry((tok.trim().to_owned(), login.clone()))
                        .or_insert(0) += 1;
                }
            }
        }
    }
    found
}

fn queue_files(env: &DevEnv) -> Vec<PathBuf> {
    std::fs::read_dir(env.config.paths.spool_dir.join("queue"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn dir_count(p: &Path) -> usize {
    std::fs::read_dir(p).map(|rd| rd.count()).unwrap_or(0)
}

/// The per-recipient verdict on every accepted message.
#[derive(Debug, Default)]
struct Verdict {
    deliveries: usize,
    delivered: usize,
    lost: Vec<(String, String)>,
    duplicates: usize,
    /// `(token, recipient, copies)` of every duplicated delivery.
    duplicated: Vec<(String, String, usize)>,
    misdelivered: Vec<(String, String)>,
    unconfirmed: usize,
}

fn judge(
    accepted: &HashMap<String, Vec<String>>,
    found: &HashMap<(String, String), usize>,
) -> Verdict {
    let mut v = Verdict::default();
    for (token, rcpts) in accepted {
        for r in rcpts {
            v.deliveries += 1;
            match found.get(&(token.clone(), r.clone())).copied().unwrap_or(0) {
                0 => v.lost.push((token.clone(), r.clone())),
                n => {
                    v.delivered += 1;
                    v.duplicates += n - 1;
                    if n > 1 {
                        v.duplicated.push((token.clone(), r.clone(), n));
                    }
                }
            }
        }
    }
    for (token, who) in found.keys() {
        match accepted.get(token) {
            Some(rcpts) if !rcpts.contains(who) => {
                v.misdelivered.push((token.clone(), who.clone()))
            }
            None => v.unconfirmed += 1,
            _ => {}
        }
    }
    v
}

/// `HH:MM:SS.mmm` of now, to line chaos events up with the daemons' log timestamps.
fn utc_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

#[derive(Debug, Clone, Copy)]
enum Chaos {
    Kill(&'static str),
    Restart(&'static str),
}

#[test]
fn crash_restart_under_load_loses_nothing() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let env = setup(dir.path(), sc().users);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!(
        "crash_restart scale: {} messages from {} SMTP sessions to {} users \
         (every {MULTI_RCPT_EVERY}th to two), {} IMAP sessions reading and flagging; \
         {} SIGKILLs + 1 SIGTERM restart per daemon within {:?}; seed {seed} (CRASH_SEED; CRASH_SCALE=full for 10,000 messages)",
        sc().messages,
        sc().smtp_sessions,
        sc().users,
        sc().imap_sessions,
        sc().kills_per_daemon,
        sc().chaos_window
    );

    let mut fleet = Fleet::new(env.clone());
    for name in CHAOS_DAEMONS {
        if let Err(e) = fleet.start(name) {
            panic!("{e}\n{}", fleet.logs());
        }
    }

    let t: Shared = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(sc().smtp_sessions));
    let smtp_addr = env.addr(env.ports.smtp);
    let imap_addr = env.addr(env.ports.imap);
    let mut threads = Vec::new();
    for s in 0..sc().smtp_sessions {
        let (t, stop, running) = (t.clone(), stop.clone(), running.clone());
        let count = sc().messages / sc().smtp_sessions
            + usize::from(s < sc().messages % sc().smtp_sessions);
        threads.push(std::thread::spawn(move || {
            smtp_client(smtp_addr, s, count, &stop, &t, seed);
            running.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    let mut readers = Vec::new();
    let imap_stop = Arc::new(AtomicBool::new(false));
    for r in 0..sc().imap_sessions {
        let (t, stop) = (t.clone(), imap_stop.clone());
        readers.push(std::thread::spawn(move || {
            imap_client(imap_addr, r, &stop, &t, seed)
        }));
    }

    // The schedule: random instants in the window, each a kill or the one clean restart.
    let mut rng = StdRng::seed_from_u64(seed);
    let mut schedule: Vec<(Duration, Chaos)> = Vec::new();
    for name in CHAOS_DAEMONS {
        for _ in 0..sc().kills_per_daemon {
            schedule.push((
                Duration::from_millis(rng.gen_range(500..sc().chaos_window.as_millis() as u64)),
                Chaos::Kill(name),
            ));
        }
        schedule.push((
            Duration::from_millis(rng.gen_range(500..sc().chaos_window.as_millis() as u64)),
            Chaos::Restart(name),
        ));
    }
    schedule.sort_by_key(|(at, _)| *at);
    let mut problems: Vec<String> = Vec::new();
    let chaos_start = Instant::now();
    for (at, ev) in &schedule {
        if let Some(wait) = at.checked_sub(chaos_start.elapsed()) {
            std::thread::sleep(wait);
        }
        let (name, sig) = match ev {
            Chaos::Kill(n) => (*n, Signal::SIGKILL),
            Chaos::Restart(n) => (*n, Signal::SIGTERM),
        };
        let accepted_now = t.lock().map(|t| t.accepted.len()).unwrap_or(0);
        let stopped = fleet.stop(name, sig);
        if let Err(e) = &stopped {
            problems.push(e.clone());
        }
        let restarted = fleet.start(name);
        if let Err(e) = &restarted {
            problems.push(e.clone());
        }
        let line = format!(
            "{:>6.1}s ({} UTC) {sig:?} {name} (accepted so far {accepted_now}){}",
            chaos_start.elapsed().as_secs_f64(),
            utc_now(),
            if stopped.is_ok() && restarted.is_ok() {
                ""
            } else {
                " — FAILED"
            }
        );
        println!("chaos {line}");
        tally(&t, |t| t.events.push(line));
        if restarted.is_err() {
            break;
        }
    }

    for th in threads {
        th.join().unwrap();
    }
    imap_stop.store(true, Ordering::SeqCst);
    for th in readers {
        th.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let load_time = began.elapsed();

    // From the last restart on (the load is over by now), the queue must keep moving: an
    // acknowledged message may wait behind others or for its retry time (a kill of
    // local-delivery defers it by at most `retry_max`), but never longer than two scan
    // intervals beyond that with nothing delivered — the scans exist to find such messages.
    let q = &env.config.queue;
    let stall_limit = q.scan_interval * 2 + q.retry_max;
    let drain_start = Instant::now();
    let mut drained = false;
    let mut stranded: Option<(usize, Duration)> = None;
    let (mut last_count, mut last_progress) = (usize::MAX, Instant::now());
    while drain_start.elapsed() < sc().drain_timeout {
        let count = queue_files(&env).len();
        if count == 0 {
            drained = true;
            break;
        }
        if count < last_count {
            (last_count, last_progress) = (count, Instant::now());
        } else if last_progress.elapsed() > stall_limit {
            stranded = Some((count, last_progress.elapsed()));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let drain_time = drain_start.elapsed();
    let stranded_detail: Vec<String> = stranded
        .map(|_| {
            let spool = ferrymail_spool::Spool::open(&env.config.paths.spool_dir);
            queue_files(&env)
                .iter()
                .filter_map(|p| p.file_name()?.to_str()?.parse().ok())
                .filter_map(|id| spool.as_ref().ok()?.read_envelope(&id).ok())
                .map(|e| {
                    format!(
                        "{} attempts={} next_attempt={} last_error={:?}",
                        e.id, e.attempts, e.next_attempt, e.last_error
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let left = queue_files(&env);
    let spool = &env.config.paths.spool_dir;
    let (hold, corrupt) = (
        dir_count(&spool.join("hold")),
        dir_count(&spool.join("corrupt")),
    );
    for name in CHAOS_DAEMONS {
        if let Err(e) = fleet.stop(name, Signal::SIGTERM) {
            problems.push(format!("final stop: {e}"));
        }
    }
    // mta-smtpd killed between its data file and its envelope leaves an orphan in `data/`.
    // queue-runner removes orphans an hour old at start and hourly (writers may be running);
    // with every daemon stopped, the same cleanup with no age must leave nothing behind.
    let orphans = dir_count(&spool.join("data"));
    let cleaned = ferrymail_spool::Spool::open(spool).and_then(|s| s.cleanup(Duration::ZERO));
    let data_left = dir_count(&spool.join("data"));
    println!(
        "crash_restart spool: data files after drain {orphans} (orphans of killed commits), \
         after cleanup {data_left}; {cleaned:?}"
    );
    // (While messages are still queued, their data files are not orphans.)
    if drained {
        match &cleaned {
            Err(e) => problems.push(format!("spool cleanup: {e}")),
            Ok(_) if data_left != 0 => {
                problems.push(format!("{data_left} orphan data files survive cleanup"))
            }
            Ok(_) => {}
        }
    }

    let found = scan_maildirs(&env, sc().users);
    let tally = t.lock().unwrap();
    let v = judge(&tally.accepted, &found);
    let dup_rate = if v.deliveries == 0 {
        0.0
    } else {
        100.0 * v.duplicates as f64 / v.deliveries as f64
    };
    println!(
        "RESULT crash_restart accepted={} lost={} duplicates={} dup_rate={dup_rate:.3}%",
        tally.accepted.len(),
        v.lost.len(),
        v.duplicates
    );
    println!(
        "crash_restart details: deliveries_expected={} delivered={} misdelivered={} \
         unconfirmed_delivered={} attempts={} deferred_4xx={} io_errors={} abandoned={} rejected_5xx={} \
         imap_sessions={} imap_flagged={} imap_retryable={} imap_errors={} \
         queue_left={} hold={hold} corrupt={corrupt} load={:.1}s drain={:.1}s total={:.1}s",
        v.deliveries,
        v.delivered,
        v.misdelivered.len(),
        v.unconfirmed,
        tally.attempted,
        tally.deferred,
        tally.io_errors,
        tally.abandoned,
        tally.rejected.len(),
        tally.imap_sessions,
        tally.imap_flagged,
        tally.imap_retryable,
        tally.imap_errors.len(),
        left.len(),
        load_time.as_secs_f64(),
        drain_time.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    for e in &tally.deferral_samples {
        println!("4xx sample: {e}");
    }
    for e in tally.imap_errors.iter().take(10) {
        println!("imap error: {e}");
    }
    for (token, rcpt, n) in v.duplicated.iter().take(10) {
        let qid = tally.qids.get(token).cloned().unwrap_or_default();
        println!("duplicate: {token} to {rcpt}: {n} copies, queue id {qid}");
        for l in fleet.lines_with(&qid, 8) {
            println!("  {l}");
        }
    }
    for l in fleet.error_lines(30) {
        println!("log: {l}");
    }

    let logs = fleet.logs();
    if let Some((count, waited)) = stranded {
        panic!(
            "{count} acknowledged messages sat in the queue {waited:?} after the last restart \
             with nothing delivered (limit: two scan intervals + retry_max = {stall_limit:?}): \
             {stranded_detail:#?}\n{logs}"
        );
    }
    assert!(
        problems.is_empty(),
        "daemon restarts misbehaved: {problems:#?}\n{logs}"
    );
    assert!(
        drained,
        "queue not drained after {:?}: {} files left, e.g. {:?}\n{logs}",
        sc().drain_timeout,
        left.len(),
        left.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        tally.rejected.is_empty(),
        "5xx replies: {:#?}",
        tally.rejected
    );
    assert!(
        v.lost.is_empty(),
        "{} accepted deliveries lost, e.g. {:?}\n{logs}",
        v.lost.len(),
        v.lost.iter().take(10).collect::<Vec<_>>()
    );
    assert!(
        v.misdelivered.is_empty(),
        "messages in the wrong mailbox: {:?}",
        v.misdelivered.iter().take(10).collect::<Vec<_>>()
    );
    // The load must really have happened, or "nothing lost" means nothing.
    assert!(
        tally.accepted.len() >= sc().messages * 9 / 10,
        "only {} of {} messages accepted ({} abandoned)",
        tally.accepted.len(),
        sc().messages,
        tally.abandoned
    );
    assert!(tally.imap_sessions > 0, "no IMAP session completed");
    assert!(
        tally.imap_errors.is_empty(),
        "IMAP errors: {:#?}",
        tally.imap_errors
    );
    assert_eq!(
        tally.events.len(),
        schedule.len(),
        "not every chaos event ran"
    );
}

/// Unmounts the test's tmpfs even when the test panics.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn mount_tmpfs(at: &Path, size: &str, remount: bool) -> Result<(), String> {
    let opts = if remount {
        format!("remount,size={size}")
    } else {
        format!("size={size},mode=0755")
    };
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
        .arg(at)
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "mount -o {opts} {}: {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[test]
fn full_spool_answers_452_and_delivers_after_space_returns() {
    const SPOOL_SIZE: &str = "2m";
    const MSG_PAD: usize = 60_000;
    const MAX_MESSAGES: usize = 200;
    if !nix::unistd::geteuid().is_root() {
        println!(
            "NOTE disk-full test skipped: mounting a tmpfs spool needs root (CI runs as root)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    if let Err(e) = mount_tmpfs(&spool, SPOOL_SIZE, false) {
        println!("NOTE disk-full test skipped: cannot mount a tmpfs here ({e})");
        return;
    }
    let _mounted = Mounted(spool.clone());
    let env = setup(dir.path(), 4);
    assert_eq!(
        env.config.paths.spool_dir,
        std::fs::canonicalize(&spool).unwrap()
    );
    println!(
        "disk_full scale: spool on a {SPOOL_SIZE} tmpfs, messages of ~{} KB, queue-runner stopped while filling",
        MSG_PAD / 1000
    );

    let mut fleet = Fleet::new(env.clone());
    // queue-runner stays down while the spool fills, so accepted mail stays queued and
    // really occupies the space.
    for name in ["local-delivery", "mta-smtpd", "imapd"] {
        if let Err(e) = fleet.start(name) {
            panic!("{e}\n{}", fleet.logs());
        }
    }
    let addr = env.addr(env.ports.smtp);
    let mut s = SmtpSession { addr, conn: None };
    let mut accepted: HashMap<String, Vec<String>> = HashMap::new();
    let mut full_replies: Vec<String> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for n in 0..MAX_MESSAGES {
        let token = format!("full-{n}");
        let rcpts = vec![user(n % 4)];
        match s.send(&token, &rcpts, MSG_PAD) {
            Ok(Sent::Accepted(_)) => {
                accepted.insert(token, rcpts);
            }
            Ok(Sent::Deferred(e)) => {
                full_replies.push(e);
                // A few more attempts show it stays 452 rather than flapping.
                if full_replies.len() >= 3 {
                    break;
                }
            }
            Ok(Sent::Rejected(e)) => other.push(e),
            Err(e) => other.push(format!("{token}: i/o {e}")),
        }
    }
    println!(
        "disk_full: accepted before full={} 4xx replies={full_replies:?} other={other:?} spool tmp/ files={}",
        accepted.len(),
        dir_count(&env.config.paths.spool_dir.join("tmp"))
    );
    assert!(
        !accepted.is_empty(),
        "nothing accepted before the spool filled"
    );
    assert!(
        !full_replies.is_empty(),
        "the spool never filled after {MAX_MESSAGES} messages"
    );
    assert!(
        full_replies.iter().all(|r| r.contains(" 452")),
        "a full spool must answer 452, got {full_replies:?}"
    );
    assert!(
        other.is_empty(),
        "unexpected replies on a full spool: {other:?}\n{}",
        fleet.logs()
    );

    // Space returns.
    mount_tmpfs(&spool, "64m", true).unwrap();
    let mut after = 0;
    for n in 0..5 {
        let token = format!("after-{n}");
        let rcpts = vec![user(n % 4)];
        match s.send(&token, &rcpts, 1_000) {
            Ok(Sent::Accepted(_)) => {
                accepted.insert(token, rcpts);
                after += 1;
            }
            Ok(Sent::Deferred(e)) | Ok(Sent::Rejected(e)) => other.push(e),
            Err(e) => other.push(format!("{token}: i/o {e}")),
        }
    }
    assert_eq!(
        after,
        5,
        "after space returned: {other:?}\n{}",
        fleet.logs()
    );
    if let Err(e) = fleet.start("queue-runner") {
        panic!("{e}\n{}", fleet.logs());
    }
    let drained = ferrymail_system_tests::load::wait_until(sc().drain_timeout, || {
        queue_files(&env).is_empty()
    });
    let left = queue_files(&env).len();
    let tmp_left = dir_count(&env.config.paths.spool_dir.join("tmp"));
    for name in ["queue-runner", "local-delivery", "mta-smtpd", "imapd"] {
        fleet.stop(name, Signal::SIGTERM).unwrap();
    }
    let found = scan_maildirs(&env, 4);
    let v = judge(&accepted, &found);
    println!(
        "RESULT disk_full accepted={} lost={} duplicates={} queue_left={left} spool_tmp_left={tmp_left}",
        accepted.len(),
        v.lost.len(),
        v.duplicates
    );
    assert!(drained, "queue not drained: {left} left\n{}", fleet.logs());
    assert!(v.lost.is_empty(), "lost after disk full: {:?}", v.lost);
    assert!(
        v.misdelivered.is_empty(),
        "misdelivered: {:?}",
        v.misdelivered
    );
}
