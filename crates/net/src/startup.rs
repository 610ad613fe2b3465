//! The start-up every daemon shares, after Postfix's `multi_server_main`: a daemon's `main.rs`
//! describes itself as a [`Service`] and calls [`main`], which runs the fixed sequence around
//! the daemon's own parts and owns what must not differ between daemons: the exit status of
//! each kind of failure ([`crate::exit`]) and what SIGHUP reloads.
//!
//! The sequence: hold SIGTERM/SIGINT/SIGHUP until their handlers exist; load the config (exit
//! 78 if it does not); start logging; take the sockets systemd passed; load the TLS certificate
//! (as [`Service::tls`] says); open the user database; read the `[cluster]` secret
//! ([`crate::cluster`]: a missing or unsafe file is a config error); [`Service::pre_init`], still as the
//! starting user (root: bind ports, start privileged helpers, take locks); bind the
//! `/metrics` listener where [`Service::metrics_listen`] names one; drop to
//! [`Service::user`] unless [`Service::keeps_root`]; raise the open-files limit; start the
//! runtime, the signal handlers and the `/metrics` listener; [`Service::serve`] as the
//! run-as user until SIGTERM, with STOPPING=1 sent when it arrives.
//!
//! SIGHUP, in every daemon (RELOADING=1 … READY=1): the TLS certificate and key where the daemon
//! serves TLS, the user database if its files changed, and the log level (`log.level` of the
//! config, re-read for that alone). Anything else in the config takes a restart.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::FromRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Once};
use std::time::Duration;

use ferrymail_config::{Config, Listener, Role};
use ferrymail_users::{UserDb, UserDbConfig};
use tokio::sync::mpsc;

use crate::cli::DaemonArgs;
use crate::cluster::ClusterAuth;
use crate::exit::StartError;
use crate::listeners::{self, Inherited};
use crate::logging::{self, LevelChange};
use crate::privdrop::{self, Outcome};
use crate::signals::{self, Shutdown};
use crate::tls::TlsStore;
use crate::{metrics, notify, server};

/// How long sessions the service left running get when the runtime shuts down.
const RUNTIME_GRACE: Duration = Duration::from_secs(5);

/// Whether a daemon serves TLS, and whether it may start without a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsUse {
    /// It has no TLS server side.
    None,
    /// It refuses to start (exit 78) when the certificate or key does not load.
    Required,
    /// It starts without them, warning, and offers no STARTTLS.
    Optional,
}

/// The daemon-specific parts [`main`] runs. Each hook's failure is a [`StartError`], whose
/// kind decides the exit status.
pub trait Service: Sized {
    /// The program name: log lines, the runtime's thread names.
    const NAME: &'static str;

    /// The user the daemon runs as after the privilege drop.
    fn user(config: &Config) -> &str;

    fn tls(_config: &Config) -> TlsUse {
        TlsUse::None
    }

    /// `Some(why)` when the daemon must stay root after [`Service::pre_init`] (because it
    /// starts per-account helpers itself); logged.
    fn keeps_root(_config: &Config) -> Option<&'static str> {
        None
    }

    /// Where this daemon serves Prometheus metrics (its section's `metrics_listen`); None: off.
    fn metrics_listen(_config: &Config) -> Option<SocketAddr> {
        None
    }

    /// Registers the daemon's own metrics when it serves them, before the listener answers, so
    /// that the first scrape shows every series (at zero).
    fn register_metrics() {}

    /// Adjusts the multi-threaded runtime before it is built.
    fn tune_runtime(_builder: &mut tokio::runtime::Builder) {}

    /// As the starting user (root in production), single-threaded, before the drop: take or
    /// bind the listening sockets, start privileged helpers, take locks.
    fn pre_init(start: &mut PreInit<'_>) -> Result<Self, StartError>;

    /// As the run-as user, inside the runtime: opens what must belong to that user (state
    /// directories, databases), then serves until `running.shutdown`, sending READY=1 once it
    /// accepts work.
    fn serve(self, running: Running) -> impl Future<Output = Result<(), StartError>>;
}

/// What [`Service::pre_init`] works with.
pub struct PreInit<'a> {
    pub config: &'a Config,
    /// The config file as named on the command line, for helpers that re-execute the binary.
    pub config_path: &'a Path,
    inherited: &'a mut Inherited,
}

