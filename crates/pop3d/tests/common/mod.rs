//! A real pop3d started from a `ferrymail-dev` environment, and a small blocking POP3 client
//! (plain, STLS or implicit TLS) that keeps responses byte-exact.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_dev::{prepare, target_bin, wait_for_tcp, Daemon, DevEnv, DevOptions, Ports};
use ferrymail_maildir::{DeliverOptions, Maildir, MessageEntry};

pub const USER: &str = "joe@example.test";
pub const PASS: &str = "correct horse";

pub struct Server {
    pub env: DevEnv,
    pub daemon: Daemon,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- pop3d log ----\n{}", self.daemon.log(&self.env));
        }
    }
}

/// Starts pop3d; `plaintext_on_loopback` sets `pop3d.limits.plaintext_auth_on_loopback`.
pub fn start(plaintext_on_loopback: bool) -> Server {
    start_with(|c| c.pop3d.limits.plaintext_auth_on_loopback = plaintext_on_loopback)
}

pub fn start_with(edit: impl FnOnce(&mut ferrymail_config::Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DevOptions::new(dir.path().join("state"));
    opts.ports = Ports::free();
    opts.users = vec![
        (USER.into(), PASS.into()),
        ("ann@example.test".into(), "ann-pw".into()),
    ];
    let mut env = prepare(&opts).unwrap();
    // Keep failed-login back-off short so tests stay quick; its doubling is unit-tested.
    env.config.pop3d.limits.auth_failure_delay = Duration::from_millis(20);
    edit(&mut env.config);
    env.save_config().unwrap();
    let daemon = Daemon::spawn(&target_bin("pop3d"), &env).unwrap();
    let server = Server {
        env,
        daemon,
        _dir: dir,
    };
    for port in [server.env.ports.pop3, server.env.ports.pop3s] {
        assert!(
            wait_for_tcp(server.env.addr(port), Duration::from_secs(20)),
            "pop3d did not start:\n{}",
            server.daemon.log(&server.env)
        );
    }
    server
}

impl Server {
    pub fn maildir_path(&self, login: &str) -> PathBuf {
        let (local, domain) = login.split_once('@').unwrap();
        self.env
            .config
            .paths
            .mail_root
            .join(domain)
            .join(local)
            .join("Maildir")
    }

    pub fn maildir(&self, login: &str) -> Maildir {
        Maildir::create(self.maildir_path(login)).unwrap()
    }

    pub fn deliver(&self, login: &str, message: &[u8]) -> MessageEntry {
        self.maildir(login)
            .deliver(&[message], DeliverOptions::default())
            .unwrap()
    }

    pub fn plain(&self) -> Client<TcpStream> {
        Client::connect_plain(self.env.addr(self.env.ports.pop3))
    }

    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in
            rustls_pki_types::CertificateDer::pem_file_iter(&self.env.config.tls.cert).unwrap()
        {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// Port 995 style: TLS from the first byte.
    pub fn implicit_tls(&self) -> Client<TlsStream> {
        let tcp = TcpStream::connect(self.env.addr(self.env.ports.pop3s)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Client::new(tls_wrap(self.tls_config(), tcp));
        let greeting = c.line();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        c
    }

    /// Port 110 then STLS.
    pub fn stls(&self) -> Client<TlsStream> {
        let mut c = self.plain();
        assert_eq!(c.cmd("STLS"), "+OK Begin TLS negotiation\r\n");
        let tcp = c.into_inner();
        Client::new(tls_wrap(self.tls_config(), tcp))
    }
}

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_wrap(cfg: Arc<rustls::ClientConfig>, tcp: TcpStream) -> TlsStream {
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

pub struct Client<S: Read + Write> {
    r: BufReader<S>,
}

impl Client<TcpStream> {
    pub fn connect_plain(addr: std::net::SocketAddr) -> Client<TcpStream> {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Client::new(tcp);
        let greeting = c.line();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        c
    }
}

impl<S: Read + Write> Client<S> {
    pub fn new(s: S) -> Client<S> {
        Client {
            r: BufReader::new(s),
        }
    }

    pub fn into_inner(self) -> S {
        assert!(self.r.buffer().is_empty(), "unread data");
        self.r.into_inner()
    }

    pub fn send(&mut self, raw: &[u8]) {
        let s = self.r.get_mut();
        s.write_all(raw).unwrap();
        s.flush().unwrap();
    }

    /// One response line, with its CRLF; empty at EOF.
    pub fn line(&mut self) -> String {
        let mut buf = Vec::new();
        self.r.read_until(b'\n', &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    pub fn cmd(&mut self, text: &str) -> String {
        self.send(format!("{text}\r\n").as_bytes());
        self.line()
    }

    /// The raw body of a multi-line response, through the terminating `.` CRLF.
    pub fn body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let start = out.len();
            let n = self.r.read_until(b'\n', &mut out).unwrap();
            assert!(n > 0, "EOF inside a multi-line response");
            if &out[start..] == b".\r\n" {
                return out;
            }
        }
    }

    /// Sends a command expecting `+OK` and a multi-line body; returns (status line, body).
    pub fn multi(&mut self, text: &str) -> (String, Vec<u8>) {
        let status = self.cmd(text);
        assert!(status.starts_with("+OK"), "{text}: {status}");
        let body = self.body();
        (status, body)
    }

    pub fn login(&mut self, user: &str, pass: &str) -> String {
        let r = self.cmd(&format!("USER {user}"));
        assert!(r.starts_with("+OK"), "USER: {r}");
        self.cmd(&format!("PASS {pass}"))
    }

    pub fn is_eof(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }
}

/// What a RETR must send for `message`, computed independently of the server's encoder:
/// CRLF endings, dot-stuffing, a final CRLF, and the terminator.
pub fn expected_retr(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(message.to_vec()).unwrap();
    let mut out = String::new();
    let normalized = text.replace("\r\n", "\n");
    let trimmed = normalized.strip_suffix('\n').unwrap_or(&normalized);
    for line in trimmed.split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out.into_bytes()
}

/// Names of the message files in new/ and cur/ of a maildir.
pub fn files(path: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(path.join(sub)).unwrap() {
            out.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

/// A Python client script driven step by step: it prints one JSON object per step and
/// waits for a line on stdin before the next, so a test can look around between steps.
pub struct StepScript {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl StepScript {
    /// `python3 -c script args...`.
    pub fn start<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> StepScript {
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("`python3` is not installed: install the Debian package `python3`");
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        StepScript { child, out }
    }

    /// The next step's JSON. If the script ended instead, fails with its stderr and
    /// `context()` (e.g. the daemon's log).
    pub fn next(&mut self, context: impl Fn() -> String) -> serde_json::Value {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        if line.is_empty() {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the Python client failed:\n{err}\n{}", context());
        }
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}\n{}", context()))
    }

    /// Lets the script go on to its next step.
    pub fn proceed(&mut self) {
        writeln!(self.child.stdin.as_mut().expect("piped stdin")).unwrap();
    }

    /// Waits for the script to end; true if it succeeded.
    pub fn finish(mut self) -> bool {
        self.child.wait().unwrap().success()
    }
}
