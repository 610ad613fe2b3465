//! Prepares a ferrymail dev environment for the IMAP benchmarks (`bench/imap_bench.sh`,
//! `bench/imap_idle_many.sh`): `COUNT` users named by `PATTERN` (`{n}` = 1..=COUNT), imapd on the
//! given loopback ports, passwords allowed in plaintext from loopback (the shared bench scripts
//! LOGIN without STARTTLS, as they do against the reference Dovecot), and a per-user
//! connection limit of `PER_USER`. Passwords are stored `{PLAIN}` like the reference Dovecot's,
//! so login figures compare servers rather than Argon2id against no hashing.
//! Prints `CONFIG=…` and `MAIL_ROOT=…` for the shell.
//!
//! Usage: imap_bench_env STATE_DIR IMAP_PORT IMAPS_PORT PATTERN COUNT PASSWORD PER_USER

use std::path::PathBuf;

use ferrymail_dev::{prepare, DevOptions, Ports};
use ferrymail_users::{PasswdEntry, PasswdFile, StoredPassword};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [state, imap, imaps, pattern, count, password, per_user] = args.as_slice() else {
        return Err(
            "usage: imap_bench_env STATE_DIR IMAP_PORT IMAPS_PORT PATTERN COUNT PASSWORD PER_USER"
                .into(),
        );
    };
    let num = |p: &str| p.parse::<usize>().map_err(|e| format!("{p}: {e}"));
    let port = |p: &str| p.parse::<u16>().map_err(|e| format!("port {p}: {e}"));
    let count = num(count)?.max(1);
    let login = |n: usize| pattern.replace("{n}", &n.to_string());
    let first = login(1);
    let mut opts = DevOptions::new(PathBuf::from(state));
    opts.domain = first
        .split_once('@')
        .map(|(_, d)| d.to_owned())
        .ok_or("PATTERN must be user@domain")?;
    opts.users = vec![(first.clone(), password.clone())];
    let free = Ports::free();
    opts.ports = Ports {
        imap: port(imap)?,
        imaps: port(imaps)?,
        ..free
    };
    let mut env = prepare(&opts)?;
    let mut pf = PasswdFile::load(&env.config.userdb.passwd_file).map_err(|e| e.to_string())?;
    let plain =
        || StoredPassword::parse(&format!("{{PLAIN}}{password}")).map_err(|e| e.to_string());
    pf.set_password(&first, Some(plain()?))
        .map_err(|e| e.to_string())?;
    for n in 2..=count {
        let entry = PasswdEntry::new(&login(n), Some(plain()?)).map_err(|e| e.to_string())?;
        pf.add(entry).map_err(|e| e.to_string())?;
    }
    pf.save().map_err(|e| e.to_string())?;
    env.config.imapd.limits.plaintext_auth_on_loopback = true;
    env.config.imapd.max_connections_per_user = num(per_user)?;
    env.save_config()?;
    println!("CONFIG={}", env.config_path.display());
    println!("MAIL_ROOT={}", env.config.paths.mail_root.display());
    Ok(())
}
