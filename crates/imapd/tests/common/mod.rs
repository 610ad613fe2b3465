//! Test harness: a dev environment with the real imapd binary, and a raw IMAP client that
//! reads responses with their literals.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use ferrymail_dev::{prepare, target_bin, wait_for_tcp, Daemon, DevEnv, DevOptions, Ports};

pub const USER: &str = "alice@example.test";
pub const PASS: &str = "wonderland";

pub struct Server {
    pub env: DevEnv,
    pub daemon: Option<Daemon>,
    pub _dir: tempfile::TempDir,
}

impl Server {
    /// Starts imapd; `plaintext` allows LOGIN without TLS from loopback.
    pub fn start(plaintext: bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = DevOptions::new(dir.path().join("state"));
        opts.ports = Ports::free();
        opts.users = vec![
            (USER.into(), PASS.into()),
            ("bob@example.test".into(), "builder".into()),
        ];
        let mut env = prepare(&opts).unwrap();
        env.config.imapd.limits.plaintext_auth_on_loopback = plaintext;
        env.config.imapd.limits.auth_failure_delay = Duration::from_millis(10);
        env.save_config().unwrap();
        let mut s = Server {
            env,
            daemon: None,
            _dir: dir,
        };
        s.spawn();
        s
    }

    pub fn spawn(&mut self) {
        let d = Daemon::spawn(&target_bin("imapd"), &self.env).unwrap();
        assert!(
            wait_for_tcp(self.env.addr(self.env.ports.imap), Duration::from_secs(20)),
            "imapd did not start: {}",
            d.log(&self.env)
        );
        self.daemon = Some(d);
    }

    /// inotify watches imapd holds right now (from /proc/<pid>/fdinfo).
    pub fn inotify_watches(&self) -> usize {
        let pid = self.daemon.as_ref().expect("imapd running").pid();
        let mut n = 0;
        for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
            .unwrap()
            .flatten()
        {
            if let Ok(text) = std::fs::read_to_string(fd.path()) {
                n += text
                    .lines()
                    .filter(|l| l.starts_with("inotify wd:"))
                    .count();
            }
        }
        n
    }

    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.signal(nix::sys::signal::Signal::SIGTERM);
            let status = d
                .wait_timeout(Duration::from_secs(10))
                .expect("imapd exits on SIGTERM");
            assert!(status.success(), "exit status {status:?}");
        }
    }

    pub fn log(&self) -> String {
        self.daemon
            .as_ref()
            .map(|d| d.log(&self.env))
            .unwrap_or_default()
    }

    pub fn maildir(&self, login: &str) -> PathBuf {
        let (local, domain) = login.split_once('@').unwrap();
        self.env
            .config
            .paths
            .mail_root
            .join(domain)
            .join(local)
            .join("Maildir")
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.env.addr(self.env.ports.imap))
    }

    pub fn login(&self, user: &str, pass: &str) -> Client {
        let mut c = self.connect();
        let r = c.cmd(&format!("LOGIN \"{user}\" \"{pass}\""));
        assert!(r.ok(), "login failed: {r:?}\n{}", self.log());
        c
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    /// Untagged lines, each with its literals inline.
    pub untagged: Vec<String>,
    pub tagged: String,
}

impl Response {
    pub fn ok(&self) -> bool {
        self.tagged.split(' ').nth(1) == Some("OK")
    }
    pub fn status(&self) -> &str {
        self.tagged.split(' ').nth(1).unwrap_or("")
    }
    pub fn has(&self, needle: &str) -> bool {
        self.untagged.iter().any(|l| l.contains(needle))
    }
    pub fn find(&self, needle: &str) -> Option<&String> {
        self.untagged.iter().find(|l| l.contains(needle))
    }
    pub fn all(&self) -> String {
        let mut s = self.untagged.join("\n");
        s.push('\n');
        s.push_str(&self.tagged);
        s
    }
}

pub struct Client {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
    n: u32,
    pub greeting: String,
}

impl Client {
    pub fn connect(addr: std::net::SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let w = s.try_clone().unwrap();
        let mut c = Client {
            r: BufReader::new(s),
            w,
            n: 0,
            greeting: String::new(),
        };
        c.greeting = c.line();
        c
    }

    /// One logical response line: literals are read and inlined.
    pub fn line(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut l = Vec::new();
            let n = self.r.read_until(b'\n', &mut l).unwrap();
            assert!(
                n > 0,
                "connection closed; so far: {}",
                String::from_utf8_lossy(&out)
            );
            let l = l.strip_suffix(b"\r\n").map(<[u8]>::to_vec).unwrap_or(l);
            out.extend_from_slice(&l);
            if let Some(size) = literal_size(&l) {
                let mut buf = vec![0u8; size];
                self.r.read_exact(&mut buf).unwrap();
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&buf);
                continue;
            }
            return String::from_utf8_lossy(&out).into_owned();
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.w.write_all(raw).unwrap();
    }

    pub fn next_tag(&mut self) -> String {
        self.n += 1;
        format!("a{}", self.n)
    }

    /// Sends a command and reads through its tagged response.
    pub fn cmd(&mut self, text: &str) -> Response {
        let tag = self.next_tag();
        self.send(format!("{tag} {text}\r\n").as_bytes());
        self.read_until_tag(&tag)
    }

    pub fn read_until_tag(&mut self, tag: &str) -> Response {
        let mut untagged = Vec::new();
        for _ in 0..1_000_000 {
            let l = self.line();
            if l.starts_with(&format!("{tag} ")) {
                return Response {
                    untagged,
                    tagged: l,
                };
            }
            untagged.push(l);
        }
        panic!("no tagged response");
    }

    /// APPEND with a synchronising literal, checking the continuation request.
    pub fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> Response {
        let tag = self.next_tag();
        self.send(format!("{tag} APPEND {mailbox} ({flags}) {{{}}}\r\n", msg.len()).as_bytes());
        let cont = self.line();
        assert!(cont.starts_with("+ "), "expected continuation, got {cont}");
        self.send(msg);
        self.send(b"\r\n");
        self.read_until_tag(&tag)
    }
}

fn literal_size(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// A small plain message.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: {subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
