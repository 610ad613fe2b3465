//! A complete, self-contained ferrymail environment in one directory.
//!
//! `mailctl dev` uses [`prepare`] to write a config, a self-signed certificate, the spool and a
//! demo domain and user, then starts the daemons. Integration tests use the same [`prepare`]
//! with [`Ports::free`] and start the real daemon binaries with [`Daemon`] (waiting until each
//! answers on its [`DevEnv::endpoints`]), so every test runs against what a user would run,
//! with no second hand-written config to drift.
//! [`unix_account`] adds temporary Unix accounts for the tests of serving them as themselves;
//! [`dns`] is a loopback DNS server for test zones, [`signed_zone`] a DNSSEC-signed one (Knot).

use std::ffi::OsStr;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrymail_config::{Config, Listener, Role};
use ferrymail_users::{hash_password, DomainsFile, PasswdEntry, PasswdFile, StoredPassword};

/// The listening ports of one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub smtp: u16,
    pub submission: u16,
    pub submissions: u16,
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
    pub managesieve: u16,
}

impl Default for Ports {
    /// The unprivileged defaults `mailctl dev` documents (2525, 2587, …).
    fn default() -> Self {
        Ports {
            smtp: 2525,
            submission: 2587,
            submissions: 2465,
            imap: 2143,
            imaps: 2993,
            pop3: 2110,
            pop3s: 2995,
            managesieve: 24190,
        }
    }
}

impl Ports {
    /// The standard ports (25, 587, 465, 143, 993, 110, 995, 4190), for an environment that has an
    /// address of its own, such as a host in its own network namespace.
    pub fn standard() -> Ports {
        Ports {
            smtp: 25,
            submission: 587,
            submissions: 465,
            imap: 143,
            imaps: 993,
            pop3: 110,
            pop3s: 995,
            managesieve: 4190,
        }
    }

    /// Eight currently free loopback ports (for tests running in parallel).
    pub fn free() -> Ports {
        // Hold all eight open at once so the kernel cannot hand out the same one twice.
        let socks: Vec<std::net::TcpListener> = (0..8)
            .filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
            .collect();
        let p: Vec<u16> = socks
            .iter()
            .filter_map(|s| s.local_addr().ok().map(|a| a.port()))
            .collect();
        if p.len() < 8 {
            return Ports::default();
        }
        Ports {
            smtp: p[0],
            submission: p[1],
            submissions: p[2],
            imap: p[3],
            imaps: p[4],
            pop3: p[5],
            pop3s: p[6],
            managesieve: p[7],
        }
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct DevOptions {
    pub state_dir: PathBuf,
    pub domain: String,
    /// `(login, password)`; empty = `demo@<domain>` / `demo`.
    pub users: Vec<(String, String)>,
    pub listen_addr: IpAddr,
    pub ports: Ports,
}

impl DevOptions {
    pub fn new(state_dir: impl Into<PathBuf>) -> DevOptions {
        DevOptions {
            state_dir: state_dir.into(),
            domain: "example.test".into(),
            users: Vec::new(),
            listen_addr: IpAddr::from([127, 0, 0, 1]),
            ports: Ports::default(),
        }
    }
}

/// A prepared environment.
#[derive(Debug, Clone)]
pub struct DevEnv {
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    pub config: Config,
    /// `(login, password)` of every user this run asked for.
    pub users: Vec<(String, String)>,
    pub ports: Ports,
    pub listen_addr: IpAddr,
}

impl DevEnv {
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.listen_addr, port)
    }

    /// The connection limits of the daemons clients talk to (mta-smtpd, imapd, pop3d), for
    /// a test that sets them alike.
    pub fn client_limits_mut(&mut self) -> [&mut ferrymail_config::ConnLimits; 3] {
        let c = &mut self.config;
        [
            &mut c.smtpd.limits,
            &mut c.imapd.limits,
            &mut c.pop3d.limits,
        ]
    }

