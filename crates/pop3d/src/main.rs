//! `pop3d`: the POP3 server (110 with STLS, 995 with implicit TLS) over users' Maildirs.
//!
//! Start-up only: configuration, logging, sockets, TLS, the session spawner for Unix
//! accounts, user database, privilege drop, then the accept loop; the protocol lives in the
//! library (`pop3d::session` and friends). The same binary runs as the spawner
//! (`--session-spawner`, `ferrymail_spawn`) and as a per-login session child
//! (`--session-child`, [`pop3d::child`]).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_config::Role;
use ferrymail_net::cli::{DaemonArgs, EX_CANTCREAT, EX_CONFIG, EX_UNAVAILABLE};
use ferrymail_net::limits::{AuthThrottle, ConnLimiter};
use ferrymail_net::server::{serve, ServeOptions};
use ferrymail_net::tls::TlsStore;
use ferrymail_net::{listeners, logging, notify, privdrop, signals};
use ferrymail_spawn::SessionFlags;
use ferrymail_spawn::Spawner;
use ferrymail_users::{UserDb, UserDbConfig};
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

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.session.is_internal() {
        ferrymail_net::signals::hold();
    }
    let config = args.daemon.load_or_exit("pop3d");
    logging::init("pop3d", &config.log.level);
    if args.session.session_spawner {
        return exit_code(ferrymail_spawn::spawner_main_with(
            &args.daemon.config,
            &config,
            ferrymail_spawn::MboxPolicy::Serve,
        ));
    }
    if args.session.session_child {
        return exit_code(pop3d::child::child_main(config));
    }
    match run(config, &args.daemon.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            tracing::error!("{msg}");
            eprintln!("pop3d: {msg}");
            ExitCode::from(code as u8)
        }
    }
}

/// The spawner of session children, when Unix accounts are on and we are root. Started
/// while still root and single-threaded; it keeps root so that each login of a Unix account
/// gets a child running as that account.
fn start_spawner(
    config: &ferrymail_config::Config,
    config_path: &Path,
) -> Result<Option<Arc<Spawner>>, (i32, String)> {
    if !config.userdb.unix_accounts {
        return Ok(None);
    }
    if !nix::unistd::Uid::effective().is_root() {
        tracing::warn!(
            "userdb.unix_accounts is on but pop3d is not started as root: Unix accounts are \
             served in-process as this user, which must be able to read their Maildirs"
        );
        return Ok(None);
    }
    Spawner::start(config_path, "pop3d").map(Some).map_err(|e| {
        (
            EX_UNAVAILABLE,
            format!("session spawner for Unix accounts: {e}"),
        )
    })
}

fn run(config: ferrymail_config::Config, config_path: &Path) -> Result<(), (i32, String)> {
    let mut inherited = listeners::Inherited::from_env();
    let mut socks = Vec::new();
    for l in &config.pop3d.listeners {
        if !matches!(l.role, Role::Pop3 | Role::Pop3s) {
            return Err((EX_CONFIG, format!("pop3d cannot serve role {}", l.role)));
        }
        let s = listeners::tcp(&mut inherited, l)
            .map_err(|e| (EX_CANTCREAT, format!("listen {}: {e}", l.listen)))?;
        tracing::info!(role = %l.role, addr = %l.listen, "listening");
        socks.push((l.role, s));
    }
    for name in inherited.unclaimed() {
        tracing::warn!(name, "systemd passed a socket no pop3d listener uses");
    }
    let tls = TlsStore::load(&config.tls.cert, &config.tls.key)
        .map_err(|e| (EX_CONFIG, format!("TLS: {e}")))?;
    let spawner = start_spawner(&config, config_path)?;
    let userdb = UserDb::open(UserDbConfig::from_config(&config))
        .map_err(|e| (EX_UNAVAILABLE, format!("user database: {e}")))?;
    match privdrop::drop_to(&config.pop3d.user, None) {
        Ok(o) => tracing::info!(outcome = ?o, "privileges"),
        Err(e) => return Err((EX_CONFIG, format!("dropping privileges: {e}"))),
    }
    ferrymail_net::server::raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pop3d")
        .build()
        .map_err(|e| (EX_UNAVAILABLE, format!("runtime: {e}")))?;
    rt.block_on(async move {
        let (shutdown, mut reload) =
            signals::install().map_err(|e| (EX_UNAVAILABLE, format!("signals: {e}")))?;
        let config = Arc::new(config);
        let limits = config.pop3d.limits.clone();
        let ctx = Arc::new(Context {
            config: config.clone(),
            userdb: Some(userdb.clone()),
            tls: Some(tls.clone()),
            throttle: AuthThrottle::new(&limits),
            locks: LockTable::new(),
            sizes: SizeCache::default(),
            spawner,
            shutdown: shutdown.clone(),
        });
        tokio::spawn(async move {
            while reload.recv().await.is_some() {
                notify::reloading();
                match tls.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => tracing::error!(error = %e, "TLS reload failed; keeping the old one"),
                }
                userdb.reload_if_changed();
                notify::ready();
            }
        });
        let trusted_cfg = config.clone();
        let opts = ServeOptions {
            limiter: ConnLimiter::new(&limits),
            is_trusted: Arc::new(move |ip| trusted_cfg.is_trusted(ip)),
            exempt_trusted: limits.exempt_trusted,
            shutdown,
            grace: SHUTDOWN_GRACE,
        };
        notify::ready();
        let served = serve(socks, opts, move |tcp, info, admission| {
            connection::handle(ctx.clone(), tcp, info, admission)
        })
        .await;
        notify::stopping();
        served.map_err(|e| (EX_UNAVAILABLE, format!("serve: {e}")))
    })
}
