//! `mta-smtpd`: the SMTP server for MX (25), submission (587) and submissions (465); it accepts
//! mail into the spool and wakes queue-runner. This file only starts the process: config,
//! logging, sockets, TLS, user database, privilege drop, runtime; see the library for the rest.

use std::process::ExitCode;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_CANTCREAT, EX_CONFIG, EX_UNAVAILABLE};
use ferrymail_net::listeners::{self, Inherited};
use ferrymail_net::tls::TlsStore;
use ferrymail_users::{UserDb, UserDbConfig};

#[derive(Parser)]
#[command(name = "mta-smtpd", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn fail(code: i32, what: &str, e: impl std::fmt::Display) -> ExitCode {
    tracing::error!(error = %e, "{what}");
    eprintln!("mta-smtpd: {what}: {e}");
    ExitCode::from(code as u8)
}

fn main() -> ExitCode {
    let args = Args::parse();
    ferrymail_net::signals::hold();
    let config = args.daemon.load_or_exit("mta-smtpd");
    ferrymail_net::logging::init("mta-smtpd", &config.log.level);

    let mut inherited = Inherited::from_env();
    let mut bound = Vec::new();
    for l in &config.smtpd.listeners {
        match listeners::tcp(&mut inherited, l) {
            Ok(s) => bound.push((l.role, s)),
            Err(e) => return fail(EX_CANTCREAT, "cannot listen", e),
        }
    }
    if bound.is_empty() {
        return fail(EX_CONFIG, "configuration", "no [[smtpd.listeners]]");
    }
    for name in inherited.unclaimed() {
        tracing::warn!(name, "systemd passed a socket no listener uses");
    }
    let tls = match TlsStore::load(&config.tls.cert, &config.tls.key) {
        Ok(t) => Some(t),
        Err(e) => return fail(EX_CONFIG, "TLS", e),
    };
    let userdb = match UserDb::open(UserDbConfig::from_config(&config)) {
        Ok(db) => db,
        Err(e) => return fail(EX_CONFIG, "user database", e),
    };
    // Threads do not exist yet, so the drop applies to the whole process.
    if let Err(e) = ferrymail_net::privdrop::drop_to(&config.smtpd.user, None) {
        return fail(EX_CONFIG, "privilege drop", e);
    }
    let spool = match ferrymail_spool::Spool::open(&config.paths.spool_dir) {
        Ok(s) => s,
        Err(e) => return fail(EX_CANTCREAT, "spool", e),
    };
    ferrymail_net::server::raise_nofile_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(EX_UNAVAILABLE, "runtime", e),
    };
    let result = runtime.block_on(mta_smtpd::server::run(config, bound, tls, userdb, spool));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(EX_UNAVAILABLE, "server", e),
    }
}
