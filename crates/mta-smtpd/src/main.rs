//! `mta-smtpd`: the SMTP server for MX (25), submission (587) and submissions (465); it accepts mail into the spool and wakes queue-runner.
//!
//! Not implemented yet (issue #3). Until it is, the binary validates its configuration and
//! exits with EX_UNAVAILABLE (69), which `mailctl dev` reports as "not built yet".

use std::process::ExitCode;

use clap::Parser;
use ferrymail_net::cli::{DaemonArgs, EX_UNAVAILABLE};

#[derive(Parser)]
#[command(name = "mta-smtpd", version)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _config = args.daemon.load_or_exit("mta-smtpd");
    eprintln!("mta-smtpd: not implemented yet (issue #3)");
    ExitCode::from(EX_UNAVAILABLE as u8)
}
