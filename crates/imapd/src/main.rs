//! `imapd`: the IMAP4rev1 server (143 with STARTTLS, 993 with implicit TLS) over users' Maildirs.
//!
//! Not implemented yet (issue #7). Until it is, the binary validates its configuration and
//! exits with EX_UNAVAILABLE (69), which `mailctl dev` reports as "not built yet".

use std::process::ExitCode;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_UNAVAILABLE};

#[derive(Parser)]
#[command(name = "imapd", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _config = args.daemon.load_or_exit("imapd");
    eprintln!("imapd: not implemented yet (issue #7)");
    ExitCode::from(EX_UNAVAILABLE as u8)
}
