//! `local-delivery`: the MDA: an LMTP server on a Unix socket that writes Maildir and mbox
//! mailboxes, with aliases, .forward and Sieve. This file only names what the shared start-up
//! (`ferrymail_net::startup`) binds and opens for it; see the library crate for the flow.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_config::Config;
use ferrymail_net::cli::DaemonArgs;
use ferrymail_net::exit::StartError;
use ferrymail_net::startup::{self, PreInit, Running, Service, TlsUse};
use ferrymail_net::{logging, notify, privdrop};
use local_delivery::recent::RecentDeliveries;
use local_delivery::router::Router;
use local_delivery::server::{self, ServerConfig, TcpTrust};
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

struct LocalDelivery {
    listener: UnixListener,
    /// `delivery.lmtp_listen`, bound as root (port 24 is privileged).
    tcp: Vec<TcpListener>,
    /// uid and gid of `delivery.user`, owner of virtual mailboxes.
    vmail: (u32, u32),
}

impl Service for LocalDelivery {
    const NAME: &'static str = "local-delivery";

    fn user(config: &Config) -> &str {
        &config.delivery.user
    }

    fn metrics_listen(config: &Config) -> Option<SocketAddr> {
        config.delivery.metrics_listen
    }

    fn register_metrics() {
        local_delivery::metrics::register();
        ferrymail_metrics::conn::register(ferrymail_metrics::conn::Protocol::Lmtp);
    }

    /// Only the TCP listeners offer STARTTLS, and there it is mandatory.
    fn tls(config: &Config) -> TlsUse {
        match config.delivery.lmtp_listen.is_empty() {
            true => TlsUse::None,
            false => TlsUse::Required,
        }
    }

    fn keeps_root(config: &Config) -> Option<&'static str> {
        // Deliveries to Unix accounts need root to switch to each account (in a helper
        // process); without Unix accounts there is no reason to keep it.
        (config.userdb.unix_accounts && nix::unistd::Uid::effective().is_root()).then_some(
            "to deliver to Unix accounts; every mailbox write happens in a helper running as the mailbox owner",
        )
    }

    fn pre_init(start: &mut PreInit<'_>) -> Result<Self, StartError> {
        let config = start.config;
        let listener = start.unix(
            "lmtp",
            &config.lmtp_socket(),
            config.delivery.lmtp_socket_mode,
        )?;
        let mut tcp = Vec::new();
        for addr in &config.delivery.lmtp_listen {
            tcp.push(start.tcp_named("lmtp-tcp", *addr)?);
        }
        // Checked even when root is kept: virtual mailboxes are still written as this user.
        let (uid, gid) = privdrop::ids_of(&config.delivery.user)?;
        Ok(LocalDelivery {
            listener,
            tcp,
            vmail: (uid.as_raw(), gid.as_raw()),
        })
    }

    async fn serve(self, run: Running) -> Result<(), StartError> {
        let config = run.config;
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
            recent: RecentDeliveries::open_in_state_dir(
                &config.paths.state_dir,
                config.delivery.remembered_deliveries,
            ),
            tcp: tcp_trust(&self.tcp, run.tls, run.cluster)?,
        });
        let socket = config.lmtp_socket();
        let router = Arc::new(Router::new(config, run.users, self.vmail));
        tracing::info!(socket = %socket.display(), "LMTP ready");
        notify::ready();
        for l in &self.tcp {
            if let Ok(addr) = l.local_addr() {
                tracing::info!(%addr, "LMTP over TCP ready");
            }
        }
        server::serve(self.listener, self.tcp, router, server_cfg, run.shutdown)
            .await
            .map_err(|e| StartError::service("LMTP server", e))
    }
}

/// What the TCP listeners need: the certificate and the cluster's login (config validation
/// already refused `delivery.lmtp_listen` outside a cluster).
fn tcp_trust(
    tcp: &[TcpListener],
    tls: Option<ferrymail_net::tls::TlsStore>,
    cluster: Option<ferrymail_net::cluster::ClusterAuth>,
) -> Result<Option<TcpTrust>, StartError> {
    if tcp.is_empty() {
        return Ok(None);
    }
    match (tls, cluster) {
        (Some(tls), Some(cluster)) => Ok(Some(TcpTrust { tls, cluster })),
        (None, _) => Err(StartError::config(
            "delivery.lmtp_listen",
            "needs a TLS certificate",
        )),
        (_, None) => Err(StartError::config(
            "delivery.lmtp_listen",
            "needs [cluster]",
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.delivery_helper {
        logging::init("local-delivery", "info");
        return ExitCode::from(local_delivery::helper::helper_main() as u8);
    }
    startup::main::<LocalDelivery>(&args.daemon)
}
