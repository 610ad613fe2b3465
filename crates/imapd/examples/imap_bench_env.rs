//! Prepares a ferrymail dev environment for the IMAP benchmarks (`bench/imap_bench.sh`,
//! `bench/imap_idle_many.sh`): `COUNT` users named by `PATTERN` (`{n}` = 1..=COUNT), imapd on the
//! given loopback ports, passwords allowed in plaintext from loopback (the shared bench scripts
//! LOGIN without STARTTLS, as they do against the reference Dovecot), and a per-user
//! connection limit of `PER_USER`. Passwords are stored `{PLAIN}` like the reference Dovecot's,
//! so login figures compare servers rather than Argon2id against no hashing.
//! Prints `CONFIG=…` and `MAIL_ROOT=…` for the shell.
//!
//! With `PROXY_PORT` (`bench/proxy_bench.sh`) the environment is also a one-host cluster: a
//! bench-only secret, the environment's certificate as the cluster CA, and proxyd's IMAP on
//! that loopback port in front of this imapd as its one backend, allowing the same plaintext
//! logins from loopback.
//!
//! Usage: imap_bench_env STATE_DIR IMAP_PORT IMAPS_PORT PATTERN COUNT PASSWORD PER_USER [PROXY_PORT]

use std::path::PathBuf;

use ferrymail_dev::{prepare, DevOptions, Ports};
use ferrymail_users::{PasswdEntry, PasswdFile, StoredPassword};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (args, proxy_port) = match args.as_slice() {
        [rest @ .., p] if args.len() == 8 => (rest, Some(p.clone())),
        all => (all, None),
    };
    let [state, imap, imaps, pattern, count, password, per_user] = args else {
        return Err(
            "usage: imap_bench_env STATE_DIR IMAP_PORT IMAPS_PORT PATTERN COUNT PASSWORD \
                    PER_USER [PROXY_PORT]"
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
    if let Some(p) = proxy_port {
        front_end(&mut env, port(imap)?, port(&p)?)?;
    }
    env.save_config()?;
    println!("CONFIG={}", env.config_path.display());
    println!("MAIL_ROOT={}", env.config.paths.mail_root.display());
    Ok(())
}

/// Makes the environment a one-host cluster with proxyd's IMAP on `proxy_port` in front of
/// imapd on `imap_port`.
fn front_end(
    env: &mut ferrymail_dev::DevEnv,
    imap_port: u16,
    proxy_port: u16,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let secret = env.state_dir.join("cluster-secret");
    std::fs::write(&secret, "bench-only-cluster-secret-0123456789abcdef")
        .and_then(|()| std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)))
        .map_err(|e| format!("{}: {e}", secret.display()))?;
    let c = &mut env.config;
    c.cluster.secret_file = Some(secret);
    c.cluster.trust_anchors = vec![c.tls.cert.clone()];
    c.proxy.listeners = vec![ferrymail_config::Listener {
        role: ferrymail_config::Role::Imap,
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], proxy_port)),
        name: None,
    }];
    c.proxy.backends = vec![ferrymail_config::ProxyBackend {
        name: "b1".into(),
        address: "127.0.0.1".into(),
        tls_name: "localhost".into(),
        imap: imap_port,
        pop3: 110,
        managesieve: 4190,
        lmtp: 24,
    }];
    c.proxy.limits.plaintext_auth_on_loopback = true;
    Ok(())
}
