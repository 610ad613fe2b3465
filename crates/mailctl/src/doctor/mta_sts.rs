//! MTA-STS (RFC 8461) of the domain as an enforcing sender sees it: the `_mta-sts` TXT
//! record, the policy fetched over HTTPS with the certificate checked like queue-runner
//! checks it (system roots plus `queue.tls_trust_anchors`), every MX host matched by the
//! policy, and our certificate naming the MX hosts that are this host. Record, policy and
//! fetch are `ferrymail_mta_sts`'s, the code queue-runner applies other domains' policies with.

use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Config;
use ferrymail_mta_sts::fetch::{fetch, policy_host};
use ferrymail_mta_sts::{parse_records, Mode, Policy, RecordError};
use tokio_rustls::TlsConnector;

use super::lookup::Dns;
use super::tls::{covers, dns_names_of};
use super::transport::Transport;
use super::{ok, problem, Finding, Level};

/// Longest policy fetch, whatever `queue.mta_sts.fetch_timeout` allows a delivery.
const FETCH_LIMIT: Duration = Duration::from_secs(15);
/// Below this `max_age` a policy barely outlasts an attacker blocking its refresh.
const MIN_MAX_AGE: u64 = 86_400;

const CHECK: &str = "mta-sts";

pub(super) async fn check(
    config: &Config,
    dns: &Dns,
    t: &Transport<'_>,
    https_port: u16,
) -> Vec<Finding> {
    let d = t.domain;
    let name = format!("_mta-sts.{d}");
    let url = format!("https://{}/.well-known/mta-sts.txt", policy_host(d));
    let txts = match dns.txt_text(&name).await {
        Ok(t) => t,
        Err(e) => {
            return vec![problem(
                Level::Warning,
                CHECK,
                format!("looking up {name} TXT failed: {e}"),
                "senders that cannot read the record apply no MTA-STS policy",
                "check that the domain's name servers answer",
            )]
        }
    };
    let record = match parse_records(&txts) {
        Ok(r) => r,
        Err(RecordError::None) => {
            return vec![problem(
                Level::Notice,
                CHECK,
                format!("{d} publishes no MTA-STS policy ({name} TXT)"),
                "without MTA-STS (or DANE) senders use TLS to you only opportunistically: \
                 an attacker on the path can strip STARTTLS or impersonate your MX",
                "publish the records listed under `publish`",
            )]
        }
        Err(e) => {
            return vec![problem(
                Level::Warning,
                CHECK,
                format!("{name}: {e}"),
                "senders ignore the record and apply no policy",
                format!("publish exactly one record: {name}. IN TXT \"v=STSv1; id=<new id>\""),
            )]
        }
    };
    let policy = match fetch_policy(config, dns, d, https_port).await {
        Ok(p) => p,
        Err(e) => {
            return vec![problem(
                Level::Error,
                CHECK,
                format!("{name} announces policy {} but {url}: {e}", record.id),
                "new senders apply no policy, and those that cached one keep enforcing it \
                 until its max_age runs out, whatever your MX hosts now are",
                format!(
                    "serve the policy at {url} (Content-Type: text/plain) with a certificate \
                     for {} from a public CA",
                    policy_host(d)
                ),
            )]
        }
    };
    let mut out = vec![ok(
        CHECK,
        format!(
            "policy {} from {url}: mode {}, max_age {}, mx {}",
            record.id,
            policy.mode.as_str(),
            policy.max_age,
            policy.mx.join(", ")
        ),
    )];
    match policy.mode {
        Mode::Enforce => {}
        Mode::Testing => out.push(problem(
            Level::Notice,
            CHECK,
            format!("the policy of {d} is in mode testing"),
            "senders report failures (TLS-RPT) but still deliver without authenticated TLS",
            "once reports show no failures, set `mode: enforce` and change the id",
        )),
        Mode::None => out.push(problem(
            Level::Notice,
            CHECK,
            format!("the policy of {d} is in mode none (withdrawn)"),
            "senders apply no policy",
            "set `mode: enforce` and change the id, or remove the records",
        )),
    }
    if policy.max_age < MIN_MAX_AGE {
        out.push(problem(
            Level::Warning,
            CHECK,
            format!("the policy's max_age is {} seconds", policy.max_age),
            "a policy cached for less than a day lapses whenever an attacker blocks its \
             refresh (RFC 8461 recommends weeks)",
            format!(
                "max_age: {} and change the id",
                super::transport::RECOMMENDED_MAX_AGE
            ),
        ));
    }
    if policy.mode != Mode::None {
        out.extend(check_mx(&policy, t, &name));
    }
    out
}

/// The policy covers every MX host, and our certificate names those that are us.
fn check_mx(policy: &Policy, t: &Transport<'_>, name: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for mx in t.mx.iter().filter(|m| !policy.allows_mx(m)) {
        out.push(problem(
            Level::Error,
            CHECK,
            format!(
                "MX host {mx} is not matched by the policy's mx patterns ({})",
                policy.mx.join(", ")
            ),
            "senders enforcing the policy will not deliver to it",
            format!("add `mx: {mx}` to the policy file and change the id in {name}"),
        ));
    }
    let names = t.chain.first().and_then(|c| dns_names_of(c));
    for mx in t.ours {
        match &names {
            Some(n) if covers(n, mx) => {}
            Some(n) => out.push(problem(
                Level::Error,
                CHECK,
                format!(
                    "the certificate at tls.cert ({}) does not name MX host {mx}",
                    n.join(", ")
                ),
                "senders enforcing MTA-STS refuse a certificate that does not name the MX host",
                format!("get a certificate whose names include {mx} and set tls.cert/tls.key"),
            )),
            // Unreadable or unparsable: the tls check says so.
            None => {}
        }
    }
    out
}

async fn fetch_policy(
    config: &Config,
    dns: &Dns,
    domain: &str,
    https_port: u16,
) -> Result<Policy, String> {
    let tls = ferrymail_net::tls_client::verifying_config(&config.queue.tls_trust_anchors)
        .map_err(|e| format!("TLS client (queue.tls_trust_anchors): {e}"))?;
    let c = &config.queue.mta_sts;
    let body = fetch(
        dns.resolver(),
        &TlsConnector::from(Arc::new(tls)),
        domain,
        https_port,
        c.fetch_timeout.min(FETCH_LIMIT),
        c.max_policy_size,
    )
    .await
    .map_err(|e| e.to_string())?;
    Policy::parse(&body).map_err(|e| e.to_string())
}
