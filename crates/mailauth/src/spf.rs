//! SPF outside a mail transaction: "does `domain`'s SPF policy let `ip` send for it?", which
//! `mailctl check` asks about its own host's addresses before any receiver does.
//!
//! The evaluation is mail-auth's `check_host()` (RFC 7208 §4), the one inbound verification
//! uses, over a resolver built by [`crate::dns::authenticator`]; several SPF records are a
//! permerror here as they are there (RFC 7208 §4.5; mail-auth alone would take the first), and
//! so is one SPF record that does not parse, whatever other TXT records sit beside it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_auth::spf::verify::SpfParameters;
use mail_auth::MessageAuthenticator;

use crate::dns::{authenticator, ResolverError};
use crate::verify::{spf_verdict, Verdict};

/// Whether a TXT record's text (its character-strings joined) is an SPF record: `v=spf1`,
/// in any case, followed by a space or nothing (RFC 7208 §4.5). Works on bytes, since a TXT
/// record from DNS need not be UTF-8.
pub fn is_spf_record(txt: &[u8]) -> bool {
    match txt.get(..6) {
        Some(version) if version.eq_ignore_ascii_case(b"v=spf1") => {
            matches!(txt.get(6), None | Some(b' '))
        }
        _ => false,
    }
}

/// How many SPF records `domain` publishes (0 on DNS errors: mail-auth then reports them).
pub(crate) async fn spf_record_count(auth: &MessageAuthenticator, domain: &str) -> usize {
    let name = format!("{}.", domain.trim_end_matches('.'));
    match auth.resolver().txt_lookup(name).await {
        Ok(l) => ferrymail_net::dns::txt_records(&l)
            .iter()
            .filter(|text| is_spf_record(text))
            .count(),
        Err(_) => 0,
    }
}

/// Evaluates SPF policies for arbitrary (address, domain) pairs. Build once; it owns the
/// resolver and its cache, so several addresses of one domain cost one set of lookups.
pub struct SpfChecker {
    auth: MessageAuthenticator,
    limit: Duration,
}

impl std::fmt::Debug for SpfChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpfChecker")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl SpfChecker {
    /// A checker asking `dns_servers` (empty = resolv.conf). `dns_timeout` bounds each DNS
    /// attempt, `limit` a whole evaluation (which may take up to ten lookups and their
    /// retries): past it the answer is `temperror`.
    pub fn new(
        dns_servers: &[SocketAddr],
        dns_timeout: Duration,
        limit: Duration,
    ) -> Result<SpfChecker, ResolverError> {
        Ok(SpfChecker {
            auth: authenticator(dns_servers, dns_timeout, 256)?,
            limit,
        })
    }

    /// `check_host(ip, domain, postmaster@domain)` as a receiver greeted with `helo` runs it
    /// for a message from `domain`: `Pass` means the policy allows `ip`.
    pub async fn check_host(&self, ip: IpAddr, helo: &str, domain: &str) -> Verdict {
        let domain = domain.trim_end_matches('.');
        let helo = helo.trim_end_matches('.');
        let sender = format!("postmaster@{domain}");
        let work = async {
            let records = spf_record_count(&self.auth, domain).await;
            if records > 1 {
                return Verdict::PermError;
            }
            let params = SpfParameters::verify_mail_from(ip, helo, helo, &sender);
            match spf_verdict(self.auth.verify_spf(params).await.result()) {
                // mail-auth reports the parse result of the last TXT record it tried, so an
                // invalid SPF record followed by any other TXT record reads as "no record".
                // There is one, and it does not parse: RFC 7208 §4.6 makes that a permerror.
                Verdict::None if records == 1 => Verdict::PermError,
                v => v,
            }
        };
        tokio::time::timeout(self.limit, work)
            .await
            .unwrap_or(Verdict::TempError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_dev::dns::{DnsServer, Zone};

    #[test]
    fn spf_records_are_recognised_on_bytes() {
        assert!(is_spf_record(b"v=spf1 -all"));
        assert!(is_spf_record(b"V=SPF1"));
        assert!(!is_spf_record(b"v=spf10 -all"));
        assert!(!is_spf_record(b"v=spf"));
        assert!(!is_spf_record(b""));
        assert!(!is_spf_record(b" v=spf1 -all"));
        // Bytes that are not UTF-8, or a multi-byte character, right after the version.
        assert!(!is_spf_record(b"v=spf\xc3\xa9 -all"));
        assert!(!is_spf_record(b"v=spf1\xff"));
        assert!(!is_spf_record("v=spf€".as_bytes()));
    }

    fn checker(dns: &DnsServer) -> SpfChecker {
        SpfChecker::new(
            &[dns.addr],
            Duration::from_millis(500),
            Duration::from_secs(10),
        )
        .unwrap()
    }

    /// Policies whose verdict needs a real SPF evaluator: CIDR lengths on `a`, macros in
    /// `exists`, `redirect`, and the processing order of qualifiers.
    #[tokio::test]
    async fn verdicts_come_from_check_host() {
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let mut z = Zone::new();
        z.txt("cidr.test", "v=spf1 a:web.cidr.test/24 -all")
            .a("web.cidr.test", "192.0.2.99".parse().unwrap())
            .txt("macro.test", "v=spf1 exists:%{i}.allow.macro.test -all")
            .a("192.0.2.10.allow.macro.test", "127.0.0.2".parse().unwrap())
            .txt("redir.test", "v=spf1 redirect=cidr.test")
            .txt("deny.test", "v=spf1 -ip4:192.0.2.10 +all")
            .txt("soft.test", "v=spf1 ip4:198.51.100.0/24 ~all")
            .txt("two.test", "v=spf1 +all")
            .txt("two.test", "v=spf1 -all")
            .txt("bad.test", "v=spf1 ip4:not-an-address -all")
            .txt("bad-then-other.test", "v=spf1 ip4:not-an-address -all")
            .txt("bad-then-other.test", "other-verification=x")
            .txt("none.test", "google-site-verification=x");
        let dns = DnsServer::start(z).unwrap();
        let c = checker(&dns);
        for (domain, want) in [
            ("cidr.test", Verdict::Pass),
            ("macro.test", Verdict::Pass),
            ("redir.test", Verdict::Pass),
            ("deny.test", Verdict::Fail),
            ("soft.test", Verdict::SoftFail),
            ("two.test", Verdict::PermError),
            ("bad.test", Verdict::PermError),
            ("bad-then-other.test", Verdict::PermError),
            ("none.test", Verdict::None),
        ] {
            assert_eq!(
                c.check_host(ip, "mail.x.test", domain).await,
                want,
                "{domain}"
            );
        }
        let other: IpAddr = "192.0.3.10".parse().unwrap();
        assert_eq!(
            c.check_host(other, "mail.x.test", "cidr.test").await,
            Verdict::Fail
        );
        assert_eq!(
            c.check_host(other, "mail.x.test", "macro.test").await,
            Verdict::Fail
        );
    }

    #[tokio::test]
    async fn a_silent_dns_server_is_a_temperror_within_the_limit() {
        // A bound UDP socket nobody reads: queries vanish.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = SpfChecker::new(
            &[silent.local_addr().unwrap()],
            Duration::from_secs(5),
            Duration::from_millis(300),
        )
        .unwrap();
        let start = std::time::Instant::now();
        let v = c
            .check_host("192.0.2.1".parse().unwrap(), "h.test", "a.test")
            .await;
        assert_eq!(v, Verdict::TempError);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }
}
