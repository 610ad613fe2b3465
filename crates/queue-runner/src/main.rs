//! `queue-runner`: owns the spool's scheduling: delivers locally over LMTP to local-delivery
//! and remotely over SMTP by DNS MX, with retries and bounces (see the library docs).

use std::os::unix::io::FromRawFd;
use std::os::unix::net::UnixDatagram;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_CANTCREAT, EX_CONFIG, EX_TEMPFAIL, EX_UNAVAILABLE};
use ferrymail_net::listeners::{self, Inherited};
use ferrymail_spool::{Spool, WakeReceiver};
use ferrymail_users::{UserDb, UserDbConfig};
use queue_runner::index::{self, Index};
use queue_runner::{daemon, dns::Resolver, runner::Runner, wire::TlsClients};

#[derive(Parser)]
#[command(name = "queue-runner", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn fail(code: i32, what: &str, e: impl std::fmt::Display) -> ExitCode {
    tracing::error!(error = %e, "{what}");
    eprintln!("queue-runner: {what}: {e}");
    ExitCode::from(code as u8)
}

fn main() -> ExitCode {
    let args = Args::parse();
    ferrymail_net::signals::hold();
    let config = args.daemon.load_or_exit("queue-runner");
    ferrymail_net::logging::init("queue-runner", &config.log.level);

    // Before any thread exists: this edits the environment.
    let mut inherited = Inherited::from_env();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(EX_UNAVAILABLE, "runtime", e),
    };
    // Handlers first: a SIGTERM during start-up must mean a clean stop, not death by the
    // default action.
    let (shutdown, reload) = match rt.block_on(async { ferrymail_net::signals::install() }) {
        Ok(s) => s,
        Err(e) => return fail(EX_UNAVAILABLE, "signals", e),
    };
    // Before touching any socket: a second instance must not steal the first one's.
    let index_dir = config.paths.state_dir.join("queue-runner");
    let lock = match index::lock_instance(&index_dir.with_extension("lock")) {
        Ok(l) => l,
        Err(e) => return fail(EX_TEMPFAIL, "instance lock", e),
    };
    let spool = match Spool::open(&config.paths.spool_dir) {
        Ok(s) => s,
        Err(e) => return fail(EX_CANTCREAT, "spool", e),
    };
    let wake = match inherited.take("wake") {
        // SAFETY: systemd passed this descriptor (a datagram socket, per the unit) to us alone.
        Some(fd) => unsafe { UnixDatagram::from_raw_fd(fd) },
        None => match WakeReceiver::bind(config.wake_socket()) {
            Ok(w) => w.into_std(),
            Err(e) => return fail(EX_CANTCREAT, "wake-up socket", e),
        },
    };
    let control = match listeners::unix(
        &mut inherited,
        "control",
        &config.control_socket(),
        config.queue.control_socket_mode,
    ) {
        Ok(c) => c,
        Err(e) => return fail(EX_CANTCREAT, "control socket", e),
    };
    for name in inherited.unclaimed() {
        tracing::warn!(name, "systemd passed a socket queue-runner does not use");
    }
    if let Err(e) = ferrymail_net::privdrop::drop_to(&config.queue.user, None) {
        return fail(EX_CONFIG, "dropping privileges", e);
    }
    let users = match UserDb::open(UserDbConfig::from_config(&config)) {
        Ok(u) => u,
        Err(e) => return fail(EX_CONFIG, "user database", e),
    };
    let index = match Index::open(&index_dir, lock) {
        Ok(i) => i,
        Err(e) => return fail(EX_CANTCREAT, "scheduling database", e),
    };
    if index.fresh {
        tracing::info!(dir = %index_dir.display(), "new scheduling database; filling it from the spool");
    }
    let tls = match TlsClients::new() {
        Ok(t) => t,
        Err(e) => return fail(EX_UNAVAILABLE, "TLS client", e),
    };
    // A configured but unreadable DKIM key is a config error: better to refuse to start than to
    // send unsigned mail that receivers then reject under the domain's DMARC policy.
    let signer = match ferrymail_mailauth::Signer::from_config(&config) {
        Ok(s) => s,
        Err(e) => return fail(EX_CONFIG, "DKIM", e),
    };
    rt.block_on(async move {
        let resolver = match Resolver::new(&config.queue.dns_servers) {
            Ok(r) => r,
            Err(e) => return fail(EX_CONFIG, "DNS resolver", e),
        };
        let runner =
            Arc::new(Runner::new(config, spool, users, index, resolver, tls).with_signer(signer));
        match daemon::run(runner, wake, control, shutdown, reload).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(EX_UNAVAILABLE, "queue-runner", e),
        }
    })
}
