//! `imapd` entry point: arguments, config, logging, sockets, TLS, the session spawner for
//! Unix accounts, privilege drop, runtime, then the accept loop hands each connection to
//! [`imapd::session::run`]. The same binary runs as the spawner (`--session-spawner`,
//! [`imapd::spawner`]) and as a per-login session child (`--session-child`, [`imapd::child`]).

use std::collections::HashMap;
use std::os::unix::fs::DirBuilderExt;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_CANTCREAT, EX_CONFIG, EX_UNAVAILABLE};
use ferrymail_net::limits::{AuthThrottle, ConnLimiter};
use ferrymail_net::listeners::{self, Inherited};
use ferrymail_net::server::{self, ServeOptions};
use ferrymail_net::tls::TlsStore;
use ferrymail_spawn::SessionFlags;
use ferrymail_users::{UserDb, UserDbConfig};
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

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.session.is_internal() {
        ferrymail_net::signals::hold();
    }
    let config = args.daemon.load_or_exit("imapd");
    ferrymail_net::logging::init("imapd", &config.log.level);
    if args.session.session_spawner {
        return exit_code(imapd::spawner::spawner_main(&args.daemon.config, &config));
    }
    if args.session.session_child {
        return exit_code(imapd::child::child_main(config));
    }
    server::raise_nofile_limit();

    let mut inherited = Inherited::from_env();
    let mut bound = Vec::new();
    for l in &config.imapd.listeners {
        match listeners::tcp(&mut inherited, l) {
            Ok(s) => bound.push((l.role, s)),
            Err(e) => {
                tracing::error!(listen = %l.listen, error = %e, "cannot listen");
                return ExitCode::from(EX_CANTCREAT as u8);
            }
        }
    }
    let tls = match TlsStore::load(&config.tls.cert, &config.tls.key) {
        Ok(t) => Some(t),
        Err(e) => {
            if config.imapd.listeners.iter().any(|l| l.role.implicit_tls()) {
                tracing::error!(error = %e, "TLS is required by an imaps listener");
                return ExitCode::from(EX_CONFIG as u8);
            }
            tracing::warn!(error = %e, "no TLS: STARTTLS will not be offered");
            None
        }
    };
    // Started while we are still root and single-threaded; it keeps root so that each login
    // of a Unix account gets a child running as that account.
    let spawner = if !config.userdb.unix_accounts {
        None
    } else if nix::unistd::Uid::effective().is_root() {
        match Spawner::start(&args.daemon.config, "imapd") {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the session spawner for Unix accounts");
                return ExitCode::from(EX_UNAVAILABLE as u8);
            }
        }
    } else {
        tracing::warn!(
            "userdb.unix_accounts is on but imapd is not started as root: Unix accounts are \
             served in-process as this user, which must be able to read their Maildirs"
        );
        None
    };
    if let Err(e) = ferrymail_net::privdrop::drop_to(&config.imapd.user, None) {
        tracing::error!(error = %e, "cannot drop privileges");
        return ExitCode::from(EX_UNAVAILABLE as u8);
    }
    let users = match UserDb::open(UserDbConfig::from_config(&config)) {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the user database");
            return ExitCode::from(EX_CONFIG as u8);
        }
    };
    // The index is a cache: without it imapd still works, only slower after a restart.
    let index_dir = config.paths.state_dir.join("imapd");
    let index = match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&index_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| imapd::index::Index::open(&index_dir).map_err(|e| e.to_string()))
    {
        Ok(i) => Some(i),
        Err(e) => {
            tracing::warn!(error = %e, "running without the index database");
            None
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::from(EX_UNAVAILABLE as u8);
        }
    };
    runtime.block_on(async move {
        let (shutdown, mut reload) = match ferrymail_net::signals::install() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot install signal handlers");
                return ExitCode::from(EX_UNAVAILABLE as u8);
            }
        };
        let limits = config.imapd.limits.clone();
        let config = Arc::new(config);
        let hub = Hub::new(index);
        let ctx = Arc::new(Ctx {
            config: config.clone(),
            users: Some(users),
            spawner,
            hub: hub.clone(),
            tls: tls.clone(),
            throttle: AuthThrottle::new(&limits),
            user_conns: Mutex::new(HashMap::new()),
            shutdown: shutdown.clone(),
        });
        tokio::spawn(async move {
            while reload.recv().await.is_some() {
                ferrymail_net::notify::reloading();
                if let Some(t) = &tls {
                    match t.reload() {
                        Ok(()) => tracing::info!("TLS certificate reloaded"),
                        Err(e) => tracing::warn!(error = %e, "TLS reload failed; keeping the old certificate"),
                    }
                }
                ferrymail_net::notify::ready();
            }
        });
        let trusted_config = config.clone();
        let opts = ServeOptions {
            limiter: ConnLimiter::new(&limits),
            is_trusted: Arc::new(move |ip| trusted_config.is_trusted(ip)),
            exempt_trusted: limits.exempt_trusted,
            shutdown,
            grace: Duration::from_secs(5),
        };
        tracing::info!(listeners = config.imapd.listeners.len(), "imapd ready");
        ferrymail_net::notify::ready();
        let result = server::serve(bound, opts, move |tcp, info, admission| {
            session::run(tcp, info, admission, ctx.clone())
        })
        .await;
        ferrymail_net::notify::stopping();
        hub.flush_index();
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "serve failed");
                ExitCode::from(EX_UNAVAILABLE as u8)
            }
        }
    })
}
