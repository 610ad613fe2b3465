//! `queue-runner`: owns the spool's scheduling: delivers locally over LMTP to local-delivery
//! and remotely over SMTP by DNS MX, with retries and bounces (see the library docs). This file
//! only names what the shared start-up (`ferrymail_net::startup`) binds and opens for it.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_config::Config;
use ferrymail_net::cli::DaemonArgs;
use ferrymail_net::exit::{Failure, StartError};
use ferrymail_net::startup::{self, PreInit, Running, Service};
use ferrymail_spool::{Spool, WakeReceiver};
use queue_runner::handoff::Handoff;
use queue_runner::index::{self, Index};
use queue_runner::lmtp::LmtpTarget;
use queue_runner::{daemon, dns::Resolver, runner::Runner, wire::TlsClients};

#[derive(Parser)]
#[command(name = "queue-runner", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

struct QueueRunner {
    lock: File,
    spool: Spool,
    wake: UnixDatagram,
    control: UnixListener,
}

impl Service for QueueRunner {
    const NAME: &'static str = "queue-runner";

    fn user(config: &Config) -> &str {
        &config.queue.user
    }

    fn metrics_listen(config: &Config) -> Option<SocketAddr> {
        config.queue.metrics_listen
    }

    fn register_metrics() {
        queue_runner::metrics::register();
    }

    fn pre_init(start: &mut PreInit<'_>) -> Result<Self, StartError> {
        let config = start.config;
        // Before touching any socket: a second instance must not steal the first one's.
        let lock = index::lock_instance(&index_dir(config).with_extension("lock"))
            .map_err(|e| StartError::new(Failure::Busy, "instance lock", e))?;
        let spool = Spool::open(&config.paths.spool_dir)
            .map_err(|e| StartError::cant_create("spool", e))?;
        let wake = match start.inherited_datagram("wake") {
            Some(sock) => sock,
            None => WakeReceiver::bind(config.wake_socket())
                .map_err(|e| StartError::cant_create("wake-up socket", e))?
                .into_std(),
        };
        let control = start.unix(
            "control",
            &config.control_socket(),
            config.queue.control_socket_mode,
        )?;
        Ok(QueueRunner {
            lock,
            spool,
            wake,
            control,
        })
    }

    async fn serve(self, run: Running) -> Result<(), StartError> {
        let config = run.config;
        let dir = index_dir(&config);
        let index = Index::open(&dir, self.lock)
            .map_err(|e| StartError::cant_create("scheduling database", e))?;
        if index.fresh {
            tracing::info!(dir = %dir.display(), "new scheduling database; filling it from the spool");
        }
        let tls = TlsClients::new(&config.queue.tls_trust_anchors)
            .map_err(|e| StartError::system("TLS client", e))?;
        // A configured but unreadable DKIM key is a config error: better to refuse to start
        // than to send unsigned mail that receivers then reject under the domain's DMARC policy.
        let signer = ferrymail_mailauth::Signer::from_config(&config)
            .map_err(|e| StartError::config("DKIM", e))?;
        let resolver = Resolver::new(&config.queue.dns_servers)
            .map_err(|e| StartError::config("DNS resolver", e))?;
        let dane = queue_runner::dane::Dane::from_config(&config)
            .map_err(|e| StartError::config("DNSSEC trust anchors", e))?;
        let lmtp = LmtpTarget::from_config(&config, run.cluster.as_ref())
            .map_err(|e| StartError::config("queue.lmtp_server", e))?;
        let handoff =
            Handoff::from_config(config.queue.handoff_relay.as_ref(), run.cluster.as_ref())
                .map_err(|e| StartError::config("queue.handoff_relay", e))?;
        let runner = Runner::new(config, self.spool, run.users, index, resolver, tls)
            .with_dane(dane)
            .with_lmtp(lmtp)
            .with_handoff(handoff);
        // SIGHUP belongs to the start-up, which reloads the user database the runner shares;
        // the loop's own reload channel stays open and silent.
        let (_silent, reload) = tokio::sync::mpsc::channel(1);
        let runner = Arc::new(runner.with_signer(signer));
        queue_runner::metrics::watch_queue(&runner);
        daemon::run(runner, self.wake, self.control, run.shutdown, reload)
            .await
            .map_err(|e| StartError::service("queue-runner", e))
    }
}

/// The scheduling database's directory; its lock file sits beside it.
fn index_dir(config: &Config) -> std::path::PathBuf {
    config.paths.state_dir.join("queue-runner")
}

fn main() -> ExitCode {
    startup::main::<QueueRunner>(&Args::parse().daemon)
}
