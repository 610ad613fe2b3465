//! The mx role's defenses against the real binary, with raw TCP clients and a loopback DNS
//! server: DNS list scoring (blocklists refuse at RCPT, allowlists skip greylisting, refusal
//! answers are ignored and reported, a silent list does not hold mail up), the delayed
//! greeting and its pregreet test, and greylisting that survives a restart.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::USER;
use ferrymail_config::{Config, DnsblAction, GreetAction};
use ferrymail_dev::dns::{DnsServer, Zone};
use ferrymail_testkit::metrics::{self, Scrape};
use ferrymail_testkit::smtp::SmtpClient;
use ferrymail_testkit::Suite;

/// The test clients connect from 127.0.0.1: this is their name under a list's zone.
const CLIENT: &str = "1.0.0.127";

fn untrusted(c: &mut Config) {
    c.general.trusted_networks.clear();
}

fn with_lists(dns: &DnsServer, sites: &[&str]) -> impl FnOnce(&mut Config) {
    let addr = dns.addr;
    let sites: Vec<_> = sites.iter().map(|s| s.parse().unwrap()).collect();
    move |c| {
        untrusted(c);
        c.queue.dns_servers = vec![addr];
        c.smtpd.screen.dnsbl_sites = sites;
    }
}

/// EHLO, MAIL from `from`; returns the reply to RCPT TO the demo user.
fn rcpt(c: &mut SmtpClient, from: &str) -> String {
    c.cmd("EHLO client.test");
    let r = c.cmd(&format!("MAIL FROM:<{from}>"));
    assert!(r.starts_with("250"), "{r}");
    let r = c.cmd(&format!("RCPT TO:<{USER}>")).to_string();
    c.cmd("RSET");
    r
}

fn greeted(s: &Suite) -> SmtpClient {
    let mut c = s.smtp(s.env.ports.smtp);
    let g = c.reply();
    assert!(g.starts_with("220 "), "{g}");
    c
}

#[test]
fn listed_clients_are_refused_at_rcpt_naming_the_list() {
    let mut z = Zone::new();
    z.a(&format!("{CLIENT}.bl.test"), "127.0.0.4".parse().unwrap());
    let dns = DnsServer::start(z).unwrap();
    let s = common::start(with_lists(
        &dns,
        &["bl.test=127.0.0.[2..11]*3", "quiet.test"],
    ));
    let mut c = greeted(&s);
    let r = rcpt(&mut c, "a@sender.test");
    assert_eq!(
        r,
        "550 5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test"
    );
    // The session goes on; the client is refused for every recipient.
    assert!(rcpt(&mut c, "b@sender.test").starts_with("550 5.7.1"));
    let log = s.log("mta-smtpd");
    assert!(
        log.contains("client blocked by DNS lists") && log.contains("client=127.0.0.1"),
        "{log}"
    );
    assert!(s.queued().is_empty());
}

#[test]
fn a_score_under_the_threshold_or_the_tempfail_action_do_not_refuse_for_good() {
    let mut z = Zone::new();
    z.a(&format!("{CLIENT}.bl.test"), "127.0.0.2".parse().unwrap());
    let dns = DnsServer::start(z).unwrap();
    let mut s = common::start(with_lists(&dns, &["bl.test*2", "wl.test*-5"]));
    s.edit_config(|c| c.smtpd.screen.dnsbl_threshold = 3);
    s.stop("mta-smtpd");
    s.start("mta-smtpd");
    assert!(rcpt(&mut greeted(&s), "a@sender.test").starts_with("250"));

    s.edit_config(|c| {
        c.smtpd.screen.dnsbl_threshold = 2;
        c.smtpd.screen.dnsbl_action = DnsblAction::Tempfail;
    });
    s.stop("mta-smtpd");
    s.start("mta-smtpd");
    assert_eq!(
        rcpt(&mut greeted(&s), "a@sender.test"),
        "450 4.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test"
    );
}

#[test]
fn refusal_answers_are_never_scored_and_reported_once() {
    let mut z = Zone::new();
    z.a(
        &format!("{CLIENT}.bl.test"),
        "127.255.255.254".parse().unwrap(),
    );
    let dns = DnsServer::start(z).unwrap();
    let s = common::start(with_lists(&dns, &["bl.test*5"]));
    for _ in 0..2 {
        assert!(rcpt(&mut greeted(&s), "a@sender.test").starts_with("250"));
    }
    let log = s.log("mta-smtpd");
    assert_eq!(
        log.matches("DNS list refuses our queries").count(),
        1,
        "{log}"
    );
    assert!(log.contains("127.255.255.254"), "{log}");
}