    /// Where the virtual user `login` (`local@domain`) keeps mail in this environment.
    pub fn maildir(&self, login: &str) -> Option<PathBuf> {
        let (local, domain) = login.split_once('@')?;
        Some(
            self.config
                .paths
                .mail_root
                .join(domain)
                .join(local)
                .join("Maildir"),
        )
    }

    /// Where a [`Daemon`] started from this environment logs (`<state>/log/<name>.log`).
    pub fn log_path(&self, daemon: &str) -> PathBuf {
        self.state_dir.join("log").join(format!("{daemon}.log"))
    }

    /// Rewrites the config file after a test changed `self.config`.
    pub fn save_config(&self) -> Result<(), String> {
        write_config(&self.config, &self.config_path)
    }
}

/// Checks `NAME@DOMAIN:PASSWORD`.
pub fn parse_user_spec(spec: &str) -> Result<(String, String), String> {
    let bad = || format!("`{spec}`: expected NAME@DOMAIN:PASSWORD");
    let (login, password) = spec.split_once(':').ok_or_else(bad)?;
    let (local, domain) = login.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || !ferrymail_config::is_domain(domain) || password.is_empty() {
        return Err(bad());
    }
    Ok((
        format!(
            "{}@{}",
            local.to_ascii_lowercase(),
            domain.to_ascii_lowercase()
        ),
        password.to_owned(),
    ))
}

/// Creates or refreshes the environment. The config is rewritten each time; the certificate,
/// existing users and mail are kept, so a restarted `mailctl dev` finds its mail again.
pub fn prepare(opts: &DevOptions) -> Result<DevEnv, String> {
    let domain = opts.domain.to_ascii_lowercase();
    if !ferrymail_config::is_domain(&domain) {
        return Err(format!("domain `{domain}` is not a domain name"));
    }
    let users = if opts.users.is_empty() {
        vec![(format!("demo@{domain}"), "demo".to_string())]
    } else {
        opts.users.clone()
    };
    std::fs::create_dir_all(&opts.state_dir)
        .map_err(|e| format!("{}: {e}", opts.state_dir.display()))?;
    let state = std::fs::canonicalize(&opts.state_dir)
        .map_err(|e| format!("{}: {e}", opts.state_dir.display()))?;
    let mut domains = vec![domain.clone()];
    for (login, _) in &users {
        let d = login
            .rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        if !domains.contains(&d) {
            domains.push(d);
        }
    }

    let config = dev_config(&state, &domain, &domains, opts);
    for dir in ["spool", "mail", "run", "lib", "tls"] {
        std::fs::create_dir_all(state.join(dir)).map_err(|e| format!("{dir}: {e}"))?;
    }
    ferrymail_spool::Spool::create_layout(&config.paths.spool_dir)
        .map_err(|e| format!("spool: {e}"))?;
    set_maildrop_group(&config.paths.spool_dir)?;
    if !config.tls.cert.exists() || !config.tls.key.exists() {
        let names = vec![
            "localhost".to_string(),
            config.general.hostname.clone(),
            opts.listen_addr.to_string(),
        ];
        let (cert, key) =
            ferrymail_net::tls::self_signed(&names).map_err(|e| format!("certificate: {e}"))?;
        write_private(&config.tls.cert, cert.as_bytes())?;
        write_private(&config.tls.key, key.as_bytes())?;
    }
    ensure_users(&config, &domains, &users)?;
    let config_path = state.join("ferrymail.toml");
    write_config(&config, &config_path)?;
    Ok(DevEnv {
        state_dir: state,
        config_path,
        config,
        users,
        ports: opts.ports,
        listen_addr: opts.listen_addr,
    })
}

