//! `mailctl proxy …`: the front end's routing. `backends` and `where` ask proxyd over its
//! control socket; `move` and `unmove` rewrite the overrides in `proxy.routes_file` and then
//! ask proxyd to re-read them and close the user's sessions, so that the clients reconnect
//! to the new backend (proxyd also re-reads the file by itself when it changes).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use ferrymail_config::Config;
use ferrymail_queue_control::format_arrival;
use proxyd::control::{self, Request, Response};
use proxyd::routes_file;

#[derive(Subcommand)]
pub enum ProxyCmd {
    /// Each backend: address, up or down and since when, failed checks in a row, open
    /// sessions.
    Backends {
        #[arg(long)]
        json: bool,
    },
    /// The backend a user's next session goes to, why (hash, override, sticky), and the
    /// user's open sessions.
    Where {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Route a user to a backend from now on; the user's open sessions are closed.
    Move { user: String, backend: String },
    /// Remove a user's override: back to the hashed backend (open sessions are closed).
    Unmove { user: String },
}

const EX_DATAERR: u8 = 65;
const EX_UNAVAILABLE: u8 = 69;
const EX_CANTCREAT: u8 = 73;
const EX_CONFIG: u8 = 78;

pub fn run(config_path: &Path, cmd: ProxyCmd) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailctl: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    match cmd {
        ProxyCmd::Backends { json } => ask(&config, &Request::Backends, |r| {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r.backends).unwrap_or_default()
                );
                return;
            }
            println!(
                "{:<12} {:<24} {:<5} {:<20} {:>8} {:>8}",
                "BACKEND", "ADDRESS", "STATE", "SINCE", "FAILURES", "SESSIONS"
            );
            for b in &r.backends {
                let state = if b.up { "up" } else { "down" };
                println!(
                    "{:<12} {:<24} {:<5} {:<20} {:>8} {:>8}",
                    b.name,
                    b.address,
                    state,
                    format_arrival(b.since),
                    b.failures,
                    b.sessions
                );
            }
        }),
        ProxyCmd::Where { user, json } => ask(&config, &Request::Where { user }, |r| {
            let Some(p) = &r.placement else { return };
            if json {
                println!("{}", serde_json::to_string_pretty(p).unwrap_or_default());
                return;
            }
            let why = p.why.map(|w| format!("{w:?}").to_lowercase());
            match (&p.backend, why) {
                (Some(b), Some(why)) => println!("{}: {b} ({why})", p.user),
                _ => println!("{}: no backend available", p.user),
            }
            if let Some(o) = &p.override_backend {
                println!("override: {o}");
            }
            println!("open sessions: {}", p.sessions);
        }),
        ProxyCmd::Move { user, backend } => {
            if !config.proxy.backends.iter().any(|b| b.name == backend) {
                eprintln!("mailctl: no backend `{backend}` in proxy.backends");
                return ExitCode::from(EX_DATAERR);
            }
            rewrite(&config, &user, Some(backend))
        }
        ProxyCmd::Unmove { user } => rewrite(&config, &user, None),
    }
}

/// Sends `req` and prints the answer with `show`.
fn ask(config: &Config, req: &Request, show: impl FnOnce(&Response)) -> ExitCode {
    let socket = config.run_path(&config.proxy.control_socket);
    match control::request(&socket, req, Duration::from_secs(30)) {
        Ok(r) if r.ok => {
            show(&r);
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("mailctl: {}", r.message);
            ExitCode::from(EX_DATAERR)
        }
        Err(e) => {
            eprintln!("mailctl: {e}");
            ExitCode::from(EX_UNAVAILABLE)
        }
    }
}

/// Sets (or removes) the user's override, then tells proxyd.
fn rewrite(config: &Config, user: &str, backend: Option<String>) -> ExitCode {
    let path = &config.proxy.routes_file;
    let key = ferrymail_users::login_key(user);
    let mut routes = match routes_file::read(path, ferrymail_users::login_key) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mailctl: {e}");
            return ExitCode::from(EX_DATAERR);
        }
    };
    let changed = match &backend {
        Some(b) => routes.insert(key.clone(), b.clone()).as_ref() != Some(b),
        None => routes.remove(&key).is_some(),
    };
    if changed {
        if let Err(e) = routes_file::write(path, &routes) {
            eprintln!("mailctl: {e}");
            return ExitCode::from(EX_CANTCREAT);
        }
    }
    match &backend {
        Some(b) => println!("{key}: routed to {b}"),
        None => println!("{key}: override removed"),
    }
    let socket = config.run_path(&config.proxy.control_socket);
    match control::request(
        &socket,
        &Request::Moved { user: key },
        Duration::from_secs(30),
    ) {
        Ok(r) => println!("{}", r.message),
        // The file is re-read when it changes; only the open sessions stay where they are.
        Err(e) => eprintln!("mailctl: {e}; proxyd will pick the change up from the file"),
    }
    ExitCode::SUCCESS
}
