//! TLS-RPT (RFC 8460) end to end: queue-runner delivers to one domain over verified TLS and
//! fails another's MTA-STS policy (untrusted certificate), is asked through the control
//! socket for the day's reports, and the reports it mails and POSTs to the `rua` addresses of
//! each domain are checked by an independent validator, Python's `jsonschema` (Debian
//! `python3-jsonschema`, in `.ci/packages`), against `tests/tls-rpt/schema.json`.

mod common;

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::policy::{sts_world, BAD_CERT_MX, GOOD_MX, POLICY};
use common::*;
use ferrymail_dev::dns::Zone;
use ferrymail_queue_control::{request, Request, Response};
use ferrymail_testkit::{free_port, wait_until};

/// The MX of the domain reports are mailed to.
const REPORTS_MX: [u8; 4] = [127, 0, 0, 7];

const RUA: &str = "tlsrpt@reports.test";

fn ip(o: [u8; 4]) -> IpAddr {
    IpAddr::from(o)
}

fn zone(https: u16) -> Zone {
    let mut z = Zone::new();
    z.mx("good.test", 10, "mx.good.test")
        .a("mx.good.test", ip(GOOD_MX))
        .mx("badcert.test", 10, "mx.badcert.test")
        .a("mx.badcert.test", ip(BAD_CERT_MX))
        .mx("reports.test", 10, "mx.reports.test")
        .a("mx.reports.test", ip(REPORTS_MX))
        .txt(
            "_smtp._tls.reports.test",
            &format!("v=TLSRPTv1; rua=mailto:{RUA}"),
        );
    for d in ["good.test", "badcert.test"] {
        z.txt(&format!("_mta-sts.{d}"), "v=STSv1; id=one;")
            .a(&format!("mta-sts.{d}"), ip(POLICY))
            .txt(
                &format!("_smtp._tls.{d}"),
                &format!("v=TLSRPTv1; rua=mailto:{RUA},https://mta-sts.{d}:{https}/tlsrpt"),
            );
    }
    z
}

fn policy_for(host: &str) -> Option<&'static str> {
    Some(match host {
        "mta-sts.good.test" => "version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n",
        "mta-sts.badcert.test" => {
            "version: STSv1\nmode: enforce\nmx: mx.badcert.test\nmax_age: 86400\n"
        }
        _ => return None,
    })
}

fn has_jsonschema() -> bool {
    Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Validates `json` with Python's jsonschema (formats checked); the error list, empty when
/// valid.
fn validate(dir: &Path, json: &str) -> String {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tls-rpt/schema.json");
    let report = dir.join("report.json");
    std::fs::write(&report, json).unwrap();
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
for e in v.iter_errors(json.load(open(sys.argv[2]))):
    print(list(e.path), e.message)
"#;
    ferrymail_testkit::process::python(
        script,
        &[schema.to_str().unwrap(), report.to_str().unwrap()],
    )
}

fn control(t: &TestEnv, req: &Request) -> Response {
    let r = request(&t.env.config.control_socket(), req, Duration::from_secs(30)).unwrap();
    assert!(r.ok, "{r:?}");
    r
}

/// The gunzipped JSON of a report message, after checking its shape (RFC 8460 §5.3).
fn report_json(data: &str, domain: &str) -> String {
    let m = mailparse::parse_mail(data.as_bytes()).unwrap();
    let header = |n: &str| {
        m.headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case(n))
            .map(|h| h.get_value())
    };
    assert_eq!(header("TLS-Report-Domain").as_deref(), Some(domain));
    assert!(header("TLS-Report-Submitter").is_some());
    assert!(header("Subject")
        .unwrap()
        .starts_with(&format!("Report Domain: {domain} Submitter: ")));
    assert_eq!(m.ctype.mimetype, "multipart/report");
    assert_eq!(
        m.ctype.params.get("report-type").map(String::as_str),
        Some("tlsrpt")
    );
    let att = m
        .subparts
        .iter()
        .find(|p| p.ctype.mimetype == "application/tlsrpt+gzip")
        .expect("a gzip report part");
    let name = att.get_content_disposition().params["filename"].clone();
    assert!(
        name.contains(&format!("!{domain}!")) && name.ends_with(".json.gz"),
        "{name}"
    );
    let mut json = String::new();
    flate2::read::GzDecoder::new(&att.get_body_raw().unwrap()[..])
        .read_to_string(&mut json)
        .unwrap();
    json
}

