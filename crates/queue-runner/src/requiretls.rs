//! What a message itself asks of outbound TLS (RFC 8689): the REQUIRETLS MAIL parameter (every
//! hop over validated TLS to a server that offers REQUIRETLS, or a bounce with 5.7.10, never a
//! downgrade) and the `TLS-Required: No` header field (deliver even where a TLS policy of ours
//! or of the destination would refuse).

use std::path::Path;

use ferrymail_spool::Envelope;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::mta_sts::cache::Cached;
use crate::outcome::RcptOutcome;

/// The enhanced status code of every REQUIRETLS failure (RFC 8689 §5).
pub const STATUS: &str = "5.7.10";

/// Whether the configured and published TLS policies (required TLS domains and routes,
/// certificate verification, MTA-STS, DANE) govern this message. `TLS-Required: No` waives
/// them, except on a message that also asked for REQUIRETLS: RFC 8689 §4 says REQUIRETLS wins.
pub fn tls_policy_applies(env: &Envelope, tls_required_no: bool) -> bool {
    env.require_tls || !tls_required_no
}

/// The permanent failure of a REQUIRETLS message that no next hop could take as it asks:
/// `why` is the last host's refusal.
pub fn refused(why: &str) -> RcptOutcome {
    RcptOutcome::bounced("none", STATUS, &format!("REQUIRETLS: {why}"))
}

/// The MX hosts a REQUIRETLS message may go to when the MX records were not validated with
/// DNSSEC: only those an MTA-STS policy of the domain lists, whatever its mode (RFC 8689
/// §4.2.1). Without a policy, or when it lists none of them, the message cannot go: the error
/// names why, for the domain given.
pub fn validated_hosts(
    sts: Option<&Cached>,
    hosts: Vec<String>,
) -> Result<Vec<String>, fn(&str) -> String> {
    let Some(policy) = sts else {
        return Err(|d| {
            format!("the MX records of {d} are not DNSSEC-validated and it has no MTA-STS policy")
        });
    };
    let listed: Vec<String> = hosts
        .into_iter()
        .filter(|h| policy.policy.allows_mx(h))
        .collect();
    if listed.is_empty() {
        return Err(|d| format!("none of the MX hosts of {d} is listed in its MTA-STS policy"));
    }
    Ok(listed)
}

/// Whether the message's header section has `TLS-Required: No` (RFC 8689 §4; the value is
/// case-insensitive). Reads only up to the end of the header section.
pub async fn has_tls_required_no(data_path: &Path) -> std::io::Result<bool> {
    let file = tokio::fs::File::open(data_path).await?;
    let mut lines = BufReader::new(file);
    let mut line = Vec::new();
    // The field being read, with its folded continuation lines.
    let mut field: Option<Vec<u8>> = None;
    loop {
        line.clear();
        let n = lines.read_until(b'\n', &mut line).await?;
        let content = trim_eol(&line);
        let continuation = matches!(content.first(), Some(b' ' | b'\t'));
        if continuation {
            if let Some(f) = field.as_mut() {
                f.extend_from_slice(content);
            }
            continue;
        }
        if field.take().is_some_and(|f| says_no(&f)) {
            return Ok(true);
        }
        if n == 0 || content.is_empty() {
            return Ok(false);
        }
        field = Some(content.to_vec());
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether an unfolded field is `TLS-Required: No`.
fn says_no(field: &[u8]) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    let (name, value) = field.split_at(colon);
    name.trim_ascii().eq_ignore_ascii_case(b"TLS-Required")
        && value
            .get(1..)
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"No"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrymail_spool::{ClientInfo, Source};

    async fn header_no(msg: &str) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        std::fs::write(&p, msg).unwrap();
        has_tls_required_no(&p).await.unwrap()
    }

    #[tokio::test]
    async fn finds_the_header_field_only_in_the_header_section() {
        assert!(header_no("From: a@b\r\nTLS-Required: No\r\n\r\nbody\r\n").await);
        assert!(header_no("tls-required:no\nSubject: x\n\nbody\n").await);
        assert!(header_no("Subject: x\r\nTLS-Required:\r\n  no\r\n\r\n").await);
        assert!(header_no("TLS-Required: NO").await);
        assert!(!header_no("Subject: x\r\n\r\nTLS-Required: No\r\n").await);
        assert!(!header_no("TLS-Required: Yes\r\n\r\n").await);
        assert!(!header_no("X-TLS-Required: No\r\n\r\n").await);
        assert!(!header_no("TLS-Required: No thanks\r\n\r\n").await);
        assert!(!header_no("").await);
    }

    #[test]
    fn unvalidated_mx_hosts_need_an_mta_sts_listing() {
        use crate::mta_sts::policy::Mode;
        let hosts = || vec!["mx1.a.test".to_string(), "evil.test".to_string()];
        let why = validated_hosts(None, hosts()).unwrap_err();
        assert!(
            why("a.test").contains("not DNSSEC-validated"),
            "{}",
            why("a.test")
        );
        for mode in [Mode::Enforce, Mode::Testing] {
            let p = Cached::for_test(mode, "*.a.test");
            assert_eq!(validated_hosts(Some(&p), hosts()).unwrap(), ["mx1.a.test"]);
            let why = validated_hosts(Some(&p), vec!["evil.test".into()]).unwrap_err();
            assert!(why("a.test").starts_with("none of the MX hosts of a.test"));
        }
    }

    #[test]
    fn requiretls_overrides_the_waiver() {
        let mut env = Envelope::new(None, vec![], ClientInfo::default(), Source::Local);
        assert!(tls_policy_applies(&env, false));
        assert!(!tls_policy_applies(&env, true));
        env.require_tls = true;
        assert!(tls_policy_applies(&env, true));
        let o = refused("mx.test[127.0.0.3]:25 does not offer REQUIRETLS");
        assert_eq!(
            o.reply,
            "554 5.7.10 REQUIRETLS: mx.test[127.0.0.3]:25 does not offer REQUIRETLS"
        );
    }
}
