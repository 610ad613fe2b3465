//! `mailctl check DOMAIN`: the mail doctor.
//!
//! Checks what usually goes wrong when someone runs their own mail — DNS (MX, A, PTR, SPF,
//! DMARC), the TLS certificate, the listening ports, and that the server is not an open relay —
//! and prints one line per finding: what is wrong, why it matters, and the exact record or
//! setting that fixes it. The checks are plain functions over lookup results so they can be
//! tested against a loopback DNS server with good and broken zones.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use ferrymail_config::{Config, Listener};
use ferrymail_net::dns::TokioResolver;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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
    /// Skip the network probes (ports, open relay); DNS and certificate checks only.
    #[arg(long)]
    pub no_probe: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
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
}

fn ok(check: &'static str, what: impl Into<String>) -> Finding {
    Finding {
        level: Level::Ok,
        check,
        what: what.into(),
        why: String::new(),
        fix: String::new(),
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
    }
}

/// Outcome of one DNS question, kept apart from the resolver so checks are pure functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Records(Vec<T>),
    /// NXDOMAIN or no records of this type.
    None,
    /// SERVFAIL, timeout, unreachable server.
    Failed(String),
}

/// The DNS facts the checks need.
struct Dns {
    r: TokioResolver,
}

impl Dns {
    async fn mx(&self, name: &str) -> Answer<(u16, String)> {
        match self.r.mx_lookup(fqdn(name)).await {
            Ok(l) => Answer::Records(ferrymail_net::dns::mx_records(&l)),
            Err(e) => classify(e),
        }
    }

    async fn ips(&self, name: &str) -> Answer<IpAddr> {
        match self.r.lookup_ip(fqdn(name)).await {
            Ok(l) => Answer::Records(l.iter().collect()),
            Err(e) => classify(e),
        }
    }

    async fn txt(&self, name: &str) -> Answer<String> {
        match self.r.txt_lookup(fqdn(name)).await {
            Ok(l) => Answer::Records(
                ferrymail_net::dns::txt_records(&l)
                    .iter()
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .collect(),
            ),
            Err(e) => classify(e),
        }
    }

