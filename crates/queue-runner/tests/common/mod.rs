//! Shared test scaffolding: a dev environment (the shared test kit's `Suite`) with
//! queue-runner pointed at a loopback DNS server and a scriptable SMTP server, a fake LMTP
//! server, and spool helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_dev::Daemon;
use ferrymail_spool::{ClientInfo, Envelope, QueueDir, Recipient, Source};
use ferrymail_testkit::Suite;

pub mod policy;

pub struct TestEnv {
    suite: Suite,
    pub dns: DnsServer,
}

ferrymail_testkit::wraps_suite!(TestEnv, suite);

/// A dev environment (local domain example.test, users alice and bob) with fast retries,
/// short timeouts, DNS at a loopback server and remote SMTP on `smtp_port`.
pub fn test_env(zone: Zone, smtp_port: u16) -> TestEnv {
    let mut suite = Suite::new(&[
        ("alice@example.test", "pw-alice"),
        ("bob@example.test", "pw-bob"),
    ]);
    let dns = DnsServer::start(zone).unwrap();
    suite.edit_config(|c| {
        ferrymail_testkit::suite::quick_queue(c, dns.addr, smtp_port);
        let q = &mut c.queue;
        q.connect_timeout = Duration::from_secs(2);
        q.command_timeout = Duration::from_secs(5);
        q.data_block_timeout = Duration::from_secs(5);
        q.data_done_timeout = Duration::from_secs(5);
    });
    TestEnv { suite, dns }
}

impl TestEnv {
    /// Starts a daemon the test owns (and may kill) and waits until it answers.
    pub fn start_daemon(&self, name: &str) -> Daemon {
        Daemon::start(name, &self.env, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts queue-runner.
    pub fn start(&self) -> Daemon {
        self.start_daemon("queue-runner")
    }

    /// Queues a message and pokes queue-runner.
    pub fn enqueue(
        &self,
        sender: Option<&str>,
        rcpts: &[&str],
        body: &str,
    ) -> ferrymail_spool::QueueId {
        self.enqueue_env(
            Envelope::new(
                sender.map(str::to_owned),
                rcpts.iter().map(|r| Recipient::new(*r)).collect(),
                ClientInfo {
                    protocol: "ESMTP".into(),
                    ..ClientInfo::default()
                },
                Source::Local,
            ),
            body,
        )
    }

    pub fn enqueue_env(&self, env: Envelope, body: &str) -> ferrymail_spool::QueueId {
        let msg = format!(
            "From: sender@example.test\r\nTo: rcpt@remote.test\r\nSubject: test\r\nMessage-ID: <{}@test>\r\n\r\n{body}\r\n",
            env.id
        );
        let id = self.spool().enqueue(env, msg.as_bytes()).unwrap();
        ferrymail_spool::notify_wake(self.env.config.wake_socket(), &id);
        id
    }

    /// Envelopes in the active queue and on hold.
    pub fn queued(&self) -> Vec<Envelope> {
        let s = self.spool();
        let mut out = Vec::new();
        for dir in [QueueDir::Active, QueueDir::Hold] {
            for id in s.list(dir).unwrap() {
                if let Ok(e) = s.read_envelope_in(dir, &id) {
                    out.push(e);
                }
            }
        }
        out
    }

    pub fn message_text(&self, id: &ferrymail_spool::QueueId) -> String {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut self.spool().open_message(id).unwrap(), &mut s).unwrap();
        s
    }

    pub fn log(&self) -> String {
        self.suite.log("queue-runner")
    }
}

/// One message as a test server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub session: usize,
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub data: String,
    pub ehlo: String,
    /// Whether the transaction ran inside STARTTLS.
    pub tls: bool,
    /// The AUTH command's argument, if the client authenticated.
    pub auth: Option<String>,
}

/// How a scripted server answers: (session number from 0, verb, argument) → reply line(s)
/// including CRLF. `None` means the default positive answer.
pub type Script = dyn Fn(usize, &str, &str) -> Option<String> + Send + Sync;

