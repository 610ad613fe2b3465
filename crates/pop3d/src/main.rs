//! `pop3d`: the POP3 server (110 with STLS, 995 with implicit TLS) over users' Maildirs.
//!
//! Start-up only: names what the shared start-up (`ferrymail_net::startup`) binds and opens
//! for it (sockets, TLS, the session spawner for Unix accounts), then the accept loop; the
//! protocol lives in the library (`pop3d::session` and friends). The same binary runs as the
//! spawner (`--session-spawner`, `ferrymail_spawn`) and as a per-login session child
//! (`--session-child`, [`pop3d::child`]).

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_config::{Config, Role, UnixMailbox};
use ferrymail_net::auth_throttle::AuthThrottle;
use ferrymail_net::cli::DaemonArgs;
use ferrymail_net::exit::StartError;
use ferrymail_net::server::{serve, ServeOptions};
use ferrymail_net::startup::{self, PreInit, Running, Service, TlsUse};
use ferrymail_spawn::{SessionFlags, Spawner};
use pop3d::connection::{self, Context, SHUTDOWN_GRACE};
use pop3d::maildrop::{LockTable, SizeCache};

#[derive(Parser)]
#[command(name = "pop3d", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
    #[command(flatten)]
    session: SessionFlags,
}

struct Pop3d {
    listeners: Vec<(Role, TcpListener)>,
    spawner: Option<Arc<Spawner>>,
}

impl Service for Pop3d {
    const NAME: &'static str = "pop3d";

    fn user(config: &Config) -> &str {
        &config.pop3d.user
    }

    fn metrics_listen(config: &Config) -> Option<SocketAddr> {
        config.pop3d.metrics_listen
    }

    fn register_metrics() {
        ferrymail_metrics::conn::register(ferrymail_metrics::conn::Protocol::Pop3);
    }

    fn tls(_config: &Config) -> TlsUse {
        TlsUse::Required
    }

    fn pre_init(start: &mut PreInit<'_>) -> Result<Self, StartError> {
        let config = start.config;
        if let Some(l) = config
            .pop3d
            .listeners
            .iter()
            .find(|l| !matches!(l.role, Role::Pop3 | Role::Pop3s))
        {
            let why = format!("pop3d cannot serve role {}", l.role);
            return Err(StartError::config("listeners", why));
        }
        let listeners = start.tcp(&config.pop3d.listeners)?;
        let spawner = Spawner::start_if_needed(config, start.config_path, Self::NAME)
            .map_err(|e| StartError::system("session spawner for Unix accounts", e))?;
        Ok(Pop3d { listeners, spawner })
    }

    async fn serve(self, run: Running) -> Result<(), StartError> {
        let config = Arc::new(run.config);
        if config.userdb.unix_mailbox == UnixMailbox::Mbox {
            if let Ok(Some(fs)) = ferrymail_fsutil::network_fs(&config.delivery.mbox_dir) {
                tracing::warn!(mbox_dir = %config.delivery.mbox_dir.display(), fs, "mbox on a shared file system: flock and fcntl locks of one file conflict there, so every POP3 login to an mbox is refused as in use; keep delivery.mbox_dir on a local disk");
            }
        }
        let limits = config.pop3d.limits.clone();
        let ctx = Arc::new(Context {
            config: config.clone(),
            userdb: Some(run.users),
            tls: run.tls,
            throttle: AuthThrottle::new(&limits).with_cluster(run.cluster),
            locks: LockTable::new(),
            sizes: SizeCache::default(),
            spawner: self.spawner,
            shutdown: run.shutdown.clone(),
        });
        let opts = ServeOptions::new(config, &limits, run.shutdown, SHUTDOWN_GRACE);
        for (role, l) in &self.listeners {
            if let Ok(addr) = l.local_addr() {
                tracing::info!(%role, %addr, "listening");
            }
        }
        ferrymail_net::notify::ready();
        serve(self.listeners, opts, move |tcp, info, admission| {
            connection::handle(ctx.clone(), tcp, info, admission)
        })
        .await
        .map_err(|e| StartError::service("serve", e))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let session = args.session;
    if !session.is_internal() {
        return startup::main::<Pop3d>(&args.daemon);
    }
    startup::internal(&args.daemon, Pop3d::NAME, |config| {
        match session.session_spawner {
            true => ferrymail_spawn::spawner_main_with(
                &args.daemon.config,
                &config,
                ferrymail_spawn::MboxPolicy::Serve,
            ),
            false => pop3d::child::child_main(config),
        }
    })
}
