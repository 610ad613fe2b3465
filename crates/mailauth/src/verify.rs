//! Inbound verification on the `mx` role: SPF (RFC 7208) on MAIL FROM (HELO for the null
//! sender), DKIM (RFC 6376), ARC (RFC 8617), then DMARC (RFC 7489 / DMARCbis) alignment and
//! policy, summed up in one `Authentication-Results:` field (RFC 8601) and a disposition.
//!
//! Every DNS question goes through a resolver with per-attempt timeouts, and the whole
//! verification is bounded by `mailauth.verify_timeout`: a dead or slow DNS server yields
//! `temperror` results, never a hung SMTP session.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrymail_config::Config;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy as MaPolicy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    SpfResult,
};

use crate::dns::{authenticator, ResolverError};
use crate::spf::spf_record_count;

/// One check's outcome, as the RFC 8601 result keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl Verdict {
    /// The keyword used in `Authentication-Results:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::SoftFail => "softfail",
            Verdict::Neutral => "neutral",
            Verdict::None => "none",
            Verdict::TempError => "temperror",
            Verdict::PermError => "permerror",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A DMARC policy (`p=`/`sp=`), and what it asks us to do with a failing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

/// One DKIM signature's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimVerdict {
    pub result: Verdict,
    /// `d=` and `s=` of the signature (empty when it could not be parsed).
    pub domain: String,
    pub selector: String,
}

/// Everything `verify` found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub spf: Verdict,
    /// The domain SPF checked: the MAIL FROM domain, or the HELO name for the null sender.
    pub spf_domain: String,
    /// One entry per DKIM-Signature, in header order (empty = unsigned).
    pub dkim: Vec<DkimVerdict>,
    pub arc: Verdict,
    pub dmarc: Verdict,
    /// The RFC 5322 From domain DMARC evaluated (empty when there was none).
    pub from_domain: String,
    /// The DMARC policy published for `from_domain`.
    pub dmarc_policy: Policy,
    /// What DMARC asks for this message: `policy` when it failed, else `None`.
    pub disposition: Policy,
    /// Whether to refuse the message: disposition `Reject` and `mailauth.dmarc_enforce`.
    pub reject: bool,
    /// The complete `Authentication-Results: ...\r\n` field to prepend to the message.
    pub header: String,
}

/// Reply code and enhanced status for a DMARC rejection (RFC 7372 §3.2: 5.7.1).
pub const REJECT_CODE: u16 = 550;
pub const REJECT_ENHANCED: &str = "5.7.1";

impl AuthResults {
    /// The reply text for `550 5.7.1` when `reject` is set.
    pub fn reject_text(&self) -> Option<String> {
        self.reject.then(|| {
            format!(
                "Message rejected by the DMARC policy of {} (DKIM and SPF are not aligned)",
                self.from_domain
            )
        })
    }
}

/// Settings of a `Verifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Our authserv-id: the host name that writes `Authentication-Results:`.
    pub authserv_id: String,
    pub dmarc_enforce: bool,
    pub arc: bool,
    pub dns_timeout: Duration,
    pub verify_timeout: Duration,
    pub dns_cache_size: u64,
}

impl VerifyOptions {
    pub fn from_config(config: &Config) -> VerifyOptions {
        let m = &config.mailauth;
        VerifyOptions {
            authserv_id: config.authserv_id(),
            dmarc_enforce: m.dmarc_enforce,
            arc: m.arc,
            dns_timeout: m.dns_timeout,
            verify_timeout: m.verify_timeout,
            dns_cache_size: m.dns_cache_size,
        }
    }
}

/// The inbound verifier: build once per daemon (it owns the resolver and its cache) and share
/// it between sessions (`Arc<Verifier>`; `verify` takes `&self`).
pub struct Verifier {
    auth: MessageAuthenticator,
    opts: VerifyOptions,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The verifier for `config` (`queue.dns_servers` and `[mailauth]`).
    pub fn from_config(config: &Config) -> Result<Verifier, ResolverError> {
        Verifier::new(
            &config.queue.dns_servers,
            VerifyOptions::from_config(config),
        )
    }

    /// A verifier asking `dns_servers` (empty = resolv.conf).
    pub fn new(dns_servers: &[SocketAddr], opts: VerifyOptions) -> Result<Verifier, ResolverError> {
        let auth = authenticator(dns_servers, opts.dns_timeout, opts.dns_cache_size)?;
        Ok(Verifier { auth, opts })
    }

