//! Debian's `swaks` against the real binary in a `mailctl dev`-style environment: plain,
//! STARTTLS, AUTH on submission and implicit TLS, all landing in the spool. The same commands
//! are listed in this crate's README.

mod common;

use std::process::Command;

use common::{without_received, PASS, USER};

/// Runs swaks with `parts` concatenated; fails the test unless it succeeds.
fn swaks(parts: &[Vec<String>]) -> String {
    let args = parts.concat();
    let out = Command::new("swaks")
        .args(&args)
        .args(["--helo", "client.test", "--timeout", "20"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "swaks is required for this test (Debian package `swaks`, see .ci/packages): {e}"
            )
        });
    let text = ferrymail_testkit::process::all_output(&out);
    assert!(out.status.success(), "swaks {args:?} failed:\n{text}");
    text
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Where to connect.
fn server(port: u16) -> Vec<String> {
    strings(&["--server", "127.0.0.1", "--port", &port.to_string()])
}

/// STARTTLS, then AUTH as the demo user with `mechanism`.
fn starttls_auth(mechanism: &str) -> Vec<String> {
    let mut a = strings(&["--tls"]);
    a.extend(auth(mechanism));
    a
}

fn auth(mechanism: &str) -> Vec<String> {
    strings(&[
        "--auth",
        mechanism,
        "--auth-user",
        USER,
        "--auth-password",
        PASS,
    ])
}

fn envelope(from: &str, to: &str) -> Vec<String> {
    strings(&["--from", from, "--to", to])
}

fn message(subject: &str, body: &str) -> Vec<String> {
    strings(&["--header", &format!("Subject: {subject}"), "--body", body])
}

#[test]
fn swaks_plain_starttls_and_auth_land_in_the_spool() {
    let s = common::start(|c| c.general.trusted_networks.clear());
    let p = s.env.ports;

    let plain = swaks(&[
        server(p.smtp),
        envelope("sender@far.test", USER),
        message("swaks plain", "plain body"),
    ]);
    assert!(plain.contains("250 2.0.0 Ok: queued as"), "{plain}");

    let tls = swaks(&[
        server(p.smtp),
        strings(&["--tls"]),
        envelope("sender@far.test", USER),
        message("swaks starttls", "starttls body"),
    ]);
    assert!(tls.contains("220 2.0.0 Ready to start TLS"), "{tls}");

    let authed = swaks(&[
        server(p.submission),
        starttls_auth("PLAIN"),
        envelope(USER, "friend@elsewhere.test"),
        message("swaks auth", "auth body"),
    ]);
    assert!(authed.contains("235 2.7.0"), "{authed}");

    let wrapped = swaks(&[
        server(p.submissions),
        strings(&["--tls-on-connect"]),
        auth("LOGIN"),
        envelope(USER, "friend@elsewhere.test"),
        message("swaks 465", "465 body"),
    ]);
    assert!(wrapped.contains("235 2.7.0"), "{wrapped}");

    let q = s.queued();
    assert_eq!(q.len(), 4, "{}", s.log("mta-smtpd"));
    let subjects: Vec<String> = q
        .iter()
        .map(|(_, b)| {
            let text = String::from_utf8_lossy(without_received(b)).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        subjects,
        ["swaks plain", "swaks starttls", "swaks auth", "swaks 465"]
    );
    let protocols: Vec<&str> = q.iter().map(|(e, _)| e.client.protocol.as_str()).collect();
    assert_eq!(protocols, ["ESMTP", "ESMTPS", "ESMTPSA", "ESMTPSA"]);
    assert_eq!(q[2].0.client.auth_user.as_deref(), Some(USER));
    assert_eq!(q[3].0.recipients[0].address, "friend@elsewhere.test");
}

/// RFC 6409 §8: a submitted message without Date/Message-ID gets them (after its own header
/// fields, before the body); one that arrives on the MX port is stored as sent.
#[test]
fn submission_adds_missing_date_and_message_id_mx_does_not() {
    let s = common::start(|c| c.general.trusted_networks.clear());
    let p = s.env.ports;
    let bare = format!(
        "From: {USER}\r\nTo: friend@elsewhere.test\r\nSubject: bare\r\n\r\nno date here\r\n"
    );
    let out = swaks(&[
        server(p.submission),
        starttls_auth("PLAIN"),
        envelope(USER, "friend@elsewhere.test"),
        strings(&["--data", &bare]),
    ]);
    assert!(out.contains("250 2.0.0 Ok: queued as"), "{out}");
    let out = swaks(&[
        server(p.smtp),
        envelope("sender@far.test", USER),
        strings(&[
            "--data",
            "From: sender@far.test\r\nSubject: bare mx\r\n\r\nno date here\r\n",
        ]),
    ]);
    assert!(out.contains("250 2.0.0 Ok: queued as"), "{out}");
    let q = s.queued();
    assert_eq!(q.len(), 2, "{}", s.log("mta-smtpd"));
    let submitted = String::from_utf8_lossy(without_received(&q[0].1)).into_owned();
    let id = q[0].0.id.to_string();
    let (head, body) = submitted.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("From: "), "{submitted}");
    assert!(
        head.contains(&format!("\r\nMessage-ID: <{id}@")),
        "{submitted}"
    );
    let date = head.lines().find_map(|l| l.strip_prefix("Date: ")).unwrap();
    // RFC 5322 shape: "Mon, 23 Nov 2026 16:00:00 +0000".
    let words: Vec<&str> = date.split_whitespace().collect();
    assert_eq!(words.len(), 6, "{date}");
    assert!(words[0].ends_with(',') && words[4].len() == 8, "{date}");
    assert!(body.starts_with("no date here\r\n"), "{body:?}");
    let mx = String::from_utf8_lossy(without_received(&q[1].1)).into_owned();
    assert!(!mx.contains("Message-ID") && !mx.contains("Date:"), "{mx}");
}
