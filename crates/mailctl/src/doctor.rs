//! `mailctl check DOMAIN`: the mail doctor.
//!
//! Checks what usually goes wrong when someone runs their own mail — DNS (MX, A, PTR, SPF,
//! DMARC), our addresses on the configured DNS blocklists, the TLS certificate, transport
//! security towards us (MTA-STS, DANE TLSA, TLS-RPT: [`transport`]), the listening ports, and
//! that the server is not an open relay — and prints one line per finding: what is wrong, why
//! it matters, and the exact record or setting that fixes it. The checks are plain
//! functions over lookup results ([`lookup`]) so they can be tested against a loopback DNS
//! server with good, broken and hostile zones.
//!
//! Everything it reads comes from servers it does not control (DNS answers, the MX hosts'
//! SMTP replies): nothing is cut at byte offsets, every read is bounded in size and time, and
//! the number of records acted on is capped, so a hostile zone yields findings, never a panic
//! or a hang.

mod auth;
mod blocklist;
mod dane;
mod host;
mod lookup;
mod mta_sts;
mod probe;
mod tls;
mod tlsrpt;
mod transport;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use ferrymail_config::Config;
use ferrymail_mailauth::SpfChecker;
use serde_json::json;

use lookup::{trim_dot, Answer, Dns};
pub use probe::probe_addr;

/// Per-attempt timeout of every DNS question (two attempts each).
const DNS_TIMEOUT: Duration = Duration::from_secs(3);
/// One SPF evaluation: up to ten DNS-querying terms, each with its retries.
const SPF_LIMIT: Duration = Duration::from_secs(10);
/// Most MX hosts whose addresses are checked, in preference order.
const MAX_MX_HOSTS: usize = 10;
/// Most of this host's addresses checked for PTR and SPF.
const MAX_HOST_ADDRESSES: usize = 16;

#[derive(Args)]
pub struct CheckArgs {
    /// The mail domain to check.
    pub domain: String,
    /// DNS server to ask instead of the configured/system ones (IP:PORT, repeatable).
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    pub dns_servers: Vec<SocketAddr>,
    /// Port for the open-relay probe against the MX hosts.
    #[arg(long, default_value_t = 25)]
    pub smtp_port: u16,
    /// Source address for the open-relay probe (an address the server does not trust).
    #[arg(long)]
    pub source_addr: Option<IpAddr>,
    /// Port of the MTA-STS policy host's HTTPS server (the policy is always fetched).
    #[arg(long, default_value_t = 443)]
    pub mta_sts_port: u16,
    /// Skip the network probes (ports, open relay); DNS, certificate and MTA-STS policy
    /// checks only.
    #[arg(long)]
    pub no_probe: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    /// Not wrong, but worth doing (a protection not set up, a policy still in testing).
    Notice,
    Warning,
    Error,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub check: &'static str,
    pub what: String,
    pub why: String,
    pub fix: String,
    /// Zone-file lines to publish, when the fix is more than one record.
    pub records: Vec<String>,
}

fn ok(check: &'static str, what: impl Into<String>) -> Finding {
    Finding {
        level: Level::Ok,
        check,
        what: what.into(),
        why: String::new(),
        fix: String::new(),
        records: Vec::new(),
    }
}

fn problem(
    level: Level,
    check: &'static str,
    what: impl Into<String>,
    why: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        level,
        check,
        what: what.into(),
        why: why.into(),
        fix: fix.into(),
        records: Vec::new(),
    }
}

