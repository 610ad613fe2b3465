//! Hostile clients against the real mta-smtpd, imapd and pop3d: slowloris, a
//! flood of connections opened and abandoned, 1 MB lines, a flood of bad logins, NUL bytes,
//! and (IMAP) invalid UTF-8 in mailbox names. During every attack a well-behaved client runs
//! complete short sessions and must succeed; its latency (min/median/max) is printed as
//! `RESULT hostile=<attack> daemon=<daemon> ...` lines.
//!
//! Every client here is on loopback, which is a trusted network by default, so the daemons'
//! `limits.exempt_trusted` is turned off and the per-address limit is modest (50). Attackers
//! connect from 127.0.0.2–127.0.0.7 (one address per attack; the bad-login flood from eight
//! addresses 127.0.5.x) and the well-behaved client from 127.0.0.9, so per-address limits hit
//! the attackers only. The well-behaved client logs in to the very account being attacked.
//!
//! Scaled for a 2-core CI machine: the full 10,000 abandoned connections become 2,000 per
//! daemon; slowloris uses 55 connections per daemon (more than the per-address limit).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use ferrymail_testkit::{Conn, ImapClient, Pop3Client, SmtpClient, Suite};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

const USER: &str = "joe@example.test";
const PASS: &str = "joe-secret-1";
/// The attackers' login target for the post-login IMAP attack (a different account, so the
/// well-behaved client's mailbox is untouched).
const ANN: &str = "ann@example.test";
const ANN_PASS: &str = "ann-secret-1";

const GOOD_SRC: [u8; 4] = [127, 0, 0, 9];
const PER_IP: usize = 50;
/// smtpd's command timeout, pop3d's idle timeout and imapd's login timeout, shortened so
/// slowloris ends quickly.
const SHORT_TIMEOUT: Duration = Duration::from_secs(3);
/// Sanity bound for one well-behaved session; not a performance assertion.
const SESSION_BOUND: Duration = Duration::from_secs(10);
const SESSIONS: usize = 5;
const ABANDONED: usize = 2_000;
const SLOWLORIS: usize = 55;
const BAD_AUTH_SOURCES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Smtp,
    Imap,
    Pop3,
}

impl Proto {
    fn daemon(self) -> &'static str {
        match self {
            Proto::Smtp => "smtpd",
            Proto::Imap => "imapd",
            Proto::Pop3 => "pop3d",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Proto::Smtp => "mta-smtpd",
            Proto::Imap => "imapd",
            Proto::Pop3 => "pop3d",
        }
    }

    /// Whether a greeting is a refusal by the connection limits.
    fn refused(self, greeting: &str) -> bool {
        match self {
            Proto::Smtp => greeting.starts_with("421"),
            Proto::Imap => greeting.starts_with("* BYE"),
            Proto::Pop3 => greeting.starts_with("-ERR"),
        }
    }
}

struct Harness {
    s: Suite,
}

impl Harness {
    fn start() -> Harness {
        let mut s = Suite::new(&[(USER, PASS), (ANN, ANN_PASS)]);
        s.edit_config(|c| {
            for l in [
                &mut c.smtpd.limits,
                &mut c.imapd.limits,
                &mut c.pop3d.limits,
            ] {
                l.exempt_trusted = false;
                l.max_connections_per_ip = PER_IP;
                l.max_connections = 2_000;
                l.max_auth_failures = 3;
                // Short enough that the flood reaches many failures; it still doubles per
                // failure.
                l.auth_failure_delay = Duration::from_millis(50);
                l.plaintext_auth_on_loopback = true;
            }
            c.smtpd.command_timeout = SHORT_TIMEOUT;
            c.smtpd.data_timeout = SHORT_TIMEOUT;
            c.pop3d.idle_timeout = SHORT_TIMEOUT;
            // imapd's autologout stays at RFC 3501's 30 minutes; before login the session as
            // a whole is bounded by login_timeout.
            c.imapd.login_timeout = SHORT_TIMEOUT;
        });
        for login in [USER, ANN] {
            ferrymail_maildir::Maildir::create(s.maildir(login)).unwrap();
        }
        for p in [Proto::Smtp, Proto::Imap, Proto::Pop3] {
            s.start(p.binary());
        }
        Harness { s }
    }