fn dev_config(state: &Path, domain: &str, domains: &[String], opts: &DevOptions) -> Config {
    let me = ferrymail_net::privdrop::current_user_name();
    let mut c = Config::default();
    c.general.hostname = format!("mail.{domain}");
    c.general.local_domains = domains.to_vec();
    c.general.postmaster = format!("postmaster@{domain}");
    c.paths.spool_dir = state.join("spool");
    c.paths.mail_root = state.join("mail");
    c.paths.run_dir = state.join("run");
    c.paths.state_dir = state.join("lib");
    c.tls.cert = state.join("tls/cert.pem");
    c.tls.key = state.join("tls/key.pem");
    c.userdb.passwd_file = state.join("passwd");
    c.userdb.aliases_file = state.join("aliases");
    c.userdb.domains_file = state.join("domains");
    // Everything runs as whoever started it: no privilege changes in a dev environment.
    for user in [
        &mut c.smtpd.user,
        &mut c.queue.user,
        &mut c.delivery.user,
        &mut c.pop3d.user,
        &mut c.imapd.user,
        &mut c.managesieve.user,
        &mut c.proxy.user,
    ] {
        *user = me.clone();
    }
    // proxyd is not started in a dev environment (one host needs no front end), but a test
    // that starts one keeps its overrides inside the environment.
    c.proxy.routes_file = state.join("proxy-routes");
    let at = |port: u16| Listener {
        role: Role::Mx,
        listen: SocketAddr::new(opts.listen_addr, port),
        name: None,
    };
    let with = |role: Role, port: u16| Listener { role, ..at(port) };
    let p = opts.ports;
    c.smtpd.listeners = vec![
        with(Role::Mx, p.smtp),
        with(Role::Submission, p.submission),
        with(Role::Submissions, p.submissions),
    ];
    c.imapd.listeners = vec![with(Role::Imap, p.imap), with(Role::Imaps, p.imaps)];
    c.pop3d.listeners = vec![with(Role::Pop3, p.pop3), with(Role::Pop3s, p.pop3s)];
    c.managesieve.listeners = vec![with(Role::Managesieve, p.managesieve)];
    // A local environment has no DNS of its own: inbound SPF/DKIM/DMARC checks would only
    // wait for timeouts. Tests that exercise them turn them on with a loopback DNS server.
    c.mailauth.verify = false;
    // Short retries so a developer sees deferred mail move within minutes.
    c.queue.retry_initial = Duration::from_secs(60);
    c.queue.retry_max = Duration::from_secs(600);
    c.queue.scan_interval = Duration::from_secs(10);
    c
}

/// Made by root, `maildrop/` gets a group other than root's, as on an installed system:
/// sendmail's setgid group `ferrymail-drop` where it exists, else `nogroup`. An unprivileged
/// submitter holding that group (as sendmail holds its own) can then drop mail, and a Unix
/// account's delivery helper can hand forwards back to the queue. Not made by root, every
/// program runs as the one user who owns the directory.
fn set_maildrop_group(spool_dir: &Path) -> Result<(), String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(());
    }
    let group = ["ferrymail-drop", "nogroup"]
        .into_iter()
        .find_map(|name| nix::unistd::Group::from_name(name).ok().flatten());
    let Some(group) = group else {
        return Ok(());
    };
    let dir = spool_dir.join("maildrop");
    nix::unistd::chown(&dir, None, Some(group.gid)).map_err(|e| format!("{}: {e}", dir.display()))
}

fn write_config(config: &Config, path: &Path) -> Result<(), String> {
    let text = config.to_toml().map_err(|e| format!("config: {e}"))?;
    let header =
        "# Written by ferrymail's dev environment (`mailctl dev`); rewritten on every start.\n";
    std::fs::write(path, format!("{header}{text}"))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // It must load back exactly as the daemons will see it.
    Config::load(path).map(|_| ()).map_err(|e| e.to_string())
}

