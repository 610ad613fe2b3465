//! `pop3d`: the POP3 server (110 with STLS, 995 with implicit TLS) over users' Maildirs.
//!
//! Not implemented yet (issue #6). Until it is, the binary validates its configuration and
//! exits with EX_UNAVAILABLE (69), which `mailctl dev` reports as "not built yet".

use std::process::ExitCode;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_UNAVAILABLE};

#[derive(Parser)]
#[command(name = "pop3d", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _config = args.daemon.load_or_exit("pop3d");
    eprintln!("pop3d: not implemented yet (issue #6)");
    ExitCode::from(EX_UNAVAILABLE as u8)
}