    pub fn authserv_id(&self) -> &str {
        &self.opts.authserv_id
    }

    /// Verifies `message` (the raw message as received, before we add anything to it) sent by
    /// `client_ip`, which said `helo`, with envelope sender `mail_from` (the bare address,
    /// empty for the null sender `<>`).
    pub async fn verify(
        &self,
        message: &[u8],
        client_ip: IpAddr,
        helo: &str,
        mail_from: &str,
    ) -> AuthResults {
        let helo = helo.trim_end_matches('.');
        let work = self.verify_unbounded(message, client_ip, helo, mail_from);
        match tokio::time::timeout(self.opts.verify_timeout, work).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(%client_ip, "mail authentication timed out: temperror");
                self.timed_out(helo, mail_from)
            }
        }
    }

    fn timed_out(&self, helo: &str, mail_from: &str) -> AuthResults {
        let (spf_domain, smtp) = spf_identity(helo, mail_from);
        let header = format!(
            "Authentication-Results: {};\r\n\tspf=temperror {smtp};\r\n\tdkim=temperror;\r\n\t\
             dmarc=temperror\r\n",
            self.opts.authserv_id
        );
        AuthResults {
            spf: Verdict::TempError,
            spf_domain,
            dkim: Vec::new(),
            arc: Verdict::None,
            dmarc: Verdict::TempError,
            from_domain: String::new(),
            dmarc_policy: Policy::None,
            disposition: Policy::None,
            reject: false,
            header,
        }
    }

    async fn verify_unbounded(
        &self,
        message: &[u8],
        ip: IpAddr,
        helo: &str,
        mail_from: &str,
    ) -> AuthResults {
        let id = self.opts.authserv_id.as_str();
        let (spf_domain, _) = spf_identity(helo, mail_from);
        let spf_params = if mail_from.is_empty() {
            SpfParameters::verify_ehlo(ip, helo, id)
        } else {
            SpfParameters::verify_mail_from(ip, helo, id, mail_from)
        };
        let parsed = AuthenticatedMessage::parse(message);
        let spf_fut = async {
            // RFC 7208 §4.5: more than one SPF record is a permerror; mail-auth would take
            // the first. The lookup warms the resolver cache for mail-auth's own query.
            if spf_record_count(&self.auth, &spf_domain).await > 1 {
                mail_auth::SpfOutput::new(spf_domain.clone()).with_result(SpfResult::PermError)
            } else {
                self.auth.verify_spf(spf_params).await
            }
        };
        let Some(msg) = parsed else {
            // Not even a header section: nothing to verify but the envelope.
            let spf = spf_fut.await;
            let mut header = String::from("Authentication-Results: ");
            header.push_str(&spf_part(id, &spf, ip, helo, mail_from));
            header.push_str(";\r\n\tdkim=none;\r\n\tdmarc=none\r\n");
            return AuthResults {
                spf: spf_verdict(spf.result()),
                spf_domain,
                dkim: Vec::new(),
                arc: Verdict::None,
                dmarc: Verdict::None,
                from_domain: String::new(),
                dmarc_policy: Policy::None,
                disposition: Policy::None,
                reject: false,
                header,
            };
        };
        let arc_fut = async {
            if self.opts.arc && !msg.as_headers.is_empty() {
                Some(self.auth.verify_arc(&msg).await)
            } else {
                None
            }
        };
        let (spf, dkim, arc) = tokio::join!(spf_fut, self.auth.verify_dkim(&msg), arc_fut);
        let dmarc_domain = if mail_from.is_empty() {
            helo
        } else {
            mail_from.rsplit_once('@').map_or(helo, |(_, d)| d)
        };
        let dmarc = self
            .auth
            .verify_dmarc(DmarcParameters::new(&msg, &dkim, dmarc_domain, &spf))
            .await;

        let header_from = msg.from.first().map(String::as_str).unwrap_or("");
        let mut header = String::from("Authentication-Results: ");
        header.push_str(&spf_part(id, &spf, ip, helo, mail_from));
        if dkim.is_empty() {
            header.push_str(";\r\n\tdkim=none");
        }
        let mut rest = AuthenticationResults::new(id).with_dkim_results(&dkim, header_from);
        if let Some(arc) = &arc {
            rest = rest.with_arc_result(arc, ip);
        }
        let from_domain = dmarc.domain().to_owned();
        if !from_domain.is_empty() {
            rest = rest.with_dmarc_result(&dmarc);
        }
        // RFC 6376 §6.1.3: a body that does not match its hash is a failed verification
        // (PERMFAIL), i.e. `dkim=fail`; mail-auth writes `neutral` for it.
        let rest = rest.to_string().replace(
            "dkim=neutral (body hash did not verify)",
            "dkim=fail (body hash did not verify)",
        );
        // `rest` starts with the authserv-id again; the spf part already carries it.
        header.push_str(rest.strip_prefix(id).unwrap_or(&rest));
        if from_domain.is_empty() {
            header.push_str(";\r\n\tdmarc=none");
        }
        header.push_str("\r\n");

        let dmarc_verdict = if from_domain.is_empty() {
            Verdict::None
        } else {
            dmarc_verdict(&dmarc.result())
        };
        let dmarc_policy = match dmarc.policy() {
            MaPolicy::Reject => Policy::Reject,
            MaPolicy::Quarantine => Policy::Quarantine,
            MaPolicy::None | MaPolicy::Unspecified => Policy::None,
        };
        let disposition = if dmarc_verdict == Verdict::Fail {
            dmarc_policy
        } else {
            Policy::None
        };
        AuthResults {
            spf: spf_verdict(spf.result()),
            spf_domain,
            dkim: dkim
                .iter()
                .map(|o| DkimVerdict {
                    result: dkim_verdict(o.result()),
                    domain: o.signature().map(|s| s.d.clone()).unwrap_or_default(),
                    selector: o.signature().map(|s| s.s.clone()).unwrap_or_default(),
                })
                .collect(),
            arc: arc.map_or(Verdict::None, |a| dkim_verdict(a.result())),
            dmarc: dmarc_verdict,
            from_domain,
            dmarc_policy,
            disposition,
            reject: disposition == Policy::Reject && self.opts.dmarc_enforce,
            header,
        }
    }
}