    async fn ptr(&self, ip: IpAddr) -> Answer<String> {
        match self.r.reverse_lookup(ip).await {
            Ok(l) => Answer::Records(ferrymail_net::dns::ptr_names(&l)),
            Err(e) => classify(e),
        }
    }
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn trim_dot(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

fn classify<T>(e: ferrymail_net::dns::ResolveError) -> Answer<T> {
    if e.is_no_records_found() || e.is_nx_domain() {
        Answer::None
    } else {
        Answer::Failed(e.to_string())
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
                json!({
                    "level": format!("{:?}", f.level).to_lowercase(),
                    "check": f.check,
                    "what": f.what,
                    "why": f.why,
                    "fix": f.fix,
                })
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

fn render(f: &Finding) -> String {
    match f.level {
        Level::Ok => format!("ok      {:<6} {}", f.check, f.what),
        l => format!(
            "{:<7} {:<6} {} — {} — fix: {}",
            if l == Level::Error {
                "ERROR"
            } else {
                "WARNING"
            },
            f.check,
            f.what,
            f.why,
            f.fix
        ),
    }
}

pub async fn check(config: &Config, args: &CheckArgs) -> Result<Vec<Finding>, String> {
    let servers = if args.dns_servers.is_empty() {
        config.queue.dns_servers.clone()
    } else {
        args.dns_servers.clone()
    };
    let dns = Dns {
        r: ferrymail_net::dns::resolver(
            &servers,
            &ferrymail_net::dns::Options {
                timeout: Duration::from_secs(3),
                ..Default::default()
            },
        )
        .map_err(|e| format!("DNS resolver: {e}"))?,
    };
    let domain = trim_dot(&args.domain);
    let host = trim_dot(&config.hostname());
    let mut out = Vec::new();

    let mx = dns.mx(&domain).await;
    out.extend(check_mx(&domain, &host, &mx));
    let host_ips = dns.ips(&host).await;
    out.extend(check_host_address(&host, &host_ips));
    let host_ips = match host_ips {
        Answer::Records(v) => v,
        _ => Vec::new(),
    };
    if let Answer::Records(list) = &mx {
        for (_, exchange) in list.iter().filter(|(_, e)| !e.is_empty() && *e != host) {
            if let Answer::None = dns.ips(exchange).await {
                out.push(problem(
                    Level::Error,
                    "mx",
                    format!("MX host {exchange} has no address record"),
                    "senders cannot connect to an MX host without an A or AAAA record",
                    format!("{exchange}. 3600 IN A <its IP address>"),
                ));
            }
        }
    }
    for ip in &host_ips {
        let ptr = dns.ptr(*ip).await;
        out.push(check_ptr(&host, *ip, &ptr));
    }
    let txt = dns.txt(&domain).await;
    out.push(check_spf(&dns, &domain, &host_ips, &txt).await);
    let dmarc = dns.txt(&format!("_dmarc.{domain}")).await;
    out.push(check_dmarc(&domain, &dmarc));
    out.push(check_dkim(config, &dns, &domain).await);
    out.extend(check_certificate(config, &host, &mx));
    if !args.no_probe {
        out.extend(check_ports(config).await);
        if let Answer::Records(list) = &mx {
            out.extend(check_open_relay(config, &dns, list, args).await);
        }
    }
    Ok(out)
}

/// DKIM: the key queue-runner signs `domain` with, and whether DNS publishes exactly it.
async fn check_dkim(config: &Config, dns: &Dns, domain: &str) -> Finding {
    if !config.dkim.enabled {
        return ok(
            "dkim",
            "DKIM signing is off (dkim.enabled = false); nothing to check",
        );
    }
    let keygen = format!("mailctl dkim keygen {domain}");
    let Some((_, selector, path)) = config.dkim_keys().into_iter().find(|(d, _, _)| d == domain)
    else {
        return problem(
            Level::Warning,
            "dkim",
            format!("DKIM is on but no key is configured for {domain}"),
            "mail from this domain leaves unsigned; large providers file or refuse unsigned mail",
            keygen,
        );
    };
    let pair = match ferrymail_mailauth::SigningKeyPair::load(&path) {
        Ok(p) => p,
        Err(e) => {
            return problem(
                Level::Error,
                "dkim",
                format!("the DKIM key for {domain} is unusable: {e}"),
                "queue-runner cannot sign without it",
                format!("{keygen} --selector {selector}"),
            )
        }
    };
    let rec = pair.record(domain, &selector);
    let fix = rec.zone_line();
    let why = "receivers look the key up there; without the right key DKIM fails, and so does \
               DMARC unless SPF aligns";
    match dns.txt(&rec.name).await {
        Answer::Records(list) => {
            let results: Vec<_> = list
                .iter()
                .filter(|t| t.contains("p="))
                .map(|t| pair.check_record(t))
                .collect();
            if results.iter().any(|r| r.is_ok()) {
                ok(
                    "dkim",
                    format!(
                        "{} publishes the {} key queue-runner signs with",
                        rec.name, pair.algorithm
                    ),
                )
            } else if let Some(Err(e)) = results.into_iter().next() {
                problem(
                    Level::Error,
                    "dkim",
                    format!("{} does not match the signing key: {e}", rec.name),
                    why,
                    fix,
                )
            } else {
                problem(
                    Level::Error,
                    "dkim",
                    format!("{} has no DKIM key record", rec.name),
                    why,
                    fix,
                )
            }
        }
        Answer::None => problem(
            Level::Error,
            "dkim",
            format!("no DKIM record at {}", rec.name),
            why,
            fix,
        ),
        Answer::Failed(e) => problem(
            Level::Warning,
            "dkim",
            format!("could not look up {}: {e}", rec.name),
            "the DNS server did not answer; the record could not be checked",
            fix,
        ),
    }
}

pub fn check_mx(domain: &str, host: &str, mx: &Answer<(u16, String)>) -> Vec<Finding> {
    let fix = format!("{domain}. 3600 IN MX 10 {host}.");
    match mx {
        Answer::Failed(e) => vec![problem(
            Level::Error,
            "mx",
            format!("MX lookup for {domain} failed: {e}"),
            "senders that cannot look up your MX records will queue and eventually bounce mail",
            "check that the domain's name servers answer",
        )],
        Answer::None => vec![problem(
            Level::Error,
            "mx",
            format!("{domain} has no MX record"),
            "without MX, senders fall back to the domain's A record, which is usually not the mail server",
            fix,
        )],
        Answer::Records(list) if list.iter().any(|(_, e)| e.is_empty()) => vec![problem(
            Level::Error,
            "mx",
            format!("{domain} publishes a null MX (RFC 7505): it declares that it accepts no mail"),
            "every sender will bounce mail to this domain at once",
            format!("replace the `MX 0 .` record with: {fix}"),
        )],
        Answer::Records(list) => {
            let names: Vec<String> = list.iter().map(|(p, e)| format!("{p} {e}")).collect();
            if list.iter().any(|(_, e)| e == host) {
                vec![ok("mx", format!("{domain} MX: {}", names.join(", ")))]
            } else {
                vec![problem(
                    Level::Warning,
                    "mx",
                    format!(
                        "{domain} MX points at {} but this host is {host}",
                        names.join(", ")
                    ),
                    "mail for the domain goes to those hosts, not to this server",
                    fix,
                )]
            }
        }
    }
}

fn check_host_address(host: &str, ips: &Answer<IpAddr>) -> Vec<Finding> {
    match ips {
        Answer::Records(v) if !v.is_empty() => vec![ok(
            "a",
            format!(
                "{host} has address(es) {}",
                v.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )],
        Answer::Failed(e) => vec![problem(
            Level::Error,
            "a",
            format!("looking up {host} failed: {e}"),
            "other servers must resolve this host's name to connect to it",
            "check that the domain's name servers answer",
        )],
        _ => vec![problem(
            Level::Error,
            "a",
            format!("{host} (general.hostname) has no A/AAAA record"),
            "other servers must resolve this host's name to connect to it and to check its PTR",
            format!("{host}. 3600 IN A <this server's public IPv4 address>"),
        )],
    }
}

pub fn check_ptr(host: &str, ip: IpAddr, ptr: &Answer<String>) -> Finding {
    let fix =
        format!("ask whoever controls {ip} (your hosting provider) to set its PTR to {host}.");
    match ptr {
        Answer::Records(names) if names.iter().any(|n| n == host) => {
            ok("ptr", format!("{ip} reverses to {host}"))
        }
        Answer::Records(names) => problem(
            Level::Error,
            "ptr",
            format!("{ip} reverses to {}, not {host}", names.join(", ")),
            "receivers check forward-confirmed reverse DNS and often reject or junk mail from mismatched hosts",
            fix,
        ),
        Answer::None => problem(
            Level::Error,
            "ptr",
            format!("{ip} has no PTR record"),
            "many receivers reject mail from addresses without reverse DNS",
            fix,
        ),
        Answer::Failed(e) => problem(
            Level::Warning,
            "ptr",
            format!("reverse lookup of {ip} failed: {e}"),
            "receivers that cannot check reverse DNS may defer or reject mail",
            fix,
        ),
    }
}

/// SPF evaluation limited to what decides "does this record allow this host": ip4/ip6/a/mx/
/// include/redirect/all, with RFC 7208's limit of 10 DNS-querying terms.
async fn spf_allows(
    dns: &Dns,
    domain: &str,
    record: &str,
    ip: IpAddr,
    depth: &mut u32,
) -> Option<bool> {
    let mut redirect = None;
    for term in record.split_whitespace().skip(1) {
        let (qualifier, mech) = match term.chars().next() {
            Some(c @ ('+' | '-' | '~' | '?')) => (c, &term[1..]),
            _ => ('+', term),
        };
        let pass = qualifier == '+';
        let (name, arg) = match mech.split_once([':', '=']) {
            Some((n, a)) => (n.to_ascii_lowercase(), Some(a)),
            None => match mech.split_once('/') {
                Some((n, _)) => (n.to_ascii_lowercase(), None),
                None => (mech.to_ascii_lowercase(), None),
            },
        };
        let matched = match name.as_str() {
            "all" => true,
            "ip4" | "ip6" => arg.is_some_and(|a| cidr_contains(a, ip)),
            "a" | "mx" | "include" | "exists" => {
                *depth += 1;
                if *depth > 10 {
                    return None;
                }
                let target = arg
                    .map(|a| a.split('/').next().unwrap_or(a))
                    .unwrap_or(domain);
                match name.as_str() {
                    "a" => matches!(dns.ips(target).await, Answer::Records(v) if v.contains(&ip)),
                    "mx" => {
                        let mut hit = false;
                        if let Answer::Records(list) = dns.mx(target).await {
                            for (_, e) in list {
                                if let Answer::Records(v) = dns.ips(&e).await {
                                    hit |= v.contains(&ip);
                                }
                            }
                        }
                        hit
                    }
                    "include" => {
                        let Answer::Records(txts) = dns.txt(target).await else {
                            return None;
                        };
                        let rec = txts.into_iter().find(|t| is_spf(t))?;
                        Box::pin(spf_allows(dns, target, &rec, ip, depth)).await == Some(true)
                    }
                    _ => false,
                }
            }
            "redirect" => {
                redirect = arg.map(str::to_owned);
                false
            }
            _ => false,
        };
        if matched && name != "redirect" {
            return Some(pass);
        }
    }
    if let Some(target) = redirect {
        *depth += 1;
        let Answer::Records(txts) = dns.txt(&target).await else {
            return None;
        };
        let rec = txts.into_iter().find(|t| is_spf(t))?;
        return Box::pin(spf_allows(dns, &target, &rec, ip, depth)).await;
    }
    Some(false)
}

fn is_spf(t: &str) -> bool {
    let t = t.trim_start();
    t.len() >= 6
        && t[..6].eq_ignore_ascii_case("v=spf1")
        && (t.len() == 6 || t.as_bytes()[6] == b' ')
}

fn cidr_contains(spec: &str, ip: IpAddr) -> bool {
    let (addr, len) = match spec.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok()),
        None => (spec, None),
    };
    let Ok(net_ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let ip = ferrymail_config::canonical_ip(ip);
    let len = len.unwrap_or(if net_ip.is_ipv4() { 32 } else { 128 });
    match ipnet::IpNet::new(net_ip, len) {
        Ok(n) => n.contains(&ip),
        Err(_) => false,
    }
}

async fn check_spf(dns: &Dns, domain: &str, ips: &[IpAddr], txt: &Answer<String>) -> Finding {
    let suggestion = format!("{domain}. 3600 IN TXT \"v=spf1 mx -all\"");
    let records: Vec<&String> = match txt {
        Answer::Records(v) => v.iter().filter(|t| is_spf(t)).collect(),
        Answer::None => Vec::new(),
        Answer::Failed(e) => {
            return problem(
                Level::Warning,
                "spf",
                format!("TXT lookup for {domain} failed: {e}"),
                "receivers that cannot read SPF treat it as a temporary error",
                "check that the domain's name servers answer",
            )
        }
    };
    match records.as_slice() {
        [] => problem(
            Level::Error,
            "spf",
            format!("{domain} has no SPF record"),
            "receivers cannot tell which servers may send for the domain; mail is more likely to be junked",
            suggestion,
        ),
        [record] => {
            let mut denied = Vec::new();
            for ip in ips {
                let mut depth = 0;
                if spf_allows(dns, domain, record, *ip, &mut depth).await != Some(true) {
                    denied.push(*ip);
                }
            }
            if denied.is_empty() {
                ok("spf", format!("SPF allows this host: {record}"))
            } else {
                let extra: Vec<String> = denied
                    .iter()
                    .map(|ip| match ip {
                        IpAddr::V4(v) => format!("ip4:{v}"),
                        IpAddr::V6(v) => format!("ip6:{v}"),
                    })
                    .collect();
                let fixed = insert_before_all(record, &extra.join(" "));
                problem(
                    Level::Error,
                    "spf",
                    format!(
                        "SPF record `{record}` does not allow this host ({})",
                        denied.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                    ),
                    "receivers will see SPF fail for mail this server sends and may reject it",
                    format!("{domain}. 3600 IN TXT \"{fixed}\""),
                )
            }
        }
        many => problem(
            Level::Error,
            "spf",
            format!("{domain} has {} SPF records", many.len()),
            "RFC 7208 makes more than one SPF record a permanent error: SPF fails for every message",
            format!("merge them into one record, e.g. {suggestion}"),
        ),
    }
}

fn insert_before_all(record: &str, extra: &str) -> String {
    let mut terms: Vec<&str> = record.split_whitespace().collect();
    let pos = terms
        .iter()
        .position(|t| {
            t.trim_start_matches(['+', '-', '~', '?'])
                .eq_ignore_ascii_case("all")
        })
        .unwrap_or(terms.len());
    terms.insert(pos, extra);
    terms.join(" ")
}

pub fn check_dmarc(domain: &str, txt: &Answer<String>) -> Finding {
    let suggestion = format!(
        "_dmarc.{domain}. 3600 IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}\""
    );
    let records: Vec<&String> = match txt {
        Answer::Records(v) => v
            .iter()
            .filter(|t| t.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"))
            .collect(),
        Answer::None => Vec::new(),
        Answer::Failed(e) => {
            return problem(
                Level::Warning,
                "dmarc",
                format!("TXT lookup for _dmarc.{domain} failed: {e}"),
                "receivers cannot apply your DMARC policy",
                "check that the domain's name servers answer",
            )
        }
    };
    let [record] = records.as_slice() else {
        return if records.is_empty() {
            problem(
                Level::Warning,
                "dmarc",
                format!("{domain} has no DMARC record"),
                "large receivers (Gmail, Yahoo) require DMARC for bulk senders and others trust mail more with it",
                suggestion,
            )
        } else {
            problem(
                Level::Error,
                "dmarc",
                format!("{domain} has {} DMARC records", records.len()),
                "RFC 7489 §6.6.3: with more than one record, receivers apply no DMARC policy",
                format!("keep exactly one: {suggestion}"),
            )
        };
    };
    match parse_dmarc(record) {
        Ok(p) => ok("dmarc", format!("DMARC policy p={p}: {record}")),
        Err(reason) => problem(
            Level::Error,
            "dmarc",
            format!("DMARC record `{record}` is invalid: {reason}"),
            "receivers ignore an invalid DMARC record",
            suggestion,
        ),
    }
}

/// Validates a DMARC record (RFC 7489 §6.3); returns the policy.
pub fn parse_dmarc(record: &str) -> Result<String, String> {
    let mut tags = record.split(';').map(str::trim).filter(|t| !t.is_empty());
    match tags.next() {
        Some(t) if t.replace(' ', "").eq_ignore_ascii_case("v=DMARC1") => {}
        _ => return Err("it must start with v=DMARC1".into()),
    }
    let mut policy = None;
    for tag in tags {
        let (k, v) = tag
            .split_once('=')
            .ok_or_else(|| format!("tag `{tag}` has no value"))?;
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            "p" | "sp" => {
                let v = v.to_ascii_lowercase();
                if !matches!(v.as_str(), "none" | "quarantine" | "reject") {
                    return Err(format!("{k}={v} must be none, quarantine or reject"));
                }
                if k == "p" {
                    policy = Some(v);
                }
            }
            "pct" => match v.parse::<u32>() {
                Ok(n) if n <= 100 => {}
                _ => return Err(format!("pct={v} must be 0-100")),
            },
            "rua" | "ruf" => {
                for uri in v.split(',') {
                    let uri = uri.trim();
                    let addr = uri
                        .strip_prefix("mailto:")
                        .ok_or_else(|| format!("{k} URI `{uri}` must be a mailto: URI"))?;
                    if !addr.contains('@') {
                        return Err(format!("{k} address `{addr}` is not an address"));
                    }
                }
            }
            "adkim" | "aspf" => {
                if !matches!(v.to_ascii_lowercase().as_str(), "r" | "s") {
                    return Err(format!("{k}={v} must be r or s"));
                }
            }
            "fo" | "rf" | "ri" => {}
            other => return Err(format!("unknown tag `{other}`")),
        }
    }
    policy.ok_or_else(|| "the required p= tag is missing".into())
}

fn check_certificate(config: &Config, host: &str, mx: &Answer<(u16, String)>) -> Vec<Finding> {
    use x509_parser::prelude::*;
    let path = &config.tls.cert;
    let pem = match std::fs::read(path) {
        Ok(p) => p,
        Err(e) => {
            return vec![problem(
                Level::Error,
                "tls",
                format!("cannot read {}: {e}", path.display()),
                "without a certificate no client can use STARTTLS or the TLS ports",
                format!("install a certificate for {host} at tls.cert (e.g. from Let's Encrypt)"),
            )]
        }
    };
    let Some(Ok((_, pem))) = x509_parser::pem::Pem::iter_from_buffer(&pem)
        .next()
        .map(|r| r.map(|p| ((), p)))
    else {
        return vec![problem(
            Level::Error,
            "tls",
            format!("{} holds no PEM certificate", path.display()),
            "without a certificate no client can use STARTTLS or the TLS ports",
            format!("install a certificate for {host} at tls.cert"),
        )];
    };
    let cert = match pem.parse_x509() {
        Ok(c) => c,
        Err(e) => {
            return vec![problem(
                Level::Error,
                "tls",
                format!("{}: cannot parse the certificate: {e}", path.display()),
                "clients will fail the TLS handshake",
                format!("install a valid certificate for {host} at tls.cert"),
            )]
        }
    };
    let mut out = Vec::new();
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let covers = |name: &str| {
        names.iter().any(|n| {
            n == name
                || n.strip_prefix("*.")
                    .is_some_and(|base| name.split_once('.').is_some_and(|(_, rest)| rest == base))
        })
    };
    let mut wanted = vec![host.to_owned()];
    if let Answer::Records(list) = mx {
        for (_, e) in list {
            if e == host && !wanted.contains(e) {
                wanted.push(e.clone());
            }
        }
    }
    for name in &wanted {
        if covers(name) {
            out.push(ok("tls", format!("certificate covers {name}")));
        } else {
            out.push(problem(
                Level::Error,
                "tls",
                format!(
                    "the certificate ({}) does not cover {name}",
                    names.join(", ")
                ),
                "clients that verify certificates (and MTA-STS/DANE senders) will refuse TLS",
                format!("get a certificate whose names include {name} and set tls.cert/tls.key"),
            ));
        }
    }
    let not_after = cert.validity().not_after.timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = (not_after - now) / 86400;
    if not_after < now {
        out.push(problem(
            Level::Error,
            "tls",
            "the certificate has expired",
            "clients refuse expired certificates",
            "renew it and run `systemctl reload` (SIGHUP re-reads certificates)",
        ));
    } else if days < 14 {
        out.push(problem(
            Level::Warning,
            "tls",
            format!("the certificate expires in {days} day(s)"),
            "once it expires, clients refuse TLS",
            "renew it now and reload the daemons (SIGHUP)",
        ));
    } else {
        out.push(ok(
            "tls",
            format!("the certificate is valid for {days} more days"),
        ));
    }
    out
}

/// Where to reach a listener from this host: a wildcard bind is probed on loopback.
pub fn probe_addr(l: &Listener) -> SocketAddr {
    let mut a = l.listen;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        });
    }
    a
}

async fn check_ports(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let all = config
        .smtpd
        .listeners
        .iter()
        .chain(&config.imapd.listeners)
        .chain(&config.pop3d.listeners);
    for l in all {
        let addr = probe_addr(l);
        let r = tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
            .await;
        match r {
            Ok(Ok(_)) => out.push(ok("port", format!("{} answers on {}", l.role, l.listen))),
            _ => out.push(problem(
                Level::Error,
                "port",
                format!("nothing answers for {} on {}", l.role, l.listen),
                "clients and other servers cannot reach this service",
                format!("start the daemon for {} (see `mailctl status`) and open the port in the firewall", l.role),
            )),
        }
    }
    out
}

/// Tries to relay to a foreign domain through each MX host, from a client the server should not
/// trust. Stops at RCPT: no message is ever sent.
async fn check_open_relay(
    config: &Config,
    dns: &Dns,
    mx: &[(u16, String)],
    args: &CheckArgs,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (_, exchange) in mx.iter().filter(|(_, e)| !e.is_empty()) {
        let Answer::Records(ips) = dns.ips(exchange).await else {
            continue;
        };
        for ip in ips {
            let target = SocketAddr::new(ip, args.smtp_port);
            match relay_probe(target, args.source_addr).await {
                Ok((source, accepted, reply)) => {
                    if config.is_trusted(source) {
                        out.push(problem(
                            Level::Warning,
                            "relay",
                            format!(
                                "could not test {exchange} ({target}) from outside: this machine's address {source} is in general.trusted_networks"
                            ),
                            "trusted clients may relay by design, so the probe proves nothing",
                            "run `mailctl check` from another machine, or pass --source-addr with an untrusted address",
                        ));
                    } else if accepted {
                        out.push(problem(
                            Level::Error,
                            "relay",
                            format!("{exchange} ({target}) is an OPEN RELAY: it accepted a foreign recipient from {source}"),
                            "spammers will use it within hours and the server will be blocklisted",
                            "remove the client's network from general.trusted_networks; only authenticated users may relay",
                        ));
                    } else {
                        out.push(ok(
                            "relay",
                            format!("{exchange} ({target}) refuses to relay: {reply}"),
                        ));
                    }
                }
                Err(e) => out.push(problem(
                    Level::Warning,
                    "relay",
                    format!("could not run the relay probe against {target}: {e}"),
                    "the open-relay test did not run",
                    "make sure the MX host answers on port 25",
                )),
            }
        }
    }
    out
}

async fn relay_probe(
    target: SocketAddr,
    source: Option<IpAddr>,
) -> Result<(IpAddr, bool, String), String> {
    let sock = if target.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if let Some(src) = source {
        sock.bind(SocketAddr::new(src, 0))
            .map_err(|e| e.to_string())?;
    }
    let stream = tokio::time::timeout(Duration::from_secs(5), sock.connect(target))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let local = stream.local_addr().map_err(|e| e.to_string())?.ip();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    async fn reply(
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    ) -> Result<ferrymail_smtp::Reply, String> {
        let mut parser = ferrymail_smtp::ReplyParser::new(100);
        let mut line = String::new();
        for _ in 0..100 {
            line.clear();
            let n = tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
                .await
                .map_err(|_| "timeout".to_string())?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            if let Some(rep) = parser
                .feed_line(line.as_bytes())
                .map_err(|e| e.to_string())?
            {
                return Ok(rep);
            }
        }
        Err("reply too long".into())
    }
    let greeting = reply(&mut r).await?;
    if !greeting.is_positive() {
        return Err(format!("greeting: {greeting}"));
    }
    for cmd in [
        "EHLO relay-probe.invalid\r\n",
        "MAIL FROM:<relay-probe@relay-probe.invalid>\r\n",
    ] {
        w.write_all(cmd.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let rep = reply(&mut r).await?;
        if !rep.is_positive() {
            return Ok((local, false, rep.to_string()));
        }
    }
    w.write_all(b"RCPT TO:<relay-test@relay-target.example>\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let rep = reply(&mut r).await?;
    let _ = w.write_all(b"RSET\r\nQUIT\r\n").await;
    Ok((local, rep.is_positive(), rep.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmarc_syntax() {
        assert_eq!(
            parse_dmarc("v=DMARC1; p=reject; rua=mailto:d@a.test").unwrap(),
            "reject"
        );
        assert!(parse_dmarc("p=reject; v=DMARC1")
            .unwrap_err()
            .contains("start"));
        assert!(parse_dmarc("v=DMARC1; rua=mailto:x@a.test")
            .unwrap_err()
            .contains("p="));
        assert!(parse_dmarc("v=DMARC1; p=maybe")
            .unwrap_err()
            .contains("none, quarantine"));
        assert!(parse_dmarc("v=DMARC1; p=none; rua=http://x")
            .unwrap_err()
            .contains("mailto"));
        assert!(parse_dmarc("v=DMARC1; p=none; pct=150")
            .unwrap_err()
            .contains("pct"));
    }

    #[test]
    fn spf_helpers() {
        assert!(is_spf("v=spf1 -all"));
        assert!(!is_spf("v=spf10 -all"));
        assert!(cidr_contains("192.0.2.0/24", "192.0.2.9".parse().unwrap()));
        assert!(!cidr_contains("192.0.2.0/24", "192.0.3.9".parse().unwrap()));
        assert!(cidr_contains(
            "2001:db8::/32",
            "2001:db8::1".parse().unwrap()
        ));
        assert_eq!(
            insert_before_all("v=spf1 mx -all", "ip4:1.2.3.4"),
            "v=spf1 mx ip4:1.2.3.4 -all"
        );
        assert_eq!(
            insert_before_all("v=spf1 mx", "ip4:1.2.3.4"),
            "v=spf1 mx ip4:1.2.3.4"
        );
    }

    #[test]
    fn mx_findings() {
        let none = check_mx("a.test", "mail.a.test", &Answer::None);
        assert_eq!(none[0].level, Level::Error);
        assert_eq!(none[0].fix, "a.test. 3600 IN MX 10 mail.a.test.");
        let other = check_mx(
            "a.test",
            "mail.a.test",
            &Answer::Records(vec![(10, "mx.other.test".into())]),
        );
        assert_eq!(other[0].level, Level::Warning);
        let null = check_mx(
            "a.test",
            "mail.a.test",
            &Answer::Records(vec![(0, String::new())]),
        );
        assert!(null[0].what.contains("null MX"));
        let good = check_mx(
            "a.test",
            "mail.a.test",
            &Answer::Records(vec![(10, "mail.a.test".into())]),
        );
        assert_eq!(good[0].level, Level::Ok);
    }
}
