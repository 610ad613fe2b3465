//! Prepares a ferrymail dev environment for the POP3 benchmark (`bench/pop3_bench.sh`):
//! one user, pop3d on the given loopback ports, passwords allowed in plaintext from
//! loopback (the shared bench script logs in with USER/PASS and no STLS, as it does against
//! the reference Dovecot). Prints `CONFIG=…` and `MAILDIR=…` for the shell.
//!
//! Usage: bench_env STATE_DIR POP3_PORT POP3S_PORT LOGIN PASSWORD

use std::path::PathBuf;

use ferrymail_dev::{prepare, DevOptions, Ports};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [state, pop3, pop3s, login, password] = args.as_slice() else {
        return Err("usage: bench_env STATE_DIR POP3_PORT POP3S_PORT LOGIN PASSWORD".into());
    };
    let port = |p: &str| p.parse::<u16>().map_err(|e| format!("port {p}: {e}"));
    let mut opts = DevOptions::new(PathBuf::from(state));
    opts.domain = login
        .split_once('@')
        .map(|(_, d)| d.to_owned())
        .ok_or("LOGIN must be user@domain")?;
    opts.users = vec![(login.clone(), password.clone())];
    // Ports nobody else uses for the services this bench does not start.
    let free = Ports::free();
    opts.ports = Ports {
        pop3: port(pop3)?,
        pop3s: port(pop3s)?,
        ..free
    };
    let mut env = prepare(&opts)?;
    // The reference Dovecot stores `{PLAIN}pass`; storing the bench user the same way makes
    // the login figure compare servers rather than Argon2id (64 MiB) against no hashing.
    let mut pf = ferrymail_users::PasswdFile::load(&env.config.userdb.passwd_file)
        .map_err(|e| e.to_string())?;
    let plain = ferrymail_users::StoredPassword::parse(&format!("{{PLAIN}}{password}"))
        .map_err(|e| e.to_string())?;
    pf.set_password(login, Some(plain))
        .map_err(|e| e.to_string())?;
    pf.save().map_err(|e| e.to_string())?;
    env.config.pop3d.limits.plaintext_auth_on_loopback = true;
    env.save_config()?;
    let maildir = env.maildir(login).ok_or("LOGIN must be user@domain")?;
    ferrymail_maildir::Maildir::create(&maildir).map_err(|e| e.to_string())?;
    println!("CONFIG={}", env.config_path.display());
    println!("MAILDIR={}", maildir.display());
    Ok(())
}