/// Adds missing domains and users (existing users keep their passwords), and a postmaster
/// alias for each domain pointing at the first user.
fn ensure_users(
    config: &Config,
    domains: &[String],
    users: &[(String, String)],
) -> Result<(), String> {
    let mut df = DomainsFile::load(&config.userdb.domains_file).map_err(|e| e.to_string())?;
    let mut dirty = false;
    for d in domains {
        if !df.contains(d) {
            df.add(d).map_err(|e| e.to_string())?;
            dirty = true;
        }
    }
    if dirty {
        df.save().map_err(|e| e.to_string())?;
    }

    let mut pf = PasswdFile::load(&config.userdb.passwd_file).map_err(|e| e.to_string())?;
    let mut dirty = false;
    for (login, password) in users {
        if pf.get(login).is_some() {
            continue;
        }
        let hash = hash_password(password).map_err(|e| e.to_string())?;
        let stored = StoredPassword::parse(&hash).map_err(|e| e.to_string())?;
        let entry = PasswdEntry::new(login, Some(stored)).map_err(|e| e.to_string())?;
        pf.add(entry).map_err(|e| e.to_string())?;
        dirty = true;
    }
    if dirty {
        pf.save().map_err(|e| e.to_string())?;
    }

    let mut af = ferrymail_users::AliasesFile::load(&config.userdb.aliases_file)
        .map_err(|e| e.to_string())?;
    if let Some((first, _)) = users.first() {
        let mut dirty = false;
        for d in domains {
            let key = format!("postmaster@{d}");
            if af.get(&key).is_none() {
                let target = ferrymail_users::AliasTarget::parse(first)?;
                af.set(&key, vec![target]).map_err(|e| e.to_string())?;
                dirty = true;
            }
        }
        if dirty {
            af.save().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    io::Write::write_all(&mut f, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Finds a workspace binary next to the running test executable (`target/<profile>/<name>`).
/// `cargo test --workspace` builds every binary before running tests.
pub fn target_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_owned).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

/// [`target_bin`], or why it cannot be run.
pub fn built_bin(name: &str) -> Result<PathBuf, String> {
    let bin = target_bin(name);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is not built: run `cargo build -p {name}` (`cargo test --workspace` builds it)",
            bin.display()
        ))
    }
}

/// A daemon process started for a test; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    pub name: String,
    child: Child,
}

impl Daemon {
    /// Starts `bin -c config`. Its stderr goes to [`DevEnv::log_path`] so a failing test can
    /// print it.
    pub fn spawn(bin: &Path, env: &DevEnv) -> io::Result<Daemon> {
        Daemon::spawn_with_prefix::<&OsStr>(&[], bin, env)
    }

    /// Starts `prefix… bin -c config`, e.g. with `["ip", "netns", "exec", "<ns>"]` to run the
    /// daemon inside a network namespace. The prefix must exec the daemon (as `ip netns exec`,
    /// `env` or `nice` do) rather than fork it: signals and [`Daemon::pid`] go to the process
    /// started here, and that has to be the daemon itself. An empty prefix is [`Daemon::spawn`].
    pub fn spawn_with_prefix<S: AsRef<OsStr>>(
        prefix: &[S],
        bin: &Path,
        env: &DevEnv,
    ) -> io::Result<Daemon> {
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log_path = env.log_path(&name);
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        let mut cmd = match prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .arg("-c")
            .arg(&env.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| {
                let program = prefix.first().map_or(bin, |p| Path::new(p.as_ref()));
                io::Error::new(e.kind(), format!("{}: {e}", program.display()))
            })?;
        Ok(Daemon { name, child })
    }