/// The SPF identity and its A-R property: MAIL FROM, or postmaster@HELO for `<>`.
fn spf_identity(helo: &str, mail_from: &str) -> (String, String) {
    if mail_from.is_empty() {
        (
            helo.to_ascii_lowercase(),
            format!("smtp.helo={}", pvalue(helo)),
        )
    } else {
        let d = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        (
            d.to_ascii_lowercase(),
            format!("smtp.mailfrom={}", pvalue(mail_from)),
        )
    }
}

/// A client-supplied string made safe as an A-R property value: the client chose it, so it
/// must not be able to end the field or add methods of its own.
fn pvalue(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, ';' | '(' | ')' | '"' | '\\') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `id;\r\n\tspf=... smtp.mailfrom=...` without the leading id.
fn spf_part(
    id: &str,
    spf: &mail_auth::SpfOutput,
    ip: IpAddr,
    helo: &str,
    mail_from: &str,
) -> String {
    let b = AuthenticationResults::new(id);
    let b = if mail_from.is_empty() {
        b.with_spf_ehlo_result(spf, ip, helo)
    } else {
        b.with_spf_mailfrom_result(spf, ip, mail_from, helo)
    };
    b.to_string()
}

pub(crate) fn spf_verdict(r: SpfResult) -> Verdict {
    match r {
        SpfResult::Pass => Verdict::Pass,
        SpfResult::Fail => Verdict::Fail,
        SpfResult::SoftFail => Verdict::SoftFail,
        SpfResult::Neutral => Verdict::Neutral,
        SpfResult::TempError => Verdict::TempError,
        SpfResult::PermError => Verdict::PermError,
        SpfResult::None => Verdict::None,
    }
}

fn dkim_verdict(r: &DkimResult) -> Verdict {
    match r {
        DkimResult::Pass => Verdict::Pass,
        DkimResult::Neutral(e) if is_body_hash_failure(e) => Verdict::Fail,
        DkimResult::Neutral(_) => Verdict::Neutral,
        DkimResult::Fail(_) => Verdict::Fail,
        DkimResult::PermError(_) => Verdict::PermError,
        DkimResult::TempError(_) => Verdict::TempError,
        DkimResult::None => Verdict::None,
    }
}

