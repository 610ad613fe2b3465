//! `mailctl dev`: the whole suite on loopback with no setup.
//!
//! Writes a config into a state directory (created on first run, kept afterwards so mail
//! survives restarts), a self-signed certificate, a demo domain and user, then starts every
//! daemon binary found beside `mailctl` with that config and waits for Ctrl-C. Each daemon's
//! output goes to the terminal, prefixed with its name, and to `<state-dir>/log/<name>.log`.
//! A daemon whose binary is missing is listed as not built; one that exits at start is listed
//! as failed, with its exit status and its log file.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use clap::Args;
use ferrymail_config::Config;
use ferrymail_dev::{DevEnv, DevOptions, Ports};
use tokio::process::{Child, Command};

#[derive(Args, Debug)]
pub struct DevArgs {
    /// Where config, certificates, spool and mailboxes live.
    #[arg(long, default_value = "./var/dev")]
    pub state_dir: PathBuf,
    /// The demo mail domain.
    #[arg(long, default_value = "example.test")]
    pub domain: String,
    /// A user to create as NAME@DOMAIN:PASSWORD (repeatable). Default: demo@<domain>:demo.
    #[arg(long = "user", value_name = "NAME@DOMAIN:PASSWORD")]
    pub users: Vec<String>,
    /// Address every listener binds.
    #[arg(long, default_value = "127.0.0.1")]
    pub listen_addr: IpAddr,
    #[arg(long, default_value_t = 2525)]
    pub smtp_port: u16,
    #[arg(long, default_value_t = 2587)]
    pub submission_port: u16,
    #[arg(long, default_value_t = 2465)]
    pub submissions_port: u16,
    #[arg(long, default_value_t = 2143)]
    pub imap_port: u16,
    #[arg(long, default_value_t = 2993)]
    pub imaps_port: u16,
    #[arg(long, default_value_t = 2110)]
    pub pop3_port: u16,
    #[arg(long, default_value_t = 2995)]
    pub pop3s_port: u16,
    #[arg(long, default_value_t = 24190)]
    pub managesieve_port: u16,
    /// Directory holding the daemon binaries (default: the one mailctl is in).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Write the state directory and config, print them, and exit without starting daemons.
    #[arg(long)]
    pub prepare_only: bool,
}

/// The daemons `mailctl dev` starts, in start order (consumers of sockets after their owners).
pub const DAEMONS: &[&str] = &[
    "local-delivery",
    "queue-runner",
    "mta-smtpd",
    "imapd",
    "pop3d",
    "managesieved",
];

pub fn run(args: DevArgs) -> ExitCode {
    let users = match args
        .users
        .iter()
        .map(|s| ferrymail_dev::parse_user_spec(s))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(u) => u,
        Err(e) => {
            eprintln!("mailctl dev: --user {e}");
            return ExitCode::from(2);
        }
    };
    let opts = DevOptions {
        state_dir: args.state_dir.clone(),
        domain: args.domain.clone(),
        users,
        listen_addr: args.listen_addr,
        ports: Ports {
            smtp: args.smtp_port,
            submission: args.submission_port,
            submissions: args.submissions_port,
            imap: args.imap_port,
            imaps: args.imaps_port,
            pop3: args.pop3_port,
            pop3s: args.pop3s_port,
            managesieve: args.managesieve_port,
        },
    };
    let env = match ferrymail_dev::prepare(&opts) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("mailctl dev: {e}");
            return ExitCode::FAILURE;
        }
    };
    print_summary(&env);
    if args.prepare_only {
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailctl dev: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(supervise(&args, &env))
}

fn print_summary(env: &DevEnv) {
    let a = env.listen_addr;
    let p = env.ports;
    println!("ferrymail dev suite");
    println!("  config:      {}", env.config_path.display());
    println!("  SMTP (MX):   {a}:{}", p.smtp);
    println!("  submission:  {a}:{} (STARTTLS + AUTH)", p.submission);
    println!("  submissions: {a}:{} (TLS + AUTH)", p.submissions);
    println!(
        "  IMAP:        {a}:{} (STARTTLS), {a}:{} (TLS)",
        p.imap, p.imaps
    );
    println!(
        "  POP3:        {a}:{} (STLS), {a}:{} (TLS)",
        p.pop3, p.pop3s
    );
    println!("  ManageSieve: {a}:{} (STARTTLS)", p.managesieve);
    for (login, password) in &env.users {
        println!("  login:       {login} / {password}");
    }
    println!("  certificate: self-signed (clients must accept it)");
}

fn bin_dir(args: &DevArgs) -> PathBuf {
    args.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_owned))
            .unwrap_or_else(|| PathBuf::from("."))
    })
}

