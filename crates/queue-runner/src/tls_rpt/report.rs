//! The report itself, sans-IO: the RFC 8460 §4.4 JSON for one policy domain and one UTC day,
//! aggregated from the recorded [`Entry`] lines (one `policies` item per distinct policy,
//! identical failures grouped with their count), and the §5.3 message that carries it
//! gzipped (`multipart/report; report-type="tlsrpt"`).

use std::collections::BTreeMap;
use std::io::Write;

use base64::Engine;
use serde_json::{json, Value};

use super::day::Day;
use super::model::{FailureDetail, PolicyDesc};
use super::store::Entry;

/// Who reports: the fields identifying the sending organisation.
#[derive(Debug, Clone)]
pub struct Submitter {
    /// `organization-name`.
    pub organization: String,
    /// `contact-info`.
    pub contact: String,
    /// The submitting host (`TLS-Report-Submitter`, file name, report id).
    pub host: String,
    /// The report's `From:`.
    pub sender: String,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    details: BTreeMap<FailureDetail, u64>,
}

/// Whether `domain` can be named in a report's headers and file name as is (a plain ASCII
/// DNS name); reports for others are not sent.
pub fn reportable(domain: &str) -> bool {
    !domain.is_empty()
        && !domain.starts_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// The report id of `domain`'s report for `day`: unique per submitter, domain and day,
/// which is all one submitter ever sends.
pub fn report_id(domain: &str, day: Day, submitter: &Submitter) -> String {
    format!("{day}.{domain}@{}", submitter.host)
}

/// The JSON report of `domain` for `day` from `entries` (other domains' are ignored); `None`
/// when none concern it.
pub fn build_json(domain: &str, day: Day, entries: &[Entry], s: &Submitter) -> Option<Value> {
    let mut by_policy: BTreeMap<&PolicyDesc, Tally> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.domain == domain) {
        let t = by_policy.entry(&e.policy).or_default();
        // Saturating: the counts come from a file that may have been tampered with.
        t.ok = t.ok.saturating_add(e.ok);
        t.failed = t.failed.saturating_add(e.failed);
        if let Some(d) = &e.detail {
            *t.details.entry(d.clone()).or_default() += 1;
        }
    }
    if by_policy.is_empty() {
        return None;
    }
    let (start, end) = day.rfc3339_range();
    let policies: Vec<Value> = by_policy
        .into_iter()
        .map(|(p, t)| {
            let mut policy = json!({
                "policy-type": p.kind.as_str(),
                "policy-domain": domain,
            });
            if !p.strings.is_empty() {
                policy["policy-string"] = json!(p.strings);
            }
            if !p.mx_hosts.is_empty() {
                policy["mx-host"] = json!(p.mx_hosts);
            }
            let mut item = json!({
                "policy": policy,
                "summary": {
                    "total-successful-session-count": t.ok,
                    "total-failure-session-count": t.failed,
                },
            });
            if !t.details.is_empty() {
                item["failure-details"] =
                    t.details.iter().map(|(d, n)| failure_json(d, *n)).collect();
            }
            item
        })
        .collect();
    Some(json!({
        "organization-name": s.organization,
        "date-range": { "start-datetime": start, "end-datetime": end },
        "contact-info": s.contact,
        "report-id": report_id(domain, day, s),
        "policies": policies,
    }))
}

fn failure_json(d: &FailureDetail, count: u64) -> Value {
    let mut v = json!({
        "result-type": d.result_type,
        "failed-session-count": count,
    });
    if let Some(ip) = d.sending_ip {
        v["sending-mta-ip"] = json!(ip.to_string());
    }
    if let Some(mx) = &d.receiving_mx {
        v["receiving-mx-hostname"] = json!(mx);
    }
    if let Some(ip) = d.receiving_ip {
        v["receiving-ip"] = json!(ip.to_string());
    }
    if let Some(r) = &d.reason {
        v["failure-reason-code"] = json!(r);
    }
    v
}

/// The attachment's file name (§5.1): `submitter!policy-domain!begin!end!unique.json.gz`.
pub fn file_name(domain: &str, day: Day, s: &Submitter, unique: &str) -> String {
    format!(
        "{}!{domain}!{}!{}!{unique}.json.gz",
        s.host,
        day.start(),
        day.end()
    )
}

