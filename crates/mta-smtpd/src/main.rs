//! `mta-smtpd`: the SMTP server for MX (25), submission (587) and submissions (465); it accepts
//! mail into the spool and wakes queue-runner. This file only names what the shared start-up
//! (`ferrymail_net::startup`) binds and opens for it; see the library for the rest.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_config::{Config, Role};
use ferrymail_net::cli::DaemonArgs;
use ferrymail_net::exit::StartError;
use ferrymail_net::startup::{self, PreInit, Running, Service, TlsUse};
use ferrymail_spool::Spool;

#[derive(Parser)]
#[command(name = "mta-smtpd", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

struct MtaSmtpd {
    listeners: Vec<(Role, TcpListener)>,
}

impl Service for MtaSmtpd {
    const NAME: &'static str = "mta-smtpd";

    fn user(config: &Config) -> &str {
        &config.smtpd.user
    }

    fn tls(_config: &Config) -> TlsUse {
        TlsUse::Required
    }

    fn metrics_listen(config: &Config) -> Option<SocketAddr> {
        config.smtpd.metrics_listen
    }

    fn register_metrics() {
        mta_smtpd::metrics::register();
        mta_smtpd::screen::metrics::register();
        ferrymail_metrics::conn::register(ferrymail_metrics::conn::Protocol::Smtp);
    }

    fn pre_init(start: &mut PreInit<'_>) -> Result<Self, StartError> {
        let config = start.config;
        if config.smtpd.listeners.is_empty() {
            return Err(StartError::config("listeners", "no [[smtpd.listeners]]"));
        }
        let listeners = start.tcp(&config.smtpd.listeners)?;
        Ok(MtaSmtpd { listeners })
    }

    async fn serve(self, run: Running) -> Result<(), StartError> {
        let Running {
            config,
            tls,
            users,
            cluster,
            shutdown,
        } = run;
        let spool = Spool::open(&config.paths.spool_dir)
            .map_err(|e| StartError::cant_create("spool", e))?;
        let verifier = match config.mailauth.verify {
            true => ferrymail_mailauth::Verifier::from_config(&config)
                .map(|v| Some(Arc::new(v)))
                .map_err(|e| StartError::config("mail authentication", e))?,
            false => None,
        };
        mta_smtpd::server::run(
            config,
            self.listeners,
            tls,
            users,
            spool,
            verifier,
            cluster,
            shutdown,
        )
        .await
        .map_err(|e| StartError::service("server", e))
    }
}

fn main() -> ExitCode {
    startup::main::<MtaSmtpd>(&Args::parse().daemon)
}