struct Running {
    name: &'static str,
    log: PathBuf,
    child: Child,
}

async fn supervise(args: &DevArgs, env: &DevEnv) -> ExitCode {
    let dir = bin_dir(args);
    let log_dir = env.state_dir.join("log");
    if let Err(e) = std::fs::create_dir_all(&log_dir) {
        eprintln!("mailctl dev: cannot create {}: {e}", log_dir.display());
        return ExitCode::FAILURE;
    }
    let mut running: Vec<Running> = Vec::new();
    for &name in DAEMONS {
        let path = dir.join(name);
        if !path.exists() {
            println!("  {name:<15} not built ({} missing)", path.display());
            continue;
        }
        let log = log_dir.join(format!("{name}.log"));
        let log_file = match open_log(&log) {
            Ok(f) => f,
            Err(e) => {
                println!(
                    "  {name:<15} not started: cannot open {}: {e}",
                    log.display()
                );
                continue;
            }
        };
        let mut cmd = Command::new(&path);
        cmd.arg("-c")
            .arg(&env.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match cmd.spawn() {
            Ok(mut child) => {
                forward_output(name, &mut child, log_file);
                running.push(Running { name, log, child });
            }
            Err(e) => println!("  {name:<15} failed to start: {e}"),
        }
        // Give socket owners a moment before their clients start.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Watch Ctrl-C and SIGTERM before reporting anything: whoever reads "running" may stop
    // us at once, and a signal arriving before the handlers exist would kill us outright.
    use tokio::signal::unix::{signal, SignalKind};
    let (mut int, mut term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("mailctl dev: cannot watch SIGINT/SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A daemon that cannot start (bad config, port taken, ...) exits within this time.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut live = Vec::new();
    for mut r in running {
        match r.child.try_wait() {
            Ok(Some(status)) => println!(
                "  {:<15} failed to start: {status} (log: {})",
                r.name,
                r.log.display()
            ),
            _ => {
                println!(
                    "  {:<15} running (pid {})",
                    r.name,
                    r.child.id().unwrap_or(0)
                );
                live.push(r);
            }
        }
    }
    if live.is_empty() {
        println!("no daemon is running; nothing to supervise");
        return ExitCode::FAILURE;
    }
    println!("Press Ctrl-C to stop.");

    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = check.tick() => {
                live.retain_mut(|r| match r.child.try_wait() {
                    Ok(Some(status)) => {
                        println!("mailctl dev: {} exited: {status}", r.name);
                        false
                    }
                    _ => true,
                });
                if live.is_empty() {
                    println!("mailctl dev: every daemon has exited");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    stop_all(live).await;
    ExitCode::SUCCESS
}

/// SIGTERM to every daemon, then wait (daemons finish in-flight work), then SIGKILL stragglers.
async fn stop_all(mut live: Vec<Running>) {
    println!("stopping…");
    for r in &live {
        if let Some(pid) = r.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for r in &mut live {
        match tokio::time::timeout_at(deadline, r.child.wait()).await {
            Ok(Ok(status)) => println!("  {:<15} stopped ({status})", r.name),
            _ => {
                let _ = r.child.kill().await;
                println!("  {:<15} killed after the grace period", r.name);
            }
        }
    }
}

/// This run's log of one daemon: emptied at start, appended to by both of its output pumps.
fn open_log(path: &Path) -> std::io::Result<File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.set_len(0)?;
    Ok(f)
}

/// Prefixes each daemon's log lines with its name, like `docker compose` does, and keeps them
/// in its log file for after the terminal has scrolled away.
fn forward_output(name: &'static str, child: &mut Child, log: File) {
    fn pump(name: &'static str, out: File, mut log: Option<File>) {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("{name:>15} | {line}");
                // A full disk must not stop the terminal output.
                if log.as_mut().is_some_and(|f| writeln!(f, "{line}").is_err()) {
                    log = None;
                }
            }
        });
    }
    // tokio's pipes are async; take the raw fds into blocking threads (log volume is small).
    if let Some(err) = child.stderr.take() {
        if let Ok(fd) = err.into_owned_fd() {
            pump(name, File::from(fd), log.try_clone().ok());
        }
    }
    if let Some(out) = child.stdout.take() {
        if let Ok(fd) = out.into_owned_fd() {
            pump(name, File::from(fd), Some(log));
        }
    }
}

/// The user database as the daemons open it, for `config check`.
pub fn open_userdb(
    config: &Config,
) -> Result<ferrymail_users::UserDb, ferrymail_users::UserDbError> {
    ferrymail_users::UserDb::open(ferrymail_users::UserDbConfig::from_config(config))
}