pub struct FakeServer {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub sessions: Arc<AtomicUsize>,
    /// Most sessions open at the same time.
    pub max_concurrent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl FakeServer {
    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// An SMTP server on `addr` answering per `script`, recording every accepted message.
pub fn smtp_server(
    addr: SocketAddr,
    ehlo_ext: &'static [&'static str],
    script: Arc<Script>,
) -> FakeServer {
    smtp_server_tls(addr, ehlo_ext, None, script)
}

/// Like [`smtp_server`], offering STARTTLS with `tls`.
pub fn smtp_server_tls(
    addr: SocketAddr,
    ehlo_ext: &'static [&'static str],
    tls: Option<Arc<rustls::ServerConfig>>,
    script: Arc<Script>,
) -> FakeServer {
    let listener = Listener::Tcp(TcpListener::bind(addr).unwrap());
    fake_server(addr, listener, false, ehlo_ext, tls, script)
}

/// An LMTP server on a Unix socket that accepts everything (per `script`).
pub fn lmtp_server(path: &Path, script: Arc<Script>) -> FakeServer {
    let _ = std::fs::remove_file(path);
    let listener = Listener::Unix(UnixListener::bind(path).unwrap());
    let ext = &["PIPELINING", "ENHANCEDSTATUSCODES"];
    fake_server(
        "127.0.0.1:0".parse().unwrap(),
        listener,
        true,
        ext,
        None,
        script,
    )
}

/// Where a fake server takes its connections.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn set_nonblocking(&self) {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(true).unwrap(),
            Listener::Unix(l) => l.set_nonblocking(true).unwrap(),
        }
    }

    /// A waiting connection, blocking with a read timeout; `None` if there is none yet.
    fn accept(&self) -> Option<Box<dyn Stream>> {
        let timeout = Some(Duration::from_secs(10));
        Some(match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().ok()?;
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(timeout).unwrap();
                Box::new(s)
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().ok()?;
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(timeout).unwrap();
                Box::new(s)
            }
        })
    }
}

