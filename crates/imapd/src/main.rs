//! `imapd` entry point: names what the shared start-up (`ferrymail_net::startup`) binds and
//! opens for it (sockets, TLS, the session spawner for Unix accounts, the index), then the
//! accept loop hands each connection to [`imapd::session::run`]. The same binary runs as the
//! spawner (`--session-spawner`, [`imapd::spawner`]) and as a per-login session child
//! (`--session-child`, [`imapd::child`]).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use ferrymail_config::{Config, Role};
use ferrymail_net::auth_throttle::AuthThrottle;
use ferrymail_net::cli::DaemonArgs;
use ferrymail_net::exit::StartError;
use ferrymail_net::server::{self, ServeOptions};
use ferrymail_net::startup::{self, PreInit, Running, Service, TlsUse};
use ferrymail_spawn::SessionFlags;
use imapd::mailbox::Hub;
use imapd::session::{self, Ctx};
use imapd::spawner::Spawner;

#[derive(Parser)]
#[command(name = "imapd", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
    #[command(flatten)]
    session: SessionFlags,
}

struct Imapd {
    listeners: Vec<(Role, TcpListener)>,
    spawner: Option<Arc<Spawner>>,
}

impl Service for Imapd {
    const NAME: &'static str = "imapd";

    fn user(config: &Config) -> &str {
        &config.imapd.user
    }

    fn metrics_listen(config: &Config) -> Option<SocketAddr> {
        config.imapd.metrics_listen
    }

    fn register_metrics() {
        ferrymail_metrics::conn::register(ferrymail_metrics::conn::Protocol::Imap);
    }

    fn tls(config: &Config) -> TlsUse {
        match config.imapd.listeners.iter().any(|l| l.role.implicit_tls()) {
            true => TlsUse::Required,
            false => TlsUse::Optional,
        }
    }

    fn tune_runtime(builder: &mut tokio::runtime::Builder) {
        builder.max_blocking_threads(64);
    }

    fn pre_init(start: &mut PreInit<'_>) -> Result<Self, StartError> {
        let config = start.config;
        let listeners = start.tcp(&config.imapd.listeners)?;
        let spawner = Spawner::start_if_needed(config, start.config_path, Self::NAME)
            .map_err(|e| StartError::system("session spawner for Unix accounts", e))?;
        Ok(Imapd { listeners, spawner })
    }

    async fn serve(self, run: Running) -> Result<(), StartError> {
        let config = Arc::new(run.config);
        let limits = config.imapd.limits.clone();
        let hub = Hub::new(
            imapd::index::Index::open_in_state_dir(&config.paths.state_dir),
            config.imapd.keep_closed_mailboxes,
        );
        hub.poll_idle_every(config.imapd.idle_poll_interval);
        if config.imapd.idle_poll_interval.is_zero() {
            if let Ok(Some(fs)) = ferrymail_fsutil::network_fs(&config.paths.mail_root) {
                tracing::warn!(mail_root = %config.paths.mail_root.display(), fs, "imapd.idle_poll_interval is 0 on a shared mail store: clients in IDLE see other hosts' changes only with their next command");
            }
        }
        let ctx = Arc::new(Ctx {
            config: config.clone(),
            users: Some(run.users),
            spawner: self.spawner,
            hub: hub.clone(),
            tls: run.tls,
            throttle: AuthThrottle::new(&limits).with_cluster(run.cluster),
            user_conns: Mutex::new(HashMap::new()),
            shutdown: run.shutdown.clone(),
        });
        let opts = ServeOptions::new(
            config.clone(),
            &limits,
            run.shutdown,
            Duration::from_secs(5),
        );
        tracing::info!(listeners = config.imapd.listeners.len(), "imapd ready");
        ferrymail_net::notify::ready();
        let served = server::serve(self.listeners, opts, move |tcp, info, admission| {
            session::run(tcp, info, admission, ctx.clone())
        })
        .await;
        hub.flush_index();
        served.map_err(|e| StartError::service("serve", e))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let session = args.session;
    if !session.is_internal() {
        return startup::main::<Imapd>(&args.daemon);
    }
    startup::internal(&args.daemon, Imapd::NAME, |config| {
        match session.session_spawner {
            true => imapd::spawner::spawner_main(&args.daemon.config, &config),
            false => imapd::child::child_main(config),
        }
    })
}
