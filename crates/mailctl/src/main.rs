//! `mailctl`: the administrator's command for ferrymail.
//!
//! It edits the user database files (users, domains, aliases), checks the configuration, talks to
//! queue-runner's control socket, and with `mailctl dev` starts the whole suite locally with a
//! generated config, for trying ferrymail out and for tests.

mod accounts;
mod configcmd;
mod dev;
mod dkim;
mod doctor;
mod proxy;
mod queue;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mailctl",
    version,
    about = "Administer a ferrymail mail server",
    after_help = "Exit codes: 0 success, 2 bad usage, 64 bad input, 65 invalid data or duplicate, \
                  67 no such user/alias/domain, 73 a file could not be written, 78 bad configuration."
)]
struct Cli {
    /// Configuration file.
    #[arg(short = 'c', long = "config", global = true, value_name = "PATH", default_value = ferrymail_config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(configcmd::ConfigCmd),
    /// Start the whole suite locally on unprivileged loopback ports with a generated config.
    Dev(dev::DevArgs),
    /// Manage virtual users.
    #[command(subcommand)]
    User(accounts::UserCmd),
    /// Manage local domains.
    #[command(subcommand)]
    Domain(accounts::DomainCmd),
    /// Manage aliases.
    #[command(subcommand)]
    Alias(accounts::AliasCmd),
    /// Manage quotas.
    #[command(subcommand)]
    Quota(accounts::QuotaCmd),
    /// The mail doctor: check DNS (MX, A, PTR, SPF, DMARC), certificate, ports and relaying.
    Check(doctor::CheckArgs),
    #[command(subcommand, about = "DKIM keys: generate one, print its DNS record")]
    Dkim(dkim::DkimCmd),
    /// Which daemons run, whether their sockets answer, queue size and disk use.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// List and manage the mail queue (talks to queue-runner's control socket).
    #[command(subcommand)]
    Queue(queue::QueueCmd),
    /// The front end's routing of users to mailbox backends (talks to proxyd).
    #[command(subcommand)]
    Proxy(proxy::ProxyCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config(c) => configcmd::run(&cli.config, c),
        Command::Dev(args) => dev::run(args),
        Command::User(c) => accounts::finish(accounts::user(&cli.config, c)),
        Command::Domain(c) => accounts::finish(accounts::domain(&cli.config, c)),
        Command::Alias(c) => accounts::finish(accounts::alias(&cli.config, c)),
        Command::Quota(c) => accounts::finish(accounts::quota(&cli.config, c)),
        Command::Check(args) => doctor::run(&cli.config, args),
        Command::Dkim(c) => dkim::run(&cli.config, c),
        Command::Status { json } => status::run(&cli.config, json),
        Command::Queue(c) => queue::run(&cli.config, c),
        Command::Proxy(c) => proxy::run(&cli.config, c),
    }
}
