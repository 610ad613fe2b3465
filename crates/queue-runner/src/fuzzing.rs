//! Everything queue-runner parses from outside (remote replies, EHLO keywords, relay strings,
//! control requests, stored replies, MTA-STS records, policies and HTTP answers, TLS-RPT
//! records, report URIs and recorded results) in one entry point, for the cargo-fuzz target in `fuzz/`
//! and for the unit test below, which runs the same code over hand-picked hostile inputs.

use ferrymail_queue_control::parse_request;
use ferrymail_smtp::ReplyParser;

use crate::mta_sts::fetch::parse_response;
use crate::mta_sts::{parse_records, Policy};
use crate::outcome::{dsn_of, one_line, RcptOutcome};
use crate::remote::parse_relay;
use crate::session::Extensions;

/// Feeds `data` to every parser; must never panic.
pub fn exercise(data: &[u8]) {
    let _ = parse_request(data);
    let text = String::from_utf8_lossy(data);
    let _ = parse_relay(&text);
    let _ = dsn_of(&text, "4.0.0");
    let _ = one_line(&text);
    let _ = parse_records(&[&*text]);
    if let Ok(p) = Policy::parse(data) {
        let _ = p.allows_mx(&text);
    }
    let _ = parse_response(data, crate::mta_sts::MAX_POLICY_BYTES);
    let _ = crate::tls_rpt::record::parse_records(&[text.to_string()]);
    let _ = crate::tls_rpt::post::parse_uri(&text);
    let _ = crate::tls_rpt::day::Day::parse(&text);
    let _ = ferrymail_net::https::status(data);
    let _ = serde_json::from_slice::<crate::tls_rpt::store::Entry>(data);
    let mut parser = ReplyParser::new(crate::wire::MAX_REPLY_LINES);
    for line in data.split_inclusive(|&b| b == b'\n') {
        match parser.feed_line(line) {
            Ok(Some(reply)) => {
                let _ = Extensions::parse(&reply);
                let o = RcptOutcome::from_reply(&reply, "fuzz");
                assert!(o.reply.chars().all(|c| !c.is_control()));
            }
            Ok(None) => {}
            Err(_) => parser = ReplyParser::new(crate::wire::MAX_REPLY_LINES),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exercise;

    #[test]
    fn hostile_inputs_do_not_panic() {
        let long = "250-".repeat(10_000);
        let inputs: Vec<&[u8]> = vec![
            b"",
            b"\xff\xfe\x00",
            b"250-mx\r\n250-SIZE 99999999999999999999999\r\n250 AUTH\r\n",
            b"250-\xc3\r\n250 8BITMIME\xff\r\n",
            b"550 5.1.1\r\n",
            b"550 9.9.9 odd\r\n",
            b"999\r\n",
            b"[",
            b"[]:",
            b"[::1]:99999",
            b"host:",
            b":::",
            b"{\"cmd\":\"show\",\"id\":\"../../x\"}",
            b"{\"cmd\":",
            b"4\xcc\x88\xcc\x88 5.",
            long.as_bytes(),
            b"v=STSv1; id=",
            b"v=STSv1;;;",
            b"version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1",
            b"version: STSv1\nmode: testing\nmx: *\nmax_age: 99999999999999999999999",
            b"HTTP/1.1 200\r\nContent-Length: 18446744073709551616\r\n\r\n",
            b"HTTP/1.1 200 OK\n\n",
            b"v=TLSRPTv1; rua=mailto:%,https://:/,mailto:a@b!!",
            b"v=TLSRPTv1;rua=mailto:%e9%@x",
            b"https://a.test:99999999/",
            b"9999-99-99",
            b"{\"domain\":\"a\",\"policy\":{\"kind\":\"tlsa\"},\"ok\":18446744073709551615}",
        ];
        for i in inputs {
            exercise(i);
        }
    }
}
