//! Shared test helpers: a prepared environment with the real `mta-smtpd` binary running, a
//! raw SMTP client over TCP or TLS (trusting only the environment's own certificate), and
//! readers for what ended up in the spool.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_dev::{prepare, target_bin, wait_for_tcp, Daemon, DevEnv, DevOptions, Ports};
use ferrymail_spool::{Envelope, QueueDir, Spool};
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};

pub const USER: &str = "demo@example.test";
pub const PASS: &str = "demo";

pub struct Server {
    pub env: DevEnv,
    pub daemon: Daemon,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Prepares an environment, lets `tweak` change the config, starts mta-smtpd.
    pub fn start(tweak: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = DevOptions::new(dir.path().join("state"));
        opts.ports = Ports::free();
        opts.users = vec![
            (USER.to_string(), PASS.to_string()),
            ("other@example.test".to_string(), "other-pass".to_string()),
        ];
        let mut env = prepare(&opts).unwrap();
        tweak(&mut env.config);
        env.save_config().unwrap();
        let daemon = Daemon::spawn(&target_bin("mta-smtpd"), &env).unwrap();
        let s = Server {
            env,
            daemon,
            _dir: dir,
        };
        for port in [
            s.env.ports.smtp,
            s.env.ports.submission,
            s.env.ports.submissions,
        ] {
            if !wait_for_tcp(s.env.addr(port), Duration::from_secs(20)) {
                panic!("mta-smtpd did not start:\n{}", s.log());
            }
        }
        s
    }

    pub fn log(&self) -> String {
        self.daemon.log(&self.env)
    }

    pub fn smtp(&self) -> SocketAddr {
        self.env.addr(self.env.ports.smtp)
    }
    pub fn submission(&self) -> SocketAddr {
        self.env.addr(self.env.ports.submission)
    }
    pub fn submissions(&self) -> SocketAddr {
        self.env.addr(self.env.ports.submissions)
    }

    pub fn spool(&self) -> Spool {
        Spool::open(&self.env.config.paths.spool_dir).unwrap()
    }

    /// Every queued message: envelope and bytes, oldest first.
    pub fn queued(&self) -> Vec<(Envelope, Vec<u8>)> {
        let spool = self.spool();
        let mut ids = spool.list(QueueDir::Active).unwrap();
        ids.sort();
        ids.iter()
            .map(|id| {
                let env = spool.read_envelope(id).unwrap();
                let mut bytes = Vec::new();
                spool
                    .open_message(id)
                    .unwrap()
                    .read_to_end(&mut bytes)
                    .unwrap();
                (env, bytes)
            })
            .collect()
    }

    /// Files anywhere under spool/tmp (must be empty when no message is in flight).
    pub fn tmp_files(&self) -> Vec<String> {
        std::fs::read_dir(self.env.config.paths.spool_dir.join("tmp"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn data_files(&self) -> usize {
        std::fs::read_dir(self.env.config.paths.spool_dir.join("data"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// A TLS client config that trusts exactly this environment's certificate.
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.env.config.tls.cert).unwrap() {
            roots.add(c.unwrap()).unwrap();
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

    pub fn connect(&self, addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client {
            stream: Stream::Plain(tcp),
            tls: self.tls_config(),
            pending: Vec::new(),
        }
    }

    /// Connects to the implicit-TLS port.
    pub fn connect_tls(&self) -> Client {
        let mut c = self.connect(self.submissions());
        c.handshake();
        c
    }
}

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    Gone,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Gone => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Gone => Ok(()),
        }
    }
}

/// A line-oriented SMTP client that shows exactly what the server sent.
pub struct Client {
    pub stream: Stream,
    tls: Arc<rustls::ClientConfig>,
    /// Bytes read past the last reply.
    pending: Vec<u8>,
}

impl Client {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
        self.stream.flush().unwrap();
    }

    /// Reads one line; None at EOF.
    pub fn line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let rest = self.pending.split_off(i + 1);
                let line = std::mem::replace(&mut self.pending, rest);
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// One full (possibly multi-line) reply, lines joined with "\n"; "" at EOF.
    pub fn reply(&mut self) -> String {
        let mut out = String::new();
        while let Some(l) = self.line() {
            let l = l.trim_end_matches(['\r', '\n']).to_string();
            let last = l.as_bytes().get(3) != Some(&b'-');
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&l);
            if last {
                break;
            }
        }
        out
    }

    /// Sends a command and returns its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Reads the greeting and says EHLO.
    pub fn hello(&mut self) -> String {
        let g = self.reply();
        assert!(g.starts_with("220 "), "greeting: {g}");
        self.cmd("EHLO client.test")
    }

    /// Runs the TLS handshake on the plain connection (after a 220 to STARTTLS, or at once
    /// on the implicit-TLS port).
    pub fn handshake(&mut self) {
        assert!(
            self.pending.is_empty(),
            "server sent data before TLS: {:?}",
            self.pending
        );
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            panic!("already TLS")
        };
        let conn = rustls::ClientConnection::new(
            self.tls.clone(),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock).unwrap();
        }
        self.stream = Stream::Tls(Box::new(s));
    }

    pub fn starttls(&mut self) {
        let r = self.cmd("STARTTLS");
        assert!(r.starts_with("220 2.0.0"), "{r}");
        self.handshake();
    }

    pub fn auth_plain(&mut self, user: &str, pass: &str) -> String {
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        self.cmd(&format!("AUTH PLAIN {b}"))
    }

    /// Whether the server closed the connection (EOF on read).
    pub fn closed(&mut self) -> bool {
        self.line().is_none()
    }
}

/// `code enhanced` of the last line of a reply, e.g. "250 2.1.5".
pub fn code(reply: &str) -> String {
    let last = reply.lines().last().unwrap_or_default();
    last.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// The message bytes after the Received: header mta-smtpd prepends.
pub fn without_received(bytes: &[u8]) -> &[u8] {
    assert!(
        bytes.starts_with(b"Received: "),
        "{}",
        String::from_utf8_lossy(bytes)
    );
    // The header ends at the first CRLF not followed by a continuation (tab).
    let mut i = 0;
    while let Some(p) = bytes[i..].windows(2).position(|w| w == b"\r\n") {
        let end = i + p + 2;
        if bytes.get(end) != Some(&b'\t') {
            return &bytes[end..];
        }
        i = end;
    }
    panic!("unterminated Received header")
}

/// Sends one message in a fresh transaction and returns the DATA reply.
pub fn send_message(c: &mut Client, from: &str, to: &[&str], data: &[u8]) -> String {
    let r = c.cmd(&format!("MAIL FROM:<{from}>"));
    assert!(r.starts_with("250"), "MAIL: {r}");
    for t in to {
        let r = c.cmd(&format!("RCPT TO:<{t}>"));
        assert!(r.starts_with("250"), "RCPT {t}: {r}");
    }
    let r = c.cmd("DATA");
    assert!(r.starts_with("354"), "DATA: {r}");
    c.send(data);
    c.send(b".\r\n");
    c.reply()
}
