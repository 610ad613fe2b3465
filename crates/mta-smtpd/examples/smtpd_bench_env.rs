//! Writes a ferrymail environment for the acceptance benchmark (`bench/smtp_accept.sh`):
//! `smtpd_bench_env STATE_DIR SMTP_PORT` prepares domain `bench.test` with `user1@bench.test` ..
//! `user10@bench.test`, password `pass` (like the reference stack, so each benchmark can use its
//! own mailbox on both systems), SMTP on 127.0.0.1:SMTP_PORT, and prints the config path. With a
//! third argument METRICS_PORT, mta-smtpd, queue-runner and local-delivery serve `/metrics` on
//! 127.0.0.1 at METRICS_PORT, +1 and +2 (so a benchmark can count flushes per message). With
//! `BENCH_MILTER` set to a milter address (`inet:127.0.0.1:11332`), the MX role asks that milter
//! about every message, refusing mail when it cannot be reached (as the reference Postfix is
//! set up by bench/milter.sh).

use ferrymail_dev::{prepare, DevOptions, Ports};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: smtpd_bench_env STATE_DIR SMTP_PORT [METRICS_PORT]");
        std::process::exit(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("smtpd_bench_env: bad port {port}");
        std::process::exit(2);
    };
    let metrics = match args.next().map(|p| p.parse::<u16>()) {
        None => None,
        Some(Ok(p)) if p < u16::MAX - 2 => Some(p),
        Some(_) => {
            eprintln!("smtpd_bench_env: bad metrics port");
            std::process::exit(2);
        }
    };
    let mut opts = DevOptions::new(dir);
    opts.domain = "bench.test".into();
    opts.users = (1..=10)
        .map(|n| (format!("user{n}@bench.test"), "pass".to_string()))
        .collect();
    let free = Ports::free();
    opts.ports = Ports { smtp: port, ..free };
    let mut env = match prepare(&opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("smtpd_bench_env: {e}");
            std::process::exit(1);
        }
    };
    // The load generator opens 20 sessions from one address; loopback is trusted and exempt
    // from the per-address limit, as `mynetworks` is for the reference Postfix.
    env.config.log.level = "warn".into();
    if let Some(p) = metrics {
        let at = |p: u16| Some(std::net::SocketAddr::from(([127, 0, 0, 1], p)));
        env.config.smtpd.metrics_listen = at(p);
        env.config.queue.metrics_listen = at(p + 1);
        env.config.delivery.metrics_listen = at(p + 2);
    }
    if let Ok(address) = std::env::var("BENCH_MILTER") {
        env.config.smtpd.milters.push(ferrymail_config::Milter {
            name: "bench".into(),
            address,
            roles: vec![ferrymail_config::Role::Mx],
            connect_timeout: std::time::Duration::from_secs(30),
            command_timeout: std::time::Duration::from_secs(30),
            content_timeout: std::time::Duration::from_secs(300),
            default_action: ferrymail_config::MilterDefault::Tempfail,
            max_reply_size: 1 << 20,
        });
    }
    if let Err(e) = env.save_config() {
        eprintln!("smtpd_bench_env: {e}");
        std::process::exit(1);
    }
    println!("{}", env.config_path.display());
}