fn is_body_hash_failure(e: &mail_auth::Error) -> bool {
    use mail_auth::arc::ArcError;
    use mail_auth::dkim::DkimError;
    matches!(
        e,
        mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch)
            | mail_auth::Error::Arc(ArcError::FailedBodyHashMatch)
    )
}

fn dmarc_verdict(r: &DmarcResult) -> Verdict {
    match r {
        DmarcResult::Pass => Verdict::Pass,
        DmarcResult::Fail(_) => Verdict::Fail,
        DmarcResult::TempError(_) => Verdict::TempError,
        DmarcResult::PermError(_) => Verdict::PermError,
        DmarcResult::None => Verdict::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, Algorithm};
    use ferrymail_dev::dns::{DnsServer, Zone};
    use mail_auth::arc::ArcSealer;
    use mail_auth::common::headers::HeaderWriter;

    /// A message forwarded through `relay.test`, which sealed it with ARC (RFC 8617).
    #[tokio::test]
    async fn arc_chain_sealed_by_a_forwarder_verifies_and_tampering_fails_it() {
        let seal_key = generate(Algorithm::Ed25519).unwrap().pair;
        let mut zone = Zone::new();
        let rec = seal_key.record("relay.test", "arc");
        zone.txt(&rec.name, &rec.value);
        let dns = DnsServer::start(zone).unwrap();
        let opts = VerifyOptions {
            authserv_id: "mx.ours.test".into(),
            dmarc_enforce: true,
            arc: true,
            dns_timeout: Duration::from_millis(500),
            verify_timeout: Duration::from_secs(10),
            dns_cache_size: 64,
        };
        let v = Verifier::new(&[dns.addr], opts).unwrap();

        let original = b"From: a@a.test\r\nTo: list@relay.test\r\nSubject: fwd\r\n\r\nbody\r\n";
        let msg = AuthenticatedMessage::parse(original).unwrap();
        let arc_in = v.auth.verify_arc(&msg).await;
        assert_eq!(arc_in.result(), &DkimResult::None);
        let results = AuthenticationResults::new("relay.test");
        let set = ArcSealer::from_key(seal_key.key)
            .domain("relay.test")
            .selector("arc")
            .headers(["From", "To", "Subject"])
            .seal(&msg, &results, &arc_in)
            .unwrap();
        let sealed = [set.to_header().as_bytes(), &original[..]].concat();

        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let r = v.verify(&sealed, ip, "relay.test", "").await;
        assert_eq!(r.arc, Verdict::Pass, "{}", r.header);
        assert!(r.header.contains("\tarc=pass"), "{}", r.header);
        let lines: Vec<&str> = r.header.split("\r\n\t").collect();
        assert!(
            lines.iter().position(|l| l.starts_with("arc="))
                < lines.iter().position(|l| l.starts_with("dmarc="))
        );

        let tampered = String::from_utf8(sealed).unwrap().replace("body", "b0dy");
        let r = v.verify(tampered.as_bytes(), ip, "relay.test", "").await;
        assert_eq!(r.arc, Verdict::Fail, "{}", r.header);
        // Without ARC headers there is no arc= entry at all.
        let r = v.verify(original, ip, "relay.test", "").await;
        assert_eq!(r.arc, Verdict::None);
        assert!(!r.header.contains("\tarc="), "{}", r.header);
    }

    #[tokio::test]
    async fn client_strings_cannot_inject_into_the_header() {
        let opts = VerifyOptions {
            authserv_id: "mx.ours.test".into(),
            dmarc_enforce: true,
            arc: false,
            dns_timeout: Duration::from_millis(100),
            verify_timeout: Duration::from_millis(100),
            dns_cache_size: 8,
        };
        let v = Verifier::new(&["127.0.0.1:9".parse().unwrap()], opts).unwrap();
        let r = v.timed_out("h", "x;\r\n\tdkim=pass (y)@a.test");
        assert_eq!(r.spf, Verdict::TempError);
        assert_eq!(
            r.header,
            "Authentication-Results: mx.ours.test;\r\n\tspf=temperror \
             smtp.mailfrom=x____dkim=pass__y_@a.test;\r\n\tdkim=temperror;\r\n\t\
             dmarc=temperror\r\n"
        );
        assert!(!r.reject);
    }
}