/// Serves every connection of `listener` on its own thread until the returned server is
/// dropped, counting sessions and how many run at once.
fn fake_server(
    addr: SocketAddr,
    listener: Listener,
    lmtp: bool,
    ext: &'static [&'static str],
    tls: Option<Arc<rustls::ServerConfig>>,
    script: Arc<Script>,
) -> FakeServer {
    let server = FakeServer {
        addr,
        received: Arc::new(Mutex::new(Vec::new())),
        sessions: Arc::new(AtomicUsize::new(0)),
        max_concurrent: Arc::new(AtomicUsize::new(0)),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let (rec, ses, st, maxc) = (
        server.received.clone(),
        server.sessions.clone(),
        server.stop.clone(),
        server.max_concurrent.clone(),
    );
    let active = Arc::new(AtomicUsize::new(0));
    listener.set_nonblocking();
    std::thread::spawn(move || {
        while !st.load(Ordering::Relaxed) {
            let Some(s) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let n = ses.fetch_add(1, Ordering::SeqCst);
            let (rec, script, tls, st) = (rec.clone(), script.clone(), tls.clone(), st.clone());
            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
            maxc.fetch_max(now, Ordering::SeqCst);
            let active = active.clone();
            std::thread::spawn(move || {
                serve(s, n, lmtp, ext, tls, &*script, &rec, &st);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    server
}

/// A byte stream the fake servers can speak over (plain TCP, Unix, or TLS after STARTTLS).
pub trait Stream: std::io::Read + Write + Send {}
impl<T: std::io::Read + Write + Send> Stream for T {}

#[allow(clippy::too_many_arguments)]
fn serve(
    stream: Box<dyn Stream>,
    session: usize,
    lmtp: bool,
    ext: &[&str],
    tls: Option<Arc<rustls::ServerConfig>>,
    script: &Script,
    rec: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
) {
    let mut r = BufReader::new(stream);
    let say = |r: &mut BufReader<Box<dyn Stream>>, default: &str, verb: &str, arg: &str| -> bool {
        let reply = script(session, verb, arg).unwrap_or_else(|| default.to_string());
        if reply == "CLOSE" {
            return false;
        }
        r.get_mut().write_all(reply.as_bytes()).is_ok() && r.get_mut().flush().is_ok()
    };
    if !say(&mut r, "220 fake ESMTP\r\n", "CONNECT", "") {
        return;
    }
    let mut cur = Received {
        session,
        mail_from: String::new(),
        rcpts: Vec::new(),
        data: String::new(),
        ehlo: String::new(),
        tls: false,
        auth: None,
    };
    let mut line = String::new();
    loop {
        line.clear();
        // A stopped server closes its open connections too, as a real one's exit does
        // (clients keep idle connections to reuse).
        if r.read_line(&mut line).unwrap_or(0) == 0 || stop.load(Ordering::Relaxed) {
            return;
        }
        let l = line.trim_end().to_string();
        let (verb, arg) = l.split_once(' ').unwrap_or((&l, ""));
        let verb = verb.to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "LHLO" => {
                cur.ehlo = arg.to_string();
                let mut lines = vec!["fake".to_string()];
                lines.extend(ext.iter().map(|e| e.to_string()));
                if tls.is_some() && !cur.tls {
                    lines.push("STARTTLS".into());
                }
                let mut s = String::new();
                for (i, e) in lines.iter().enumerate() {
                    s.push_str(&format!(
                        "250{}{e}\r\n",
                        if i + 1 == lines.len() { ' ' } else { '-' }
                    ));
                }
                if !say(&mut r, &s, &verb, arg) {
                    return;
                }
            }
            "STARTTLS" => {
                let Some(cfg) = tls.clone() else {
                    let _ = r.get_mut().write_all(b"502 5.5.1 no\r\n");
                    continue;
                };
                let _ = r.get_mut().write_all(b"220 2.0.0 go ahead\r\n");
                let inner = r.into_inner();
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let tls_stream: Box<dyn Stream> = Box::new(rustls::StreamOwned::new(conn, inner));
                r = BufReader::new(tls_stream);
                cur.tls = true;
            }
            "AUTH" => {
                cur.auth = Some(arg.to_string());
                if !say(&mut r, "235 2.7.0 authenticated\r\n", "AUTH", arg) {
                    return;
                }
            }
            "MAIL" => {
                cur.mail_from = arg.to_string();
                cur.rcpts.clear();
                if !say(&mut r, "250 2.1.0 ok\r\n", "MAIL", arg) {
                    return;
                }
            }
            "RCPT" => {
                let reply =
                    script(session, "RCPT", arg).unwrap_or_else(|| "250 2.1.5 ok\r\n".into());
                if reply == "CLOSE" {
                    return;
                }
                if reply.starts_with('2') {
                    cur.rcpts.push(arg.to_string());
                }
                if r.get_mut().write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
            "DATA" => {
                if cur.rcpts.is_empty() {
                    let _ = r.get_mut().write_all(b"554 5.5.1 no valid recipients\r\n");
                    continue;
                }
                if !say(&mut r, "354 go ahead\r\n", "DATA", "") {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                cur.data = data;
                let n = if lmtp { cur.rcpts.len() } else { 1 };
                // Recorded whatever the replies say: the test wants to see what was sent.
                rec.lock().unwrap().push(cur.clone());
                for i in 0..n {
                    let arg = cur.rcpts.get(i).cloned().unwrap_or_default();
                    let reply = script(session, "DOT", &arg)
                        .unwrap_or_else(|| "250 2.0.0 queued\r\n".into());
                    if reply == "CLOSE" {
                        return;
                    }
                    let _ = r.get_mut().write_all(reply.as_bytes());
                }
            }
            "QUIT" => {
                let _ = r.get_mut().write_all(b"221 bye\r\n");
                let _ = r.get_mut().flush();
                return;
            }
            "RSET" | "NOOP" => {
                let _ = r.get_mut().write_all(b"250 ok\r\n");
            }
            _ => {
                let _ = r.get_mut().write_all(b"500 5.5.2 what\r\n");
            }
        }
        let _ = r.get_mut().flush();
    }
}

pub fn always(_: usize, _: &str, _: &str) -> Option<String> {
    None
}
