//! `sendmail`: the command cron, mail(1) and scripts call to send mail (also `mailq`,
//! `newaliases` by argv[0]). It writes into the spool's maildrop without network or root.
//!
//! Not implemented yet (issue #8): it exits with EX_UNAVAILABLE (69) so callers see a clean
//! failure instead of silently dropped mail.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("sendmail: not implemented yet (issue #8); no mail was sent");
    ExitCode::from(ferrymail_net::cli::EX_UNAVAILABLE as u8)
}
