//! `queue-runner`: owns the spool's scheduling: delivers locally over LMTP to local-delivery and remotely over SMTP by DNS MX, with retries and bounces.
//!
//! Not implemented yet (issue #4). Until it is, the binary validates its configuration and
//! exits with EX_UNAVAILABLE (69), which `mailctl dev` reports as "not built yet".

use std::process::ExitCode;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_UNAVAILABLE};

#[derive(Parser)]
#[command(name = "queue-runner", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _config = args.daemon.load_or_exit("queue-runner");
    eprintln!("queue-runner: not implemented yet (issue #4)");
    ExitCode::from(EX_UNAVAILABLE as u8)
}