    /// Starts the workspace binary `name` ([`target_bin`]) and waits until it answers on its
    /// [`DevEnv::endpoints`]. A daemon that does not come up is stopped and its log returned.
    pub fn start(name: &str, env: &DevEnv, timeout: Duration) -> Result<Daemon, String> {
        let bin = built_bin(name)?;
        let daemon = Daemon::spawn(&bin, env).map_err(|e| e.to_string())?;
        if env.wait_ready(name, timeout) {
            Ok(daemon)
        } else {
            Err(format!(
                "{name} did not answer within {timeout:?}:\n{}",
                daemon.log(env)
            ))
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's log so far.
    pub fn log(&self, env: &DevEnv) -> String {
        std::fs::read_to_string(env.log_path(&self.name)).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal (e.g. SIGTERM, SIGHUP, SIGKILL).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// Waits for exit up to `timeout`; returns the exit status if it exited.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            if self.wait_timeout(Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// A place where a daemon of an environment answers once it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl DevEnv {
    /// Where `daemon` (a binary name) answers in this environment: every listener of the
    /// network daemons, queue-runner's control socket, local-delivery's LMTP socket. Empty
    /// for a name that is not a daemon.
    pub fn endpoints(&self, daemon: &str) -> Vec<Endpoint> {
        let c = &self.config;
        let tcp = |ls: &[Listener]| ls.iter().map(|l| Endpoint::Tcp(l.listen)).collect();
        match daemon {
            "mta-smtpd" => tcp(&c.smtpd.listeners),
            "imapd" => tcp(&c.imapd.listeners),
            "pop3d" => tcp(&c.pop3d.listeners),
            "managesieved" => tcp(&c.managesieve.listeners),
            "proxyd" => {
                let mut e: Vec<Endpoint> = tcp(&c.proxy.listeners);
                e.push(Endpoint::Unix(c.run_path(&c.proxy.control_socket)));
                e
            }
            "queue-runner" => vec![Endpoint::Unix(c.control_socket())],
            "local-delivery" => vec![Endpoint::Unix(c.lmtp_socket())],
            _ => Vec::new(),
        }
    }

    /// Waits until every endpoint of `daemon` accepts connections; false after `timeout`.
    pub fn wait_ready(&self, daemon: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.endpoints(daemon).iter().all(|e| {
            let left = deadline.saturating_duration_since(Instant::now());
            match e {
                Endpoint::Tcp(addr) => wait_for_tcp(*addr, left),
                Endpoint::Unix(path) => wait_for_unix(path, left),
            }
        })
    }
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_tcp(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Waits until a Unix socket at `path` accepts connections.
pub fn wait_for_unix(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

pub mod dns;
pub mod signed_zone;
pub mod unix_account;

#[cfg(test)]
mod tests {
    use super::*;

    fn cmdline(pid: u32) -> Vec<String> {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn a_daemon_is_ready_when_every_endpoint_of_its_config_answers() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = DevOptions::new(dir.path().join("state"));
        opts.ports = Ports::free();
        let env = prepare(&opts).unwrap();
        let p = env.ports;
        assert_eq!(
            env.endpoints("pop3d"),
            [
                Endpoint::Tcp(env.addr(p.pop3)),
                Endpoint::Tcp(env.addr(p.pop3s))
            ]
        );
        assert_eq!(
            env.endpoints("local-delivery"),
            [Endpoint::Unix(env.config.lmtp_socket())]
        );
        assert!(env.endpoints("mailctl").is_empty());
        let _pop3 = std::net::TcpListener::bind(env.addr(p.pop3)).unwrap();
        assert!(!env.wait_ready("pop3d", Duration::from_millis(300)));
        let _pop3s = std::net::TcpListener::bind(env.addr(p.pop3s)).unwrap();
        assert!(env.wait_ready("pop3d", Duration::from_secs(5)));
        let err = Daemon::start("no-such-daemon", &env, Duration::from_secs(1)).err();
        assert!(err.is_some_and(|e| e.contains("is not built")));
    }

    #[test]
    fn a_prefixed_daemon_is_the_process_that_gets_signalled() {
        let dir = tempfile::tempdir().unwrap();
        let env = prepare(&DevOptions::new(dir.path().join("state"))).unwrap();
        let bin = dir.path().join("fake-daemon");
        std::fs::write(&bin, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut d =
            Daemon::spawn_with_prefix(&["env", "FERRYMAIL_PREFIX_TEST=1"], &bin, &env).unwrap();
        assert_eq!(d.name, "fake-daemon");
        let pid = d.pid();
        // `env` execs the script, so the pid we hold becomes the script's shell.
        let want = vec![
            "/bin/sh".to_string(),
            bin.display().to_string(),
            "-c".into(),
            env.config_path.display().to_string(),
        ];
        let deadline = Instant::now() + Duration::from_secs(10);
        while cmdline(pid) != want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(cmdline(pid), want);
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(environ
            .split(|b| *b == 0)
            .any(|v| v == b"FERRYMAIL_PREFIX_TEST=1"));
        assert!(d.is_running());
        drop(d);
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None);
        assert_eq!(gone, Err(nix::errno::Errno::ESRCH));
    }
}
