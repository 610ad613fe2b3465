//! A dev environment in its own temporary directory with real daemons started from it: each
//! is waited for until it answers, stopped when the suite is dropped, and its log is at hand
//! (and printed when a test fails).

use std::ffi::OsStr;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_dev::{built_bin, prepare, Daemon, DevEnv, DevOptions, Ports};
use ferrymail_spool::{Envelope, QueueDir, Spool};

use crate::conn::Conn;
use crate::imap::ImapClient;
use crate::pop3::Pop3Client;
use crate::smtp::SmtpClient;

/// Every daemon, in the order the whole suite starts: socket owners before their clients.
pub const DAEMONS: [&str; 5] = [
    "local-delivery",
    "queue-runner",
    "mta-smtpd",
    "imapd",
    "pop3d",
];

/// How long a daemon may take to answer after it was started, or to exit after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(30);

/// Lines of each daemon's log printed when a test fails (a flood test's log can be huge).
const LOG_TAIL: usize = 200;

/// Makes a crate's own test environment, a struct holding a [`Suite`] in the field `$field`,
/// usable as that suite (`Deref` and `DerefMut`), so its helpers sit beside the shared ones.
#[macro_export]
macro_rules! wraps_suite {
    ($wrapper:ty, $field:ident) => {
        impl std::ops::Deref for $wrapper {
            type Target = $crate::Suite;
            fn deref(&self) -> &$crate::Suite {
                &self.$field
            }
        }

        impl std::ops::DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut $crate::Suite {
                &mut self.$field
            }
        }
    };
}

pub struct Suite {
    pub env: DevEnv,
    daemons: Vec<Daemon>,
    /// Removed last, after the daemons are stopped.
    dir: tempfile::TempDir,
}

impl Suite {
    /// An environment on free loopback ports with these `(login, password)` users (none:
    /// the dev default `demo@example.test` / `demo`); nothing started yet.
    pub fn new(users: &[(&str, &str)]) -> Suite {
        Suite::with(|o| {
            o.users = users
                .iter()
                .map(|(l, p)| (l.to_string(), p.to_string()))
                .collect();
        })
    }

    /// Like [`Suite::new`] with every option in the test's hands (state directory excepted).
    pub fn with(options: impl FnOnce(&mut DevOptions)) -> Suite {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let mut opts = DevOptions::new(dir.path().join("state"));
        opts.ports = Ports::free();
        options(&mut opts);
        let env = prepare(&opts).unwrap_or_else(|e| panic!("dev environment: {e}"));
        Suite {
            env,
            daemons: Vec::new(),
            dir,
        }
    }

    /// The temporary directory holding the state directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Changes the config and writes it back, for daemons started (or reloading) after this.
    pub fn edit_config(&mut self, edit: impl FnOnce(&mut Config)) -> &mut Suite {
        edit(&mut self.env.config);
        self.env
            .save_config()
            .unwrap_or_else(|e| panic!("saving the config: {e}"));
        self
    }

    /// Starts the daemon `name` and waits until it answers.
    pub fn start(&mut self, name: &str) -> &mut Daemon {
        match Daemon::start(name, &self.env, PATIENCE) {
            Ok(d) => {
                self.daemons.push(d);
                let last = self.daemons.len() - 1;
                &mut self.daemons[last]
            }
            Err(e) => panic!("{e}\n{}", self.logs()),
        }
    }

    /// Starts `name` behind `prefix` (a command that execs it, such as `ip netns exec <ns>`:
    /// see [`Daemon::spawn_with_prefix`]) and waits until `ready` says it answers, which may
    /// have to look from elsewhere (inside a namespace) than [`DevEnv::wait_ready`] does.
    pub fn start_prefixed<S: AsRef<OsStr>>(
        &mut self,
        prefix: &[S],
        name: &str,
        ready: impl FnOnce(&DevEnv) -> bool,
    ) -> &mut Daemon {
        let bin = built_bin(name).unwrap_or_else(|e| panic!("{e}"));
        let d = Daemon::spawn_with_prefix(prefix, &bin, &self.env)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        self.daemons.push(d);
        if !ready(&self.env) {
            panic!("{name} did not answer\n{}", self.logs());
        }
        let last = self.daemons.len() - 1;
        &mut self.daemons[last]
    }

    /// Starts every daemon ([`DAEMONS`]).
    pub fn start_all(&mut self) -> &mut Suite {
        for name in DAEMONS {
            self.start(name);
        }
        self
    }

    /// The running daemon `name` (the latest, if it was restarted).
    pub fn daemon(&self, name: &str) -> &Daemon {
        let i = self.index(name);
        &self.daemons[i]
    }

    pub fn daemon_mut(&mut self, name: &str) -> &mut Daemon {
        let i = self.index(name);
        &mut self.daemons[i]
    }

    fn index(&self, name: &str) -> usize {
        self.daemons
            .iter()
            .rposition(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} was not started"))
    }

