//! `local-delivery`: the MDA: an LMTP server on a Unix socket that writes Maildir and mbox mailboxes, with aliases, .forward and Sieve.
//!
//! Not implemented yet (issue #5). Until it is, the binary validates its configuration and
//! exits with EX_UNAVAILABLE (69), which `mailctl dev` reports as "not built yet".

use std::process::ExitCode;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_UNAVAILABLE};

#[derive(Parser)]
#[command(name = "local-delivery", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _config = args.daemon.load_or_exit("local-delivery");
    eprintln!("local-delivery: not implemented yet (issue #5)");
    ExitCode::from(EX_UNAVAILABLE as u8)
}