#[test]
fn a_silent_list_costs_at_most_the_timeout() {
    // A server that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let s = common::start(move |c| {
        untrusted(c);
        c.queue.dns_servers = vec![addr];
        c.smtpd.screen.dnsbl_sites = vec!["bl.test*5".parse().unwrap()];
        c.smtpd.screen.dnsbl_timeout = Duration::from_secs(1);
    });
    let start = Instant::now();
    let r = rcpt(&mut greeted(&s), "a@sender.test");
    assert!(r.starts_with("250"), "{r}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// A UDP relay to `upstream` that holds every answer back for `delay`: a slow list.
fn slow_dns(upstream: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = front.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, client)) = front.recv_from(&mut buf) {
            let query = buf[..n].to_vec();
            let front = front.try_clone().unwrap();
            std::thread::spawn(move || {
                let back = UdpSocket::bind("127.0.0.1:0").unwrap();
                back.send_to(&query, upstream).unwrap();
                let mut answer = [0u8; 1500];
                if let Ok(n) = back.recv(&mut answer) {
                    std::thread::sleep(delay);
                    let _ = front.send_to(&answer[..n], client);
                }
            });
        }
    });
    addr
}

#[test]
fn lists_slower_than_the_greeting_delay_still_count() {
    let mut z = Zone::new();
    z.a(&format!("{CLIENT}.bl.test"), "127.0.0.2".parse().unwrap());
    let dns = DnsServer::start(z).unwrap();
    let slow = slow_dns(dns.addr, Duration::from_millis(1500));
    let s = common::start(move |c| {
        untrusted(c);
        c.queue.dns_servers = vec![slow];
        c.smtpd.screen.dnsbl_sites = vec!["bl.test".parse().unwrap()];
        c.smtpd.screen.greet_wait = Duration::from_millis(500);
    });
    let mut c = first_line(&s);
    assert!(c.reply().starts_with("220 "));
    let r = rcpt(&mut c, "a@sender.test");
    assert!(r.starts_with("550 5.7.1"), "{r}");
}

fn greylisting(dns: Option<&DnsServer>) -> impl FnOnce(&mut Config) {
    let dns = dns.map(|d| d.addr);
    move |c| {
        untrusted(c);
        let g = &mut c.smtpd.screen.greylist;
        g.enabled = true;
        g.delay = Duration::from_secs(1);
        if let Some(addr) = dns {
            c.queue.dns_servers = vec![addr];
            c.smtpd.screen.dnsbl_sites = vec!["wl.test=127.0.[0..255].[1..3]*-2".parse().unwrap()];
            c.smtpd.screen.dnsbl_allowlist_threshold = -1;
        }
    }
}