impl PreInit<'_> {
    /// One TCP socket per listener: systemd's when it passed one under the listener's name,
    /// else bound here.
    pub fn tcp(&mut self, list: &[Listener]) -> Result<Vec<(Role, TcpListener)>, StartError> {
        let mut bound = Vec::with_capacity(list.len());
        for l in list {
            let sock = listeners::tcp(self.inherited, l).map_err(|e| {
                StartError::cant_create(format!("listening on {} ({})", l.listen, l.role), e)
            })?;
            bound.push((l.role, sock));
        }
        Ok(bound)
    }

    /// A TCP socket outside `[[…listeners]]`: systemd's when it passed one named `name`, else
    /// bound at `addr`.
    pub fn tcp_named(&mut self, name: &str, addr: SocketAddr) -> Result<TcpListener, StartError> {
        listeners::tcp_named(self.inherited, name, addr)
            .map_err(|e| StartError::cant_create(format!("listening on {addr} ({name})"), e))
    }

    /// A Unix stream socket: systemd's when it passed one named `name`, else bound at `path`.
    pub fn unix(&mut self, name: &str, path: &Path, mode: u32) -> Result<UnixListener, StartError> {
        listeners::unix(self.inherited, name, path, mode)
            .map_err(|e| StartError::cant_create(format!("listening on {}", path.display()), e))
    }

    /// A datagram socket systemd passed under `name`, if it did.
    pub fn inherited_datagram(&mut self, name: &str) -> Option<UnixDatagram> {
        let fd = self.inherited.take(name)?;
        // SAFETY: systemd passed this descriptor to us alone, and the unit that names it
        // declares a datagram socket.
        Some(unsafe { UnixDatagram::from_raw_fd(fd) })
    }
}

/// What [`Service::serve`] gets: the config and what the start-up loaded and reloads.
pub struct Running {
    pub config: Config,
    /// Present when [`Service::tls`] is not [`TlsUse::None`] and the certificate loaded.
    pub tls: Option<TlsStore>,
    pub users: UserDb,
    /// The cluster secret, read as the starting user (it may be readable by root alone);
    /// None when the host is not in a cluster. Changing it takes a restart.
    pub cluster: Option<ClusterAuth>,
    pub shutdown: Shutdown,
}

/// Runs daemon `S` to the end and returns its exit status.
pub fn main<S: Service>(args: &DaemonArgs) -> ExitCode {
    signals::hold();
    let config = args.load_or_exit(S::NAME);
    logging::init(S::NAME, &config.log.level);
    match start::<S>(&args.config, config) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => exit_status(&e),
    }
}

/// A daemon binary's internal mode (a privileged helper or a per-login child the daemon
/// starts itself): the config and logging as the daemon has them, then `body`'s exit code.
/// No signals are held: these processes have their own handling, or none.
pub fn internal(args: &DaemonArgs, program: &str, body: impl FnOnce(Config) -> i32) -> ExitCode {
    let config = args.load_or_exit(program);
    logging::init(program, &config.log.level);
    ExitCode::from(u8::try_from(body(config)).unwrap_or(1))
}

fn exit_status(e: &StartError) -> ExitCode {
    tracing::error!(error = %e.reason, exit = e.code(), "{}", e.what);
    ExitCode::from(u8::try_from(e.code()).unwrap_or(1))
}

fn start<S: Service>(config_path: &Path, config: Config) -> Result<(), StartError> {
    // Before any thread exists: this edits the environment.
    let mut inherited = Inherited::from_env();
    let tls = load_tls(S::tls(&config), &config)?;
    let users = UserDb::open(UserDbConfig::from_config(&config))?;
    let cluster = ClusterAuth::load(&config.cluster)
        .map_err(|e| StartError::config("reading the cluster secret", e))?;
    let service = S::pre_init(&mut PreInit {
        config: &config,
        config_path,
        inherited: &mut inherited,
    })?;
    let metrics = bind_metrics(S::metrics_listen(&config), &mut inherited)?;
    if metrics.is_some() {
        S::register_metrics();
    }
    for name in inherited.unclaimed() {
        tracing::warn!(name, "systemd passed a socket this daemon does not use");
    }
    drop_privileges::<S>(&config)?;
    server::raise_nofile_limit();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name(S::NAME);
    S::tune_runtime(&mut builder);
    let runtime = builder
        .build()
        .map_err(|e| StartError::system("starting the runtime", e))?;
    let reload = Arc::new(Reloadables {
        config_path: config_path.to_owned(),
        tls: tls.clone(),
        users: users.clone(),
    });
    let result = runtime.block_on(async move {
        let (shutdown, requests) =
            signals::install().map_err(|e| StartError::system("installing signal handlers", e))?;
        tokio::spawn(reload.serve(requests));
        if let Some(listener) = metrics {
            tokio::spawn(serve_metrics(
                listener,
                config.metrics.clone(),
                shutdown.clone(),
            ));
        }
        let stopping = Arc::new(Once::new());
        tokio::spawn(report_stopping(shutdown.clone(), Arc::clone(&stopping)));
        let running = Running {
            config,
            tls,
            users,
            cluster,
            shutdown,
        };
        let result = service.serve(running).await;
        // The service may be done before that task ran (nothing to wait for), or have failed.
        stopping.call_once(notify::stopping);
        result
    });
    runtime.shutdown_timeout(RUNTIME_GRACE);
    result
}

