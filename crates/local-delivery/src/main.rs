//! `local-delivery`: the MDA: an LMTP server on a Unix socket that writes Maildir and mbox
//! mailboxes, with aliases, .forward and Sieve. See the library crate for the flow.

use std::os::unix::fs::DirBuilderExt;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_CANTCREAT, EX_CONFIG, EX_UNAVAILABLE};
use ferrymail_net::{listeners, logging, notify, privdrop, signals};
use ferrymail_users::{UserDb, UserDbConfig};
use local_delivery::recent::RecentDeliveries;
use local_delivery::router::Router;
use local_delivery::server::{self, ServerConfig};
use local_delivery::session::SessionConfig;

#[derive(Parser)]
#[command(name = "local-delivery", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Internal: run one delivery as the mailbox owner (job on stdin), then exit.
    #[arg(long, hide = true)]
    delivery_helper: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.delivery_helper {
        logging::init("local-delivery", "info");
        return ExitCode::from(local_delivery::helper::helper_main() as u8);
    }
    signals::hold();
    let config = args.daemon.load_or_exit("local-delivery");
    logging::init("local-delivery", &config.log.level);

    let mut inherited = listeners::Inherited::from_env();
    let path = config.lmtp_socket();
    let listener = match listeners::unix(
        &mut inherited,
        "lmtp",
        &path,
        config.delivery.lmtp_socket_mode,
    ) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(socket = %path.display(), error = %e, "cannot listen");
            return ExitCode::from(EX_CANTCREAT as u8);
        }
    };
    let vmail = match privdrop::ids_of(&config.delivery.user) {
        Ok((u, g)) => (u.as_raw(), g.as_raw()),
        Err(e) => {
            tracing::error!(user = %config.delivery.user, error = %e, "delivery.user");
            return ExitCode::from(EX_CONFIG as u8);
        }
    };
    // Deliveries to Unix accounts need root to switch to each account (in a helper process);
    // without Unix accounts there is no reason to keep it.
    if config.userdb.unix_accounts && nix::unistd::Uid::effective().is_root() {
        tracing::info!("keeping root to deliver to Unix accounts; every mailbox write happens in a helper running as the mailbox owner");
    } else {
        match privdrop::drop_to(&config.delivery.user, None) {
            Ok(o) => tracing::debug!(outcome = ?o, "privileges"),
            Err(e) => {
                tracing::error!(error = %e, "cannot drop privileges");
                return ExitCode::from(EX_CONFIG as u8);
            }
        }
    }
    let userdb = match UserDb::open(UserDbConfig::from_config(&config)) {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the user database");
            return ExitCode::from(EX_UNAVAILABLE as u8);
        }
    };
    for issue in userdb.load_issues() {
        tracing::warn!(%issue, "user database");
    }
    let server_cfg = Arc::new(ServerConfig {
        session: SessionConfig {
            hostname: config.hostname(),
            max_message_size: config.smtpd.max_message_size,
            max_recipients: config.smtpd.max_recipients,
            max_errors: config.smtpd.max_errors,
        },
        command_timeout: config.smtpd.command_timeout,
        data_timeout: config.smtpd.data_timeout,
        max_sessions: server::MAX_SESSIONS,
        grace: config.smtpd.shutdown_grace,
        recent: open_recent(&config),
    });
    let reload_db = userdb.clone();
    let router = Arc::new(Router::new(config, userdb, vmail));

    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::from(EX_UNAVAILABLE as u8);
        }
    };
    let result = rt.block_on(async move {
        let (shutdown, mut reload) = signals::install()?;
        tokio::spawn(async move {
            while reload.recv().await.is_some() {
                // The user database also reloads itself when its files change; SIGHUP makes
                // it happen now. The rest of the config needs a restart.
                notify::reloading();
                let changed = reload_db.reload_if_changed();
                tracing::info!(changed, "SIGHUP: user database checked");
                notify::ready();
            }
        });
        tracing::info!(socket = %path.display(), "LMTP ready");
        notify::ready();
        server::serve(listener, router, server_cfg, shutdown).await
    });
    notify::stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::from(EX_UNAVAILABLE as u8)
        }
    }
}

/// The record of recent deliveries in `state_dir/local-delivery/` (created 0700 if missing,
/// as the user the daemon now runs as).
fn open_recent(config: &ferrymail_config::Config) -> RecentDeliveries {
    let capacity = config.delivery.remembered_deliveries;
    let dir = config.paths.state_dir.join("local-delivery");
    let made = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir);
    if let Err(e) = made {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot create the state directory; the delivery record is kept in memory only");
        return RecentDeliveries::open(None, capacity);
    }
    RecentDeliveries::open(Some(&dir.join("delivered")), capacity)
}
