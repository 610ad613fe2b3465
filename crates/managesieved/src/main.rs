//! `managesieved`: the ManageSieve server (RFC 5804, port 4190 with STARTTLS), through which
//! mail clients (Thunderbird's Sieve add-on, Roundcube's managesieve plugin, sieve-connect)
//! upload, check, activate and delete the users' Sieve scripts.
//!
//! The scripts are stored where local-delivery runs them (`ferrymail_sieve::store`,
//! Pigeonhole's layout in each user's Sieve home, `Account::sieve_home`), so the daemon runs
//! as the owner of the virtual mailboxes (`managesieve.user`, `vmail`). Unix accounts' homes
//! belong to the accounts: their logins are refused with an explanation rather than served
//! by a privileged helper.
//!
//! Start-up only here, on the shared skeleton (`ferrymail_net::startup`): the listener (or
//! the socket systemd passes), TLS, the privilege drop; the protocol is the sans-IO
//! `ferrymail_managesieve` crate, joined to the socket by [`connection`].

mod connection;

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_config::{Config, Role};
use ferrymail_net::auth_throttle::AuthThrottle;
use ferrymail_net::cli::DaemonArgs;
use ferrymail_net::exit::StartError;
use ferrymail_net::server::{serve, ServeOptions};
use ferrymail_net::startup::{self, PreInit, Running, Service, TlsUse};

use crate::connection::{Context, SHUTDOWN_GRACE};

#[derive(Parser)]
#[command(name = "managesieved", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

struct Managesieved {
    listeners: Vec<(Role, TcpListener)>,
}

impl Service for Managesieved {
    const NAME: &'static str = "managesieved";

    fn user(config: &Config) -> &str {
        &config.managesieve.user
    }

    fn metrics_listen(config: &Config) -> Option<SocketAddr> {
        config.managesieve.metrics_listen
    }

    fn register_metrics() {
        ferrymail_metrics::conn::register(ferrymail_metrics::conn::Protocol::ManageSieve);
    }

    /// Logins need TLS (STARTTLS), so a certificate that does not load is a start-up error.
    fn tls(_config: &Config) -> TlsUse {
        TlsUse::Required
    }

    fn pre_init(start: &mut PreInit<'_>) -> Result<Self, StartError> {
        let listeners = start.tcp(&start.config.managesieve.listeners)?;
        Ok(Managesieved { listeners })
    }

    async fn serve(self, run: Running) -> Result<(), StartError> {
        let config = Arc::new(run.config);
        let limits = config.managesieve.limits.clone();
        let ctx = Arc::new(Context {
            config: config.clone(),
            users: run.users,
            tls: run.tls,
            throttle: AuthThrottle::new(&limits).with_cluster(run.cluster),
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
    startup::main::<Managesieved>(&Args::parse().daemon)
}