/// The `/metrics` socket (systemd's named `metrics`, else bound), when the daemon has one.
fn bind_metrics(
    listen: Option<SocketAddr>,
    inherited: &mut Inherited,
) -> Result<Option<TcpListener>, StartError> {
    let Some(addr) = listen else {
        return Ok(None);
    };
    let sock = listeners::tcp_named(inherited, "metrics", addr)
        .map_err(|e| StartError::cant_create(format!("metrics listener on {addr}"), e))?;
    // Shown at zero from the first scrape: every daemon flushes something sooner or later.
    ferrymail_metrics::disk::register();
    Ok(Some(sock))
}

async fn serve_metrics(
    listener: TcpListener,
    limits: ferrymail_config::Metrics,
    shutdown: Shutdown,
) {
    let addr = listener.local_addr().ok();
    tracing::info!(listen = ?addr, "serving {}", metrics::PATH);
    if let Err(e) = metrics::serve(listener, limits, shutdown).await {
        tracing::error!(error = %e, "metrics listener failed");
    }
}

fn load_tls(usage: TlsUse, config: &Config) -> Result<Option<TlsStore>, StartError> {
    let loaded = match usage {
        TlsUse::None => return Ok(None),
        TlsUse::Required | TlsUse::Optional => TlsStore::load(&config.tls.cert, &config.tls.key),
    };
    match (loaded, usage) {
        (Ok(t), _) => Ok(Some(t)),
        (Err(e), TlsUse::Optional) => {
            tracing::warn!(error = %e, "no TLS: STARTTLS will not be offered");
            Ok(None)
        }
        (Err(e), _) => Err(e.into()),
    }
}

fn drop_privileges<S: Service>(config: &Config) -> Result<(), StartError> {
    if let Some(why) = S::keeps_root(config) {
        tracing::info!("keeping root: {why}");
        return Ok(());
    }
    let user = S::user(config);
    if let Outcome::Dropped { uid, gid } = privdrop::drop_to(user, None)? {
        tracing::info!(user, uid, gid, "privileges dropped");
    }
    Ok(())
}

/// STOPPING=1 as soon as SIGTERM arrives (the service may take its grace period to end), once.
async fn report_stopping(mut shutdown: Shutdown, once: Arc<Once>) {
    shutdown.wait().await;
    once.call_once(notify::stopping);
}

/// What SIGHUP reloads: the same in every daemon.
struct Reloadables {
    config_path: PathBuf,
    tls: Option<TlsStore>,
    users: UserDb,
}

impl Reloadables {
    async fn serve(self: Arc<Self>, mut requests: mpsc::Receiver<()>) {
        while requests.recv().await.is_some() {
            notify::reloading();
            let this = Arc::clone(&self);
            // Certificate, password and config files: reading them is blocking work.
            if let Err(e) = tokio::task::spawn_blocking(move || this.reload()).await {
                tracing::error!(error = %e, "SIGHUP: the reload failed");
            }
            notify::ready();
        }
    }

    fn reload(&self) {
        if let Some(tls) = &self.tls {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Err(e) => {
                    tracing::warn!(error = %e, "SIGHUP: TLS reload failed; keeping the old certificate")
                }
            }
        }
        let changed = self.users.reload_if_changed();
        tracing::info!(changed, "SIGHUP: user database checked");
        match Config::load(&self.config_path) {
            Ok(c) => match logging::set_level(&c.log.level) {
                Ok(LevelChange::Changed { from, to }) => {
                    tracing::info!(%from, %to, "SIGHUP: log level changed")
                }
                Ok(LevelChange::Unchanged | LevelChange::Overridden) => {}
                Err(e) => tracing::warn!(error = %e, "SIGHUP: log level unchanged"),
            },
            Err(e) => tracing::warn!(
                error = %e,
                "SIGHUP: the configuration no longer loads (a restart would fail); log level unchanged"
            ),
        }
    }
}
