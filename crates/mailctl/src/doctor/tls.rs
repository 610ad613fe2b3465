//! The TLS certificate the daemons serve: readable, parseable, naming this host, not about
//! to expire.

use ferrymail_config::Config;

use super::lookup::Answer;
use super::{ok, problem, Finding, Level};

pub(super) fn check_certificate(
    config: &Config,
    host: &str,
    mx: &Answer<(u16, String)>,
) -> Vec<Finding> {
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
    let names = dns_names(&cert);
    let covers = |name: &str| covers(&names, name);
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

/// The DNS names (subject alternative names) of a certificate, lower case.
pub(super) fn dns_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    cert.subject_alternative_name()
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
        .unwrap_or_default()
}

/// The DNS names of a DER certificate; `None` if it does not parse.
pub(super) fn dns_names_of(der: &[u8]) -> Option<Vec<String>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(dns_names(&cert))
}

/// Whether `names` cover the host `name`, as a verifying client decides (a wildcard stands
/// for exactly one leftmost label).
pub(super) fn covers(names: &[String], name: &str) -> bool {
    names.iter().any(|n| {
        n == name
            || n.strip_prefix("*.")
                .is_some_and(|base| name.split_once('.').is_some_and(|(_, rest)| rest == base))
    })
}