/// gzip of the JSON text.
pub fn gzip(json: &Value) -> std::io::Result<Vec<u8>> {
    let text = serde_json::to_vec(json).map_err(std::io::Error::other)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text)?;
    gz.finish()
}

/// The complete message carrying `json` to `to` (§5.3); `unique` tells apart the files and
/// message ids of one report sent to several addresses.
pub fn build_message(
    domain: &str,
    day: Day,
    json: &Value,
    s: &Submitter,
    to: &str,
    now: u64,
    unique: &str,
) -> std::io::Result<Vec<u8>> {
    let gz = gzip(json)?;
    let id = report_id(domain, day, s);
    let name = file_name(domain, day, s, unique);
    let boundary = format!("tlsrpt-{unique}-{}", day.start());
    let mut m = String::new();
    m.push_str(&format!("From: <{}>\r\n", s.sender));
    m.push_str(&format!("To: <{to}>\r\n"));
    m.push_str(&format!(
        "Subject: Report Domain: {domain}\r\n Submitter: {}\r\n Report-ID: <{id}>\r\n",
        s.host
    ));
    m.push_str(&format!("Date: {}\r\n", crate::dsn::rfc5322_date(now)));
    m.push_str(&format!(
        "Message-ID: <tlsrpt.{day}.{domain}.{unique}@{}>\r\n",
        s.host
    ));
    m.push_str(&format!("TLS-Report-Domain: {domain}\r\n"));
    m.push_str(&format!("TLS-Report-Submitter: {}\r\n", s.host));
    m.push_str("Auto-Submitted: auto-generated\r\n");
    m.push_str(&crate::dsn::multipart_report_head("\"tlsrpt\"", &boundary));
    m.push_str("Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    m.push_str(&format!(
        "This is an aggregate TLS report (RFC 8460) from {} for {domain},\r\n\
         covering {day} (UTC).\r\n\r\n",
        s.host
    ));
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str(&format!(
        "Content-Type: application/tlsrpt+gzip;\r\n\tname=\"{name}\"\r\n"
    ));
    m.push_str("Content-Transfer-Encoding: base64\r\n");
    m.push_str(&format!(
        "Content-Disposition: attachment;\r\n\tfilename=\"{name}\"\r\n\r\n"
    ));
    let b64 = base64::engine::general_purpose::STANDARD.encode(&gz);
    for chunk in b64.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        m.push_str("\r\n");
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    Ok(m.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls_rpt::model::{PolicyKind, ResultType};
    use std::io::Read;

    fn sub() -> Submitter {
        Submitter {
            organization: "Example Org".into(),
            contact: "postmaster@mail.example.test".into(),
            host: "mail.example.test".into(),
            sender: "noreply-tlsrpt@mail.example.test".into(),
        }
    }

    fn sts() -> PolicyDesc {
        PolicyDesc {
            kind: PolicyKind::Sts,
            strings: vec!["version: STSv1".into(), "mode: enforce".into()],
            mx_hosts: vec!["mx.a.test".into()],
        }
    }

    fn failure(ip: &str) -> FailureDetail {
        FailureDetail {
            result_type: ResultType::CertificateNotTrusted,
            sending_ip: None,
            receiving_mx: Some("mx.a.test".into()),
            receiving_ip: Some(ip.parse().unwrap()),
            reason: Some("UnknownIssuer".into()),
        }
    }

    fn entries() -> Vec<Entry> {
        let e = |domain: &str, policy: PolicyDesc, ok, failed, detail| Entry {
            domain: domain.into(),
            policy,
            ok,
            failed,
            detail,
        };
        vec![
            e("a.test", sts(), 1, 0, None),
            e("a.test", sts(), 1, 0, None),
            e("a.test", sts(), 0, 1, Some(failure("192.0.2.1"))),
            e("a.test", sts(), 0, 1, Some(failure("192.0.2.1"))),
            e("a.test", sts(), 0, 1, Some(failure("192.0.2.2"))),
            // Past the daily limit: counts only.
            e("a.test", sts(), 5, 2, None),
            e("a.test", PolicyDesc::none(), 3, 0, None),
            e("b.test", PolicyDesc::none(), 7, 0, None),
        ]
    }

    #[test]
    fn aggregates_per_policy_and_groups_failures() {
        let day = Day(20_000);
        let v = build_json("a.test", day, &entries(), &sub()).unwrap();
        assert_eq!(v["organization-name"], "Example Org");
        assert_eq!(v["date-range"]["start-datetime"], "2024-10-04T00:00:00Z");
        assert_eq!(v["date-range"]["end-datetime"], "2024-10-04T23:59:59Z");
        assert_eq!(v["report-id"], "2024-10-04.a.test@mail.example.test");
        let policies = v["policies"].as_array().unwrap();
        assert_eq!(policies.len(), 2);
        let sts = policies
            .iter()
            .find(|p| p["policy"]["policy-type"] == "sts")
            .unwrap();
        assert_eq!(sts["policy"]["policy-domain"], "a.test");
        assert_eq!(sts["policy"]["mx-host"], json!(["mx.a.test"]));
        assert_eq!(sts["summary"]["total-successful-session-count"], 7);
        assert_eq!(sts["summary"]["total-failure-session-count"], 5);
        let details = sts["failure-details"].as_array().unwrap();
        assert_eq!(details.len(), 2);
        let count = |ip: &str| {
            details
                .iter()
                .find(|d| d["receiving-ip"] == ip)
                .map(|d| d["failed-session-count"].clone())
        };
        assert_eq!(count("192.0.2.1"), Some(json!(2)));
        assert_eq!(count("192.0.2.2"), Some(json!(1)));
        assert_eq!(details[0]["result-type"], "certificate-not-trusted");
        assert_eq!(details[0]["failure-reason-code"], "UnknownIssuer");
        let none = policies
            .iter()
            .find(|p| p["policy"]["policy-type"] == "no-policy-found")
            .unwrap();
        assert_eq!(none["summary"]["total-successful-session-count"], 3);
        assert!(none.get("failure-details").is_none());
        assert!(none["policy"].get("policy-string").is_none());
        assert!(build_json("c.test", day, &entries(), &sub()).is_none());
    }

    #[test]
    fn message_parses_back_to_the_report() {
        let day = Day(20_000);
        let v = build_json("a.test", day, &entries(), &sub()).unwrap();
        let msg = build_message("a.test", day, &v, &sub(), "tls@a.test", 0, "1").unwrap();
        let text = String::from_utf8(msg.clone()).unwrap();
        assert!(text.lines().all(|l| l.len() <= 78), "{text}");
        let parsed = mailparse::parse_mail(&msg).unwrap();
        let h = |n: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.get_key_ref() == n)
                .map(|h| h.get_value())
        };
        assert_eq!(
            h("Subject").as_deref(),
            Some("Report Domain: a.test Submitter: mail.example.test Report-ID: <2024-10-04.a.test@mail.example.test>")
        );
        assert_eq!(h("TLS-Report-Domain").as_deref(), Some("a.test"));
        assert_eq!(
            h("TLS-Report-Submitter").as_deref(),
            Some("mail.example.test")
        );
        assert_eq!(h("To").as_deref(), Some("<tls@a.test>"));
        assert_eq!(parsed.ctype.mimetype, "multipart/report");
        assert_eq!(
            parsed.ctype.params.get("report-type").map(String::as_str),
            Some("tlsrpt")
        );
        assert_eq!(parsed.subparts.len(), 2);
        assert_eq!(parsed.subparts[0].ctype.mimetype, "text/plain");
        let att = &parsed.subparts[1];
        assert_eq!(att.ctype.mimetype, "application/tlsrpt+gzip");
        let disp = att.get_content_disposition();
        assert_eq!(
            disp.params.get("filename").map(String::as_str),
            Some("mail.example.test!a.test!1728000000!1728086399!1.json.gz")
        );
        let gz = att.get_body_raw().unwrap();
        let mut json = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut json)
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
    }

    #[test]
    fn only_plain_dns_names_are_reported() {
        assert!(reportable("mx-1.a_b.test"));
        for bad in ["", ".a.test", "a.test\r\nBcc: x", "a\"b.test", "é.test"] {
            assert!(!reportable(bad), "{bad:?}");
        }
    }
}
