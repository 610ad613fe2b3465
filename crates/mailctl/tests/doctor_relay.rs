//! The open-relay probe of `mailctl check` against fake MX hosts on loopback: a well-formed
//! dialogue is read to its RCPT reply; an endless reply line and a slow drip end in a warning
//! within the probe's limits, never in a hang or unbounded memory.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::*;
use ferrymail_dev::dns::DnsServer;

/// A fake MX host on loopback; each connection is served by `serve` in its own thread.
fn smtp_server(serve: fn(std::net::TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || serve(conn));
        }
    });
    port
}

/// Reads whatever the client sends until it closes (or a minute passes).
fn drain(mut c: std::net::TcpStream) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = [0u8; 1024];
    while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
}

fn relay_finding(port: u16) -> (serde_json::Value, Duration) {
    let (_d, env) = setup();
    let dns = DnsServer::start(zone_with(|z| {
        z.remove("a.test")
            .mx("a.test", 10, "mx.a.test")
            .a("mx.a.test", "127.0.0.1".parse().unwrap())
            .txt("a.test", "v=spf1 mx a:mail.a.test -all");
    }))
    .unwrap();
    let run = run_check(&env, &dns, &["--smtp-port", &port.to_string()]);
    let f = assert_report(&run, "relay probe");
    (finding(&f, "relay").clone(), run.elapsed)
}

/// The relay finding of a probe that could not finish: a warning naming `reason`, in time.
fn assert_probe_gave_up(port: u16, reason: &str, within: Duration) {
    let (f, elapsed) = relay_finding(port);
    assert_eq!(f["level"], "warning", "{f:#}");
    assert!(f["what"].as_str().unwrap().contains(reason), "{f:#}");
    assert!(elapsed < within, "{elapsed:?}");
}

#[test]
fn relay_probe_reads_a_well_formed_dialogue() {
    let port = smtp_server(|mut c| {
        let _ = c.write_all(b"220 mx.a.test ESMTP\r\n");
        let mut buf = [0u8; 1024];
        for reply in [
            &b"250-mx.a.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"[..],
            b"250 2.1.0 Ok\r\n",
            b"554 5.7.1 Relay access denied\r\n",
        ] {
            if !matches!(c.read(&mut buf), Ok(n) if n > 0) {
                return;
            }
            let _ = c.write_all(reply);
        }
        drain(c);
    });
    let (f, _) = relay_finding(port);
    // Loopback is trusted in the dev config, so the probe completes but proves nothing; with
    // an untrusted source it would quote the 554.
    let what = f["what"].as_str().unwrap();
    assert!(
        what.contains("refuses to relay: 554 5.7.1 Relay access denied")
            || what.contains("general.trusted_networks"),
        "{f:#}"
    );
}

#[test]
fn relay_probe_cuts_an_endless_reply_line() {
    let port = smtp_server(|mut c| {
        // 4 MB in one "line", then its end: the whole line is read past, never kept.
        let chunk = [b'x'; 64 * 1024];
        let _ = c.write_all(b"220-");
        for _ in 0..64 {
            if c.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = c.write_all(b"\r\n220 ok\r\n");
        drain(c);
    });
    assert_probe_gave_up(port, "longer than 4096 bytes", Duration::from_secs(30));
}

#[test]
fn relay_probe_gives_up_on_a_slow_drip() {
    let port = smtp_server(|mut c| {
        // A valid greeting, then an EHLO reply that never ends: one byte a second.
        let _ = c.write_all(b"220 mx.a.test\r\n");
        for b in b"250-".iter().cycle().take(120) {
            std::thread::sleep(Duration::from_secs(1));
            if c.write_all(&[*b]).is_err() {
                return;
            }
        }
    });
    assert_probe_gave_up(port, "no complete dialogue within", Duration::from_secs(40));
}
