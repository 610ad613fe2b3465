//! The domain's sender-authentication records: SPF (does it allow this host?), DMARC (is the
//! record valid, which policy?) and DKIM (is the key queue-runner signs with published?).
//!
//! TXT data arrives as bytes from servers we do not control. SPF records are recognised on
//! the bytes and evaluated by mail-auth through `ferrymail_mailauth::SpfChecker`, the same
//! evaluator inbound mail meets; text for messages and for the DMARC/DKIM parsers is decoded
//! lossily and only ever split on characters, never cut at byte offsets.

use std::net::IpAddr;
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_mailauth::{is_spf_record, SpfChecker, Verdict};

use super::lookup::{Answer, Dns};
use super::{ok, problem, Finding, Level};

/// All of this host's addresses together get this long for their SPF verdicts.
const SPF_BUDGET: Duration = Duration::from_secs(20);

/// DKIM: the key queue-runner signs `domain` with, and whether DNS publishes exactly it.
pub(super) async fn check_dkim(config: &Config, dns: &Dns, domain: &str) -> Finding {
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
                .map(|t| String::from_utf8_lossy(t))
                .filter(|t| t.contains("p="))
                .map(|t| pair.check_record(&t))
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

/// SPF: exactly one record, and its verdict for each of this host's addresses (as `helo`,
/// its name) is `pass`.
pub(super) async fn check_spf(
    spf: &SpfChecker,
    domain: &str,
    host: &str,
    ips: &[IpAddr],
    txt: &Answer<Vec<u8>>,
) -> Finding {
    let suggestion = format!("{domain}. 3600 IN TXT \"v=spf1 mx -all\"");
    let records: Vec<&Vec<u8>> = match txt {
        Answer::Records(v) => v.iter().filter(|t| is_spf_record(t)).collect(),
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
    let record = match records.as_slice() {
        [] => {
            return problem(
                Level::Error,
                "spf",
                format!("{domain} has no SPF record"),
                "receivers cannot tell which servers may send for the domain; mail is more likely to be junked",
                suggestion,
            )
        }
        [record] => String::from_utf8_lossy(record),
        many => {
            return problem(
                Level::Error,
                "spf",
                format!("{domain} has {} SPF records", many.len()),
                "RFC 7208 makes more than one SPF record a permanent error: SPF fails for every message",
                format!("merge them into one record, e.g. {suggestion}"),
            )
        }
    };
    if ips.is_empty() {
        return ok(
            "spf",
            format!("SPF record: {record} (not evaluated: this host has no address)"),
        );
    }
    let deadline = tokio::time::Instant::now() + SPF_BUDGET;
    let mut verdicts = Vec::new();
    for ip in ips {
        let ip = ferrymail_config::canonical_ip(*ip);
        let v = tokio::time::timeout_at(deadline, spf.check_host(ip, host, domain))
            .await
            .unwrap_or(Verdict::TempError);
        verdicts.push((ip, v));
    }
    let has = |want: Verdict| verdicts.iter().any(|(_, v)| *v == want);
    if has(Verdict::PermError) {
        return problem(
            Level::Error,
            "spf",
            format!("SPF record `{record}` is invalid: its evaluation is a permerror"),
            "receivers treat a broken SPF record as failing SPF for every message",
            format!(
                "fix its syntax and keep it (with its include: and redirect= targets) within 10 DNS lookups, e.g. {suggestion}"
            ),
        );
    }
    if has(Verdict::TempError) {
        return problem(
            Level::Warning,
            "spf",
            format!("SPF record `{record}` could not be evaluated: DNS lookups failed or timed out (temperror)"),
            "receivers meeting the same errors defer the mail or accept it without SPF",
            format!("check that the name servers of {domain} and of every include: target answer"),
        );
    }
    let denied: Vec<(IpAddr, Verdict)> = verdicts
        .into_iter()
        .filter(|(_, v)| *v != Verdict::Pass)
        .collect();
    if denied.is_empty() {
        return ok("spf", format!("SPF allows this host: {record}"));
    }
    let extra: Vec<String> = denied
        .iter()
        .map(|(ip, _)| match ip {
            IpAddr::V4(v) => format!("ip4:{v}"),
            IpAddr::V6(v) => format!("ip6:{v}"),
        })
        .collect();
    let fixed = insert_before_all(&record, &extra.join(" "));
    problem(
        Level::Error,
        "spf",
        format!(
            "SPF record `{record}` does not allow this host ({}): {}",
            denied
                .iter()
                .map(|(ip, _)| ip.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            denied
                .iter()
                .map(|(ip, v)| format!("{ip} gets {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "receivers will see SPF fail for mail this server sends and may reject it",
        format!("{domain}. 3600 IN TXT \"{fixed}\""),
    )
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

pub(super) fn check_dmarc(domain: &str, txt: &Answer<Vec<u8>>) -> Finding {
    let suggestion = format!(
        "_dmarc.{domain}. 3600 IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}\""
    );
    let records: Vec<String> = match txt {
        Answer::Records(v) => v
            .iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
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
pub(super) fn parse_dmarc(record: &str) -> Result<String, String> {
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
    fn fixed_spf_record_adds_terms_before_all() {
        assert_eq!(
            insert_before_all("v=spf1 mx -all", "ip4:1.2.3.4"),
            "v=spf1 mx ip4:1.2.3.4 -all"
        );
        assert_eq!(
            insert_before_all("v=spf1 mx", "ip4:1.2.3.4"),
            "v=spf1 mx ip4:1.2.3.4"
        );
        assert_eq!(
            insert_before_all("v=spf1 ?ALL", "ip6:2001:db8::1"),
            "v=spf1 ip6:2001:db8::1 ?ALL"
        );
    }
}