#[test]
fn daily_reports_validate_against_the_rfc_schema_and_count_what_happened() {
    if !has_jsonschema() {
        println!("SKIP: python3 with the jsonschema module (python3-jsonschema) is not installed");
        return;
    }
    let port = free_port(ip(GOOD_MX));
    let https = free_port(ip(POLICY));
    let mut t = test_env(zone(https), port);
    let w = sts_world(
        &mut t,
        port,
        https,
        &[
            "mta-sts.good.test",
            "mta-sts.badcert.test",
            "mx.good.test",
            "mx.reports.test",
        ],
        policy_for,
    );
    let c = &mut t.env.config;
    // One attempt per message: the failures to count are exactly the messages sent.
    c.queue.retry_initial = Duration::from_secs(3600);
    c.queue.retry_max = Duration::from_secs(3600);
    c.queue.tls_rpt.enabled = true;
    c.queue.tls_rpt.organization = "Ferrymail Test".into();
    t.env.save_config().unwrap();
    // Over TLS: were the reports' own sessions recorded, reports.test would get one.
    let reports = smtp_server_tls(
        SocketAddr::new(ip(REPORTS_MX), port),
        &["PIPELINING"],
        Some(w.trusted.clone()),
        Arc::new(always),
    );
    let (good, policy) = (w.good, w.policy);
    let qr = t.start();

    let delivered: Vec<_> = (0..3)
        .map(|i| {
            t.enqueue(
                Some("alice@example.test"),
                &[&format!("u{i}@good.test")],
                "ok",
            )
        })
        .collect();
    let refused: Vec<_> = (0..2)
        .map(|i| {
            t.enqueue(
                Some("alice@example.test"),
                &[&format!("u{i}@badcert.test")],
                "no",
            )
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(30), || {
            let q = t.queued();
            delivered.iter().all(|id| q.iter().all(|e| e.id != *id))
                && refused
                    .iter()
                    .all(|id| q.iter().any(|e| e.id == *id && e.attempts == 1))
        }),
        "log:\n{}",
        t.log()
    );
    assert_eq!(good.messages().len(), 3);

    let r = control(&t, &Request::TlsReports { day: None });
    assert!(
        r.message.starts_with("2 TLS reports queued and 2 posted"),
        "{r:?}"
    );
    assert!(
        wait_until(Duration::from_secs(30), || reports.messages().len() == 2),
        "log:\n{}",
        t.log()
    );
    let tmp = tempfile::tempdir().unwrap();
    for (domain, ok, failed) in [("good.test", 3, 0), ("badcert.test", 0, 2)] {
        let msg = reports
            .messages()
            .into_iter()
            .find(|m| m.data.contains(&format!("TLS-Report-Domain: {domain}\r\n")))
            .unwrap_or_else(|| panic!("no report for {domain}"));
        assert!(msg.rcpts.iter().any(|r| r.contains(RUA)), "{msg:?}");
        assert!(msg.mail_from.contains("noreply-tlsrpt@"), "{msg:?}");
        let json = report_json(&msg.data, domain);
        // The same report, POSTed to the https: address.
        let posts = policy.posts.lock().unwrap().clone();
        let posted = posts
            .iter()
            .map(|(path, gz)| {
                assert_eq!(path, "/tlsrpt");
                let mut j = String::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_string(&mut j)
                    .unwrap();
                j
            })
            .find(|j| j.contains(&format!("\"policy-domain\":\"{domain}\"")));
        assert_eq!(posted.as_deref(), Some(json.as_str()));
        let errors = validate(tmp.path(), &json);
        assert!(errors.trim().is_empty(), "{errors}\n{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["organization-name"], "Ferrymail Test");
        let policies = v["policies"].as_array().unwrap();
        assert_eq!(policies.len(), 1, "{json}");
        let p = &policies[0];
        assert_eq!(p["policy"]["policy-type"], "sts");
        assert_eq!(p["policy"]["policy-domain"], domain);
        assert_eq!(
            p["policy"]["mx-host"],
            serde_json::json!([format!("mx.{domain}")])
        );
        assert_eq!(p["summary"]["total-successful-session-count"], ok, "{json}");
        assert_eq!(
            p["summary"]["total-failure-session-count"], failed,
            "{json}"
        );
        if failed > 0 {
            let d = &p["failure-details"][0];
            assert_eq!(d["result-type"], "certificate-not-trusted", "{json}");
            assert_eq!(d["receiving-mx-hostname"], "mx.badcert.test");
            assert_eq!(d["receiving-ip"], "127.0.0.5");
            assert_eq!(d["failed-session-count"], failed);
            assert_eq!(p["failure-details"].as_array().unwrap().len(), 1);
        }
    }
    // The reports' own delivery is not recorded, and a domain gets one report a day, also
    // across a restart.
    assert!(
        wait_until(Duration::from_secs(30), || t
            .queued()
            .iter()
            .all(|e| refused.contains(&e.id))),
        "log:\n{}",
        t.log()
    );
    assert!(
        reports.messages().iter().all(|m| m.tls),
        "{:?}",
        reports.messages()
    );
    drop(qr);
    let _qr = t.start();
    let again = control(&t, &Request::TlsReports { day: None });
    assert!(
        again
            .message
            .starts_with("0 TLS reports queued and 0 posted"),
        "{again:?}"
    );
    assert_eq!(policy.posts.lock().unwrap().len(), 2);
}