#[test]
fn greylisting_refuses_until_the_delay_and_survives_a_restart() {
    let mut metrics_at = None;
    let mut s = common::start(|c| {
        greylisting(None)(c);
        metrics_at = Some(metrics::enable(c, "mta-smtpd"));
    });
    let counted = |result: &str, n: f64| {
        Scrape::fetch(metrics_at.unwrap()).expect(
            "ferrymail_smtpd_screen_total",
            &[("check", "greylist"), ("result", result)],
            n,
        )
    };
    counted("greylisted", 0.0);
    let mut c = greeted(&s);
    let r = rcpt(&mut c, "a@sender.test");
    assert!(r.starts_with("451 4.7.1 Greylisted, try again in"), "{r}");
    assert!(
        rcpt(&mut c, "a@sender.test").starts_with("451 4.7.1"),
        "early retry"
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert!(rcpt(&mut c, "a@sender.test").starts_with("250"));
    // Another sender is another triplet.
    let b_first = Instant::now();
    assert!(rcpt(&mut c, "b@sender.test").starts_with("451 4.7.1"));
    drop(c);
    counted("greylisted", 3.0);
    counted("pass", 1.0);

    s.stop("mta-smtpd");
    s.start("mta-smtpd");
    let mut c = greeted(&s);
    assert!(
        rcpt(&mut c, "a@sender.test").starts_with("250"),
        "a passed triplet is remembered"
    );
    std::thread::sleep(Duration::from_millis(1100).saturating_sub(b_first.elapsed()));
    assert!(
        rcpt(&mut c, "b@sender.test").starts_with("250"),
        "so is the start of a greylisted one"
    );
    assert!(rcpt(&mut c, "c@sender.test").starts_with("451"));
    let log = s.log("mta-smtpd");
    assert!(
        log.contains("recipient greylisted") && log.contains("client=127.0.0.1"),
        "{log}"
    );
}

#[test]
fn trusted_and_dnswl_allowlisted_clients_are_not_greylisted() {
    let mut s = common::start(greylisting(None));
    s.edit_config(|c| {
        c.general.trusted_networks = vec!["127.0.0.0/8".parse().unwrap()];
    });
    s.stop("mta-smtpd");
    s.start("mta-smtpd");
    assert!(rcpt(&mut greeted(&s), "a@sender.test").starts_with("250"));
    drop(s);

    let mut z = Zone::new();
    z.a(&format!("{CLIENT}.wl.test"), "127.0.10.2".parse().unwrap());
    let dns = DnsServer::start(z).unwrap();
    let s = common::start(greylisting(Some(&dns)));
    assert!(rcpt(&mut greeted(&s), "a@sender.test").starts_with("250"));
}

fn greet_wait(wait: Duration, action: GreetAction) -> impl FnOnce(&mut Config) {
    move |c| {
        untrusted(c);
        c.smtpd.screen.greet_wait = wait;
        c.smtpd.screen.greet_action = action;
    }
}

/// Connects and reads the first line of the delayed greeting.
fn first_line(s: &Suite) -> SmtpClient {
    let mut c = s.smtp(s.env.ports.smtp);
    let line = c.conn().read_line().unwrap();
    assert!(
        line.starts_with(b"220-"),
        "{}",
        String::from_utf8_lossy(&line)
    );
    c
}

#[test]
fn a_patient_client_gets_the_greeting_after_the_wait_and_is_served() {
    let mut s = common::start(greet_wait(Duration::from_secs(1), GreetAction::Reject));
    let start = Instant::now();
    let mut c = first_line(&s);
    let rest = c.reply();
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert!(rest.starts_with("220 "), "{rest}");
    assert!(rcpt(&mut c, "a@sender.test").starts_with("250"));
    assert!(!s.log("mta-smtpd").contains("pregreet"));
    drop(c);

    // Having passed, it is greeted at once next time (for greet_ttl)...
    let start = Instant::now();
    let bye = greeted(&s).cmd("QUIT");
    assert!(bye.starts_with("221"), "{bye}");
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );

    // ...unless passes are not remembered.
    s.edit_config(|c| c.smtpd.screen.greet_ttl = Duration::ZERO);
    s.stop("mta-smtpd");
    s.start("mta-smtpd");
    for _ in 0..2 {
        let rest = first_line(&s).reply();
        assert!(rest.starts_with("220 "), "{rest}");
    }
}

#[test]
fn a_pregreeter_is_refused_at_rcpt_or_dropped() {
    let mut s = common::start(greet_wait(Duration::from_secs(3), GreetAction::Reject));
    let mut c = first_line(&s);
    let start = Instant::now();
    c.send(b"EHLO bot.test\r\n");
    let rest = c.reply();
    assert!(rest.starts_with("220 "), "{rest}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "talking ends the wait: {:?}",
        start.elapsed()
    );
    let ehlo = c.reply();
    assert!(
        ehlo.starts_with("250"),
        "the early command is still answered: {ehlo}"
    );
    let r = c.cmd("MAIL FROM:<a@sender.test>");
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{USER}>")).to_string(),
        "550 5.5.1 Protocol error"
    );
    let log = s.log("mta-smtpd");
    assert!(
        log.contains("pregreet") && log.contains("client=127.0.0.1"),
        "{log}"
    );

    s.edit_config(|c| c.smtpd.screen.greet_action = GreetAction::Drop);
    s.stop("mta-smtpd");
    s.start("mta-smtpd");
    let mut c = first_line(&s);
    c.send(b"EHLO bot.test\r\n");
    assert_eq!(c.reply().to_string(), "521 5.5.1 Protocol error");
    assert!(c.closed());
}

#[test]
fn shutdown_ends_the_greeting_delay_at_once() {
    let mut s = common::start(greet_wait(Duration::from_secs(30), GreetAction::Reject));
    let mut c = first_line(&s);
    let start = Instant::now();
    s.daemon("mta-smtpd")
        .signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(c.reply().status(), "421 4.3.2");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let status = s
        .daemon_mut("mta-smtpd")
        .wait_timeout(Duration::from_secs(20))
        .expect("exits");
    assert!(status.success(), "{status:?}\n{}", s.log("mta-smtpd"));
}