pub fn run(config_path: &std::path::Path, args: CheckArgs) -> std::process::ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailctl: {e}");
            return std::process::ExitCode::from(78);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailctl: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let findings = match rt.block_on(check(&config, &args)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mailctl check: {e}");
            return std::process::ExitCode::from(75);
        }
    };
    if args.json {
        let v: Vec<_> = findings
            .iter()
            .map(|f| {
                let mut v = json!({
                    "level": format!("{:?}", f.level).to_lowercase(),
                    "check": f.check,
                    "what": f.what,
                    "why": f.why,
                    "fix": f.fix,
                });
                if !f.records.is_empty() {
                    v["records"] = json!(f.records);
                }
                v
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        for f in &findings {
            println!("{}", render(f));
        }
    }
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    let warnings = findings
        .iter()
        .filter(|f| f.level == Level::Warning)
        .count();
    if !args.json {
        println!("{} error(s), {} warning(s)", errors, warnings);
    }
    if errors > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

/// One finding as terminal lines (the first, then any records to publish, indented).
/// Findings quote DNS records and servers' replies, so control characters are shown escaped:
/// a record must not be able to drive the terminal.
fn render(f: &Finding) -> String {
    let (what, why, fix) = (printable(&f.what), printable(&f.why), printable(&f.fix));
    let mut out = match f.level {
        Level::Ok => format!("ok      {:<6} {what}", f.check),
        l => format!(
            "{:<7} {:<6} {what} — {why} — fix: {fix}",
            match l {
                Level::Error => "ERROR",
                Level::Warning => "WARNING",
                _ => "NOTICE",
            },
            f.check,
        ),
    };
    for r in &f.records {
        out.push_str("\n        ");
        out.push_str(&printable(r));
    }
    out
}

fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub async fn check(config: &Config, args: &CheckArgs) -> Result<Vec<Finding>, String> {
    let servers = if args.dns_servers.is_empty() {
        config.queue.dns_servers.clone()
    } else {
        args.dns_servers.clone()
    };
    let dns = Dns::new(&servers, DNS_TIMEOUT)?;
    let spf = SpfChecker::new(&servers, DNS_TIMEOUT, SPF_LIMIT).map_err(|e| e.to_string())?;
    let domain = trim_dot(&args.domain);
    let host = trim_dot(&config.hostname());
    let mut out = Vec::new();

    let mut mx = dns.mx(&domain).await;
    if let Answer::Records(list) = &mut mx {
        list.sort();
    }
    out.extend(host::check_mx(&domain, &host, &mx));
    let host_ips = dns.ips(&host).await;
    out.extend(host::check_host_address(&host, &host_ips));
    let host_ips = match host_ips {
        Answer::Records(mut v) => {
            v.truncate(MAX_HOST_ADDRESSES);
            v
        }
        _ => Vec::new(),
    };
    let mx_hosts: Vec<(u16, String)> = match &mx {
        Answer::Records(list) => list.iter().take(MAX_MX_HOSTS).cloned().collect(),
        _ => Vec::new(),
    };
    // The MX hosts that are this host: by name, or by one of its addresses.
    let mut ours: Vec<String> = Vec::new();
    for (_, exchange) in mx_hosts.iter().filter(|(_, e)| !e.is_empty()) {
        if *exchange == host {
            ours.push(exchange.clone());
            continue;
        }
        match dns.ips(exchange).await {
            Answer::None => out.push(problem(
                Level::Error,
                "mx",
                format!("MX host {exchange} has no address record"),
                "senders cannot connect to an MX host without an A or AAAA record",
                format!("{exchange}. 3600 IN A <its IP address>"),
            )),
            Answer::Records(ips) if ips.iter().any(|ip| host_ips.contains(ip)) => {
                ours.push(exchange.clone())
            }
            _ => {}
        }
    }
    for ip in &host_ips {
        let ptr = dns.ptr(*ip).await;
        out.push(host::check_ptr(&host, *ip, &ptr));
    }
    let txt = dns.txt(&domain).await;
    out.push(auth::check_spf(&spf, &domain, &host, &host_ips, &txt).await);
    let dmarc = dns.txt(&format!("_dmarc.{domain}")).await;
    out.push(auth::check_dmarc(&domain, &dmarc));
    out.push(auth::check_dkim(config, &dns, &domain).await);
    if config.smtpd.screen.dnsbl_enabled() {
        let timeout = config.smtpd.screen.dnsbl_timeout;
        out.extend(blocklist::check_blocklists(config, dns.resolver(), &host_ips, timeout).await);
    }
    out.extend(tls::check_certificate(config, &host, &mx));
    // A null MX declares that the domain takes no mail: nothing to secure.
    if !mx_hosts.iter().any(|(_, e)| e.is_empty()) {
        let mx_names: Vec<String> = mx_hosts.iter().map(|(_, e)| e.clone()).collect();
        let chain = ferrymail_net::tls::load_certs(&config.tls.cert).unwrap_or_default();
        let t = transport::Transport {
            domain: &domain,
            servers: &servers,
            host: &host,
            mx: &mx_names,
            ours: &ours,
            chain: &chain,
        };
        out.extend(transport::check(config, &dns, &t, args.mta_sts_port).await);
    }
    if !args.no_probe {
        out.extend(probe::check_ports(config).await);
        out.extend(probe::check_open_relay(config, &dns, &mx_hosts, args).await);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_lines_escape_control_characters() {
        let f = problem(
            Level::Error,
            "spf",
            "record `v=spf1 \u{1b}[2J\r\n-all`",
            "why",
            "fix\u{7}",
        );
        let line = render(&f);
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        assert!(line.contains(r"\u{1b}[2J\r\n-all"), "{line}");
        assert!(line.ends_with(r"fix\u{7}"), "{line}");
        assert_eq!(render(&ok("mx", "fine é")), "ok      mx     fine é");
        let mut block = problem(Level::Notice, "publish", "records", "why", "below");
        block.records = vec!["a. IN TXT \"x\"".into(), "b\u{1b}".into()];
        assert_eq!(
            render(&block),
            "NOTICE  publish records — why — fix: below\n        a. IN TXT \"x\"\n        b\\u{1b}"
        );
    }
}