    fn addr(&self, p: Proto) -> SocketAddr {
        let ports = self.s.env.ports;
        self.s.addr(match p {
            Proto::Smtp => ports.smtp,
            Proto::Imap => ports.imap,
            Proto::Pop3 => ports.pop3,
        })
    }

    fn submission(&self) -> SocketAddr {
        self.s.addr(self.s.env.ports.submission)
    }

    fn logs(&self) -> String {
        self.s.logs()
    }

    fn assert_running(&mut self, after: &str) {
        let mut dead = Vec::new();
        for p in [Proto::Smtp, Proto::Imap, Proto::Pop3] {
            if !self.s.daemon_mut(p.binary()).is_running() {
                dead.push(p.binary());
            }
        }
        assert!(
            dead.is_empty(),
            "after {after}: {dead:?} exited\n{}",
            self.logs()
        );
    }
}

/// A TCP connection from a chosen loopback source address.
fn connect_from(src: [u8; 4], dst: SocketAddr) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.bind(&SockAddr::from(SocketAddr::from((src, 0))))?;
    s.connect_timeout(&SockAddr::from(dst), Duration::from_secs(5))?;
    let t: TcpStream = s.into();
    t.set_read_timeout(Some(SESSION_BOUND))?;
    t.set_write_timeout(Some(SESSION_BOUND))?;
    Ok(t)
}

/// A client of one of the three protocols, over a connection from a chosen source address.
enum Session {
    Smtp(SmtpClient),
    Imap(ImapClient),
    Pop3(Pop3Client),
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "closed")
}

impl Session {
    /// Reads the greeting on a connected stream.
    fn greet(stream: TcpStream, p: Proto) -> io::Result<(Session, String)> {
        let conn = Conn::from_tcp(stream);
        Ok(match p {
            Proto::Smtp => {
                let mut c = SmtpClient::from_conn(conn);
                let greeting = c.try_reply()?.to_string();
                (Session::Smtp(c), greeting)
            }
            Proto::Imap => {
                let c = ImapClient::greeted(conn)?;
                let greeting = c.greeting.clone();
                (Session::Imap(c), greeting)
            }
            Proto::Pop3 => {
                let c = Pop3Client::greeted(conn)?;
                if c.greeting.is_empty() {
                    return Err(closed());
                }
                let greeting = c.greeting.clone();
                (Session::Pop3(c), greeting)
            }
        })
    }