    /// SIGTERM to `name`; waits for it to exit and returns how it exited.
    pub fn stop(&mut self, name: &str) -> ExitStatus {
        let i = self.index(name);
        let mut d = self.daemons.remove(i);
        d.signal(nix::sys::signal::Signal::SIGTERM);
        let status = d.wait_timeout(PATIENCE);
        status.unwrap_or_else(|| panic!("{name} ignored SIGTERM\n{}", d.log(&self.env)))
    }

    /// SIGKILL to `name`, waiting until it is gone.
    pub fn kill(&mut self, name: &str) {
        let i = self.index(name);
        let mut d = self.daemons.remove(i);
        d.signal(nix::sys::signal::Signal::SIGKILL);
        assert!(
            d.wait_timeout(PATIENCE).is_some(),
            "{name} survived SIGKILL"
        );
    }

    /// Everything `name` has logged so far (also after it was stopped).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.env.log_path(name)).unwrap_or_default()
    }

    /// Waits up to five seconds for `text` in `name`'s log (a line reaches the file a moment
    /// after the reply it goes with); panics with the log if it never appears.
    pub fn expect_logged(&self, name: &str, text: &str) {
        let found = crate::wait_until(Duration::from_secs(5), || self.log(name).contains(text));
        assert!(
            found,
            "no {text:?} in the log of {name}:\n{}",
            self.log(name)
        );
    }

    /// The end of every started daemon's log, each under a header line.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for d in &self.daemons {
            let log = d.log(&self.env);
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
            out.push_str(&format!(
                "----- {} {} (last {} lines) -----\n",
                self.env.config.general.hostname,
                d.name,
                tail.len()
            ));
            for l in tail {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn addr(&self, port: u16) -> SocketAddr {
        self.env.addr(port)
    }

    /// A TLS client config that trusts exactly this environment's certificate.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        crate::tls::trusting(&self.env.config.tls.cert)
    }

    /// A plain SMTP connection to `port` that can STARTTLS; the greeting is not read yet.
    pub fn smtp(&self, port: u16) -> SmtpClient {
        SmtpClient::connect(self.addr(port)).with_tls(self.tls())
    }

    /// An SMTP connection to the implicit-TLS `port`, handshake done.
    pub fn smtp_tls(&self, port: u16) -> SmtpClient {
        let mut c = self.smtp(port);
        c.handshake();
        c
    }

    /// A plain IMAP connection to `port`, greeting read.
    pub fn imap(&self, port: u16) -> ImapClient {
        ImapClient::connect(self.addr(port))
    }

    /// A plain POP3 connection to `port` that can STLS, greeted with `+OK`.
    pub fn pop3(&self, port: u16) -> Pop3Client {
        let addr = self.addr(port);
        let c = Pop3Client::greeted(Conn::open(addr).with_tls(self.tls()))
            .unwrap_or_else(|e| panic!("greeting from {addr}: {e}"));
        assert!(c.greeting.starts_with("+OK"), "{}", c.greeting);
        c
    }

    /// A POP3 connection to the implicit-TLS `port`, greeted with `+OK`.
    pub fn pop3_tls(&self, port: u16) -> Pop3Client {
        let c = Pop3Client::connect_tls(self.addr(port), self.tls());
        assert!(c.greeting.starts_with("+OK"), "{}", c.greeting);
        c
    }

    /// The Maildir of the virtual user `login`.
    pub fn maildir(&self, login: &str) -> PathBuf {
        let (local, domain) = login
            .split_once('@')
            .unwrap_or_else(|| panic!("{login} is not a virtual user"));
        self.env
            .config
            .paths
            .mail_root
            .join(domain)
            .join(local)
            .join("Maildir")
    }

    pub fn spool(&self) -> Spool {
        Spool::open(&self.env.config.paths.spool_dir).unwrap_or_else(|e| panic!("spool: {e}"))
    }

    /// Every message in the active queue, envelope and bytes, oldest first.
    pub fn queued(&self) -> Vec<(Envelope, Vec<u8>)> {
        let spool = self.spool();
        let mut ids = spool
            .list(QueueDir::Active)
            .unwrap_or_else(|e| panic!("listing the queue: {e}"));
        ids.sort();
        ids.iter()
            .map(|id| {
                let env = spool
                    .read_envelope(id)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                let mut bytes = Vec::new();
                let mut file = spool
                    .open_message(id)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                file.read_to_end(&mut bytes)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                (env, bytes)
            })
            .collect()
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// Lets queue-runner resolve through the test DNS server at `dns`, reach remote MX hosts on
/// `smtp_port`, and retry and rescan within seconds rather than minutes.
pub fn quick_queue(config: &mut Config, dns: SocketAddr, smtp_port: u16) {
    let q = &mut config.queue;
    q.dns_servers = vec![dns];
    q.smtp_port = smtp_port;
    q.retry_initial = Duration::from_secs(1);
    q.retry_max = Duration::from_secs(2);
    q.scan_interval = Duration::from_secs(1);
}
