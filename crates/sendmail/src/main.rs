//! `sendmail`: the command cron, mail(1), git and countless scripts call to send mail; also
//! `mailq` and `newaliases` by argv[0].
//!
//! It needs no network and no root: the message goes into the spool's `maildrop/` directory
//! (writable by its setgid group, the way Postfix's postdrop works), queue-runner is poked over
//! its wake-up socket, and queue-runner's pickup validates what it finds there before queueing.

mod args;
mod message;
mod smtp;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use args::{Invocation, Mode};
use ferrymail_config::Config;
use ferrymail_spool::{ClientInfo, Envelope, Maildrop, Recipient, Source};

/// sysexits.h codes scripts and MUAs understand.
const EX_USAGE: u8 = 64;
const EX_DATAERR: u8 = 65;
const EX_NOUSER: u8 = 67;
const EX_SOFTWARE: u8 = 70;
const EX_TEMPFAIL: u8 = 75;
const EX_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let program = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sendmail".into());
    let inv = match args::parse(&program, argv.get(1..).unwrap_or(&[])) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{program}: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if inv.verbose {
        for o in &inv.ignored {
            eprintln!("{program}: note: option {o} is accepted for compatibility and ignored");
        }
    }
    let config_path = inv
        .config
        .clone()
        .or_else(|| std::env::var_os("FERRYMAIL_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(ferrymail_config::DEFAULT_PATH));
    let config = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{program}: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    match inv.mode {
        Mode::Deliver => deliver(&program, &inv, &config),
        Mode::Smtp => smtp::run(&program, &config),
        Mode::Newaliases => newaliases(&program, &config),
        Mode::ListQueue => list_queue(&program, &config_path),
    }
}

/// The domain given to bare local names (`root` → `root@<origin>`), like Postfix's myorigin:
/// the host name when it is a local domain, else the first local domain.
pub fn origin(config: &Config) -> String {
    let host = config.hostname();
    if config.general.local_domains.is_empty() || config.general.local_domains.contains(&host) {
        host
    } else {
        config.general.local_domains[0].clone()
    }
}

pub fn qualify(addr: &str, origin: &str) -> String {
    let addr = addr.trim();
    let addr = addr
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(addr);
    if addr.contains('@') {
        addr.to_owned()
    } else {
        format!("{addr}@{origin}")
    }
}

fn login_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("uid{}", nix::unistd::getuid()))
}

fn deliver(program: &str, inv: &Invocation, config: &Config) -> ExitCode {
    let origin = origin(config);
    let mut stdin = std::io::stdin().lock();
    let raw =
        match message::read_message(&mut stdin, inv.ignore_dots, config.smtpd.max_message_size) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{program}: {e}");
                return ExitCode::from(EX_DATAERR);
            }
        };
    let mut rcpts: Vec<String> = inv.recipients.iter().map(|r| qualify(r, &origin)).collect();
    if inv.recipients_from_headers {
        rcpts.extend(
            message::header_recipients(&raw)
                .iter()
                .map(|r| qualify(r, &origin)),
        );
    }
    rcpts.dedup();
    if rcpts.is_empty() {
        eprintln!("{program}: no recipients given (name them on the command line or use -t)");
        return ExitCode::from(EX_USAGE);
    }
    for r in &rcpts {
        if let Err(e) = ferrymail_smtp::command::validate_mailbox(r) {
            eprintln!("{program}: invalid recipient <{r}>: {e}");
            return ExitCode::from(EX_NOUSER);
        }
    }
    let user = login_name();
    let sender = match &inv.sender {
        Some(s) if s.is_empty() => None,
        Some(s) => Some(qualify(s, &origin)),
        None => Some(format!("{user}@{origin}")),
    };
    if let Some(s) = &sender {
        if let Err(e) = ferrymail_smtp::command::validate_mailbox(s) {
            eprintln!("{program}: invalid sender <{s}>: {e}");
            return ExitCode::from(EX_USAGE);
        }
    }
    let from_header = sender.clone().unwrap_or_else(|| format!("{user}@{origin}"));
    let unique = ferrymail_spool::QueueId::generate();
    let msg = message::complete(
        &raw,
        &message::Completion {
            from: &from_header,
            full_name: inv.full_name.as_deref(),
            hostname: &config.hostname(),
            now: std::time::SystemTime::now(),
            unique: unique.as_str(),
            strip_bcc: inv.recipients_from_headers,
        },
    );
    let client = ClientInfo {
        protocol: "local".into(),
        ..ClientInfo::default()
    };
    let envelope = Envelope::new(
        sender,
        rcpts.iter().map(Recipient::new).collect(),
        client,
        Source::Sendmail {
            uid: nix::unistd::getuid().as_raw(),
        },
    );
    match submit(config, envelope, &msg) {
        Ok(id) => {
            if inv.verbose {
                eprintln!("{program}: queued as {id} for {}", rcpts.join(", "));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{program}: cannot queue the message: {e}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

/// Writes into maildrop/ and pokes queue-runner (a lost poke only delays: it also scans).
pub fn submit(
    config: &Config,
    envelope: Envelope,
    msg: &[u8],
) -> Result<ferrymail_spool::QueueId, ferrymail_spool::SpoolError> {
    let drop = Maildrop::open(&config.paths.spool_dir)?;
    let id = drop.submit(envelope, msg)?;
    ferrymail_spool::notify_maildrop(config.wake_socket());
    Ok(id)
}

/// Aliases are re-read by every daemon when the file changes, so there is no database to
/// rebuild: newaliases checks the file and reports what it found.
fn newaliases(program: &str, config: &Config) -> ExitCode {
    let path = &config.userdb.aliases_file;
    match ferrymail_users::AliasesFile::load(path) {
        Ok(f) => {
            for issue in f.issues() {
                eprintln!("{program}: {issue}");
            }
            println!(
                "{}: {} aliases (re-read automatically by the daemons)",
                path.display(),
                f.entries().count()
            );
            if f.issues().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EX_DATAERR)
            }
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::from(EX_CONFIG)
        }
    }
}

/// mailq: the queue listing comes from queue-runner through `mailctl queue list`.
fn list_queue(program: &str, config: &std::path::Path) -> ExitCode {
    let mailctl = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("mailctl")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("mailctl"));
    match std::process::Command::new(&mailctl)
        .arg("-c")
        .arg(config)
        .args(["queue", "list"])
        .status()
    {
        Ok(s) => ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "{program}: cannot run {}: {e}",
                mailctl.display()
            );
            ExitCode::from(EX_SOFTWARE)
        }
    }
}