    fn conn(&mut self) -> &mut Conn {
        match self {
            Session::Smtp(c) => c.conn(),
            Session::Imap(c) => c.conn(),
            Session::Pop3(c) => c.conn(),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.conn().send(bytes)
    }

    /// The next line, whatever the protocol.
    fn line(&mut self) -> io::Result<String> {
        let l = self.conn().read_line()?;
        if l.is_empty() {
            return Err(closed());
        }
        Ok(String::from_utf8_lossy(&l).into_owned())
    }

    /// A whole SMTP reply, or the next line of the other protocols.
    fn reply(&mut self) -> io::Result<String> {
        match self {
            Session::Smtp(c) => c.try_reply().map(|r| r.to_string()),
            _ => self.line(),
        }
    }

    /// The IMAP line tagged `tag`, after any untagged ones.
    fn tagged(&mut self, tag: &str) -> io::Result<String> {
        match self {
            Session::Imap(c) => c.try_read_until_tag(tag).map(|r| r.tagged),
            _ => Err(io::Error::other("not an IMAP session")),
        }
    }
}

fn check(what: &str, got: io::Result<String>, want: &str) -> Result<(), String> {
    match got {
        Ok(l) if l.starts_with(want) => Ok(()),
        Ok(l) => Err(format!("{what}: expected `{want}`, got `{}`", l.trim_end())),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// One complete well-behaved session.
fn good_session(h: &Harness, p: Proto, n: usize) -> Result<(), String> {
    let stream = connect_from(GOOD_SRC, h.addr(p)).map_err(|e| format!("connect: {e}"))?;
    let (mut c, greeting) = Session::greet(stream, p).map_err(|e| format!("greeting: {e}"))?;
    let welcome = match p {
        Proto::Smtp => "220",
        Proto::Imap => "* OK",
        Proto::Pop3 => "+OK",
    };
    check("greeting", Ok(greeting), welcome)?;
    // Each step: its name, what to send, and how the answer must start.
    let steps: Vec<(&str, String, &str)> = match p {
        Proto::Smtp => vec![
            ("EHLO", "EHLO good.test\r\n".into(), "250"),
            ("MAIL", "MAIL FROM:<alice@far.test>\r\n".into(), "250"),
            ("RCPT", format!("RCPT TO:<{USER}>\r\n"), "250"),
            ("DATA", "DATA\r\n".into(), "354"),
            (
                "end of DATA",
                format!("From: alice@far.test\r\nSubject: good {n}\r\n\r\nhello {n}\r\n.\r\n"),
                "250",
            ),
            ("QUIT", "QUIT\r\n".into(), "221"),
        ],
        Proto::Imap => vec![
            ("LOGIN", format!("a1 LOGIN {USER} {PASS}\r\n"), "a1 OK"),
            ("SELECT", "a2 SELECT INBOX\r\n".into(), "a2 OK"),
            ("LOGOUT", "a3 LOGOUT\r\n".into(), "a3 OK"),
        ],
        Proto::Pop3 => vec![
            ("USER", format!("USER {USER}\r\n"), "+OK"),
            ("PASS", format!("PASS {PASS}\r\n"), "+OK"),
            ("STAT", "STAT\r\n".into(), "+OK"),
            ("QUIT", "QUIT\r\n".into(), "+OK"),
        ],
    };
    for (what, send, want) in steps {
        c.send(send.as_bytes()).map_err(|e| e.to_string())?;
        let got = match p {
            Proto::Imap => c.tagged(want.split(' ').next().unwrap_or_default()),
            _ => c.reply(),
        };
        check(what, got, want)?;
    }
    Ok(())
}

/// One attack against one daemon.
type Attack = fn(&Harness, Proto);

static SESSION_NO: AtomicU64 = AtomicU64::new(0);

/// Runs `SESSIONS` well-behaved sessions `gap` apart, asserts each succeeds within the sanity
/// bound, and prints the latency.
fn measure(h: &Harness, attack: &str, p: Proto, gap: Duration) {
    let mut ms = Vec::new();
    for _ in 0..SESSIONS {
        let n = SESSION_NO.fetch_add(1, Ordering::Relaxed) as usize;
        let t = Instant::now();
        let r = good_session(h, p, n);
        let took = t.elapsed();
        if let Err(e) = r {
            panic!(
                "hostile={attack} daemon={}: well-behaved session failed after {took:?}: {e}\n{}",
                p.daemon(),
                h.logs()
            );
        }
        assert!(
            took < SESSION_BOUND,
            "hostile={attack} daemon={}: well-behaved session took {took:?}",
            p.daemon()
        );
        ms.push(took.as_secs_f64() * 1000.0);
        std::thread::sleep(gap);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "RESULT hostile={attack} daemon={} sessions={} min_ms={:.1} p50_ms={:.1} max_ms={:.1}",
        p.daemon(),
        ms.len(),
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    );
}

/// What attackers saw; a protocol violation by the daemon is collected in `wrong`.
#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    refused: AtomicU64,
    closed_by_server: AtomicU64,
    rejected: AtomicU64,
    connect_errors: AtomicU64,
    wrong: Mutex<Vec<String>>,
}

impl Seen {
    fn wrong(&self, s: String) {
        if let Ok(mut w) = self.wrong.lock() {
            if w.len() < 20 {
                w.push(s);
            }
        }
    }

    fn summary(&self) -> String {
        format!(
            "connections={} refused_by_limit={} closed_by_server={} rejected={} connect_errors={}",
            self.connections.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.closed_by_server.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
            self.connect_errors.load(Ordering::Relaxed),
        )
    }

    /// Counts the answer to the hostile `cmd`: accepting it is wrong (unless `may_accept`), a
    /// refusal is counted as such, an error as the server closing the connection. Returns
    /// whether the connection can go on.
    fn judge(&self, p: Proto, cmd: &[u8], answer: io::Result<String>, may_accept: bool) -> bool {
        match answer {
            Ok(l) if is_success(p, &l) && !may_accept => {
                self.wrong(format!(
                    "{:?} accepted: {}",
                    String::from_utf8_lossy(cmd),
                    l.trim_end()
                ));
                true
            }
            Ok(_) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.closed_by_server.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Nothing hostile was accepted, and at least one attempt was answered with a refusal.
    fn assert_refused(&self, attack: &str, p: Proto, h: &Harness) {
        self.assert_nothing_wrong(attack, p, h);
        assert!(
            self.rejected.load(Ordering::Relaxed) > 0,
            "{attack} daemon={}: no attempt was ever refused: {}",
            p.daemon(),
            self.summary()
        );
    }

    fn assert_nothing_wrong(&self, attack: &str, p: Proto, h: &Harness) {
        let w = self.wrong.lock().unwrap();
        assert!(
            w.is_empty(),
            "hostile={attack} daemon={}: {w:#?}\n{}",
            p.daemon(),
            h.logs()
        );
    }
}

/// Whether a reply line accepts the command (it never should, for hostile input).
fn is_success(p: Proto, line: &str) -> bool {
    match p {
        Proto::Smtp => line.starts_with('2') || line.starts_with('3'),
        Proto::Imap => line.split(' ').nth(1) == Some("OK") && !line.starts_with('*'),
        Proto::Pop3 => line.starts_with("+OK"),
    }
}

/// Opens an attacker connection and reads the greeting; `None` if refused or failed.
fn attacker(src: [u8; 4], dst: SocketAddr, p: Proto, seen: &Seen) -> Option<Session> {
    let stream = match connect_from(src, dst) {
        Ok(s) => s,
        Err(_) => {
            seen.connect_errors.fetch_add(1, Ordering::Relaxed);
            return None;
        }
    };
    seen.connections.fetch_add(1, Ordering::Relaxed);
    match Session::greet(stream, p) {
        Ok((_, g)) if p.refused(&g) => {
            seen.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
        Ok((c, _)) => Some(c),
        Err(_) => {
            seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Opens up to `n` attacker connections from `src`, one after another until `stop`, and hands
/// each to `attack`, which breaks off the whole series with `ControlFlow::Break`.
fn each_connection(
    n: usize,
    (src, dst, p): ([u8; 4], SocketAddr, Proto),
    stop: &AtomicBool,
    seen: &Seen,
    mut attack: impl FnMut(Session) -> ControlFlow<()>,
) {
    for _ in 0..n {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Some(c) = attacker(src, dst, p, seen) else {
            continue;
        };
        if attack(c).is_break() {
            return;
        }
    }
}

/// Runs `threads` attacker threads until `stop`, while the well-behaved client measures.
fn under_attack(
    h: &Harness,
    attack: &str,
    p: Proto,
    threads: usize,
    warmup: Duration,
    body: impl Fn(usize, &AtomicBool, &Seen) + Send + Sync + Clone + 'static,
) -> Arc<Seen> {
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (stop, seen, body) = (stop.clone(), seen.clone(), body.clone());
            std::thread::spawn(move || body(i, &stop, &seen))
        })
        .collect();
    std::thread::sleep(warmup);
    measure(h, attack, p, Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in handles {
        t.join().unwrap();
    }
    println!(
        "ATTACK hostile={attack} daemon={} {}",
        p.daemon(),
        seen.summary()
    );
    seen
}

/// One byte per second on a line that never ends, from many connections at once.
fn slowloris(h: &Harness, p: Proto) {
    let dst = h.addr(p);
    // Longer than the shortened timeouts; imapd's 30-minute minimum cannot be waited out, so
    // its slow clients are only held for as long as the measurement needs.
    let hold = match p {
        Proto::Imap => Duration::from_secs(5),
        _ => Duration::from_secs(8),
    };
    let closed_after = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let ca = closed_after.clone();
    let seen = under_attack(
        h,
        "slowloris",
        p,
        SLOWLORIS,
        Duration::from_millis(1500),
        move |_, _stop, seen| {
            let Some(mut c) = attacker([127, 0, 0, 2], dst, p, seen) else {
                return;
            };
            let start = Instant::now();
            c.conn()
                .set_read_timeout(Some(Duration::from_millis(1000)))
                .unwrap();
            let prefix: &[u8] = if p == Proto::Imap { b"a1 " } else { b"" };
            if c.send(prefix).is_err() {
                return;
            }
            // Ignores `stop`: a slowloris client keeps going until the server hangs up.
            while start.elapsed() < hold {
                if c.send(b"X").is_err() {
                    seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    ca.lock().unwrap().push(start.elapsed());
                    return;
                }
                match c.conn().read_line() {
                    Ok(l) if l.is_empty() => {
                        seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        ca.lock().unwrap().push(start.elapsed());
                        return;
                    }
                    // The timeout notice (421 / -ERR) before the close.
                    Ok(_) => {}
                    Err(_) => {}
                }
            }
        },
    );
    let refused = seen.refused.load(Ordering::Relaxed);
    let held = seen.connections.load(Ordering::Relaxed) - refused;
    let closed = closed_after.lock().unwrap().clone();
    assert!(
        refused >= (SLOWLORIS - PER_IP) as u64 && held <= PER_IP as u64,
        "slowloris daemon={}: per-address limit {PER_IP} not enforced: {}",
        p.daemon(),
        seen.summary()
    );
    assert_eq!(
        closed.len() as u64,
        held,
        "slowloris daemon={}: not every slow connection was closed within {hold:?} \
         (timeout {SHORT_TIMEOUT:?}): {}\n{}",
        p.daemon(),
        seen.summary(),
        h.logs()
    );
    let max = closed.iter().max().copied().unwrap_or_default();
    println!(
        "SLOWLORIS daemon={} held={held} closed={} latest_close_s={:.1}",
        p.daemon(),
        closed.len(),
        max.as_secs_f64()
    );
}

/// Connections opened and dropped at once (most with RST, some with FIN).
fn abandoned(h: &Harness, p: Proto) {
    let dst = h.addr(p);
    let threads = 4;
    let per_thread = ABANDONED / threads;
    let seen = under_attack(
        h,
        "abandoned",
        p,
        threads,
        Duration::from_millis(200),
        move |i, _stop, seen| {
            // Ignores `stop`: the flood has a fixed size so every run does the same work.
            for n in 0..per_thread {
                match connect_from([127, 0, 0, 3], dst) {
                    Ok(s) => {
                        seen.connections.fetch_add(1, Ordering::Relaxed);
                        if (n + i) % 4 != 0 {
                            // RST rather than FIN: no TIME_WAIT pile-up on the client side.
                            let _ = SockRef::from(&s).set_linger(Some(Duration::ZERO));
                        } else {
                            let _ = s.shutdown(Shutdown::Both);
                        }
                    }
                    Err(_) => {
                        seen.connect_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        },
    );
    assert_eq!(
        seen.connections.load(Ordering::Relaxed) + seen.connect_errors.load(Ordering::Relaxed),
        ABANDONED as u64
    );
    // The slots of abandoned connections are released: the flooding address is admitted again.
    let deadline = Instant::now() + Duration::from_secs(15);
    let back = loop {
        let s2 = Seen::default();
        if attacker([127, 0, 0, 3], dst, p, &s2).is_some() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        back,
        "abandoned daemon={}: the flooding address is still refused 15 s later (slots leaked?)\n{}",
        p.daemon(),
        h.logs()
    );
    let refusals =
        h.s.log(p.binary())
            .lines()
            .filter(|l| l.contains("refused by limits") && l.contains("peer=127.0.0.3:"))
            .count();
    println!(
        "ABANDONED daemon={} connections={ABANDONED} refused_by_per_ip_limit(from log)={refusals}",
        p.daemon()
    );
}

/// Lines of 1 MiB without an end for a long time, then CRLF.
fn long_lines(h: &Harness, p: Proto) {
    let dst = h.addr(p);
    let seen = under_attack(
        h,
        "1mb_lines",
        p,
        4,
        Duration::from_millis(300),
        move |_, stop, seen| {
            let prefix: &[u8] = match p {
                Proto::Imap => b"a1 NOOP ",
                _ => b"NOOP ",
            };
            let mut line = prefix.to_vec();
            line.extend(std::iter::repeat_n(b'A', 1 << 20));
            line.extend_from_slice(b"\r\n");
            each_connection(30, ([127, 0, 0, 4], dst, p), stop, seen, |mut c| {
                if c.send(&line).is_err() {
                    seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                } else {
                    seen.judge(p, b"1 MiB line", c.line(), false);
                }
                ControlFlow::Continue(())
            });
        },
    );
    seen.assert_nothing_wrong("1mb_lines", p, h);
    assert!(
        seen.rejected.load(Ordering::Relaxed) + seen.closed_by_server.load(Ordering::Relaxed) > 0,
        "1mb_lines daemon={}: no line was ever answered: {}",
        p.daemon(),
        seen.summary()
    );
}

/// Wrong passwords for a real account as fast as the server lets them through.
fn bad_auth(h: &Harness, p: Proto) {
    let dst = match p {
        Proto::Smtp => h.submission(),
        _ => h.addr(p),
    };
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0wrong"));
    let seen = under_attack(
        h,
        "bad_auth",
        p,
        BAD_AUTH_SOURCES,
        Duration::from_millis(500),
        move |i, stop, seen| {
            // One address per thread: the back-off is per address, so a distributed flood
            // gets the short early delays and pushes the daemon hardest.
            let src = [127, 0, 5, 1 + i as u8];
            each_connection(50, (src, dst, p), stop, seen, |mut c| {
                // The throttle doubles its delay per failure; do not wait for all of it.
                c.conn()
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                if p == Proto::Smtp && (c.send(b"EHLO bad.test\r\n").is_err() || c.reply().is_err())
                {
                    return ControlFlow::Continue(());
                }
                for n in 0..10 {
                    if stop.load(Ordering::Relaxed) {
                        return ControlFlow::Break(());
                    }
                    let reply = match p {
                        Proto::Smtp => c
                            .send(format!("AUTH PLAIN {plain}\r\n").as_bytes())
                            .and_then(|_| c.reply()),
                        Proto::Imap => c
                            .send(format!("b{n} LOGIN {USER} wrong{n}\r\n").as_bytes())
                            .and_then(|_| c.tagged(&format!("b{n}"))),
                        Proto::Pop3 => c
                            .send(format!("USER {USER}\r\nPASS wrong{n}\r\n").as_bytes())
                            .and_then(|_| c.line())
                            .and_then(|_| c.line()),
                    };
                    match reply {
                        Ok(l) if is_success(p, &l) => {
                            seen.wrong(format!("bad password accepted: {}", l.trim_end()))
                        }
                        Ok(_) => {
                            seen.rejected.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            seen.closed_by_server.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        // Throttled beyond our patience: give up this connection.
                        Err(_) => break,
                    }
                }
                ControlFlow::Continue(())
            });
        },
    );
    seen.assert_refused("bad_auth", p, h);
}

/// Commands with NUL bytes in them.
fn nul_bytes(h: &Harness, p: Proto) {
    let dst = h.addr(p);
    let seen = under_attack(
        h,
        "nul_bytes",
        p,
        4,
        Duration::from_millis(300),
        move |_, stop, seen| {
            let cmds: &[&[u8]] = match p {
                Proto::Smtp => &[
                    b"EHLO a\0b.test\r\n",
                    b"HELO \0\r\n",
                    b"\0\0\0\0\r\n",
                    b"MAIL FROM:<a\0b@far.test>\r\n",
                ],
                Proto::Imap => &[
                    b"n1 LOGIN jo\0e pw\r\n",
                    b"\0\0\0\0\r\n",
                    b"n2 NOOP\0\r\n",
                    b"n3\0LOGIN a b\r\n",
                ],
                Proto::Pop3 => &[
                    b"USER \0\r\n",
                    b"\0\0\0\0\r\n",
                    b"PASS \0x\r\n",
                    b"ST\0AT\r\n",
                ],
            };
            each_connection(100, ([127, 0, 0, 6], dst, p), stop, seen, |mut c| {
                c.conn()
                    .set_read_timeout(Some(Duration::from_secs(3)))
                    .unwrap();
                for cmd in cmds {
                    let r = c.send(cmd).and_then(|_| match p {
                        Proto::Smtp => c.reply(),
                        _ => c.line(),
                    });
                    // pop3d answers USER with +OK whatever the name, so that USER does not
                    // reveal which accounts exist; the PASS after it is what must fail.
                    let user_cmd = p == Proto::Pop3 && cmd.starts_with(b"USER ");
                    if !seen.judge(p, cmd, r, user_cmd) {
                        break;
                    }
                }
                ControlFlow::Continue(())
            });
        },
    );
    seen.assert_refused("nul_bytes", p, h);
}

/// A logged-in IMAP client naming mailboxes with invalid UTF-8 (quoted, atoms, literals).
fn invalid_utf8_mailboxes(h: &Harness) {
    let p = Proto::Imap;
    let dst = h.addr(p);
    let seen = under_attack(
        h,
        "invalid_utf8_mailbox",
        p,
        4,
        Duration::from_millis(300),
        move |_, stop, seen| {
            let cmds: &[&[u8]] = &[
                b"u1 CREATE \"\xff\xfe\"\r\n",
                b"u2 SELECT \xc3\x28\r\n",
                b"u3 CREATE {4+}\r\n\xff\xfe\xfd\xfc\r\n",
                b"u4 RENAME INBOX \"\xed\xa0\x80\"\r\n",
                b"u5 STATUS \"\x80abc\" (MESSAGES)\r\n",
                b"u6 CREATE \"a/\xf0\x28\x8c\x28/b\"\r\n",
                b"u7 SUBSCRIBE \"\xc0\xaf\"\r\n",
            ];
            each_connection(50, ([127, 0, 0, 7], dst, p), stop, seen, |mut c| {
                let login = c
                    .send(format!("u0 LOGIN {ANN} {ANN_PASS}\r\n").as_bytes())
                    .and_then(|_| c.tagged("u0"));
                if !matches!(&login, Ok(l) if l.starts_with("u0 OK")) {
                    seen.wrong(format!("attacker login failed: {login:?}"));
                    return ControlFlow::Break(());
                }
                for cmd in cmds {
                    let tag = String::from_utf8_lossy(&cmd[..2]).into_owned();
                    let r = c.send(cmd).and_then(|_| c.tagged(&tag));
                    if !seen.judge(p, cmd, r, false) {
                        break;
                    }
                }
                let _ = c.send(b"u9 LOGOUT\r\n");
                ControlFlow::Continue(())
            });
        },
    );
    seen.assert_refused("invalid_utf8_mailbox", p, h);
    // Nothing with an undecodable name reached the attacker's maildir.
    let md = h.s.maildir(ANN);
    for e in std::fs::read_dir(&md).unwrap() {
        let name = e.unwrap().file_name();
        assert!(
            name.to_str().is_some(),
            "imapd created a folder with an undecodable name: {name:?}"
        );
    }
}

#[test]
fn daemons_stay_responsive_under_hostile_clients() {
    let started = Instant::now();
    let mut h = Harness::start();
    let all = [Proto::Smtp, Proto::Imap, Proto::Pop3];

    for p in all {
        measure(&h, "none", p, Duration::from_millis(50));
    }
    // Each attack against every daemon in turn, which must all still run after each.
    let attacks: [(Attack, &str); 5] = [
        (slowloris, "slowloris"),
        (abandoned, "abandoned connections"),
        (long_lines, "1 MB lines"),
        (bad_auth, "bad AUTH flood"),
        (nul_bytes, "NUL bytes"),
    ];
    for (attack, name) in attacks {
        for p in all {
            attack(&h, p);
            h.assert_running(name);
        }
    }
    invalid_utf8_mailboxes(&h);
    h.assert_running("invalid UTF-8 mailbox names");

    // And once more with no attack, to see the daemons recovered.
    for p in all {
        measure(&h, "after", p, Duration::from_millis(50));
    }
    h.assert_running("the end");
    println!(
        "RESULT hostile=total_runtime_s={:.1}",
        started.elapsed().as_secs_f64()
    );
}
